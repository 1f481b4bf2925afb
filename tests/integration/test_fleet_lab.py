"""Autogrow and the pool manager against the whole lab: the embedded AWS endpoint and the real Slurm.

Mapping (lab only): the lab's Slurm compute hosts (network namespaces, always powered) stand for EC2
instances in moto; an instance's ``hpc:node-name`` tag names its Slurm node. "Starting a node" is
the EC2 StartInstances call in moto plus ``scontrol update state=resume`` of the mapped Slurm node;
"stopping" is StopInstances plus ``state=drain``
(DOWN does not stick: ReturnToService=2). Replacement instances the Auto Scaling group
launches carry no ``hpc:node-name`` (nothing boots in moto to register), so at the end the test
resumes the Slurm nodes itself, standing in for the new instances joining.

1. autogrow (tagged pool): pending jobs start the stopped instances and resume their Slurm nodes, the
   jobs run, idle nodes are stopped and taken down. With a 2-node job waiting for a 10-minute job
   (time limit), the forecast stops the idle node instead of holding it.
   The service, installed by the autogrow_service role (code and settings, no systemd), does the
   same in one ``--once`` step each way.
2. pool manager (Auto Scaling group): after a new AMI becomes the launch template's default, the
   rolling replacement drains compute-dy-c5large-1 in Slurm while a job runs there, waits for the
   job, replaces it, and the job completes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

import boto3
import pytest
from conftest import ROOT, cluster_instances, play_recap

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")]

SLURM_INVENTORY = ROOT / ".lab" / "slurm" / "inventory.yml"
SLURM_ENV = dict(os.environ, SLURM_CONF=str(ROOT / ".lab" / "slurm" / "etc" / "slurm.conf"))
NODES = ["compute-dy-c5large-1", "compute-dy-c5large-2"]

SLURMLAB = [sys.executable, str(ROOT / "lab" / "slurmlab.py")]


@pytest.fixture(scope="module", autouse=True)
def slurm_cluster(ansible_env):
    """The lab's Slurm: used when up, else brought up for this module and down afterwards."""
    was_up = subprocess.run([*SLURMLAB, "status"], capture_output=True, check=False, env=ansible_env).returncode == 0
    if not was_up:
        result = subprocess.run([*SLURMLAB, "up", "--inventory", "inventories/lab", "--computes", "2"], cwd=ROOT,
                                env=ansible_env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    yield
    if not was_up:
        subprocess.run([*SLURMLAB, "down"], cwd=ROOT, env=ansible_env, capture_output=True, check=False)


def slurm(*argv):
    return subprocess.run(list(argv), env=SLURM_ENV, capture_output=True, text=True, check=True).stdout


def node_states():
    return {
        n["name"]: "+".join([n["state"], *n.get("state_flags", [])]).lower()
        for n in json.loads(slurm("sinfo", "--json"))["nodes"]
    }


def job_state(job_id):
    out = slurm("scontrol", "show", "job", "--oneliner", job_id)
    return out.split("JobState=")[1].split()[0]


def release_when_drained(node, release, rounds_time=60, timeout=600):
    """Let the held job end ``rounds_time`` seconds after ``node`` is drained (the pool's rounds, 3 s apart, see it
    draining and busy meanwhile); at the latest after ``timeout`` seconds, whatever happens in this thread."""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            with contextlib.suppress(subprocess.CalledProcessError, ValueError):  # a moment sinfo cannot answer
                if "drain" in node_states().get(node, ""):
                    break
            time.sleep(1)
        time.sleep(rounds_time)
    finally:
        release.touch()


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


@pytest.fixture(scope="module")
def aws(lab_env):
    kwargs = {
        "region_name": lab_env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "endpoint_url": lab_env["AWS_ENDPOINT_URL"],
    }
    ec2, asg = boto3.client("ec2", **kwargs), boto3.client("autoscaling", **kwargs)
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-*x86_64*"]}])
    old, new = sorted(image["ImageId"] for image in images["Images"])[:2]
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.98.1.0/24")["Subnet"]["SubnetId"]
    made = {"ec2": ec2, "asg": asg, "old": old, "new": new, "subnet": subnet, "clusters": [], "groups": [], "jobs": []}
    yield made
    for group in made["groups"]:
        with contextlib.suppress(Exception):
            asg.delete_auto_scaling_group(AutoScalingGroupName=group, ForceDelete=True)
    for cluster in made["clusters"]:
        live = cluster_instances(ec2, cluster)
        if live:
            ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in live])
        with contextlib.suppress(Exception):
            ec2.delete_launch_template(LaunchTemplateName=f"hpc-{cluster}-computenode")
    with contextlib.suppress(Exception):
        ec2.delete_subnet(SubnetId=subnet)
    with contextlib.suppress(Exception):
        ec2.delete_vpc(VpcId=vpc)
    if made["jobs"]:
        subprocess.run(["scancel", *made["jobs"]], env=SLURM_ENV, check=False, capture_output=True)
    for node in NODES:  # leave the lab's Slurm as it was: every node up
        subprocess.run(
            ["scontrol", "update", f"nodename={node}", "state=resume"], env=SLURM_ENV, check=False, capture_output=True
        )


