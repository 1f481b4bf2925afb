"""hpcops.aws_hpc.fsx_lustre and shared_storage_info run by ansible-playbook against the embedded lab endpoint.

Every test works on a cluster name of its own (uuid) and removes what it created. The lab's moto has no
UpdateFileSystem, so growth is covered by the unit tests; here the refusals need no AWS call.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab


@pytest.fixture
def aws(lab_env):
    return {service: lab_client(lab_env, service) for service in ("ec2", "fsx", "efs")}


@pytest.fixture
def network(aws):
    """A VPC, a subnet and a security group of the lab; deleted afterwards."""
    ec2 = aws["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(VpcId=vpc, GroupName=f"fsx-it-{uuid.uuid4().hex[:8]}",
                                      Description="fsx_lustre integration test")["GroupId"]
    yield {"subnet": subnet, "group": group}
    ec2.delete_security_group(GroupId=group)
    ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc)


@pytest.fixture
def cluster(aws):
    """A cluster name of the test's own; its FSx and EFS file systems are deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:10]}"
    yield name
    for fs in aws["fsx"].describe_file_systems()["FileSystems"]:
        if {"Key": "hpc:cluster", "Value": name} in fs.get("Tags", []):
            aws["fsx"].delete_file_system(FileSystemId=fs["FileSystemId"])
    for fs in aws["efs"].describe_file_systems()["FileSystems"]:
        if {"Key": "hpc:cluster", "Value": name} in fs.get("Tags", []):
            aws["efs"].delete_file_system(FileSystemId=fs["FileSystemId"])


def fsx_task(**args):
    return {"name": "fsx_lustre", "hpcops.aws_hpc.fsx_lustre": args, "ignore_errors": True}


def lustre(cluster, network, **over):
    args = {"name": f"{cluster}-portal-fsx", "cluster": cluster, "storage_capacity": 1200,
            "deployment_type": "SCRATCH_2", "subnet_id": network["subnet"], "security_group_ids": [network["group"]],
            "mount_dir": "/fsx", "tags": {"hpc:role": "portal-storage", "hpc:storage": "fsx"}}
    args.update(over)
    return args


def file_systems(aws, cluster):
    return [fs for fs in aws["fsx"].describe_file_systems()["FileSystems"]
            if {"Key": "hpc:cluster", "Value": cluster} in fs.get("Tags", [])]


def test_fsx_lustre_lifecycle(run_tasks, aws, network, cluster):
    args = lustre(cluster, network)
    (check,) = run_tasks([fsx_task(**args)], "--check", "--diff")
    assert check["changed"] is True, check
    assert check["file_system"] is None
    assert check["diff"]["after"]["storage_capacity"] == 1200
    assert file_systems(aws, cluster) == []

    (created,) = run_tasks([fsx_task(**args)])
    assert created["changed"] is True, created
    fs_id = created["file_system"]["id"]
    assert created["file_system"]["mount_dir"] == "/fsx"
    assert created["file_system"]["subnet_ids"] == [network["subnet"]]
    (stored,) = file_systems(aws, cluster)
    assert stored["FileSystemId"] == fs_id
    assert {"Key": "Name", "Value": f"{cluster}-portal-fsx"} in stored["Tags"]

    (again,) = run_tasks([fsx_task(**args)], "--diff")
    assert again["changed"] is False, again
    assert again["file_system"]["id"] == fs_id

    (tagged,) = run_tasks([fsx_task(**{**args, "tags": {**args["tags"], "team": "cfd"}})], "--diff")
    assert tagged["changed"] is True, tagged
    assert tagged["diff"]["after"]["tags"]["team"] == "cfd"
    assert {"Key": "team", "Value": "cfd"} in file_systems(aws, cluster)[0]["Tags"]

    (shrink,) = run_tasks([fsx_task(**{**args, "storage_capacity": 600})])
    assert shrink.get("failed") is True, shrink
    assert "storage_capacity" in shrink["msg"] and "cannot shrink" in shrink["msg"]
    (moved,) = run_tasks([fsx_task(**{**args, "deployment_type": "PERSISTENT_2"})])
    assert moved.get("failed") is True, moved
    assert "FSx cannot change deployment_type in place" in moved["msg"]

    gone = {"name": args["name"], "cluster": cluster, "state": "absent"}
    (first,) = run_tasks([fsx_task(**gone)])
    assert first["changed"] is True, first
    (second,) = run_tasks([fsx_task(**gone)])
    assert second["changed"] is False, second
    assert file_systems(aws, cluster) == []


def test_shared_storage_info_in_parallelcluster_form(run_tasks, aws, network, cluster):
    (empty,) = run_tasks([{"hpcops.aws_hpc.shared_storage_info": {"cluster": cluster}}])
    assert empty["shared_storage"] == [] and empty["changed"] is False, empty
    efs_id = aws["efs"].create_file_system(CreationToken=f"{cluster}-efs", Tags=[
        {"Key": "Name", "Value": f"{cluster}-portal-efs"}, {"Key": "hpc:cluster", "Value": cluster},
        {"Key": "hpc:role", "Value": "portal-storage"}, {"Key": "hpc:storage", "Value": "efs"},
        {"Key": "hpc:mount-dir", "Value": "/efs"}])["FileSystemId"]
    (created,) = run_tasks([fsx_task(**lustre(cluster, network))])
    fsx_id = created["file_system"]["id"]

    (info,) = run_tasks([{"hpcops.aws_hpc.shared_storage_info": {"cluster": cluster}}], "--check")
    assert info["changed"] is False, info
    assert info["shared_storage"] == [
        {"name": "portal-efs", "type": "Efs", "mount_dir": "/efs", "settings": {"FileSystemId": efs_id}},
        {"name": "portal-fsx", "type": "FsxLustre", "mount_dir": "/fsx", "settings": {"FileSystemId": fsx_id}},
    ]
    assert {fs["id"] for fs in info["file_systems"]} == {efs_id, fsx_id}
