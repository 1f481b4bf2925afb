"""The pool manager (playbooks/pool.yml, hpc_pool) against the embedded endpoint: plan in check mode,
a rolling replacement killed after its second round (test hook fleet_pool_fail_after_batches), the rerun
that finishes it, and a third run that changes nothing. No orphaned or duplicate instances.

No scheduler here (fleet_pool_scheduler=none): every node counts as unknown to the scheduler, so a draining
node is replaced at the next round. tests/integration/test_fleet_lab.py drains in a real Slurm.
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid

import boto3
import pytest
from conftest import cluster_instances, play_recap

pytestmark = pytest.mark.lab

DESIRED = 4


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


@pytest.fixture(scope="module")
def pool(lab_env):
    region = lab_env.get("AWS_DEFAULT_REGION", "us-east-1")
    kwargs = {"region_name": region, "endpoint_url": lab_env["AWS_ENDPOINT_URL"]}
    ec2 = boto3.client("ec2", **kwargs)
    asg = boto3.client("autoscaling", **kwargs)
    cluster = f"pool{uuid.uuid4().hex[:8]}"
    name = f"hpc-{cluster}-computenode"
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-*x86_64*"]}])
    old, new = sorted(image["ImageId"] for image in images["Images"])[:2]
    vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": old, "InstanceType": "c5.large"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name, "Version": "1"},
        MinSize=0,
        MaxSize=DESIRED * 2,
        DesiredCapacity=DESIRED,
        VPCZoneIdentifier=subnet,
        Tags=[
            {"Key": "hpc:cluster", "Value": cluster, "PropagateAtLaunch": True},
            {"Key": "hpc:role", "Value": "computenode", "PropagateAtLaunch": True},
        ],
    )
    # a new bake: version 2 with the new AMI becomes the default (as the bakery publishes it)
    ec2.create_launch_template_version(LaunchTemplateName=name, SourceVersion="1", LaunchTemplateData={"ImageId": new})
    ec2.modify_launch_template(LaunchTemplateName=name, DefaultVersion="2")
    yield {
        "cluster": cluster,
        "name": name,
        "old": old,
        "new": new,
        "ec2": ec2,
        "asg": asg,
        "vpc": vpc,
        "subnet": subnet,
    }
    with contextlib.suppress(Exception):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    live = cluster_instances(ec2, cluster)
    if live:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in live])
    with contextlib.suppress(Exception):
        ec2.delete_launch_template(LaunchTemplateName=name)
    with contextlib.suppress(Exception):
        ec2.delete_subnet(SubnetId=subnet)
    with contextlib.suppress(Exception):
        ec2.delete_vpc(VpcId=vpc)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    path = tmp_path_factory.mktemp("pool") / "hosts.ini"
    path.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return str(path)


def play(run_playbook, pool, inventory, *extra):
    extra_vars = {
        "hpc_aws_region": "us-east-1",
        "fleet_pool_cluster": pool["cluster"],
        "fleet_pool_scheduler": "none",
        "fleet_pool_interval": 0,
        "fleet_pool_batch_size": 1,
        "ansible_python_interpreter": sys.executable,
        "fleet_pool_min_healthy_percent": 75,
        "fleet_pool_max_rounds": 30,
    }
    return run_playbook("-i", inventory, "playbooks/pool.yml", "-e", json.dumps(extra_vars), *extra, timeout=600)


def test_check_mode_prints_the_plan_and_changes_nothing(run_playbook, pool, inventory):
    before = sorted(i["InstanceId"] for i in cluster_instances(pool["ec2"], pool["cluster"]))
    assert len(before) == DESIRED
    result = play(run_playbook, pool, inventory, "--check")
    assert result.returncode == 0, result.stdout
    assert f"{DESIRED} outdated" in result.stdout
    assert "must stay" in result.stdout
    after = sorted(i["InstanceId"] for i in cluster_instances(pool["ec2"], pool["cluster"]))
    assert before == after
    assert not any(tags(i).get("hpc:pool-state") for i in cluster_instances(pool["ec2"], pool["cluster"]))


def test_killed_halfway_then_resumed(run_playbook, pool, inventory):
    ec2, cluster = pool["ec2"], pool["cluster"]
    killed = play(run_playbook, pool, inventory, "-e", "fleet_pool_fail_after_batches=2")
    assert killed.returncode != 0
    assert "test hook: stopping after 2 rounds" in killed.stdout, killed.stdout[-3000:]
    halfway = cluster_instances(ec2, cluster)
    images = [i["ImageId"] for i in halfway]
    assert pool["old"] in images, "the kill came too late to test a resume"
    assert pool["new"] in images or any(tags(i).get("hpc:pool-state") for i in halfway)

    resumed = play(run_playbook, pool, inventory)
    assert resumed.returncode == 0, resumed.stdout
    assert play_recap(resumed.stdout)["localhost"]["failed"] == 0

    final = cluster_instances(ec2, cluster)
    group = pool["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[pool["name"]])["AutoScalingGroups"][0]
    in_group = sorted(i["InstanceId"] for i in group["Instances"])
    # no duplicates: exactly the desired capacity, all of them the group's; no orphans: nothing else lives
    assert len(final) == DESIRED
    assert sorted(i["InstanceId"] for i in final) == in_group
    assert {i["ImageId"] for i in final} == {pool["new"]}
    assert not any(tags(i).get("hpc:pool-state") for i in final)


def test_rerun_changes_nothing(run_playbook, pool, inventory):
    result = play(run_playbook, pool, inventory)
    assert result.returncode == 0, result.stdout
    assert play_recap(result.stdout)["localhost"]["changed"] == 0
    assert "0 outdated" in result.stdout
