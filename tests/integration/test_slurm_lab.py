"""The lab's real Slurm cluster end to end: lab/slurmlab.py brings up a head host and two compute hosts
(network namespaces, sshd, munge, slurmctld/slurmd) from the role's variables, playbooks/workload.yml runs
the hello-world job on them twice at once, the outputs land in S3 and name the compute hosts; a second run
changes nothing but the new jobs; `down` leaves no namespace, process, bridge or file behind.

Needs root and Debian's slurm-wlm, munge, openssh-server (make setup-test installs them). Uses its own
bucket and the lab's default-VPC subnets, so it does not depend on site.yml having run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from conftest import play_recap

ROOT = Path(__file__).resolve().parents[2]
SLURMLAB = [sys.executable, str(ROOT / "lab" / "slurmlab.py")]
STATE = ROOT / ".lab" / "slurm"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def slurmlab(*args, env=None):
    return subprocess.run(
        [*SLURMLAB, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def s3(lab_env):
    session = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"],
    )
    return session.client("s3", endpoint_url=lab_env["AWS_ENDPOINT_URL"])


@pytest.fixture(scope="module")
def bucket(s3):
    name = f"hpcops-slurmlab-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        for obj in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=name, Key=obj["Key"], VersionId=obj["VersionId"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="module")
def subnet(lab_env):
    session = boto3.session.Session(
        region_name="us-east-1",
        aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"],
    )
    ec2 = session.client("ec2", endpoint_url=lab_env["AWS_ENDPOINT_URL"])
    return ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"][0]["SubnetId"]


@pytest.fixture(scope="module")
def lab_vars(tmp_path_factory, bucket, subnet):
    pcluster = ROOT / ".venv-pcluster" / "bin" / "pcluster"
    data = {
        "parallelcluster_create": False,
        "parallelcluster_create_reason": "the embedded AWS endpoint answers the dry run, not the cluster stack",
        "parallelcluster_pcluster_path": str(pcluster) if pcluster.exists() else "pcluster",
        "parallelcluster_ami_name_filter": "al2023-ami-2023.*-kernel-6.1-x86_64",
        "parallelcluster_suppress_validators": [
            "type:HeadNodeLaunchTemplateValidator",
            "type:KeyPairValidator",
            "type:ComputeResourceLaunchTemplateValidator",
        ],
        "parallelcluster_additional_iam_policies": [],
        "parallelcluster_subnet_ids": [subnet],
        "parallelcluster_scripts_bucket": bucket,
        "workload_output_bucket": bucket,
        "workload_foundation": False,
        "workload_run_node_scripts": True,
        "workload_run_node_scripts_reason": "ParallelCluster runs them on nodes it builds; the lab's hosts are not",
        "workload_job_env": {"HELLO_SLEEP": 5},
    }
    path = tmp_path_factory.mktemp("slurmlab") / "vars.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def cluster(ansible_env):
    result = slurmlab("up", "--inventory", "inventories/lab", "--computes", "2", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    yield json.loads((STATE / "state.json").read_text())
    result = slurmlab("down", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr


def workload(run_playbook, lab_vars, *extra):
    return run_playbook(
        "playbooks/workload.yml",
        "-i",
        "inventories/lab",
        "-i",
        str(STATE / "inventory.yml"),
        "-e",
        f"@{lab_vars}",
        *extra,
        timeout=600,
    )


def test_up_is_idempotent(cluster, ansible_env):
    result = slurmlab("up", "--inventory", "inventories/lab", "--computes", "2", env=ansible_env)
    assert result.returncode == 0 and "already up" in result.stdout, result.stdout + result.stderr
    names = [h["name"] for h in cluster["plan"]["hosts"]]
    assert names == ["lab-head", "compute-dy-c5large-1", "compute-dy-c5large-2"]  # the role's default queue


def test_workload_end_to_end_two_jobs_at_once(cluster, run_playbook, lab_vars, s3, bucket):
    result = workload(run_playbook, lab_vars, "-e", "workload_job_count=2")
    assert result.returncode == 0, result.stdout[-5000:]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="workload/lab/").get("Contents", [])]
    assert len(keys) == 2
    outputs = {s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().strip() for k in keys}
    assert outputs == {"Hello World from compute-dy-c5large-1", "Hello World from compute-dy-c5large-2"}
    # both jobs ran at the same time, on different hosts
    env = dict(os.environ, SLURM_CONF=str(STATE / "etc" / "slurm.conf"))
    jobs = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    spans = []
    for line in jobs[-2:]:
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        spans.append((fields["StartTime"], fields["EndTime"], fields["NodeList"]))
    assert spans[0][2] != spans[1][2]
    assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], spans
    # the OnNodeConfigured script ran on each compute host
    for host in ("compute-dy-c5large-1", "compute-dy-c5large-2"):
        assert (STATE / "nodes" / f"node-configured.{host}").exists()


def test_second_run_changes_only_the_new_job(cluster, run_playbook, lab_vars):
    result = workload(run_playbook, lab_vars)
    assert result.returncode == 0, result.stdout[-5000:]
    recap = play_recap(result.stdout)
    assert recap["compute-dy-c5large-1"]["changed"] == 0
    assert recap["compute-dy-c5large-2"]["changed"] == 0
    # the head node: job directory, job script, sbatch; localhost: the output object
    assert recap["lab-head"]["changed"] == 3
    assert recap["localhost"]["changed"] == 1


def test_down_leaves_nothing(ansible_env, cluster):
    pids = list(cluster["pids"].values())
    result = slurmlab("down", env=ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "hpcslurm-" not in netns
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    assert "hpcslurm0" not in links
    for pid in pids:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    assert not STATE.exists()
