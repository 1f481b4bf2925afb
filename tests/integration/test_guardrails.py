"""playbooks/guardrails.yml (role hpcops.aws_hpc.guardrails) against the lab endpoint (AWS_ENDPOINT_URL, see
tests/conftest.py).

The guardrails are account-wide (one Config recorder per region, the account's trails, budgets), so the test
runs them in accounts of its own: it assumes a role in a fresh account of the lab (the endpoint keeps one
state per account) and runs the playbook with those temporary credentials, as docs/guardrails.md asks of a
controller. The lab's own guardrails step (account 123456789012) is never touched.

- apply: a multi-region trail with log file validation, KMS-encrypted; its bucket encrypted with that key,
  versioned, private, TLS only, with the lifecycle; the Config recorder (recording), delivery channel and
  managed rules; the EventBridge rules, each targeting the alert topic with its own message; the cost budget
  of the cluster (tag hpc:cluster) with its thresholds; then the report (nothing found).
- a rerun reports changed=0; ``--check --diff`` in another fresh account reports what is missing and creates
  nothing.
- an IAM policy change made against the lab matches the iam_policy rule's event pattern.
- teardown removes the guardrails and keeps the bucket (the lab also keeps the trail: docs/guardrails.md
  "In the lab"); a second teardown with guardrails_delete_trail_bucket changes nothing but deleting the bucket.
"""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import cluster_inventory, lab_client, play_recap

PLAYBOOK = "playbooks/guardrails.yml"
REGION = "us-east-1"
RULE_KEYS = ["iam_policy", "iam_credentials", "security_group", "root_activity", "audit_change"]
CONFIG_RULES = {
    "restricted-ssh": "INCOMING_SSH_DISABLED",
    "restricted-management-ports": "RESTRICTED_INCOMING_TRAFFIC",
    "imdsv2": "EC2_IMDSV2_CHECK",
    "encrypted-volumes": "ENCRYPTED_VOLUMES",
    "subnet-public-ip": "SUBNET_AUTO_ASSIGN_PUBLIC_IP_DISABLED",
    "access-keys": "ACCESS_KEYS_ROTATED",
    "root-access-key": "IAM_ROOT_ACCESS_KEY_CHECK",
}


def _fresh_account(lab_env):
    """Temporary credentials (AssumeRole) in an account of the lab no other test uses."""
    account = "2" + "".join(str(int(c, 16) % 10) for c in uuid.uuid4().hex[:11])
    credentials = lab_client(lab_env, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/guardrails-test", RoleSessionName="guardrails-test")["Credentials"]
    return account, {
        "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
        "AWS_SESSION_TOKEN": credentials["SessionToken"],
    }


@pytest.fixture(scope="module")
def guard(tmp_path_factory, lab_env):
    """A cluster of its own in an account of its own; the guardrails keep their default names."""
    cluster = f"guard{uuid.uuid4().hex[:8]}"
    inventory = cluster_inventory(tmp_path_factory.mktemp("inventory"), cluster)
    account, credentials = _fresh_account(lab_env)
    info = {"name": "hpc-guardrails", "cluster": cluster, "inventory": str(inventory), "account": account,
            "env": {**lab_env, **credentials}, "credentials": credentials,
            "bucket": f"hpc-guardrails-trail-{account}"}
    yield info
    _cleanup(info)


def _client(guard, service, region=REGION):
    import boto3

    env = guard["env"]
    session = boto3.session.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env.get("AWS_SESSION_TOKEN"),
        region_name=region,
    )
    return session.client(service, endpoint_url=env["AWS_ENDPOINT_URL"])


def _cleanup(guard):
    """What the lab cannot remove through the role (docs/guardrails.md "In the lab"): the trail, its KMS key."""
    trail = _client(guard, "cloudtrail")
    if any(t["Name"] == guard["name"] for t in trail.describe_trails()["trailList"]):
        trail.delete_trail(Name=guard["name"])  # by name: moto 5.2.5 ignores an ARN
    kms = _client(guard, "kms")
    for alias in kms.list_aliases()["Aliases"]:
        if alias["AliasName"] == f"alias/{guard['name']}" and alias.get("TargetKeyId"):
            kms.schedule_key_deletion(KeyId=alias["TargetKeyId"], PendingWindowInDays=7)


def _run(run_playbook, guard, *args):
    result = run_playbook(PLAYBOOK, "-i", guard["inventory"], *args, timeout=300, extra_env=guard["credentials"])
    assert result.returncode == 0, result.stdout[-4000:]
    return result, play_recap(result.stdout)["localhost"]


