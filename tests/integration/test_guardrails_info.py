"""hpcops.aws_hpc.guardrails_info against the embedded lab: nothing on a clean cluster, then exactly what was planted.

The test plants an IAM user with an access key, a security group with RDP (3389) open to 0.0.0.0/0, an
instance of its own cluster that answers IMDSv1 and an unencrypted volume attached to it, next to a clean
cluster (IMDSv2 required, encrypted volumes) and resources of no cluster. The shared lab holds other tests'
IAM users and security groups too, so the account-wide checks (``access_keys``, ``open_management_ports``)
are asserted by membership; the instance and volume checks are scoped by cluster and asserted exactly.

The play sets the region only through ``module_defaults: group/hpcops.aws_hpc.aws`` (the environment's region
is emptied), so the module must be in the collection's action group (meta/runtime.yml).
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab

CHECKS = ["access_keys", "open_management_ports", "imdsv1_instances", "unencrypted_volumes"]


@pytest.fixture
def guardrails(run_playbook, tmp_path):
    """Run guardrails_info once per item of ``runs`` ({name, args, check_mode}) in one play; {name: result}."""

    def _run(*runs):
        tasks = [{"name": run["name"], "hpcops.aws_hpc.guardrails_info": run["args"],
                  "check_mode": run.get("check_mode", False), "ignore_errors": True} for run in runs]
        play = [{"name": "guardrails", "hosts": "localhost", "gather_facts": False,
                 "module_defaults": {"group/hpcops.aws_hpc.aws": {"region": "us-east-1"}}, "tasks": tasks}]
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        path.write_text(json.dumps(play))
        inventory = tmp_path / "hosts"
        inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
        proc = run_playbook("-i", str(inventory), str(path), timeout=600, extra_env={
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""})
        lines = proc.stdout.splitlines()
        start = next((i for i, line in enumerate(lines) if line == "{"), None)
        assert start is not None, proc.stdout[-3000:]
        data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
        return {task["task"]["name"]: task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]}

    return _run


@pytest.fixture
def aws(lab_env):
    return {service: lab_client(lab_env, service) for service in ("ec2", "iam")}


@pytest.fixture
def names():
    base = f"it-guard-{uuid.uuid4().hex[:8]}"
    return {"cluster": base, "clean": f"{base}-clean", "user": base, "group": f"{base}-rdp"}


def _tags(**tags):
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _launch(ec2, image, name, cluster, tokens):
    """An instance of ``cluster`` with an encrypted root volume and ``HttpTokens=tokens``."""
    answer = ec2.run_instances(
        ImageId=image["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro",
        MetadataOptions={"HttpTokens": tokens, "HttpEndpoint": "enabled"},
        BlockDeviceMappings=[{"DeviceName": image.get("RootDeviceName") or "/dev/xvda",
                              "Ebs": {"VolumeSize": 8, "Encrypted": True, "DeleteOnTermination": True}}],
        TagSpecifications=[{"ResourceType": "instance", "Tags": _tags(**{"Name": name, "hpc:cluster": cluster})}])
    return answer["Instances"][0]


class Planted:
    """What a test planted, removed again at the end whatever happened."""

    def __init__(self, aws):
        self.ec2, self.iam = aws["ec2"], aws["iam"]
        self.instances, self.volumes, self.groups, self.users = [], [], [], []

    def cleanup(self):
        if self.instances:
            self.ec2.terminate_instances(InstanceIds=self.instances)
        for volume_id in self.volumes:
            volume = self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
            if volume["Attachments"]:
                self.ec2.detach_volume(VolumeId=volume_id, Force=True)
            self.ec2.delete_volume(VolumeId=volume_id)
        for group_id in self.groups:
            self.ec2.delete_security_group(GroupId=group_id)
        for user in self.users:
            for key in self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                self.iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
            self.iam.delete_user(UserName=user)


@pytest.fixture
def planted(aws):
    found = Planted(aws)
    yield found
    found.cleanup()


def plant(planted, names):
    """The findings the report must make, and the resources it must leave out."""
    ec2, iam = planted.ec2, planted.iam
    iam.create_user(UserName=names["user"])
    planted.users.append(names["user"])
    key = iam.create_access_key(UserName=names["user"])["AccessKey"]
    inactive = iam.create_access_key(UserName=names["user"])["AccessKey"]
    iam.update_access_key(UserName=names["user"], AccessKeyId=inactive["AccessKeyId"], Status="Inactive")

    group_id = ec2.create_security_group(GroupName=names["group"], Description="guardrails test")["GroupId"]
    planted.groups.append(group_id)
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ])

    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-hvm*"]}])["Images"]
    assert images, "the lab lists no amzn2-ami-hvm image"
    dirty = _launch(ec2, images[0], f"{names['cluster']}-cn-1", names["cluster"], "optional")
    gone = _launch(ec2, images[0], f"{names['cluster']}-cn-gone", names["cluster"], "optional")
    clean = _launch(ec2, images[0], f"{names['clean']}-cn-1", names["clean"], "required")
    planted.instances += [dirty["InstanceId"], gone["InstanceId"], clean["InstanceId"]]
    ec2.terminate_instances(InstanceIds=[gone["InstanceId"]])

    zone = dirty["Placement"]["AvailabilityZone"]
    volume_id = ec2.create_volume(AvailabilityZone=zone, Size=4)["VolumeId"]   # untagged: found by attachment
    clean_volume = ec2.create_volume(AvailabilityZone=zone, Size=4, Encrypted=True, TagSpecifications=[
        {"ResourceType": "volume", "Tags": _tags(**{"hpc:cluster": names["clean"]})}])["VolumeId"]
    loose = ec2.create_volume(AvailabilityZone=zone, Size=4)["VolumeId"]        # no cluster's
    planted.volumes += [volume_id, clean_volume, loose]
    ec2.attach_volume(VolumeId=volume_id, InstanceId=dirty["InstanceId"], Device="/dev/sdf")
    ec2.attach_volume(VolumeId=clean_volume, InstanceId=clean["InstanceId"], Device="/dev/sdf")
    return {
        "access_key": (names["user"], key["AccessKeyId"]),
        "inactive_key": inactive["AccessKeyId"],
        "group_id": group_id,
        "instance": {"instance_id": dirty["InstanceId"], "name": f"{names['cluster']}-cn-1", "state": "running",
                     "http_tokens": "optional", "http_endpoint": "enabled"},
        "volume": {"volume_id": volume_id, "instance_id": dirty["InstanceId"], "size": 4, "state": "in-use"},
        "loose_volume": loose,
    }


def _keys(result):
    return {(f["user_name"], f["access_key_id"]) for f in result["findings"]["access_keys"]}


def test_report_finds_what_was_planted_and_nothing_on_a_clean_cluster(guardrails, planted, names):
    # the clean lab, scoped to a cluster nobody has made: nothing of that cluster, a baseline of the rest
    baseline = guardrails({"name": "baseline", "args": {"cluster": names["cluster"]}})["baseline"]
    assert baseline.get("failed") is not True, baseline.get("msg")
    assert baseline["changed"] is False
    assert baseline["checks"] == CHECKS
    assert baseline["findings"]["imdsv1_instances"] == []
    assert baseline["findings"]["unencrypted_volumes"] == []
    assert baseline["count"] == len(baseline["findings"]["access_keys"]) + len(
        baseline["findings"]["open_management_ports"])
    assert all(user != names["user"] for user, _key in _keys(baseline))
    assert all(f["group_name"] != names["group"] for f in baseline["findings"]["open_management_ports"])

    expected = plant(planted, names)
    results = guardrails(
        {"name": "dirty", "args": {"cluster": names["cluster"]}},
        {"name": "dirty in check mode", "args": {"cluster": names["cluster"]}, "check_mode": True},
        {"name": "clean", "args": {"cluster": names["clean"]}},
        {"name": "two checks",
         "args": {"cluster": names["cluster"], "checks": ["unencrypted_volumes", "imdsv1_instances"]}},
        {"name": "ssh only", "args": {"checks": ["open_management_ports"], "management_ports": [22]}},
        {"name": "fail", "args": {"cluster": names["cluster"], "fail_on_findings": True}},
        {"name": "clean does not fail",
         "args": {"cluster": names["clean"], "fail_on_findings": True,
                  "checks": ["imdsv1_instances", "unencrypted_volumes"]}},
    )

    dirty = results["dirty"]
    assert dirty.get("failed") is not True, dirty.get("msg")
    assert dirty["changed"] is False
    assert dirty["checks"] == CHECKS
    # scoped by cluster: exactly the planted instance (not the terminated one) and volume
    assert dirty["findings"]["imdsv1_instances"] == [expected["instance"]]
    assert dirty["findings"]["unencrypted_volumes"] == [expected["volume"]]
    # account wide: the planted key (not the inactive one) and the open RDP rule (not 443, not 10.0.0.0/8)
    assert expected["access_key"] in _keys(dirty)
    assert expected["inactive_key"] not in {key for _user, key in _keys(dirty)}
    mine = [f for f in dirty["findings"]["open_management_ports"] if f["group_id"] == expected["group_id"]]
    assert mine == [{"group_id": expected["group_id"], "group_name": names["group"], "vpc_id": mine[0]["vpc_id"],
                     "protocol": "tcp", "from_port": 3389, "to_port": 3389, "cidr": "0.0.0.0/0", "ports": [3389]}]
    assert mine[0]["vpc_id"].startswith("vpc-")
    assert dirty["count"] == sum(len(items) for items in dirty["findings"].values())

    check_mode = results["dirty in check mode"]
    assert check_mode["changed"] is False
    assert check_mode["findings"]["imdsv1_instances"] == dirty["findings"]["imdsv1_instances"]
    assert check_mode["findings"]["unencrypted_volumes"] == dirty["findings"]["unencrypted_volumes"]
    assert expected["access_key"] in _keys(check_mode)

    clean = results["clean"]
    assert clean["findings"]["imdsv1_instances"] == []
    assert clean["findings"]["unencrypted_volumes"] == []

    two = results["two checks"]
    assert two["checks"] == ["imdsv1_instances", "unencrypted_volumes"]
    assert set(two["findings"]) == {"imdsv1_instances", "unencrypted_volumes"}
    assert two["count"] == 2

    ssh = results["ssh only"]
    assert list(ssh["findings"]) == ["open_management_ports"]
    assert all(f["group_id"] != expected["group_id"] for f in ssh["findings"]["open_management_ports"])

    failed = results["fail"]
    assert failed["failed"] is True
    message = failed["msg"]
    for check in CHECKS:
        assert f"{check}: {len(failed['findings'][check])}" in message, message
    assert expected["instance"]["instance_id"] in message and expected["volume"]["volume_id"] in message, message
    # the message shows the first five findings of a check; the shared lab may list other keys and groups first
    if expected["access_key"] in _keys({"findings": {"access_keys": failed["findings"]["access_keys"][:5]}}):
        assert f"{names['user']} {expected['access_key'][1]}" in message, message
    if expected["group_id"] in [f["group_id"] for f in failed["findings"]["open_management_ports"][:5]]:
        assert f"{expected['group_id']} ({names['group']}) tcp 3389 from 0.0.0.0/0" in message, message
    assert expected["loose_volume"] not in message
    assert failed["findings"]["imdsv1_instances"] == [expected["instance"]]
    assert failed["count"] == dirty["count"]

    quiet = results["clean does not fail"]
    assert quiet.get("failed") is not True, quiet.get("msg")
    assert quiet["count"] == 0
    assert quiet["findings"] == {"imdsv1_instances": [], "unencrypted_volumes": []}


def test_wrong_management_ports_fail_naming_the_option(guardrails):
    result = guardrails({"name": "bad", "args": {"checks": ["open_management_ports"],
                                                 "management_ports": [22, 70000]}})["bad"]
    assert result["failed"] is True
    assert result["msg"] == "management_ports must be ports from 0 to 65535, got 70000"
