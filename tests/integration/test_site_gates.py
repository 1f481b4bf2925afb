"""site.yml fails fast when its inventory does not show the cluster it builds, naming the values.

- the inventory's `cluster` option differs from hpc_cluster_name: refused in the first play, before
  any AWS change;
- a tier's group is empty after its refresh while the tier has instances in service (here: an
  inventory that lists another region): the run stops after that tier instead of skipping its
  readiness gate and configuration and reporting success;
- a tier's group holds an instance of another cluster (an inventory without a `cluster` option):
  the run stops, naming both clusters.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import cluster_inventory, lab_client


def _client(lab_env, service):
    return lab_client(lab_env, service)


def _inventory(tmp_path, name, source):
    """The lab's variables for cluster ``name``, with the given hpc_ec2 source file text."""
    inventory = cluster_inventory(tmp_path / f"inventory-{uuid.uuid4().hex[:6]}", name, source=source)
    return str(inventory)


@pytest.fixture(scope="module")
def gate_cluster(tmp_path_factory, run_playbook, lab_env):
    """A cluster of its own, torn down (with its bucket and secrets) after the module's tests."""
    name = f"gt{uuid.uuid4().hex[:8]}"
    good = _inventory(tmp_path_factory.mktemp("good"), name, f"regions: [us-east-1]\ncluster: {name}\n")
    yield {"name": name, "good": good}
    down = run_playbook(
        "playbooks/teardown.yml", "-i", good, "-e", '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}'
    )
    assert down.returncode == 0, down.stdout[-4000:]


def _asgs(lab_env, name):
    groups = _client(lab_env, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return sorted(g["AutoScalingGroupName"] for g in groups if g["AutoScalingGroupName"].startswith(f"hpc-{name}-"))


def test_inventory_of_another_cluster_is_refused_before_any_change(tmp_path, run_playbook, lab_env, gate_cluster):
    name = f"gx{uuid.uuid4().hex[:8]}"
    inventory = _inventory(tmp_path, name, "regions: [us-east-1]\ncluster: somebody-else\n")
    result = run_playbook("site.yml", "-i", inventory)
    assert result.returncode != 0
    assert "The inventory lists cluster 'somebody-else'" in result.stdout
    assert f"hpc_cluster_name is '{name}'" in result.stdout
    assert "Shared AWS layer" not in result.stdout
    assert _asgs(lab_env, name) == []
    vpcs = _client(lab_env, "ec2").describe_vpcs(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["Vpcs"]
    assert vpcs == []


def test_empty_tier_group_after_refresh_stops_the_run(tmp_path, run_playbook, lab_env, gate_cluster):
    name = gate_cluster["name"]
    # the inventory looks in another region (no `cluster` option, so the first play cannot tell)
    inventory = _inventory(tmp_path, name, "regions: [us-west-2]\n")
    result = run_playbook("site.yml", "-i", inventory)
    assert result.returncode != 0
    out = result.stdout
    assert f"The sqlserver tier of cluster {name} has 1 instance(s) in service" in " ".join(out.split())
    assert "the inventory's group sqlserver is empty after the refresh" in " ".join(out.split())
    assert "hpc_aws_region (us-east-1)" in " ".join(out.split())
    # stopped right there: no readiness gate ran on no host, the next tier was not started
    assert "Head node tier" not in out
    assert _asgs(lab_env, name) == [f"hpc-{name}-sqlserver"]
    # aws_foundation_ssm_endpoints defaults to false: the shared layer made no interface endpoint and no group
    ec2 = _client(lab_env, "ec2")
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["Vpcs"]
    endpoints = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["VpcEndpoints"]
    assert [e for e in endpoints if e["VpcEndpointType"] == "Interface"] == []
    groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [f"hpc-{name}-endpoints"]}])
    assert groups["SecurityGroups"] == []


def test_foreign_instance_in_a_tier_group_stops_the_run(tmp_path, run_playbook, lab_env, gate_cluster):
    name = gate_cluster["name"]
    ec2 = _client(lab_env, "ec2")
    image = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["Windows_Server-2016-English-Full-Base-*"]}]
    )["Images"][0]["ImageId"]
    foreign = ec2.run_instances(
        ImageId=image,
        MinCount=1,
        MaxCount=1,
        InstanceType="t3.micro",
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "hpc:cluster", "Value": "other-cluster"},
                    {"Key": "hpc:role", "Value": "sqlserver"},
                    {"Key": "Name", "Value": f"foreign-{name}"},
                ],
            }
        ],
    )["Instances"][0]["InstanceId"]
    try:
        # no cluster option: every cluster's instances land in the role groups
        inventory = _inventory(tmp_path, name, "regions: [us-east-1]\nfilters:\n  tag:hpc:role: [sqlserver]\n")
        result = run_playbook("site.yml", "-i", inventory)
        assert result.returncode != 0
        out = " ".join(result.stdout.split())
        assert "The inventory's group sqlserver holds instances of another cluster" in out
        assert "(hpc:cluster=other-cluster)" in out
        assert f"hpc_cluster_name is {name}" in out
        assert "Head node tier" not in out
    finally:
        ec2.terminate_instances(InstanceIds=[foreign])


def test_check_mode_on_a_new_cluster_passes_the_gates(tmp_path, run_playbook, lab_env):
    """In check mode nothing is launched, so every tier has no instance in service and the gates let the run
    through (ansible-core 2.19 renders an assertion's message even when it holds)."""
    name = f"gc{uuid.uuid4().hex[:8]}"
    inventory = _inventory(tmp_path, name, f"regions: [us-east-1]\ncluster: {name}\n")
    result = run_playbook("site.yml", "-i", inventory, "--check")
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Check that the inventory lists the instances in service of tier computenode" in result.stdout
    assert _asgs(lab_env, name) == []