def new_cluster(aws):
    """A cluster name of this test's own and its compute launch template (on the old AMI)."""
    cluster = f"fleet{uuid.uuid4().hex[:8]}"
    aws["clusters"].append(cluster)
    name = f"hpc-{cluster}-computenode"
    aws["ec2"].create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": aws["old"], "InstanceType": "c5.large"}
    )
    return cluster


def launch_node(aws, cluster, node):
    """One instance of the cluster's compute launch template, tagged with its Slurm node's name."""
    launched = aws["ec2"].run_instances(
        MinCount=1,
        MaxCount=1,
        LaunchTemplate={"LaunchTemplateName": f"hpc-{cluster}-computenode"},
        SubnetId=aws["subnet"],
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "hpc:cluster", "Value": cluster},
                    {"Key": "hpc:role", "Value": "computenode"},
                    {"Key": "hpc:node-name", "Value": node},
                ],
            }
        ],
    )
    return launched["Instances"][0]["InstanceId"]


def base_vars(**extra):
    values = {"hpc_aws_region": "us-east-1", "ansible_python_interpreter": sys.executable}
    values.update(extra)
    return json.dumps(values)


def test_autogrow_starts_runs_and_stops(run_playbook, aws):
    ec2 = aws["ec2"]
    cluster = new_cluster(aws)
    ids = [launch_node(aws, cluster, node) for node in NODES]
    ec2.stop_instances(InstanceIds=ids)
    for node in NODES:  # the pool is stopped: its Slurm nodes are drained
        slurm("scontrol", "update", f"nodename={node}", "state=drain", "reason=lab pool stopped")
    jobs = [slurm("sbatch", "--parsable", "-N1", "-o", "/dev/null", "--wrap", "sleep 8").strip() for _n in NODES]
    aws["jobs"].extend(jobs)
    time.sleep(1)
    assert all(job_state(job) == "PENDING" for job in jobs)

    step_vars = {"fleet_autogrow_cluster": cluster, "fleet_autogrow_max_nodes": 2, "fleet_autogrow_interval": 0}
    check = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "--check", "-e", base_vars(**step_vars))
    assert check.returncode == 0, check.stdout
    assert "demand 2 nodes" in check.stdout
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"stopped"}

    grow = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "-e", base_vars(**step_vars))
    assert grow.returncode == 0, grow.stdout
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"running"}
    deadline = time.time() + 90
    while time.time() < deadline and any(job_state(job) != "COMPLETED" for job in jobs):
        time.sleep(2)
    assert [job_state(job) for job in jobs] == ["COMPLETED", "COMPLETED"]

    # idle now: a short idle window (test setting) and no billing minimum so the test is quick
    shrink_vars = {
        **step_vars,
        "fleet_autogrow_idle_timeout": 2,
        "fleet_autogrow_billing_minimum": 0,
        "fleet_autogrow_steps": 3,
        "fleet_autogrow_interval": 3,
    }
    shrink = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "-e", base_vars(**shrink_vars))
    assert shrink.returncode == 0, shrink.stdout
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"stopped"}
    states = node_states()
    assert all("drain" in states[node] for node in NODES), states

    again = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "-e", base_vars(**shrink_vars))
    assert again.returncode == 0
    assert play_recap(again.stdout)["localhost"]["changed"] == 0


