"""hpcops.aws_hpc.ssm_secret run by ansible-playbook against the embedded lab endpoint.

Every test works on its own parameter names (uuid) and KMS keys, and removes what it created.
"""

from __future__ import annotations

import json
import re
import string
import uuid

import boto3
import pytest

pytestmark = pytest.mark.lab

SAFE = set(string.ascii_letters + string.digits + "-._~")


# ---------------------------------------------------------------- helpers
def _playbook(tmp_path, tasks):
    path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
    play = [{"name": "ssm_secret", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]
    path.write_text(json.dumps(play, indent=2))  # JSON is YAML
    return path


def _json_results(output):
    """Per-task localhost results from the ansible.posix.json callback's output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture
def run(run_playbook, tmp_path):
    """Run tasks in a play on localhost; returns the list of task results."""

    def _run(tasks, *args):
        path = _playbook(tmp_path, tasks)
        proc = run_playbook(str(path), *args, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        return _json_results(proc.stdout)

    return _run


@pytest.fixture
def run_verbose(run_playbook, tmp_path):
    """Run tasks with -vvv and the default output; returns everything ansible-playbook printed."""

    def _run(tasks, *args):
        return run_playbook(str(_playbook(tmp_path, tasks)), "-vvv", *args).stdout

    return _run


def secret_task(**args):
    return {"name": "ssm_secret", "hpcops.aws_hpc.ssm_secret": args, "ignore_errors": True}


@pytest.fixture(scope="module")
def aws(lab_env):
    kwargs = {"region_name": lab_env["AWS_REGION"], "endpoint_url": lab_env["AWS_ENDPOINT_URL"],
              "aws_access_key_id": lab_env["AWS_ACCESS_KEY_ID"],
              "aws_secret_access_key": lab_env["AWS_SECRET_ACCESS_KEY"]}
    return {"ssm": boto3.client("ssm", **kwargs), "kms": boto3.client("kms", **kwargs)}


@pytest.fixture
def kms_key(aws):
    """A fresh KMS key with an alias: {'id', 'arn', 'alias'}; scheduled for deletion afterwards."""
    meta = aws["kms"].create_key(Description="ssm_secret integration test")["KeyMetadata"]
    alias = f"alias/hpcops-it-{uuid.uuid4().hex[:10]}"
    aws["kms"].create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    yield {"id": meta["KeyId"], "arn": meta["Arn"], "alias": alias}
    aws["kms"].delete_alias(AliasName=alias)
    aws["kms"].schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)


other_kms_key = kms_key


@pytest.fixture
def two_kms_keys(kms_key, other_kms_key):
    return kms_key, other_kms_key


@pytest.fixture
def param_name(aws):
    name = f"/hpcops-it/{uuid.uuid4().hex}/password"
    yield name
    try:
        aws["ssm"].delete_parameter(Name=name)
    except aws["ssm"].exceptions.ParameterNotFound:
        pass


def describe(aws, name):
    found = aws["ssm"].describe_parameters(
        ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": [name]}]
    )["Parameters"]
    return found[0] if found else None


def stored_value(aws, name):
    return aws["ssm"].get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]


def tags_of(aws, name):
    tag_list = aws["ssm"].list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {t["Key"]: t["Value"] for t in tag_list}


def changed_count(output):
    match = re.search(r"^localhost\s*:\s*ok=\d+\s+changed=(\d+)", output, re.M)
    assert match, output
    return int(match.group(1))


# ---------------------------------------------------------------- tests
def test_create_is_generated_idempotent_and_never_shown(run, run_verbose, aws, kms_key, param_name):
    args = {"name": param_name, "key_id": kms_key["alias"], "description": "it", "tags": {"hpc:cluster": "it"}}

    # check mode: reports the creation, creates nothing
    (result,) = run([secret_task(**args)], "--check", "--diff")
    assert result["changed"] is True, result
    assert result["created"] is True
    assert result["arn"] is None
    assert result["diff"]["before"]["exists"] is False
    assert result["diff"]["after"] == {"exists": True, "type": "SecureString", "key_id": kms_key["alias"],
                                       "tags": {"hpc:cluster": "it"}, "version": 1}
    assert describe(aws, param_name) is None

    # the real run, as verbose as it gets
    output = run_verbose([secret_task(**args)], "--diff")
    assert changed_count(output) == 1, output
    assert "created: true" in output  # the verbose output does carry the module's result
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output  # ... and its arguments
    value = stored_value(aws, param_name)
    assert len(value) == 32
    assert set(value) <= SAFE
    assert value[0].isalpha()
    assert value not in output
    meta = describe(aws, param_name)
    assert meta["Type"] == "SecureString"
    assert meta["KeyId"] == kms_key["alias"]
    assert tags_of(aws, param_name) == {"hpc:cluster": "it"}

    # second run: nothing to do, nothing shown
    (again,) = run([secret_task(**args)], "--diff")
    assert again["changed"] is False, again
    assert again["created"] is False
    assert again["reencrypted"] is False
    assert again["version"] == 1
    assert again["type"] == "SecureString"
    assert again["key_id"] == kms_key["alias"]
    assert again["arn"].endswith(f":parameter{param_name}")
    assert again["diff"]["before"] == again["diff"]["after"]
    assert value not in json.dumps(again)
    assert stored_value(aws, param_name) == value


@pytest.mark.parametrize("case", [
    ("hex", 64, set("0123456789abcdef")),
    ("alnum", 16, set(string.ascii_letters + string.digits)),
])
def test_charset_and_length(run, aws, kms_key, param_name, case):
    charset, length, alphabet = case
    (result,) = run([secret_task(name=param_name, key_id=kms_key["id"], charset=charset, length=length)])
    assert result["changed"] is True, result
    value = stored_value(aws, param_name)
    assert len(value) == length
    assert set(value) <= alphabet


def test_given_value_used_once_and_never_overwritten(run, run_verbose, aws, kms_key, param_name):
    chosen = f"svc-{uuid.uuid4().hex[:12]}"
    output = run_verbose([secret_task(name=param_name, key_id=kms_key["id"], value=chosen)], "--diff")
    assert changed_count(output) == 1, output
    assert stored_value(aws, param_name) == chosen
    assert chosen not in output

    other = f"svc-{uuid.uuid4().hex[:12]}"
    (result,) = run([secret_task(name=param_name, key_id=kms_key["id"], value=other)])
    assert result["changed"] is False, result
    assert result["created"] is False
    assert stored_value(aws, param_name) == chosen


def test_existing_value_is_kept(run, aws, kms_key, param_name):
    aws["ssm"].put_parameter(Name=param_name, Value="Pre-Existing-Secret-1", Type="SecureString",
                             KeyId=kms_key["id"])
    (result,) = run([secret_task(name=param_name, key_id=kms_key["arn"])], "--diff")
    assert result["changed"] is False, result  # the alias/id/ARN of one key are the same key
    assert result["created"] is False
    assert stored_value(aws, param_name) == "Pre-Existing-Secret-1"


def test_string_parameter_fails_and_is_left_alone(run, aws, kms_key, param_name):
    aws["ssm"].put_parameter(Name=param_name, Value="plain", Type="String")
    (result,) = run([secret_task(name=param_name, key_id=kms_key["id"])])
    assert result.get("failed") is True, result
    assert param_name in result["msg"]
    assert "exists with type String, not SecureString" in result["msg"]
    assert "never converts" in result["msg"]
    assert describe(aws, param_name)["Type"] == "String"
    assert stored_value(aws, param_name) == "plain"


def test_kms_key_change_reencrypts_the_same_value(run, run_verbose, aws, two_kms_keys, param_name):
    kms_key, other_kms_key = two_kms_keys
    (created,) = run([secret_task(name=param_name, key_id=kms_key["alias"])])
    assert created["changed"] is True, created
    value = stored_value(aws, param_name)

    # check mode: would re-encrypt, does not
    (check,) = run([secret_task(name=param_name, key_id=other_kms_key["alias"])], "--check", "--diff")
    assert check["changed"] is True, check
    assert check["reencrypted"] is True
    assert check["diff"]["after"]["key_id"] == other_kms_key["alias"]
    assert describe(aws, param_name)["KeyId"] == kms_key["alias"]

    output = run_verbose([secret_task(name=param_name, key_id=other_kms_key["alias"])], "--diff")
    assert changed_count(output) == 1, output
    assert value not in output
    meta = describe(aws, param_name)
    assert meta["KeyId"] == other_kms_key["alias"]
    assert meta["Version"] == 2
    assert stored_value(aws, param_name) == value

    # the same key by ARN: nothing to do
    (again,) = run([secret_task(name=param_name, key_id=other_kms_key["arn"])])
    assert again["changed"] is False, again
    assert again["reencrypted"] is False


def test_unknown_kms_key_fails_without_touching(run, aws, kms_key, param_name):
    run([secret_task(name=param_name, key_id=kms_key["id"])])
    value = stored_value(aws, param_name)
    (result,) = run([secret_task(name=param_name, key_id="alias/hpcops-it-does-not-exist")])
    assert result.get("failed") is True, result
    assert param_name in result["msg"]
    assert "alias/hpcops-it-does-not-exist" in result["msg"]
    assert stored_value(aws, param_name) == value


def test_tags_reconciled(run, aws, kms_key, param_name):
    run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "1", "b": "2"})])
    (merged,) = run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "9"}, purge_tags=False)], "--diff")
    assert merged["changed"] is True, merged
    assert merged["created"] is False
    assert tags_of(aws, param_name) == {"a": "9", "b": "2"}
    (purged,) = run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "9"}, purge_tags=True)])
    assert purged["changed"] is True, purged
    assert tags_of(aws, param_name) == {"a": "9"}
    (same,) = run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "9"}, purge_tags=True)])
    assert same["changed"] is False, same
    assert same["version"] == 1  # tags never rewrite the value


def test_tags_purged_by_default(run, aws, kms_key, param_name):
    run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "1", "b": "2"})])
    (purged,) = run([secret_task(name=param_name, key_id=kms_key["id"], tags={"a": "1"})])
    assert purged["changed"] is True, purged
    assert tags_of(aws, param_name) == {"a": "1"}
    (kept,) = run([secret_task(name=param_name, key_id=kms_key["id"])])
    assert kept["changed"] is False, kept  # without tags, the tags are left as they are
    assert tags_of(aws, param_name) == {"a": "1"}


def test_absent_check_then_twice(run, aws, kms_key, param_name):
    run([secret_task(name=param_name, key_id=kms_key["id"])])
    (check,) = run([secret_task(name=param_name, state="absent")], "--check")
    assert check["changed"] is True, check
    assert describe(aws, param_name) is not None
    (first,) = run([secret_task(name=param_name, state="absent")], "--diff")
    assert first["changed"] is True, first
    assert first["diff"]["after"]["exists"] is False
    assert describe(aws, param_name) is None
    (second,) = run([secret_task(name=param_name, state="absent")])
    assert second["changed"] is False, second


@pytest.mark.parametrize("length", [8, 129])
def test_length_is_validated(run, aws, kms_key, param_name, length):
    (result,) = run([secret_task(name=param_name, key_id=kms_key["id"], length=length)])
    assert result.get("failed") is True, result
    assert result["msg"] == f"length must be between 16 and 128, got {length}"
    assert describe(aws, param_name) is None


def test_key_id_required_when_present(run, param_name):
    (result,) = run([secret_task(name=param_name)])
    assert result.get("failed") is True, result
    assert "key_id" in result["msg"]
