"""hpcops.aws_hpc.efs_file_system against moto in-process (EFS, EC2): no network.

moto 5.2 has no UpdateFileSystem: the throughput test puts a stand-in on the client that changes moto's file
system as EFS would. The module never calls DescribeTags (moto's server answers it with 404); a stand-in that
fails the test if it were called guards that.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._efs import creation_token
from ansible_collections.hpcops.aws_hpc.plugins.modules import efs_file_system

TAGS = {"hpc:role": "portal-storage", "hpc:storage": "efs"}


def run(capsys, **args):
    with patch_module_args(dict(region="us-east-1", **args)), pytest.raises(SystemExit):
        efs_file_system.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def moto_efs(moto_credentials, monkeypatch):
    """EFS client of moto in-process and a VPC with subnets in two zones (a2 shares a's zone) and two groups."""
    import boto3
    from moto import mock_aws

    moto_credentials.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        net = {"efs": boto3.client("efs", region_name="us-east-1")}
        for key, cidr, zone in (("a", "10.42.1.0/24", "us-east-1a"), ("b", "10.42.2.0/24", "us-east-1b"),
                                ("a2", "10.42.3.0/24", "us-east-1a")):
            net[key] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for key in ("sg1", "sg2"):
            net[key] = ec2.create_security_group(VpcId=vpc, GroupName=key, Description=key)["GroupId"]
        real_client = efs_file_system.client_from_module

        def client_from_module(module, service):
            client = real_client(module, service)
            if service == "efs":
                client.describe_tags = no_describe_tags
            return client

        monkeypatch.setattr(efs_file_system, "client_from_module", client_from_module)
        monkeypatch.setattr(efs_file_system.time, "sleep", lambda seconds: None)
        yield net


def no_describe_tags(**kwargs):
    raise AssertionError("DescribeTags is deprecated: the module must not call it")


def efs(net, **over):
    args = dict(name="unit-portal-efs", cluster="unit", mount_dir="/efs", tags=dict(TAGS),
                mount_targets=[{"subnet_id": net["a"], "security_groups": [net["sg1"]]},
                               {"subnet_id": net["b"], "security_groups": [net["sg1"]]}])
    args.update(over)
    return args


def live(client):
    return [fs for fs in client.describe_file_systems()["FileSystems"] if fs["LifeCycleState"] != "deleted"]


def test_create_rerun_check_and_diff(moto_efs, capsys):
    client = moto_efs["efs"]
    check = run(capsys, _ansible_check_mode=True, _ansible_diff=True, **efs(moto_efs))
    assert check["changed"] is True, check
    assert check["file_system"] is None
    assert check["diff"]["before"] == {"exists": False}
    after = check["diff"]["after"]
    assert after["mount_targets"] == {moto_efs["a"]: [moto_efs["sg1"]], moto_efs["b"]: [moto_efs["sg1"]]}
    assert live(client) == []

    created = run(capsys, **efs(moto_efs))
    assert created["changed"] is True, created
    info = created["file_system"]
    assert info["id"].startswith("fs-")
    assert info["dns_name"] == f"{info['id']}.efs.us-east-1.amazonaws.com"
    assert info["encrypted"] is True and info["performance_mode"] == "generalPurpose"
    assert info["throughput_mode"] == "bursting"
    assert info["mount_dir"] == "/efs" and info["name"] == "unit-portal-efs"
    assert info["tags"] == {"Name": "unit-portal-efs", "hpc:cluster": "unit", "hpc:mount-dir": "/efs", **TAGS}
    placed = sorted((t["subnet_id"], t["availability_zone"], t["security_groups"]) for t in info["mount_targets"])
    assert placed == sorted([(moto_efs["a"], "us-east-1a", [moto_efs["sg1"]]),
                             (moto_efs["b"], "us-east-1b", [moto_efs["sg1"]])])
    (stored,) = live(client)
    assert stored["CreationToken"] == creation_token("unit", "unit-portal-efs")

    again = run(capsys, _ansible_diff=True, **efs(moto_efs))
    assert again["changed"] is False, again
    assert again["file_system"]["id"] == info["id"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert len(live(client)) == 1


def test_tags_groups_and_purged_mount_targets(moto_efs, capsys):
    client = moto_efs["efs"]
    fs_id = run(capsys, **efs(moto_efs))["file_system"]["id"]
    tagged = run(capsys, _ansible_diff=True, **efs(moto_efs, tags={**TAGS, "team": "cfd"}))
    assert tagged["changed"] is True, tagged
    assert tagged["diff"]["after"]["tags"]["team"] == "cfd"
    assert {"Key": "team", "Value": "cfd"} in client.list_tags_for_resource(ResourceId=fs_id)["Tags"]

    wanted = [{"subnet_id": moto_efs["a"], "security_groups": [moto_efs["sg2"]]},
              {"subnet_id": moto_efs["b"], "security_groups": [moto_efs["sg1"]]}]
    groups = run(capsys, **efs(moto_efs, mount_targets=wanted))
    assert groups["changed"] is True, groups
    by_subnet = {t["subnet_id"]: t for t in groups["file_system"]["mount_targets"]}
    assert by_subnet[moto_efs["a"]]["security_groups"] == [moto_efs["sg2"]]

    check = run(capsys, _ansible_check_mode=True, **efs(moto_efs, mount_targets=[{"subnet_id": moto_efs["b"]}]))
    assert check["changed"] is True
    assert len(client.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]) == 2
    purged = run(capsys, **efs(moto_efs, mount_targets=[{"subnet_id": moto_efs["b"]}]))
    assert purged["changed"] is True, purged
    assert [t["subnet_id"] for t in purged["file_system"]["mount_targets"]] == [moto_efs["b"]]

    replaced = run(capsys, **efs(moto_efs, mount_targets=[{"subnet_id": moto_efs["a2"]}, {"subnet_id": moto_efs["b"]}]))
    assert replaced["changed"] is True, replaced
    assert len(replaced["file_system"]["mount_targets"]) == 2


def test_refusals_before_any_change(moto_efs, capsys):
    client = moto_efs["efs"]
    both = [{"subnet_id": moto_efs["a"]}, {"subnet_id": moto_efs["a2"]}]
    same_zone = run(capsys, **efs(moto_efs, mount_targets=both))
    assert same_zone["failed"] is True
    assert "mount_targets" in same_zone["msg"] and "one mount target per Availability Zone" in same_zone["msg"]
    assert live(client) == []

    fs_id = run(capsys, **efs(moto_efs))["file_system"]["id"]
    for option, value in (("performance_mode", "maxIO"), ("encrypted", False), ("kms_key_id", "alias/other")):
        result = run(capsys, **efs(moto_efs, **{option: value}))
        assert result["failed"] is True, result
        assert f"EFS cannot change {option} in place" in result["msg"]
    kept = run(capsys, **efs(moto_efs, mount_targets=[{"subnet_id": moto_efs["a2"]}], purge_mount_targets=False))
    assert kept["failed"] is True
    assert "purge_mount_targets" in kept["msg"]
    assert len(client.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]) == 2