def test_autogrow_stops_a_node_held_for_a_wide_job_until_a_running_job_ends(run_playbook, aws):
    """The forecast on real squeue output: a 2-node job waits for a 10-minute job; the idle node stops."""
    ec2 = aws["ec2"]
    cluster = new_cluster(aws)
    for node in NODES:
        launch_node(aws, cluster, node)
        slurm("scontrol", "update", f"nodename={node}", "state=resume")
    long_job = slurm("sbatch", "--parsable", "-N1", "-w", NODES[0], "-t", "10", "-o", "/dev/null",
                     "--wrap", "sleep 600").strip()
    aws["jobs"].append(long_job)
    deadline = time.time() + 20
    while job_state(long_job) != "RUNNING" and time.time() < deadline:
        time.sleep(1)
    assert job_state(long_job) == "RUNNING"
    wide_job = slurm("sbatch", "--parsable", "-N2", "-t", "5", "-o", "/dev/null", "--wrap", "true").strip()
    aws["jobs"].append(wide_job)
    time.sleep(1)
    assert job_state(wide_job) == "PENDING"

    step_vars = {"fleet_autogrow_cluster": cluster, "fleet_autogrow_max_nodes": 2, "fleet_autogrow_idle_timeout": 2,
                 "fleet_autogrow_billing_minimum": 0, "fleet_autogrow_steps": 3, "fleet_autogrow_interval": 3}
    # without the forecast the pending 2-node job holds the idle node for the whole 10 minutes
    held = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "-e",
                        base_vars(**step_vars, fleet_autogrow_forecast=False))
    assert held.returncode == 0, held.stdout
    assert "demand 2 nodes" in held.stdout
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"running"}

    result = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/autogrow.yml", "-e", base_vars(**step_vars))
    assert result.returncode == 0, result.stdout
    assert "demand 0 nodes" in result.stdout
    states = {tags(i)["hpc:node-name"]: i["State"]["Name"] for i in cluster_instances(ec2, cluster)}
    assert states == {NODES[0]: "running", NODES[1]: "stopped"}
    assert "drain" in node_states()[NODES[1]]
    assert job_state(long_job) == "RUNNING"
    assert job_state(wide_job) == "PENDING"
    slurm("scancel", wide_job, long_job)
    slurm("scontrol", "update", f"nodename={NODES[1]}", "state=resume")


def install_service(run_playbook, tmp_path, lab_env, cluster, **settings):
    """The autogrow_service role on this host, code and settings only (no systemd here)."""
    playbook = tmp_path / "service.yml"
    role_vars = {
        "autogrow_service_dir": str(tmp_path / "hpc-autogrow"),
        "autogrow_service_cluster": cluster,
        "autogrow_service_region": "us-east-1",
        "autogrow_service_endpoint_url": lab_env["AWS_ENDPOINT_URL"],
        "autogrow_service_max_nodes": 2,
        "autogrow_service_manage_unit": False,
        **settings,
    }
    playbook.write_text(json.dumps([{
        "name": "Install the autogrow service", "hosts": "localhost", "gather_facts": True,
        "roles": [{"role": "hpcops.aws_hpc.autogrow_service", "vars": role_vars}],
    }]))
    result = run_playbook("-i", "localhost,", "-c", "local", str(playbook), "-e", base_vars())
    assert result.returncode == 0, result.stdout[-4000:]
    return tmp_path / "hpc-autogrow"


