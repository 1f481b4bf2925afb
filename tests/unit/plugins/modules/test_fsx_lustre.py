"""hpcops.aws_hpc.fsx_lustre and shared_storage_info against moto in-process (FSx, EFS): no network.

moto 5.2 has no UpdateFileSystem: the growth test puts a stand-in on the client that changes moto's file system
as FSx would (after the call, StorageCapacity is the new size).
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.modules import fsx_lustre, shared_storage_info

SUBNET = "subnet-0123456789abcdef0"
TAGS = {"hpc:role": "portal-storage", "hpc:storage": "fsx"}


def run(capsys, module=fsx_lustre, **args):
    with patch_module_args(dict(region="us-east-1", **args)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def lustre(**over):
    args = dict(name="unit-portal-fsx", cluster="unit", storage_capacity=1200, deployment_type="SCRATCH_2",
                subnet_id=SUBNET, security_group_ids=["sg-0123456789abcdef0"], mount_dir="/fsx", tags=dict(TAGS))
    args.update(over)
    return args


@pytest.fixture
def moto_fsx(moto_credentials):
    import boto3
    from moto import mock_aws

    moto_credentials.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("fsx", region_name="us-east-1")


def live(fsx):
    return [fs for fs in fsx.describe_file_systems()["FileSystems"] if fs.get("Lifecycle") != "DELETING"]


def test_create_rerun_check_and_diff(moto_fsx, capsys):
    check = run(capsys, _ansible_check_mode=True, _ansible_diff=True, **lustre())
    assert check["changed"] is True, check
    assert check["file_system"] is None
    assert check["diff"]["before"] == {"exists": False}
    assert check["diff"]["after"]["storage_capacity"] == 1200
    assert live(moto_fsx) == []

    created = run(capsys, **lustre())
    assert created["changed"] is True, created
    info = created["file_system"]
    assert info["id"].startswith("fs-")
    assert info["deployment_type"] == "SCRATCH_2"
    assert info["mount_dir"] == "/fsx"
    assert info["subnet_ids"] == [SUBNET]
    assert info["tags"] == {"Name": "unit-portal-fsx", "hpc:cluster": "unit", "hpc:mount-dir": "/fsx", **TAGS}

    again = run(capsys, _ansible_diff=True, **lustre())
    assert again["changed"] is False, again
    assert again["file_system"]["id"] == info["id"]
    assert again["diff"]["before"] == again["diff"]["after"]
    assert len(live(moto_fsx)) == 1


def test_tags_change_and_refusals(moto_fsx, capsys):
    fs_id = run(capsys, **lustre())["file_system"]["id"]
    tagged = run(capsys, **lustre(tags={**TAGS, "team": "cfd"}))
    assert tagged["changed"] is True, tagged
    assert tagged["file_system"]["tags"]["team"] == "cfd"

    shrink = run(capsys, **lustre(storage_capacity=600))
    assert shrink["failed"] is True
    assert "storage_capacity 600 GiB is less than the file system's 1200 GiB" in shrink["msg"]

    moved = run(capsys, **lustre(subnet_id="subnet-0fedcba9876543210"))
    assert moved["failed"] is True
    assert "FSx cannot change subnet_id in place; delete and recreate (data loss) is not done" in moved["msg"]

    kms = run(capsys, **lustre(kms_key_id="alias/hpc"))
    assert kms["failed"] is True
    assert "kms_key_id" in kms["msg"] and "managed by Amazon FSx" in kms["msg"]
    assert [fs["FileSystemId"] for fs in live(moto_fsx)] == [fs_id]


def test_growth_calls_update_file_system(moto_fsx, capsys, monkeypatch):
    from moto.fsx.models import fsx_backends

    fs_id = run(capsys, **lustre())["file_system"]["id"]
    calls = []

    def update_file_system(**kwargs):
        calls.append(kwargs)
        backend = fsx_backends["123456789012"]["us-east-1"]
        backend.file_systems[kwargs["FileSystemId"]].storage_capacity = kwargs["StorageCapacity"]
        return {"FileSystem": {}}

    real_client = fsx_lustre.client_from_module

    def client_from_module(module, service):
        client = real_client(module, service)
        client.update_file_system = update_file_system
        return client

    monkeypatch.setattr(fsx_lustre, "client_from_module", client_from_module)
    check = run(capsys, _ansible_check_mode=True, **lustre(storage_capacity=2400))
    assert check["changed"] is True and calls == []
    grown = run(capsys, **lustre(storage_capacity=2400))
    assert grown["changed"] is True, grown
    assert calls[0]["FileSystemId"] == fs_id and calls[0]["StorageCapacity"] == 2400
    assert calls[0]["ClientRequestToken"]
    assert grown["file_system"]["storage_capacity"] == 2400


def test_absent_twice(moto_fsx, capsys):
    run(capsys, **lustre())
    check = run(capsys, _ansible_check_mode=True, name="unit-portal-fsx", cluster="unit", state="absent")
    assert check["changed"] is True
    assert len(live(moto_fsx)) == 1
    first = run(capsys, name="unit-portal-fsx", cluster="unit", state="absent")
    assert first["changed"] is True, first
    assert live(moto_fsx) == []
    second = run(capsys, name="unit-portal-fsx", cluster="unit", state="absent")
    assert second["changed"] is False, second


def test_present_needs_size_and_subnet(moto_fsx, capsys):
    result = run(capsys, name="x", cluster="unit")
    assert result["failed"] is True
    assert "storage_capacity" in result["msg"] and "subnet_id" in result["msg"]


def test_wait_polls_until_available(moto_fsx, capsys, monkeypatch):
    states = iter(["CREATING", "CREATING", "AVAILABLE"])
    original = fsx_lustre.LustreManager.describe

    def describe(self, fs_id):
        fs = original(self, fs_id)
        fs["Lifecycle"] = next(states)
        return fs

    monkeypatch.setattr(fsx_lustre.LustreManager, "describe", describe)
    monkeypatch.setattr(fsx_lustre.time, "sleep", lambda seconds: None)
    result = run(capsys, **lustre())
    assert result["file_system"]["lifecycle"] == "AVAILABLE"


def test_wait_fails_on_a_failed_creation(moto_fsx, capsys, monkeypatch):
    original = fsx_lustre.LustreManager.describe

    def describe(self, fs_id):
        fs = original(self, fs_id)
        fs.update(Lifecycle="FAILED", FailureDetails={"Message": "subnet has no free addresses"})
        return fs

    monkeypatch.setattr(fsx_lustre.LustreManager, "describe", describe)
    result = run(capsys, **lustre())
    assert result["failed"] is True
    assert "is FAILED: subnet has no free addresses" in result["msg"]


# ---------------------------------------------------------------- shared_storage_info
def test_shared_storage_info(moto_fsx, capsys):
    import boto3

    assert run(capsys, module=shared_storage_info, cluster="unit")["shared_storage"] == []
    efs = boto3.client("efs", region_name="us-east-1")
    efs_id = efs.create_file_system(CreationToken="unit-efs", Tags=[
        {"Key": "Name", "Value": "unit-portal-efs"}, {"Key": "hpc:cluster", "Value": "unit"},
        {"Key": "hpc:role", "Value": "portal-storage"}, {"Key": "hpc:storage", "Value": "efs"},
        {"Key": "hpc:mount-dir", "Value": "/efs"}])["FileSystemId"]
    efs.create_file_system(CreationToken="other-efs", Tags=[{"Key": "hpc:cluster", "Value": "other"}])
    fsx_id = run(capsys, **lustre())["file_system"]["id"]
    result = run(capsys, module=shared_storage_info, cluster="unit", _ansible_check_mode=True)
    assert result["changed"] is False
    assert result["shared_storage"] == [
        {"name": "portal-efs", "type": "Efs", "mount_dir": "/efs", "settings": {"FileSystemId": efs_id}},
        {"name": "portal-fsx", "type": "FsxLustre", "mount_dir": "/fsx", "settings": {"FileSystemId": fsx_id}},
    ]
    assert {fs["id"] for fs in result["file_systems"]} == {efs_id, fsx_id}
