"""site.yml end to end against the lab: secrets never printed, never rotated, a rerun leaves the
compute group's desired capacity to autogrow, bad input refused before any AWS change, and teardown.

The molecule `lab` scenario covers check mode, converge, idempotence and verification; this file
covers what molecule cannot express: what the output of a `-vvv` run contains, the SSM parameter
versions across runs, and that a refused input leaves the account untouched.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import cluster_inventory, lab_client, play_recap

SECRET_NAMES = (
    "/service-account/username",
    "/service-account/password",
    "/sql-server/service-account/username",
    "/sql-server/service-account/password",
    "/certificate/hpc/password",
)
# distinctive user names for this test's cluster: the defaults (hpcservice, hpcsql) may appear in other text
USERNAMES = {"/service-account/username": "svcuzq7k", "/sql-server/service-account/username": "sqluzq7k"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, lab_env):
    """A cluster of its own: an inventory copy whose hpc_ec2 source and variables name it."""
    name = f"it{uuid.uuid4().hex[:8]}"
    extra = (f"aws_foundation_service_account_username: {USERNAMES['/service-account/username']}\n"
             f"aws_foundation_sql_account_username: {USERNAMES['/sql-server/service-account/username']}\n")
    inventory = cluster_inventory(tmp_path_factory.mktemp("inventory"), name, extra=extra)
    return {"name": name, "inventory": str(inventory), "prefix": f"/hpc/{name}"}


def _vpcs(lab_env, name):
    ec2 = lab_client(lab_env, "ec2")
    return ec2.describe_vpcs(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["Vpcs"]


def _secrets(lab_env, prefix):
    ssm = lab_client(lab_env, "ssm")
    found = {}
    for name in SECRET_NAMES:
        param = ssm.get_parameter(Name=prefix + name, WithDecryption=True)["Parameter"]
        found[name] = {"value": param["Value"], "version": param["Version"], "type": param["Type"]}
    return found


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('{"aws_foundation_admin_cidrs": ["0.0.0.0/0"]}', "aws_foundation_admin_cidrs"),
        ('{"aws_tier_max_size": "abc"}', "aws_tier_max_size"),
        ('{"aws_foundation_subnet_cidrs": ["192.168.7.0/24"]}', "aws_foundation_subnet_cidrs"),
    ],
)
def test_bad_input_stops_before_any_change(run_playbook, cluster, lab_env, extra, message):
    result = run_playbook("site.yml", "-i", cluster["inventory"], "-e", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    assert message in result.stdout, result.stdout[-3000:]
    assert _vpcs(lab_env, cluster["name"]) == []


def test_site_prints_no_secret_and_never_rotates(run_playbook, cluster, lab_env):
    first = run_playbook("site.yml", "-i", cluster["inventory"], "-vvv")
    assert first.returncode == 0, first.stdout[-5000:]
    secrets = _secrets(lab_env, cluster["prefix"])
    assert all(s["type"] == "SecureString" for s in secrets.values())
    passwords = [s["value"] for name, s in secrets.items() if name.endswith("password")]
    assert len(passwords) == 3
    assert all(len(p) >= 32 for p in passwords)
    for value in passwords:
        assert value not in first.stdout, "a generated secret appears in the -vvv output of site.yml"
    # the user names are SecureString secrets too: stored as given, never printed
    assert {name: secrets[name]["value"] for name in USERNAMES} == USERNAMES
    for name, value in USERNAMES.items():
        assert value not in first.stdout, f"the user name in {name} appears in the -vvv output of site.yml"

    second = run_playbook("site.yml", "-i", cluster["inventory"], "-vvv")
    assert second.returncode == 0, second.stdout[-5000:]
    recap = play_recap(second.stdout)
    assert recap, second.stdout[-3000:]
    assert {host: counts["changed"] for host, counts in recap.items() if counts["changed"]} == {}
    for value in [*passwords, *USERNAMES.values()]:
        assert value not in second.stdout
    assert _secrets(lab_env, cluster["prefix"]) == secrets, "a rerun changed a secret"

    # autogrow shrinks the compute group; a later site.yml keeps the desired capacity it set
    asg = lab_client(lab_env, "autoscaling")
    group = f"hpc-{cluster['name']}-computenode"
    asg.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=1, HonorCooldown=False)
    third = run_playbook("site.yml", "-i", cluster["inventory"])
    assert third.returncode == 0, third.stdout[-5000:]
    desired = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    assert desired["DesiredCapacity"] == 1, "site.yml reset the desired capacity autogrow had set"


def test_teardown_removes_everything_twice(run_playbook, cluster, lab_env):
    args = (
        "playbooks/teardown.yml",
        "-i",
        cluster["inventory"],
        "-e",
        '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}',
    )
    first = run_playbook(*args)
    assert first.returncode == 0, first.stdout[-5000:]
    assert _vpcs(lab_env, cluster["name"]) == []
    ssm = lab_client(lab_env, "ssm")
    names = [cluster["prefix"] + n for n in SECRET_NAMES]
    assert ssm.get_parameters(Names=names)["Parameters"] == []
    autoscaling = lab_client(lab_env, "autoscaling")
    groups = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert [g["AutoScalingGroupName"] for g in groups if cluster["name"] in g["AutoScalingGroupName"]] == []

    second = run_playbook(*args)
    assert second.returncode == 0, second.stdout[-5000:]
    assert play_recap(second.stdout)["localhost"]["changed"] == 0