def test_autogrow_service_installed_by_the_role_runs_a_step(run_playbook, aws, lab_env, tmp_path):
    """The long-running service, as the role installs it, reconciles once against the lab."""
    ec2 = aws["ec2"]
    cluster = new_cluster(aws)
    ids = [launch_node(aws, cluster, node) for node in NODES]
    ec2.stop_instances(InstanceIds=ids)
    for node in NODES:
        slurm("scontrol", "update", f"nodename={node}", "state=drain", "reason=lab pool stopped")
    jobs = [slurm("sbatch", "--parsable", "-N1", "-o", "/dev/null", "--wrap", "sleep 4").strip() for _n in NODES]
    aws["jobs"].extend(jobs)

    folder = install_service(run_playbook, tmp_path, lab_env, cluster)
    settings = json.loads((folder / "config.json").read_text())
    policy = settings["policy"]
    assert (policy["max_nodes"], policy["forecast"], policy["end_of_hour"]) == (2, True, False)
    assert sorted(p.name for p in folder.glob("*.py")) == [
        "_autogrow.py", "_aws.py", "_fleet.py", "_fleet_trim.py", "_lock.py", "_sched.py", "_tags.py",
        "hpc_autogrow_service.py"]
    env = {**SLURM_ENV, **lab_env}
    once = [sys.executable, str(folder / "hpc_autogrow_service.py"), "--config", str(folder / "config.json"), "--once"]
    step = subprocess.run(once, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert step.returncode == 0, step.stdout + step.stderr
    assert "demand 2" in step.stderr, step.stderr
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"running"}
    deadline = time.time() + 90
    while time.time() < deadline and any(job_state(job) != "COMPLETED" for job in jobs):
        time.sleep(2)
    assert [job_state(job) for job in jobs] == ["COMPLETED", "COMPLETED"]

    # idle: with no idle window and no billing minimum (test settings) the next step stops both
    install_service(run_playbook, tmp_path, lab_env, cluster, autogrow_service_idle_timeout=0,
                    autogrow_service_billing_minimum=0)
    step = subprocess.run(once, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert step.returncode == 0, step.stdout + step.stderr
    assert {i["State"]["Name"] for i in cluster_instances(ec2, cluster)} == {"stopped"}
    states = node_states()
    assert all("drain" in states[node] for node in NODES), states
    for node in NODES:
        slurm("scontrol", "update", f"nodename={node}", "state=resume")


def test_rolling_replacement_drains_a_busy_node_and_the_job_completes(run_playbook, aws, tmp_path):
    ec2, asg = aws["ec2"], aws["asg"]
    for node in NODES:
        subprocess.run(["scontrol", "update", f"nodename={node}", "state=resume"], env=SLURM_ENV, check=False)
    cluster = new_cluster(aws)
    name = f"hpc-{cluster}-computenode"
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": name, "Version": "1"},
        MinSize=0,
        MaxSize=4,
        DesiredCapacity=2,
        VPCZoneIdentifier=aws["subnet"],
        Tags=[
            {"Key": "hpc:cluster", "Value": cluster, "PropagateAtLaunch": True},
            {"Key": "hpc:role", "Value": "computenode", "PropagateAtLaunch": True},
        ],
    )
    aws["groups"].append(name)
    members = sorted(
        i["InstanceId"]
        for i in asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["Instances"]
    )
    for instance_id, node in zip(members, NODES, strict=True):
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "hpc:node-name", "Value": node}])
    # a new bake: its AMI becomes the launch template's default version
    ec2.create_launch_template_version(
        LaunchTemplateName=name, SourceVersion="1", LaunchTemplateData={"ImageId": aws["new"]}
    )
    ec2.modify_launch_template(LaunchTemplateName=name, DefaultVersion="2")

    # The job runs until the test releases it (at most 10 minutes): the pool replaces the idle node first, so
    # how soon it drains the busy one depends on the machine's speed; a fixed-length job could end before.
    release = tmp_path / "release"
    wrap = f"for i in $(seq 600); do [ -e {release} ] && exit 0; sleep 1; done"
    job = slurm("sbatch", "--parsable", "-N1", "-w", NODES[0], "-o", "/dev/null", "--wrap", wrap).strip()
    aws["jobs"].append(job)
    deadline = time.time() + 20
    while job_state(job) != "RUNNING" and time.time() < deadline:
        time.sleep(1)
    assert job_state(job) == "RUNNING"

    pool_vars = {
        "fleet_pool_cluster": cluster,
        "fleet_pool_batch_size": 1,
        "fleet_pool_min_healthy_percent": 50,
        "fleet_pool_interval": 3,
        "fleet_pool_max_rounds": 40,
        "fleet_pool_drain_timeout": 600,
    }
    releaser = threading.Thread(target=release_when_drained, args=(NODES[0], release), daemon=True)
    releaser.start()
    result = run_playbook("-i", str(SLURM_INVENTORY), "playbooks/pool.yml", "-e", base_vars(**pool_vars))
    releaser.join(timeout=5)
    assert result.returncode == 0, result.stdout[-4000:]
    # drained while the job ran: a round saw it draining and still busy
    assert re.search(rf"still\s+busy\s+\['*{NODES[0]}'*\]", result.stdout), result.stdout[-4000:]
    assert job_state(job) == "COMPLETED"
    # it was drained while the job ran: Slurm recorded the drain reason on the node
    assert "hpc pool" in slurm("scontrol", "show", "node", NODES[0])
    final = cluster_instances(ec2, cluster)
    assert len(final) == 2
    assert {i["ImageId"] for i in final} == {aws["new"]}
    assert not any(tags(i).get("hpc:pool-state") for i in final)
