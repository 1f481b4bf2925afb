"""Every AWX job template's playbook through ansible-runner (the engine AWX runs jobs with) against
the lab, with the inventory source and the extra vars the template defines.

The job templates are read from roles/awx_config/defaults/main.yml, exactly what playbooks/awx.yml
gives AWX. Each run gets what AWX would pass: the template's extra_vars, then the survey answers (the
survey defaults, with the cluster name answered by a unique lab cluster), then launch-time variables
where a template prompts for them. The inventory is a copy of inventories/lab (the same hpc_ec2
source as the AWX inventory source, pointed at the lab endpoint and at the unique cluster).

Order on one cluster: site -> bake (the launch templates move to the new images) -> pool (replaces
the outdated compute nodes; no scheduler) -> autogrow (one step, no scheduler) -> workload (on the
Slurm hosts of lab/slurmlab.py, brought up for it and down after) -> teardown.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid

import boto3
import pytest
import yaml
from conftest import ROOT

ansible_runner = pytest.importorskip("ansible_runner")

pytestmark = pytest.mark.lab

TEMPLATES = {t["key"]: t for t in yaml.safe_load((ROOT / "roles/awx_config/defaults/main.yml").read_text())[
    "awx_config_job_templates"]}
CLUSTER_VARIABLES = {"hpc_cluster_name", "fleet_pool_cluster", "fleet_autogrow_cluster"}


@pytest.fixture(scope="module")
def awx_lab(tmp_path_factory, lab_env):
    cluster = "awx" + uuid.uuid4().hex[:8]
    tmp = tmp_path_factory.mktemp("awx")
    inventory = tmp / "inventory"
    shutil.copytree(ROOT / "inventories" / "lab", inventory)
    source = yaml.safe_load((inventory / "hpc_ec2.yml").read_text())
    source["cluster"] = cluster
    (inventory / "hpc_ec2.yml").write_text(yaml.safe_dump(source))
    group_vars = (inventory / "group_vars" / "all.yml").read_text()
    group_vars = re.sub(r"(?m)^hpc_cluster_name: .*$", f"hpc_cluster_name: {cluster}", group_vars)
    # the lab's own run summary and bake manifest stay untouched
    group_vars = re.sub(r"\"\{\{ playbook_dir[^\"]*\}\}/\.lab/", f'"{tmp}/', group_vars)
    (inventory / "group_vars" / "all.yml").write_text(group_vars)
    assert str(ROOT / ".lab") not in group_vars and cluster in group_vars
    yield {"cluster": cluster, "tmp": tmp, "inventory": inventory}
    # teardown.yml keeps the AMIs (the bakery's retention owns them): remove this test's
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=lab_env["AWS_ENDPOINT_URL"])
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:hpc:cluster", "Values": [cluster]}])["Images"]
    for image in images:
        with contextlib.suppress(Exception):
            ec2.deregister_image(ImageId=image["ImageId"])
        for mapping in image.get("BlockDeviceMappings", []):
            if mapping.get("Ebs", {}).get("SnapshotId"):
                with contextlib.suppress(Exception):
                    ec2.delete_snapshot(SnapshotId=mapping["Ebs"]["SnapshotId"])


def job_vars(key: str, cluster: str, **launch) -> dict:
    """extra_vars of the template, then the survey answers (defaults; the cluster answered), then launch variables."""
    template = TEMPLATES[key]
    variables = dict(template.get("extra_vars") or {})
    for question in template.get("survey") or []:
        answer = question.get("default")
        if question["variable"] in CLUSTER_VARIABLES:
            answer = cluster
        elif question["variable"] == "aws_foundation_secrets_prefix":
            answer = f"/hpc/{cluster}"
        elif question["type"] == "multiselect":
            answer = answer.split("\n")  # AWX passes a multiselect answer as a list
        variables[question["variable"]] = answer
    variables.update(launch)
    return variables


def run_job(key, awx_lab, ansible_env, *, cmdline=None, **launch):
    template = TEMPLATES[key]
    private = awx_lab["tmp"] / f"runner-{key}"
    private.mkdir(exist_ok=True)
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=str(ROOT / template["playbook"]),
        inventory=str(awx_lab["inventory"]),
        extravars=job_vars(key, awx_lab["cluster"], **launch),
        envvars=dict(ansible_env),
        cmdline=cmdline,
        ident=key,
        quiet=True,
        timeout=1800,
    )
    stdout = runner.stdout.read()
    assert runner.status == "successful" and runner.rc == 0, f"{template['name']}: {runner.status}\n{stdout[-6000:]}"
    return runner, stdout


def artifact_data(runner) -> dict:
    stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert stats, "no playbook_on_stats event"
    return stats[-1]["event_data"].get("artifact_data") or {}


def check_artifacts(key, runner):
    data = artifact_data(runner)
    for name in TEMPLATES[key].get("artifacts") or []:
        assert name in data, f"{TEMPLATES[key]['name']}: artifact {name} missing from {sorted(data)}"
    assert (runner.config.artifact_dir and (ROOT / runner.config.artifact_dir).exists()) or runner.config.artifact_dir
    assert not any(stat.get("localhost") for stat in (runner.stats.get("failures"), runner.stats.get("dark")))
    return data


def test_site(awx_lab, ansible_env):
    runner, _stdout = run_job("site", awx_lab, ansible_env)
    summary = check_artifacts("site", runner)["hpc_summary"]
    assert summary["cluster"] == awx_lab["cluster"]
    assert summary["instances"]["computenode"] == TEMPLATES["site"]["survey"][3]["default"]
    assert summary["secrets"] and all(s.startswith(f"/hpc/{awx_lab['cluster']}/") for s in summary["secrets"])


def test_bake(awx_lab, ansible_env):
    runner, _stdout = run_job("bake", awx_lab, ansible_env)
    bake = check_artifacts("bake", runner)["ami_bakery"]
    assert sorted(bake["images"]) == sorted(TEMPLATES["bake"]["survey"][2]["choices"])
    assert bake["built"] or bake["skipped"]


def test_pool(awx_lab, ansible_env):
    # no scheduler in this lab run; launch-time: no pause between rounds
    runner, stdout = run_job(
        "pool", awx_lab, ansible_env, fleet_pool_scheduler="none", fleet_pool_interval=0,
        fleet_pool_min_healthy_percent=50,
    )
    check_artifacts("pool", runner)
    assert re.search(r"\d+ outdated", stdout)


def test_autogrow(awx_lab, ansible_env):
    runner, stdout = run_job("autogrow", awx_lab, ansible_env, fleet_autogrow_scheduler="none",
                             fleet_autogrow_interval=0)
    check_artifacts("autogrow", runner)
    assert "demand" in stdout


def test_workload(awx_lab, ansible_env):
    """The workload template end to end on the lab's Slurm hosts (lab/slurmlab.py), as AWX would run it
    with the Slurm hosts' inventory added."""
    if os.geteuid() != 0:
        pytest.skip("the lab's Slurm hosts live in network namespaces, which need root")
    slurmlab = [sys.executable, str(ROOT / "lab" / "slurmlab.py")]
    up = subprocess.run([*slurmlab, "up", "--inventory", str(awx_lab["inventory"]), "--computes", "2"], cwd=ROOT,
                        env=ansible_env, capture_output=True, text=True, timeout=300, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        slurm_inventory = ROOT / ".lab" / "slurm" / "inventory.yml"
        runner, stdout = run_job("workload", awx_lab, ansible_env, cmdline=f"-i {slurm_inventory}")
        result = check_artifacts("workload", runner)["workload_result"]
        assert result, stdout[-3000:]
        assert "Hello World from compute-" in stdout
    finally:
        down = subprocess.run([*slurmlab, "down"], cwd=ROOT, env=ansible_env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert down.returncode == 0, down.stdout + down.stderr


def test_teardown(awx_lab, ansible_env, lab_env):
    ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=lab_env["AWS_ENDPOINT_URL"])
    # moto 5.2.5 does not implement DeleteLaunchTemplateVersions, which amazon.aws.ec2_launch_template
    # calls when a template has several versions (the bake added one). DeleteLaunchTemplate (all versions
    # at once) works: remove the multi-version templates first; teardown removes the rest.
    for template in ec2.describe_launch_templates(
        Filters=[{"Name": "tag:hpc:cluster", "Values": [awx_lab["cluster"]]}]
    )["LaunchTemplates"]:
        if template["LatestVersionNumber"] > 1:
            ec2.delete_launch_template(LaunchTemplateId=template["LaunchTemplateId"])
    run_job("teardown", awx_lab, ansible_env, teardown_delete_bucket=True, teardown_delete_secrets=True)
    live = ec2.describe_instances(Filters=[{"Name": "tag:hpc:cluster", "Values": [awx_lab["cluster"]]},
                                           {"Name": "instance-state-name", "Values": ["pending", "running"]}])
    assert not [i for r in live["Reservations"] for i in r["Instances"]]
