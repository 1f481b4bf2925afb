"""hpcops.aws_hpc.efs_file_system run by ansible-playbook against the embedded lab endpoint.

Every test works on a cluster name of its own (uuid) and removes what it created. The lab's moto has no
UpdateFileSystem, so throughput mode changes are covered by the unit tests.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab


@pytest.fixture
def aws(lab_env):
    return {service: lab_client(lab_env, service) for service in ("ec2", "efs")}


@pytest.fixture
def network(aws):
    """A VPC with subnets in two zones and two security groups of the lab; deleted afterwards."""
    ec2 = aws["ec2"]
    vpc = ec2.create_vpc(CidrBlock="10.43.0.0/16")["Vpc"]["VpcId"]
    net = {"vpc": vpc}
    for key, cidr, zone in (("a", "10.43.1.0/24", "us-east-1a"), ("b", "10.43.2.0/24", "us-east-1b")):
        net[key] = ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
    for key in ("sg1", "sg2"):
        net[key] = ec2.create_security_group(VpcId=vpc, GroupName=f"efs-it-{key}-{uuid.uuid4().hex[:8]}",
                                             Description="efs_file_system integration test")["GroupId"]
    yield net
    for key in ("sg1", "sg2"):
        ec2.delete_security_group(GroupId=net[key])
    for key in ("a", "b"):
        ec2.delete_subnet(SubnetId=net[key])
    ec2.delete_vpc(VpcId=vpc)


@pytest.fixture
def cluster(aws):
    """A cluster name of the test's own; its EFS file systems (and their mount targets) are deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:10]}"
    yield name
    for fs in file_systems(aws, name):
        for target in aws["efs"].describe_mount_targets(FileSystemId=fs["FileSystemId"])["MountTargets"]:
            aws["efs"].delete_mount_target(MountTargetId=target["MountTargetId"])
        aws["efs"].delete_file_system(FileSystemId=fs["FileSystemId"])


def efs_task(**args):
    return {"name": "efs_file_system", "hpcops.aws_hpc.efs_file_system": args, "ignore_errors": True}


def efs_args(cluster, network, group="sg1", **over):
    args = {"name": f"{cluster}-portal-efs", "cluster": cluster, "mount_dir": "/efs",
            "tags": {"hpc:role": "portal-storage", "hpc:storage": "efs"},
            "mount_targets": [{"subnet_id": network["a"], "security_groups": [network[group]]},
                              {"subnet_id": network["b"], "security_groups": [network["sg1"]]}]}
    args.update(over)
    return args


def file_systems(aws, cluster):
    return [fs for fs in aws["efs"].describe_file_systems()["FileSystems"]
            if {"Key": "hpc:cluster", "Value": cluster} in fs.get("Tags", [])]


def test_efs_file_system_lifecycle(run_tasks, aws, network, cluster):
    args = efs_args(cluster, network)
    (check,) = run_tasks([efs_task(**args)], "--check", "--diff")
    assert check["changed"] is True, check
    assert check["file_system"] is None
    assert check["diff"]["after"]["mount_targets"] == {network["a"]: [network["sg1"]], network["b"]: [network["sg1"]]}
    assert file_systems(aws, cluster) == []

    (created,) = run_tasks([efs_task(**args)])
    assert created["changed"] is True, created
    fs_id = created["file_system"]["id"]
    assert created["file_system"]["mount_dir"] == "/efs"
    assert created["file_system"]["dns_name"] == f"{fs_id}.efs.us-east-1.amazonaws.com"
    zones = {t["subnet_id"]: t["availability_zone"] for t in created["file_system"]["mount_targets"]}
    assert zones == {network["a"]: "us-east-1a", network["b"]: "us-east-1b"}
    (stored,) = file_systems(aws, cluster)
    assert stored["FileSystemId"] == fs_id and stored["Encrypted"] is True
    assert {"Key": "Name", "Value": f"{cluster}-portal-efs"} in stored["Tags"]
    assert len(aws["efs"].describe_mount_targets(FileSystemId=fs_id)["MountTargets"]) == 2

    (again,) = run_tasks([efs_task(**args)], "--diff")
    assert again["changed"] is False, again
    assert again["file_system"]["id"] == fs_id

    (tagged,) = run_tasks([efs_task(**{**args, "tags": {**args["tags"], "team": "cfd"}})], "--diff")
    assert tagged["changed"] is True, tagged
    assert tagged["diff"]["after"]["tags"]["team"] == "cfd"
    assert {"Key": "team", "Value": "cfd"} in aws["efs"].list_tags_for_resource(ResourceId=fs_id)["Tags"]

    moved_args = efs_args(cluster, network, group="sg2", tags=tagged["file_system"]["tags"])
    (moved,) = run_tasks([efs_task(**moved_args)], "--diff")
    assert moved["changed"] is True, moved
    assert moved["diff"]["before"]["mount_targets"][network["a"]] == [network["sg1"]]
    assert moved["diff"]["after"]["mount_targets"][network["a"]] == [network["sg2"]]
    target_a = next(t for t in moved["file_system"]["mount_targets"] if t["subnet_id"] == network["a"])
    assert aws["efs"].describe_mount_target_security_groups(
        MountTargetId=target_a["id"])["SecurityGroups"] == [network["sg2"]]

    (refused,) = run_tasks([efs_task(**{**args, "performance_mode": "maxIO"})])
    assert refused.get("failed") is True, refused
    assert "EFS cannot change performance_mode in place" in refused["msg"]

    gone = {"name": args["name"], "cluster": cluster, "state": "absent"}
    (first,) = run_tasks([efs_task(**gone)])
    assert first["changed"] is True, first
    (second,) = run_tasks([efs_task(**gone)])
    assert second["changed"] is False, second
    assert file_systems(aws, cluster) == []