def test_throughput_mode_calls_update_file_system(moto_efs, capsys, monkeypatch):
    from moto.efs.models import efs_backends

    fs_id = run(capsys, **efs(moto_efs))["file_system"]["id"]
    calls = []

    def update_file_system(**kwargs):
        calls.append(kwargs)
        efs_backends["123456789012"]["us-east-1"].file_systems_by_id[kwargs["FileSystemId"]].throughput_mode = \
            kwargs["ThroughputMode"]
        return {}

    real_client = efs_file_system.client_from_module

    def client_from_module(module, service):
        client = real_client(module, service)
        if service == "efs":
            client.update_file_system = update_file_system
        return client

    monkeypatch.setattr(efs_file_system, "client_from_module", client_from_module)
    check = run(capsys, _ansible_check_mode=True, **efs(moto_efs, throughput_mode="elastic"))
    assert check["changed"] is True and calls == []
    changed = run(capsys, **efs(moto_efs, throughput_mode="elastic"))
    assert changed["changed"] is True, changed
    assert calls == [{"FileSystemId": fs_id, "ThroughputMode": "elastic"}]
    assert changed["file_system"]["throughput_mode"] == "elastic"


def test_a_lost_creation_is_adopted_by_its_token(moto_efs, capsys):
    client = moto_efs["efs"]
    token = creation_token("unit", "unit-portal-efs")
    fs_id = client.create_file_system(CreationToken=token, Encrypted=True)["FileSystemId"]
    result = run(capsys, **efs(moto_efs))
    assert result["changed"] is True, result
    assert result["file_system"]["id"] == fs_id
    assert result["file_system"]["tags"]["hpc:cluster"] == "unit"
    assert len(live(client)) == 1


def test_absent_twice(moto_efs, capsys):
    client = moto_efs["efs"]
    run(capsys, **efs(moto_efs))
    gone = dict(name="unit-portal-efs", cluster="unit", state="absent")
    check = run(capsys, _ansible_check_mode=True, **gone)
    assert check["changed"] is True
    assert len(live(client)) == 1
    first = run(capsys, **gone)
    assert first["changed"] is True, first
    assert first["file_system"] is None
    assert live(client) == []
    second = run(capsys, **gone)
    assert second["changed"] is False, second


def test_two_matches_fail_naming_both(moto_efs, capsys):
    client = moto_efs["efs"]
    tags = [{"Key": "Name", "Value": "unit-portal-efs"}, {"Key": "hpc:cluster", "Value": "unit"}]
    ids = sorted(client.create_file_system(CreationToken=token, Tags=tags)["FileSystemId"] for token in ("t1", "t2"))
    result = run(capsys, **efs(moto_efs))
    assert result["failed"] is True
    assert all(fs_id in result["msg"] for fs_id in ids)


def test_wait_polls_until_available(moto_efs, capsys, monkeypatch):
    states = iter(["creating", "creating", "available"])
    original = efs_file_system.EfsManager.describe

    def describe(self, fs_id=None, token=None):
        fs = original(self, fs_id, token)
        if fs is not None and fs_id:
            fs["LifeCycleState"] = next(states, "available")
        return fs

    monkeypatch.setattr(efs_file_system.EfsManager, "describe", describe)
    result = run(capsys, **efs(moto_efs, mount_targets=None))
    assert result["file_system"]["lifecycle"] == "available"
    assert next(states, None) is None
