"""hpcops.aws_hpc.hpc_ami_info run by ansible-playbook against the embedded lab endpoint.

The lab lists moto's public AMIs owned by ``amazon`` (Windows Server 2016 and its SQL Server
editions among them). "Baked" images are registered by the tests under role names of their own
(uuid), so images baked by the lab itself never interfere, and are deregistered afterwards.
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

pytestmark = pytest.mark.lab

WINDOWS_BASE = "Windows_Server-2016-English-Full-Base-*"
WINDOWS_SQL = "Windows_Server-2016-English-Full-SQL_2017_Standard-*"


def _json_results(output):
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture
def ami_info(run_playbook, tmp_path):
    """Run hpc_ami_info once with ``args``; returns its result."""

    def _run(*extra, **args):
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        task = {"name": "hpc_ami_info", "hpcops.aws_hpc.hpc_ami_info": args, "ignore_errors": True}
        path.write_text(json.dumps([{"name": "ami", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
        proc = run_playbook(str(path), *extra, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        (result,) = _json_results(proc.stdout)
        return result

    return _run


@pytest.fixture
def tier_ami(run_playbook, tmp_path):
    """Run the aws_tier role's image step (tasks_from: ami) with ``variables``; returns {task name: result}."""

    def _run(**variables):
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        task = {"name": "aws_tier image", "ansible.builtin.include_role": {"name": "hpcops.aws_hpc.aws_tier",
                                                                           "tasks_from": "ami"},
                "vars": variables}
        path.write_text(json.dumps([{"name": "ami", "hosts": "localhost", "gather_facts": False, "tasks": [task]}]))
        proc = run_playbook(str(path), extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        lines = proc.stdout.splitlines()
        start = next(i for i, line in enumerate(lines) if line == "{")
        data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
        # role task names read "hpcops.aws_hpc.aws_tier : <name>"
        return {task["task"]["name"].rpartition(" : ")[2]: task["hosts"]["localhost"]
                for play in data["plays"] for task in play["tasks"] if "localhost" in task["hosts"]}

    return _run


def tier_variables(role, **overrides):
    variables = {"aws_tier_name": role, "aws_tier_cluster_name": "prod", "aws_tier_image_id": "",
                 "aws_tier_image_name_filter": "", "aws_tier_image_owners": ["amazon"], "aws_tier_prefer_baked": True}
    variables.update(overrides)
    return variables


@pytest.fixture(scope="module")
def ec2(lab_env):
    return boto3.client(
        "ec2",
        region_name=lab_env["AWS_REGION"],
        endpoint_url=lab_env["AWS_ENDPOINT_URL"],
        aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture
def register(ec2):
    """Register an image in this account (optionally tagged); removed with its snapshot afterwards."""
    created = []

    def _register(name, tags=None):
        image_id = ec2.register_image(Name=name, RootDeviceName="/dev/sda1")["ImageId"]
        created.append(image_id)
        if tags:
            ec2.create_tags(Resources=[image_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        # CreationDate has one-second resolution: keep registrations of one test ordered
        time.sleep(1.1)
        return image_id

    yield _register
    for image_id in created:
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        ec2.deregister_image(ImageId=image_id)
        for mapping in image.get("BlockDeviceMappings", []):
            snapshot_id = mapping.get("Ebs", {}).get("SnapshotId")
            if snapshot_id:  # registering made it; deregistering leaves it behind
                ec2.delete_snapshot(SnapshotId=snapshot_id)


@pytest.fixture
def role():
    return f"it-{uuid.uuid4().hex[:10]}"


def public_image(ec2, pattern):
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [pattern]}])["Images"]
    assert images, f"the lab lists no {pattern} image"
    return max(images, key=lambda i: (i["CreationDate"], i["Name"]))


def test_baked_wins_over_name_filter(ami_info, register, role):
    image_id = register(f"hpc-{role}-1", {"hpc:role": role, "hpc:image": "base", "Name": "Baked"})
    result = ami_info(role=role, name_filter=WINDOWS_SQL)
    assert result["changed"] is False, result
    assert result["image_id"] == image_id
    assert result["source"] == "baked"
    assert result["platform"] == "linux"
    assert result["tags"] == {"hpc:role": role, "hpc:image": "base", "Name": "Baked"}
    assert result["name"] == f"hpc-{role}-1"
    assert result["creation_date"]


def test_newest_baked_and_cluster_tag(ami_info, register, role):
    generic = register(f"hpc-{role}-generic", {"hpc:role": role, "hpc:image": "x"})
    mine = register(f"hpc-{role}-mine", {"hpc:role": role, "hpc:image": "x", "hpc:cluster": "mine"})
    other = register(f"hpc-{role}-other", {"hpc:role": role, "hpc:image": "x", "hpc:cluster": "other"})
    register(f"hpc-{role}-untagged-image", {"hpc:role": role})  # no hpc:image: not a baked image

    assert ami_info(role=role)["image_id"] == other
    assert ami_info(role=role, cluster="mine")["image_id"] == mine
    assert ami_info(role=role, cluster="third")["image_id"] == generic


def test_prefer_baked_false_uses_name_filter(ami_info, register, ec2, role):
    register(f"hpc-{role}-1", {"hpc:role": role, "hpc:image": "base"})
    expected = public_image(ec2, WINDOWS_SQL)
    result = ami_info("--check", role=role, prefer_baked=False, name_filter=WINDOWS_SQL)
    assert result["changed"] is False, result
    assert result["source"] == "name_filter"
    assert result["image_id"] == expected["ImageId"]
    assert result["platform"] == "windows"
    assert result["name"].startswith("Windows_Server-2016-English-Full-SQL_2017_Standard-")


def test_image_id_before_name_filter(ami_info, ec2, role):
    base = public_image(ec2, WINDOWS_BASE)
    result = ami_info(role=role, image_id=base["ImageId"], name_filter=WINDOWS_SQL)
    assert result["source"] == "image_id", result
    assert result["image_id"] == base["ImageId"]
    assert result["platform"] == "windows"


def test_missing_image_id_fails_naming_it(ami_info, role):
    result = ami_info(role=role, image_id="ami-0badc0ffee0000000", name_filter=WINDOWS_SQL)
    assert result.get("failed") is True, result
    assert "image_id ami-0badc0ffee0000000" in result["msg"]
    assert f"role {role}" in result["msg"]
    assert "does not exist in us-east-1" in result["msg"]


def test_name_filter_picks_newest(ami_info, register, role):
    register(f"{role}-2024.01.01")
    newer = register(f"{role}-2023.01.01")  # registered later: newer by CreationDate despite its name
    result = ami_info(role=role, name_filter=f"{role}-*", owners=["self"])
    assert result["source"] == "name_filter", result
    assert result["image_id"] == newer


def test_nothing_matches_returns_empty(ami_info, role):
    """An _info module: no match is an empty result with the reason, not a failure."""
    result = ami_info(role=role, cluster="prod", name_filter="Windows_Server-2099-*")
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["found"] is False
    assert result["image_id"] == ""
    assert result["source"] == "" and result["name"] == "" and result["tags"] == {}
    reason = result["reason"]
    assert reason.startswith(f"No AMI found for role {role} in us-east-1.")
    assert "name filter 'Windows_Server-2099-*' owned by amazon matched nothing in us-east-1" in reason


def test_nothing_matches_explains(tier_ami, role):
    results = tier_ami(**tier_variables(role, aws_tier_image_name_filter="Windows_Server-2099-*"))
    assert results["Resolve the image"]["found"] is False, results
    result = results["Fail when no image qualifies"]
    assert result.get("failed") is True, result
    msg = result["msg"]
    assert msg.startswith(f"No AMI found for role {role} in us-east-1.")
    assert f"no baked AMI tagged hpc:role={role}" in msg
    assert "hpc:cluster=prod or no hpc:cluster tag" in msg
    assert "owned by this account" in msg
    assert "image_id not given" in msg
    assert "name filter 'Windows_Server-2099-*' owned by amazon matched nothing in us-east-1" in msg
    assert "Set image_id or name_filter, or bake an image with playbooks/bake.yml." in msg
    assert "aws_tier_image_id" in msg and "aws_tier_image_name_filter" in msg


def test_nothing_to_try(ami_info, tier_ami, role):
    result = ami_info(role=role, prefer_baked=False)
    assert result["found"] is False, result
    assert result["changed"] is False
    results = tier_ami(**tier_variables(role, aws_tier_prefer_baked=False))
    result = results["Fail when no image qualifies"]
    assert result.get("failed") is True, result
    assert "baked AMIs not considered (prefer_baked=false)" in result["msg"]
    assert "name_filter not given" in result["msg"]


def test_found_image_reports_found(ami_info, register, role):
    image_id = register(f"hpc-{role}-1", {"hpc:role": role, "hpc:image": "base"})
    result = ami_info(role=role)
    assert result["found"] is True, result
    assert result["reason"] == ""
    assert result["image_id"] == image_id