def _rule_names(guard):
    return [f"{guard['name']}-{key.replace('_', '-')}" for key in RULE_KEYS]


def test_apply_creates_every_guardrail(run_playbook, guard):
    result, recap = _run(run_playbook, guard)
    assert recap["changed"] > 0

    trails = _client(guard, "cloudtrail").describe_trails(trailNameList=[guard["name"]])["trailList"]
    assert len(trails) == 1
    trail = trails[0]
    assert trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"] and trail["IncludeGlobalServiceEvents"]
    assert trail["S3BucketName"] == guard["bucket"]
    key_arn = trail["KmsKeyId"]
    kms = _client(guard, "kms")
    alias = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == f"alias/{guard['name']}"]
    assert alias and key_arn.endswith(alias[0]["TargetKeyId"])
    assert _client(guard, "cloudtrail").get_trail_status(Name=guard["name"])["IsLogging"]

    s3 = _client(guard, "s3")
    rule = s3.get_bucket_encryption(Bucket=guard["bucket"])["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert s3.get_bucket_versioning(Bucket=guard["bucket"])["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=guard["bucket"])["PublicAccessBlockConfiguration"]
    assert all(block.values())
    statements = json.loads(s3.get_bucket_policy(Bucket=guard["bucket"])["Policy"])["Statement"]
    deny = [s for s in statements if s["Sid"] == "DenyInsecureTransport"]
    assert deny and deny[0]["Effect"] == "Deny" and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert {"CloudTrailAclCheck", "CloudTrailWrite"} <= {s["Sid"] for s in statements}
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=guard["bucket"])["Rules"]
    logs = [r for r in lifecycle if r["ID"] == f"{guard['name']}-logs"]
    assert logs and logs[0]["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
    assert logs[0]["Expiration"]["Days"] == 365 and logs[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30

    config = _client(guard, "config")
    recorders = config.describe_configuration_recorders()["ConfigurationRecorders"]
    assert [r["name"] for r in recorders] == ["default"]
    assert recorders[0]["roleARN"].endswith(f":role/{guard['name']}-config")
    group = recorders[0]["recordingGroup"]
    assert group["allSupported"] and group["includeGlobalResourceTypes"]
    status = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    assert status[0]["recording"]
    channel = config.describe_delivery_channels()["DeliveryChannels"][0]
    assert channel["s3BucketName"] == guard["bucket"] and channel["s3KmsKeyArn"] == key_arn
    rules = {r["ConfigRuleName"]: r for r in config.describe_config_rules()["ConfigRules"]}
    for suffix, identifier in CONFIG_RULES.items():
        assert rules[f"{guard['name']}-{suffix}"]["Source"]["SourceIdentifier"] == identifier
    ports = json.loads(rules[f"{guard['name']}-restricted-management-ports"]["InputParameters"])
    assert ports == {"blockedPort1": "22", "blockedPort2": "3389", "blockedPort3": "5985", "blockedPort4": "5986"}

    topic = f"arn:aws:sns:{REGION}:{guard['account']}:{guard['name']}-alerts"
    events = _client(guard, "events")
    templates = set()
    for rule_name in _rule_names(guard):
        assert events.describe_rule(Name=rule_name)["State"] == "ENABLED"
        targets = events.list_targets_by_rule(Rule=rule_name)["Targets"]
        assert [t["Arn"] for t in targets] == [topic]
        templates.add(targets[0]["InputTransformer"]["InputTemplate"])
    assert len(templates) == len(RULE_KEYS), "each alert has its own message"
    subscriptions = _client(guard, "sns").list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", "hpc-alerts@example.com")]

    budgets = _client(guard, "budgets")
    budget = budgets.describe_budget(AccountId=guard["account"], BudgetName=f"hpc-{guard['cluster']}-cost")["Budget"]
    assert budget["CostFilters"] == {"TagKeyValue": [f"user:hpc:cluster${guard['cluster']}"]}
    assert float(budget["BudgetLimit"]["Amount"]) == 100.0 and budget["TimeUnit"] == "MONTHLY"
    notifications = budgets.describe_notifications_for_budget(
        AccountId=guard["account"], BudgetName=f"hpc-{guard['cluster']}-cost")["Notifications"]
    assert sorted(n["Threshold"] for n in notifications) == [50, 80, 100]
    assert {n["NotificationType"] for n in notifications} == {"ACTUAL"}

    assert f"guardrails report for cluster {guard['cluster']}: 0 finding(s)" in result.stdout


def test_rerun_changes_nothing(run_playbook, guard):
    result, recap = _run(run_playbook, guard)
    assert recap["changed"] == 0, result.stdout[-4000:]


def test_check_mode_in_a_fresh_account_reports_and_creates_nothing(run_playbook, guard, tmp_path):
    account, credentials = _fresh_account(guard["env"])
    fresh = {**guard, "account": account, "env": {**guard["env"], **credentials}}
    result = run_playbook(PLAYBOOK, "-i", guard["inventory"], "--check", "--diff", timeout=300, extra_env=credentials)
    assert result.returncode == 0, result.stdout[-4000:]
    assert play_recap(result.stdout)["localhost"]["changed"] > 0
    assert f"trail bucket hpc-guardrails-trail-{account} lacks: the bucket itself" in result.stdout
    assert "alert topic hpc-guardrails-alerts is missing" in result.stdout

    assert _client(fresh, "s3").list_buckets()["Buckets"] == []
    assert _client(fresh, "cloudtrail").describe_trails()["trailList"] == []
    assert _client(fresh, "config").describe_configuration_recorders()["ConfigurationRecorders"] == []
    assert _client(fresh, "sns").list_topics()["Topics"] == []
    assert _client(fresh, "events").list_rules()["Rules"] == []
    aliases = _client(fresh, "kms").list_aliases()["Aliases"]
    assert not [a for a in aliases if not a["AliasName"].startswith("alias/aws/")]
    assert not [r for r in _client(fresh, "iam").list_roles()["Roles"] if r["RoleName"] == "hpc-guardrails-config"]
    assert _client(fresh, "budgets").describe_budgets(AccountId=account).get("Budgets", []) == []


def _cloudtrail_event(account, event_name, request, response):
    """An "AWS API Call via CloudTrail" event as EventBridge delivers it, shaped on AWS's documented example
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html; the detail is a
    CloudTrail record: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
    IAM is global: its events reach EventBridge in us-east-1."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.iam",
        "account": account,
        "time": "2026-01-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "principalId": "AROAEXAMPLE:admin",
                "arn": f"arn:aws:sts::{account}:assumed-role/Admin/admin",
                "accountId": account,
            },
            "eventTime": "2026-01-01T12:00:00Z",
            "eventSource": "iam.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "us-east-1",
            "sourceIPAddress": "198.51.100.7",
            "userAgent": "aws-cli/2.15.0",
            "requestParameters": request,
            "responseElements": response,
            "requestID": str(uuid.uuid4()),
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        },
    }


def test_an_iam_policy_change_matches_the_iam_policy_rule(guard):
    """A real IAM change against the lab (create a policy, attach it to a role), then the CloudTrail events of
    those calls against the iam_policy rule's own pattern: the endpoint's TestEventPattern where it has one
    (moto 5.2.5 answers it with an empty body), else through the rule itself, delivered to an SQS queue."""
    iam = _client(guard, "iam")
    suffix = uuid.uuid4().hex[:8]
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
    policy = iam.create_policy(PolicyName=f"guard-test-{suffix}", PolicyDocument=json.dumps(document))["Policy"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=f"guard-test-{suffix}", AssumeRolePolicyDocument=json.dumps(trust))
    iam.attach_role_policy(RoleName=f"guard-test-{suffix}", PolicyArn=policy["Arn"])
    account = guard["account"]
    changes = [
        _cloudtrail_event(account, "CreatePolicy",
                          {"policyName": policy["PolicyName"], "policyDocument": json.dumps(document)},
                          {"policy": {"policyName": policy["PolicyName"], "arn": policy["Arn"]}}),
        _cloudtrail_event(account, "AttachRolePolicy",
                          {"roleName": f"guard-test-{suffix}", "policyArn": policy["Arn"]}, None),
    ]
    read_only = _cloudtrail_event(account, "GetPolicy", {"policyArn": policy["Arn"]}, None)
    read_only["detail"]["readOnly"] = True

    events = _client(guard, "events")
    rule = f"{guard['name']}-iam-policy"
    pattern = events.describe_rule(Name=rule)["EventPattern"]
    answer = events.test_event_pattern(EventPattern=pattern, Event=json.dumps(changes[0]))
    try:
        if "Result" in answer:
            for event in changes:
                assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"]
            assert not events.test_event_pattern(EventPattern=pattern, Event=json.dumps(read_only))["Result"]
        else:
            _deliver_through_the_rule(guard, events, rule, changes, read_only)
    finally:
        iam.detach_role_policy(RoleName=f"guard-test-{suffix}", PolicyArn=policy["Arn"])
        iam.delete_role(RoleName=f"guard-test-{suffix}")
        iam.delete_policy(PolicyArn=policy["Arn"])


def _deliver_through_the_rule(guard, events, rule, changes, read_only):
    """The rule's pattern and input transformer on a probe rule with an SQS target, on an event bus of the
    probe's own (moto 5.2.5 routes events to SQS but fails PutEvents when a matching rule targets SNS, as the
    rule on the default bus does); put the events on that bus, read the queue."""
    sqs = _client(guard, "sqs")
    queue = sqs.create_queue(QueueName=f"{rule}-probe")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    transformer = events.list_targets_by_rule(Rule=rule)["Targets"][0]["InputTransformer"]
    bus = events.create_event_bus(Name=f"{rule}-probe")["EventBusArn"]
    pattern = events.describe_rule(Name=rule)["EventPattern"]
    events.put_rule(Name=f"{rule}-probe", EventBusName=bus, EventPattern=pattern)
    events.put_targets(Rule=f"{rule}-probe", EventBusName=bus,
                       Targets=[{"Id": "probe", "Arn": queue_arn, "InputTransformer": transformer}])
    try:
        entries = [{"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"]),
                    "Resources": e["resources"], "EventBusName": bus} for e in [*changes, read_only]]
        assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
        bodies = []
        for _attempt in range(5):
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            bodies += [m["Body"] for m in messages.get("Messages", [])]
            if len(bodies) >= len(changes):
                break
        text = "\n".join(bodies)
        assert len(bodies) == len(changes), text
        # Each arrives as the rule's own message, filled in from the CloudTrail record.
        for event in changes:
            who = event["detail"]["userIdentity"]["arn"]
            assert f"IAM policy change: {event['detail']['eventName']} by {who}" in text
        assert "GetPolicy" not in text
    finally:
        events.remove_targets(Rule=f"{rule}-probe", EventBusName=bus, Ids=["probe"])
        events.delete_rule(Name=f"{rule}-probe", EventBusName=bus)
        events.delete_event_bus(Name=f"{rule}-probe")
        sqs.delete_queue(QueueUrl=queue)


def test_teardown_removes_the_guardrails_and_keeps_the_bucket(run_playbook, guard):
    result, recap = _run(run_playbook, guard, "-e", "guardrails_state=absent")
    assert recap["changed"] > 0
    assert f"Kept the trail bucket {guard['bucket']}" in result.stdout
    # The lab keeps the trail (guardrails_delete_trail: false, docs/guardrails.md "In the lab") and says so.
    assert f"Kept the trail {guard['name']} (guardrails_delete_trail is false)" in result.stdout

    events = _client(guard, "events")
    remaining = [r["Name"] for r in events.list_rules(NamePrefix=guard["name"])["Rules"]]
    assert remaining == []
    topics = _client(guard, "sns").list_topics()["Topics"]
    assert not any(t["TopicArn"].endswith(f":{guard['name']}-alerts") for t in topics)
    config = _client(guard, "config")
    assert config.describe_configuration_recorders()["ConfigurationRecorders"] == []
    assert config.describe_delivery_channels()["DeliveryChannels"] == []
    rules = config.describe_config_rules()["ConfigRules"]
    assert not [r for r in rules if r["ConfigRuleName"].startswith(guard["name"])]
    roles = [r["RoleName"] for r in _client(guard, "iam").list_roles()["Roles"]]
    assert f"{guard['name']}-config" not in roles
    names = [b["BudgetName"] for b in _client(guard, "budgets").describe_budgets(
        AccountId=guard["account"]).get("Budgets", [])]
    assert f"hpc-{guard['cluster']}-cost" not in names
    assert guard["bucket"] in [b["Name"] for b in _client(guard, "s3").list_buckets()["Buckets"]]


def test_teardown_again_with_the_delete_flag_removes_only_the_bucket(run_playbook, guard):
    """The second removal changes nothing but the bucket the flag now asks to delete (the lab keeps the key)."""
    result, recap = _run(run_playbook, guard, "-e", "guardrails_state=absent",
                         "-e", "guardrails_delete_trail_bucket=true")
    assert recap["changed"] == 1, result.stdout[-4000:]
    bucket_task = result.stdout.split("TASK [hpcops.aws_hpc.guardrails : Delete the trail bucket")[1].split("TASK [")[0]
    assert "changed: [localhost]" in bucket_task
    assert guard["bucket"] not in [b["Name"] for b in _client(guard, "s3").list_buckets()["Buckets"]]
