"""The pure logic of _fsx.py: FSx for Lustre plans (create, grow, refuse) and the SharedStorage items."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _fsx
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import (
    CLUSTER_TAG,
    MOUNT_DIR_TAG,
    PORTAL_STORAGE_ROLE,
    ROLE_TAG,
    STORAGE_TAG,
)

SUBNET = "subnet-0123456789abcdef0"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def params(**over):
    base = {"name": "prod-portal-fsx", "cluster": "prod", "state": "present", "storage_capacity": 1200,
            "deployment_type": "SCRATCH_2", "per_unit_storage_throughput": None, "storage_type": None,
            "subnet_id": SUBNET, "security_group_ids": ["sg-0123456789abcdef0"], "kms_key_id": None,
            "mount_dir": "/fsx", "tags": {ROLE_TAG: PORTAL_STORAGE_ROLE, STORAGE_TAG: "fsx"}, "purge_tags": True}
    base.update(over)
    return base


def described(**over):
    tags = over.pop("tags", {"Name": "prod-portal-fsx", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/fsx",
                             ROLE_TAG: PORTAL_STORAGE_ROLE, STORAGE_TAG: "fsx"})
    lustre = {"DeploymentType": over.pop("deployment_type", "SCRATCH_2"), "MountName": "abcdefgh"}
    if "throughput" in over:
        lustre["PerUnitStorageThroughput"] = over.pop("throughput")
    fs = {"FileSystemId": "fs-0123456789abcdef0", "FileSystemType": "LUSTRE", "Lifecycle": "AVAILABLE",
          "StorageCapacity": 1200, "StorageType": "SSD", "SubnetIds": [SUBNET],
          "DNSName": "fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com",
          "ResourceARN": "arn:aws:fsx:us-east-1:123456789012:file-system/fs-0123456789abcdef0",
          "Tags": _fsx.tag_list(tags), "LustreConfiguration": lustre}
    fs.update(over)
    return fs


# ---------------------------------------------------------------- tags and finding
def test_desired_tags_add_name_cluster_and_mount_dir_which_win():
    tags = _fsx.desired_tags(params(tags={"Name": "other", "team": "cfd"}))
    assert tags == {"Name": "prod-portal-fsx", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/fsx", "team": "cfd"}


def test_tag_changes_never_remove_aws_tags():
    to_set, to_remove = _fsx.tag_changes({"a": "1", "b": "2", "aws:cloudformation:stack-name": "x"}, {"a": "9"})
    assert to_set == {"a": "9"}
    assert to_remove == ["b"]
    assert _fsx.tag_changes({"b": "2"}, {}, purge=False) == ({}, [])


@pytest.mark.parametrize("change, found", [
    ({}, True),
    ({"Lifecycle": "CREATING"}, True),
    ({"Lifecycle": "DELETING"}, False),
    ({"Lifecycle": "FAILED"}, False),
    ({"FileSystemType": "OPENZFS"}, False),
    ({"tags": {"Name": "prod-portal-fsx", CLUSTER_TAG: "other"}}, False),
    ({"tags": {"Name": "else", CLUSTER_TAG: "prod"}}, False),
])
def test_is_lustre_of(change, found):
    assert _fsx.is_lustre_of(described(**change), "prod", "prod-portal-fsx") is found


def test_summarize_and_lifecycle_default():
    fs = described()
    del fs["Lifecycle"]  # moto reports none
    info = _fsx.summarize(fs)
    assert info["lifecycle"] == "AVAILABLE"
    assert info["mount_name"] == "abcdefgh"
    assert info["mount_dir"] == "/fsx"
    assert info["subnet_ids"] == [SUBNET]
    assert info["deployment_type"] == "SCRATCH_2"
    assert _fsx.lifecycle_state(fs) == "ready"
    assert _fsx.lifecycle_state(described(Lifecycle="CREATING")) == "busy"
    assert _fsx.lifecycle_state(described(Lifecycle="MISCONFIGURED")) == "broken"


# ---------------------------------------------------------------- validation and create
@pytest.mark.parametrize("over, option", [
    ({"storage_capacity": 0}, "storage_capacity"),
    ({"storage_capacity": -1200}, "storage_capacity"),
    ({"storage_capacity": None}, "storage_capacity"),
    ({"subnet_id": ""}, "subnet_id"),
    ({"mount_dir": "fsx"}, "mount_dir"),
    ({"per_unit_storage_throughput": -1}, "per_unit_storage_throughput"),
    ({"kms_key_id": KEY_ARN}, "kms_key_id"),
    ({"kms_key_id": KEY_ARN, "deployment_type": None}, "kms_key_id"),
])
def test_validate_names_the_option(over, option):
    with pytest.raises(_fsx.FsxPlanError) as err:
        _fsx.validate(params(**over))
    assert err.value.option == option
    assert option in str(err.value)


def test_validate_scratch_kms_says_fsx_manages_the_keys():
    with pytest.raises(_fsx.FsxPlanError, match="encrypted with keys managed by Amazon FSx"):
        _fsx.validate(params(kms_key_id=KEY_ARN, deployment_type="SCRATCH_1"))


def test_validate_accepts_absent_without_sizes_and_odd_sizes_fsx_judges():
    _fsx.validate({"name": "x", "cluster": "c", "state": "absent"})
    _fsx.validate(params(storage_capacity=1000))  # FSx refuses it, with its own error
    _fsx.validate(params(deployment_type="PERSISTENT_2", kms_key_id=KEY_ARN, per_unit_storage_throughput=125))


def test_create_request():
    request = _fsx.create_request(params(deployment_type=None, per_unit_storage_throughput=0), "tok")
    assert request == {
        "ClientRequestToken": "tok", "FileSystemType": "LUSTRE", "StorageCapacity": 1200, "StorageType": "SSD",
        "SubnetIds": [SUBNET], "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Tags": [{"Key": "Name", "Value": "prod-portal-fsx"}, {"Key": CLUSTER_TAG, "Value": "prod"},
                 {"Key": MOUNT_DIR_TAG, "Value": "/fsx"}, {"Key": ROLE_TAG, "Value": PORTAL_STORAGE_ROLE},
                 {"Key": STORAGE_TAG, "Value": "fsx"}],
        "LustreConfiguration": {"DeploymentType": "SCRATCH_2"},
    }
    persistent = _fsx.create_request(params(deployment_type="PERSISTENT_2", per_unit_storage_throughput=250,
                                            kms_key_id=KEY_ARN), "tok")
    assert persistent["LustreConfiguration"] == {"DeploymentType": "PERSISTENT_2", "PerUnitStorageThroughput": 250}
    assert persistent["KmsKeyId"] == KEY_ARN


# ---------------------------------------------------------------- update plans
def test_same_settings_plan_nothing():
    plan = _fsx.plan_update(described(), params())
    assert plan["changed"] is False
    assert plan["update"] is None
    assert plan["before"] == plan["after"]


def test_omitted_settings_are_whatever_the_file_system_has():
    plan = _fsx.plan_update(described(deployment_type="PERSISTENT_1", StorageType="HDD"),
                            params(deployment_type=None, storage_type=None, tags=None))
    assert plan["changed"] is False


def test_growth_is_an_update_and_shows_in_the_diff():
    plan = _fsx.plan_update(described(), params(storage_capacity=2400))
    assert plan["update"] == {"FileSystemId": "fs-0123456789abcdef0", "StorageCapacity": 2400}
    assert plan["before"]["storage_capacity"] == 1200
    assert plan["after"]["storage_capacity"] == 2400
    assert plan["changed"] is True


def test_shrink_is_refused_naming_storage_capacity():
    with pytest.raises(_fsx.FsxPlanError) as err:
        _fsx.plan_update(described(StorageCapacity=2400), params(storage_capacity=1200))
    assert err.value.option == "storage_capacity"
    assert "storage_capacity 1200 GiB is less than the file system's 2400 GiB" in str(err.value)
    assert "cannot shrink" in str(err.value)


def test_scratch_1_cannot_grow():
    with pytest.raises(_fsx.FsxPlanError, match="cannot grow a SCRATCH_1 file system in place") as err:
        _fsx.plan_update(described(deployment_type="SCRATCH_1"), params(deployment_type=None, storage_capacity=2400))
    assert err.value.option == "storage_capacity"


def test_update_under_way_counts_as_done():
    fs = described(AdministrativeActions=[{"AdministrativeActionType": "FILE_SYSTEM_UPDATE", "Status": "IN_PROGRESS",
                                           "TargetFileSystemValues": {"StorageCapacity": 2400}}],
                   Lifecycle="UPDATING")
    assert _fsx.plan_update(fs, params(storage_capacity=2400))["changed"] is False


@pytest.mark.parametrize("over, option", [
    ({"deployment_type": "PERSISTENT_2"}, "deployment_type"),
    ({"subnet_id": "subnet-0fedcba9876543210"}, "subnet_id"),
    ({"storage_type": "HDD"}, "storage_type"),
])
def test_immutable_settings_are_refused(over, option):
    with pytest.raises(_fsx.FsxPlanError) as err:
        _fsx.plan_update(described(), params(**over))
    assert err.value.option == option
    assert f"FSx cannot change {option} in place; delete and recreate (data loss) is not done by this module" in str(
        err.value)


def test_kms_key_compared_by_arn_key_id_or_resolver():
    fs = described(deployment_type="PERSISTENT_2", KmsKeyId=KEY_ARN, throughput=250)
    base = {"deployment_type": "PERSISTENT_2", "per_unit_storage_throughput": 250}
    assert _fsx.plan_update(fs, params(kms_key_id=KEY_ARN, **base))["changed"] is False
    assert _fsx.plan_update(fs, params(kms_key_id="1234abcd-12ab-34cd-56ef-1234567890ab", **base))["changed"] is False
    assert _fsx.plan_update(fs, params(kms_key_id="alias/hpc", **base),
                            same_kms_key=lambda current, wanted: True)["changed"] is False
    with pytest.raises(_fsx.FsxPlanError, match="FSx cannot change kms_key_id in place"):
        _fsx.plan_update(fs, params(kms_key_id="alias/other", **base))


def test_kms_key_on_an_existing_scratch_file_system_is_refused():
    with pytest.raises(_fsx.FsxPlanError, match="managed by Amazon FSx"):
        _fsx.plan_update(described(), params(deployment_type=None, kms_key_id=KEY_ARN))


def test_throughput_changes_on_persistent_2_only():
    plan = _fsx.plan_update(described(deployment_type="PERSISTENT_2", throughput=125),
                            params(deployment_type="PERSISTENT_2", per_unit_storage_throughput=250))
    assert plan["update"] == {"FileSystemId": "fs-0123456789abcdef0",
                              "LustreConfiguration": {"PerUnitStorageThroughput": 250}}
    with pytest.raises(_fsx.FsxPlanError) as err:
        _fsx.plan_update(described(deployment_type="PERSISTENT_1", throughput=50),
                         params(deployment_type="PERSISTENT_1", per_unit_storage_throughput=100))
    assert err.value.option == "per_unit_storage_throughput"


def test_tag_plan_purges_only_when_tags_are_given():
    fs = described(tags={"Name": "prod-portal-fsx", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/old", "stale": "1"})
    plan = _fsx.plan_update(fs, params(tags={"team": "cfd"}))
    assert plan["tags_set"] == {MOUNT_DIR_TAG: "/fsx", "team": "cfd"}
    assert plan["tags_remove"] == ["stale"]
    assert plan["after"]["tags"] == {"Name": "prod-portal-fsx", CLUSTER_TAG: "prod", MOUNT_DIR_TAG: "/fsx",
                                     "team": "cfd"}
    assert plan["after"]["mount_dir"] == "/fsx"
    kept = _fsx.plan_update(fs, params(tags=None))
    assert kept["tags_remove"] == []
    assert kept["tags_set"] == {MOUNT_DIR_TAG: "/fsx"}


# ---------------------------------------------------------------- SharedStorage items
def efs(fs_id, *, storage="efs", mount="/efs", cluster="prod", role=PORTAL_STORAGE_ROLE, state="available"):
    tags = {CLUSTER_TAG: cluster, ROLE_TAG: role, STORAGE_TAG: storage, MOUNT_DIR_TAG: mount, "Name": f"{fs_id}-n"}
    present = {k: v for k, v in tags.items() if v is not None}
    return {"FileSystemId": fs_id, "LifeCycleState": state, "Tags": _fsx.tag_list(present)}


def test_shared_storage_items_in_the_parallelcluster_shape():
    fsx = described()
    items, summaries, problems = _fsx.shared_storage("prod", [efs("fs-e1")], [fsx])
    assert items == [
        {"name": "portal-efs", "type": "Efs", "mount_dir": "/efs", "settings": {"FileSystemId": "fs-e1"}},
        {"name": "portal-fsx", "type": "FsxLustre", "mount_dir": "/fsx",
         "settings": {"FileSystemId": "fs-0123456789abcdef0"}},
    ]
    assert problems == []
    assert [s["id"] for s in summaries] == ["fs-e1", "fs-0123456789abcdef0"]
    assert summaries[1]["mount_name"] == "abcdefgh"
    assert summaries[0]["shared_storage_name"] == "portal-efs"


def test_shared_storage_skips_other_clusters_roles_and_dying_file_systems():
    items, summaries, problems = _fsx.shared_storage("prod", [
        efs("fs-e1", cluster="other"), efs("fs-e2", role="home"), efs("fs-e3", state="deleting"),
        efs("fs-e4", state="error"),
    ], [described(Lifecycle="DELETING"), described(FileSystemType="WINDOWS")])
    assert (items, summaries, problems) == ([], [], [])


def test_shared_storage_without_mount_dir_or_with_a_bad_name_is_left_out_and_named():
    items, summaries, problems = _fsx.shared_storage("prod", [
        efs("fs-e1", mount=None), efs("fs-e2", storage="x" * 30)], [])
    assert items == []
    assert len(summaries) == 2
    assert any("fs-e1" in p and MOUNT_DIR_TAG in p for p in problems)
    assert any("fs-e2" in p and "ParallelCluster refuses" in p for p in problems)


def test_shared_storage_repeated_names_get_a_number_and_are_ordered():
    items = _fsx.shared_storage("prod", [efs("fs-b"), efs("fs-a"), efs("fs-c", storage="home", mount="/home2")],
                                [])[0]
    assert [(i["name"], i["settings"]["FileSystemId"]) for i in items] == [
        ("portal-efs", "fs-a"), ("portal-efs-2", "fs-b"), ("portal-home", "fs-c")]
