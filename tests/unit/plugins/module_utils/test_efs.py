"""The pure logic of _efs.py: EFS plans (create, tags, throughput, mount targets, refusals)."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _efs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import (
    CLUSTER_TAG,
    MOUNT_DIR_TAG,
    PORTAL_STORAGE_ROLE,
    ROLE_TAG,
    STORAGE_TAG,
)

FS_ID = "fs-0123456789abcdef0"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ZONES = {"subnet-a": "us-east-1a", "subnet-b": "us-east-1b", "subnet-a2": "us-east-1a", "subnet-c": "us-east-1c"}


def params(**over):
    base = {"name": "prod-portal-efs", "cluster": "prod", "state": "present", "encrypted": True, "kms_key_id": None,
            "performance_mode": "generalPurpose", "throughput_mode": "bursting", "mount_dir": "/efs",
            "tags": {ROLE_TAG: PORTAL_STORAGE_ROLE, STORAGE_TAG: "efs"}, "purge_tags": True,
            "mount_targets": [{"subnet_id": "subnet-a", "security_groups": ["sg-1"]},
                              {"subnet_id": "subnet-b", "security_groups": ["sg-1"]}],
            "purge_mount_targets": True}
    base.update(over)
    return base


def described(**over):
    tags = over.pop("tags", {"Name": "prod-portal-efs", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/efs",
                             ROLE_TAG: PORTAL_STORAGE_ROLE, STORAGE_TAG: "efs"})
    arn = f"arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/{FS_ID}"
    fs = {"FileSystemId": FS_ID, "FileSystemArn": arn,
          "LifeCycleState": "available", "Encrypted": True, "KmsKeyId": KEY_ARN, "PerformanceMode": "generalPurpose",
          "ThroughputMode": "bursting", "Tags": _efs.tag_list(tags)}
    fs.update(over)
    return fs


def target(mt_id, subnet, groups=("sg-1",), state="available"):
    return {"MountTargetId": mt_id, "SubnetId": subnet, "AvailabilityZoneName": ZONES[subnet], "LifeCycleState": state,
            "IpAddress": "10.0.0.4", "SecurityGroups": list(groups)}


TARGETS = [target("fsmt-a", "subnet-a"), target("fsmt-b", "subnet-b")]


# ---------------------------------------------------------------- identity and describing
def test_creation_token_is_deterministic_short_and_distinct():
    token = _efs.creation_token("prod", "prod-portal-efs")
    assert token == _efs.creation_token("prod", "prod-portal-efs")
    assert token.startswith("hpcops-") and len(token) <= 64
    assert token != _efs.creation_token("prod", "prod-portal-efs2")
    assert _efs.creation_token("a-b", "c") != _efs.creation_token("a", "b-c")
    assert len(_efs.creation_token("x" * 200, "y" * 200)) <= 64


@pytest.mark.parametrize("change, found", [
    ({}, True),
    ({"LifeCycleState": "creating"}, True),
    ({"LifeCycleState": "deleting"}, False),
    ({"LifeCycleState": "deleted"}, False),
    ({"tags": {"Name": "prod-portal-efs", CLUSTER_TAG: "other"}}, False),
    ({"tags": {"Name": "else", CLUSTER_TAG: "prod"}}, False),
])
def test_is_efs_of(change, found):
    assert _efs.is_efs_of(described(**change), "prod", "prod-portal-efs") is found


def test_summarize():
    info = _efs.summarize(described(), [*TARGETS, target("fsmt-c", "subnet-c", state="deleting")], "eu-west-1")
    assert info["dns_name"] == f"{FS_ID}.efs.eu-west-1.amazonaws.com"
    assert info["name"] == "prod-portal-efs"
    assert info["mount_dir"] == "/efs"
    assert info["encrypted"] is True and info["kms_key_id"] == KEY_ARN
    assert [t["id"] for t in info["mount_targets"]] == ["fsmt-a", "fsmt-b"]
    assert info["mount_targets"][0] == {"id": "fsmt-a", "subnet_id": "subnet-a", "availability_zone": "us-east-1a",
                                        "ip_address": "10.0.0.4", "security_groups": ["sg-1"],
                                        "lifecycle": "available"}


def test_state_of():
    assert _efs.state_of("available") == "ready"
    assert _efs.state_of("creating") == "busy"
    assert _efs.state_of("error") == "broken"


# ---------------------------------------------------------------- validation and create
@pytest.mark.parametrize("over, option", [
    ({"name": ""}, "name"),
    ({"mount_dir": "efs"}, "mount_dir"),
    ({"encrypted": False, "kms_key_id": KEY_ARN}, "kms_key_id"),
    ({"mount_targets": [{"subnet_id": ""}]}, "mount_targets"),
    ({"mount_targets": [{"subnet_id": "subnet-a"}, {"subnet_id": "subnet-a"}]}, "mount_targets"),
])
def test_validate_names_the_option(over, option):
    with pytest.raises(_efs.EfsPlanError) as err:
        _efs.validate(params(**over))
    assert err.value.option == option
    assert option in str(err.value)


def test_check_zones_refuses_two_subnets_of_one_zone():
    _efs.check_zones({"subnet-a": [], "subnet-b": []}, ZONES)
    with pytest.raises(_efs.EfsPlanError, match="subnet-a and subnet-a2 are both in us-east-1a") as err:
        _efs.check_zones({"subnet-a": [], "subnet-a2": []}, ZONES)
    assert err.value.option == "mount_targets"
    with pytest.raises(_efs.EfsPlanError, match="subnet-x was not found"):
        _efs.check_zones({"subnet-x": []}, ZONES)


def test_create_request_and_wanted_settings():
    request = _efs.create_request(params(kms_key_id=KEY_ARN, throughput_mode="elastic"), "tok")
    assert request == {
        "CreationToken": "tok", "PerformanceMode": "generalPurpose", "ThroughputMode": "elastic", "Encrypted": True,
        "KmsKeyId": KEY_ARN,
        "Tags": [{"Key": "Name", "Value": "prod-portal-efs"}, {"Key": CLUSTER_TAG, "Value": "prod"},
                 {"Key": MOUNT_DIR_TAG, "Value": "/efs"}, {"Key": ROLE_TAG, "Value": PORTAL_STORAGE_ROLE},
                 {"Key": STORAGE_TAG, "Value": "efs"}],
    }
    assert "KmsKeyId" not in _efs.create_request(params(), "tok")
    after = _efs.wanted_settings(params())
    assert after["mount_targets"] == {"subnet-a": ["sg-1"], "subnet-b": ["sg-1"]}
    assert after["encrypted"] is True and after["throughput_mode"] == "bursting"


# ---------------------------------------------------------------- update plans
def test_same_settings_plan_nothing():
    plan = _efs.plan_update(described(), TARGETS, params(), ZONES)
    assert plan["changed"] is False
    assert plan["update"] is None
    assert plan["targets"] == {"create": [], "modify": [], "delete": [], "wait_gone": []}
    assert plan["before"] == plan["after"]


def test_throughput_mode_is_an_update():
    plan = _efs.plan_update(described(), TARGETS, params(throughput_mode="elastic"), ZONES)
    assert plan["update"] == {"FileSystemId": FS_ID, "ThroughputMode": "elastic"}
    assert plan["before"]["throughput_mode"] == "bursting" and plan["after"]["throughput_mode"] == "elastic"
    assert plan["changed"] is True


@pytest.mark.parametrize("over, fs_over, option", [
    ({"encrypted": False}, {}, "encrypted"),
    ({}, {"Encrypted": False, "KmsKeyId": None}, "encrypted"),
    ({"performance_mode": "maxIO"}, {}, "performance_mode"),
    ({"kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/other"}, {}, "kms_key_id"),
])
def test_immutable_settings_are_refused(over, fs_over, option):
    with pytest.raises(_efs.EfsPlanError) as err:
        _efs.plan_update(described(**fs_over), TARGETS, params(**over), ZONES)
    assert err.value.option == option
    assert f"EFS cannot change {option} in place" in str(err.value)


def test_kms_key_compared_by_arn_key_id_or_resolver():
    assert _efs.plan_update(described(), TARGETS, params(kms_key_id=KEY_ARN), ZONES)["changed"] is False
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    assert _efs.plan_update(described(), TARGETS, params(kms_key_id=key_id), ZONES)["changed"] is False
    assert _efs.plan_update(described(), TARGETS, params(kms_key_id="alias/hpc"), ZONES,
                            same_kms_key=lambda current, wanted: True)["changed"] is False


def test_tag_plan_purges_only_when_tags_are_given():
    fs = described(tags={"Name": "prod-portal-efs", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/old", "stale": "1"})
    plan = _efs.plan_update(fs, TARGETS, params(tags={"team": "cfd"}), ZONES)
    assert plan["tags_set"] == {MOUNT_DIR_TAG: "/efs", "team": "cfd"}
    assert plan["tags_remove"] == ["stale"]
    assert plan["after"]["mount_dir"] == "/efs"
    kept = _efs.plan_update(fs, TARGETS, params(tags=None), ZONES)
    assert kept["tags_remove"] == []


def test_mount_targets_created_modified_and_purged():
    targets = [target("fsmt-a", "subnet-a", groups=["sg-old"]), target("fsmt-c", "subnet-c")]
    plan = _efs.plan_update(described(), targets, params(), ZONES)
    assert plan["targets"] == {"create": [{"SubnetId": "subnet-b", "SecurityGroups": ["sg-1"]}],
                               "modify": [("fsmt-a", ["sg-1"])], "delete": ["fsmt-c"], "wait_gone": []}
    assert plan["before"]["mount_targets"] == {"subnet-a": ["sg-old"], "subnet-c": ["sg-1"]}
    assert plan["after"]["mount_targets"] == {"subnet-a": ["sg-1"], "subnet-b": ["sg-1"]}
    kept = _efs.plan_update(described(), targets, params(purge_mount_targets=False), ZONES)
    assert kept["targets"]["delete"] == []
    assert kept["after"]["mount_targets"] == {"subnet-a": ["sg-1"], "subnet-b": ["sg-1"], "subnet-c": ["sg-1"]}


def test_mount_targets_not_managed_or_groups_not_given():
    assert _efs.plan_update(described(), [target("fsmt-c", "subnet-c")], params(mount_targets=None),
                            ZONES)["changed"] is False
    plan = _efs.plan_update(described(), [target("fsmt-a", "subnet-a", groups=["sg-9"])],
                            params(mount_targets=[{"subnet_id": "subnet-a", "security_groups": []}]), ZONES)
    assert plan["changed"] is False


def test_replacing_a_subnet_in_the_same_zone():
    targets = [target("fsmt-a", "subnet-a")]
    wanted = [{"subnet_id": "subnet-a2", "security_groups": ["sg-1"]}]
    plan = _efs.plan_update(described(), targets, params(mount_targets=wanted), ZONES)
    assert plan["targets"]["delete"] == ["fsmt-a"]
    assert plan["targets"]["wait_gone"] == ["fsmt-a"]
    assert plan["targets"]["create"] == [{"SubnetId": "subnet-a2", "SecurityGroups": ["sg-1"]}]
    with pytest.raises(_efs.EfsPlanError, match="where mount target fsmt-a \\(subnet subnet-a\\) exists") as err:
        _efs.plan_update(described(), targets, params(mount_targets=wanted, purge_mount_targets=False), ZONES)
    assert err.value.option == "mount_targets"


def test_a_deleting_mount_target_in_the_zone_is_waited_for():
    targets = [target("fsmt-old", "subnet-a2", state="deleting")]
    plan = _efs.plan_update(described(), targets, params(mount_targets=[{"subnet_id": "subnet-a"}]), ZONES)
    assert plan["targets"]["create"] == [{"SubnetId": "subnet-a"}]
    assert plan["targets"]["wait_gone"] == ["fsmt-old"]
