"""Concurrent runs (issue 15): AWX can start the same job template twice.

- two site.yml runs for one new cluster at once: one converges, the other fails at the run lock before changing
  anything, naming the lock and its holder; the account holds one set of the cluster's resources (one VPC, one set
  of security groups and launch templates, every secret at version 1) and no lock is left;
- two bakes of one image at once: the second waits for the first's lock (hpc_lock_wait), plans against the first's
  AMI and skips it: one AMI for the input hash;
- two autogrow steps at once (two ansible-playbook processes running hpc_autogrow): the nodes started are distinct
  and no more than max_nodes, the nodes stopped are distinct (none stopped twice).

Each case is recorded with ``reliability_record("concurrent", ...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter

import pytest
from aws_state import cluster_state
from conftest import ROOT, VENV_BIN, cluster_inventory, lab_client, play_recap, reliability_record

PACKER = shutil.which("packer")


def start(ansible_env, *args, log=None):
    """ansible-playbook in a session of its own (so it can be killed whole); output to ``log`` or a pipe."""
    out = open(log, "w") if log else subprocess.PIPE  # noqa: SIM115 - the process writes it, closed by the caller
    return subprocess.Popen([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=ansible_env, stdout=out,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def finish(processes, timeout=600):
    outputs = []
    for process in processes:
        out, _err = process.communicate(timeout=timeout)
        outputs.append((process.returncode, out))
    return outputs


def lock_gone(lab_env, name):
    ssm = lab_client(lab_env, "ssm")
    return ssm.get_parameters(Names=[name])["Parameters"] == []


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


# The second run stops at the lock within seconds; the first is let run past the shared layer (its VPC, security
# groups and secrets: what two unserialized runs would duplicate or rotate), then killed as AWX kills a job, which
# leaves its lock. The teardown, on the same host, takes the lock over (the holder's process is gone), removes
# the cluster and releases the lock. (Letting the first run converge takes minutes more: the file's budget is 5.)
MARKER = "PLAY [SQL Server tier]"


def test_two_site_runs_at_once_build_one_cluster(tmp_path, lab_env, ansible_env, run_playbook):
    name = f"cc{uuid.uuid4().hex[:8]}"
    lock = f"/hpc/{name}/locks/site"
    inventory = str(cluster_inventory(tmp_path, name))
    logs = [tmp_path / "run0.log", tmp_path / "run1.log"]
    began = time.monotonic()
    runs = [start(ansible_env, "site.yml", "-i", inventory, log=log) for log in logs]
    try:
        wait_for(lambda: any(run.poll() is not None for run in runs), 300, "one site.yml run to stop at the lock")
        loser = next(index for index, run in enumerate(runs) if run.poll() is not None)
        winner = 1 - loser
        wait_for(lambda: MARKER in logs[winner].read_text() or runs[winner].poll() is not None, 400,
                 "the first run to finish the shared layer")
    finally:
        for run in runs:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    seconds = round(time.monotonic() - began)
    refused, first = logs[loser].read_text(), logs[winner].read_text()
    state = cluster_state(lab_env, name)
    secrets = [p for p in state["ssm_parameters"] if p["name"].startswith(f"/hpc/{name}/") and p["type"] ==
               "SecureString"]
    vpcs = [v for v in state["vpcs"] if v["tags"].get("hpc:cluster") == name]
    groups = Counter(g["name"] for g in state["security_groups"] if g["vpc"] in {v["id"] for v in vpcs})
    observed = (f"second run rc {runs[loser].returncode} at the lock, changed "
                f"{play_recap(refused).get('localhost', {}).get('changed')}; {len(vpcs)} VPC, "
                f"{max(groups.values(), default=0)} of each security group, secrets at version "
                f"{sorted({p['version'] for p in secrets})}")
    ok = False
    try:
        assert runs[loser].returncode != 0, refused[-3000:]
        assert f"Lock {lock} is held by run " in refused, refused[-3000:]
        assert "hpc_lock_break=true" in refused
        assert play_recap(refused)["localhost"]["changed"] == 0, refused[-3000:]
        assert MARKER in first, first[-3000:]
        assert len(vpcs) == 1, state["vpcs"]
        assert groups and set(groups.values()) == {1}, groups
        assert len(secrets) == 5 and {p["version"] for p in secrets} == {1}, secrets
        assert not lock_gone(lab_env, lock), "the killed run's lock is gone"
        ok = True
    finally:
        reliability_record("concurrent", "site.yml twice at once", clean="1 VPC, 1 of each security group, secrets "
                           "at version [1]", observed=observed, ok=ok, seconds=seconds)
    teardown = run_playbook("playbooks/teardown.yml", "-i", inventory, "-e",
                            '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}')
    assert teardown.returncode == 0, teardown.stdout[-3000:]
    assert f"Lock {lock}: took over from run " in " ".join(teardown.stdout.split()), teardown.stdout[-3000:]
    assert lock_gone(lab_env, lock)


AUTOGROW_PLAY = """---
- name: One autogrow step
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Step
      hpcops.aws_hpc.hpc_autogrow: "{{ step_args }}"
      register: step
    - name: Keep the result
      ansible.builtin.copy:
        content: "{{ step | to_json }}"
        dest: "{{ result_file }}"
        mode: "0644"
"""


def hold_lock(lab_env, name, seconds):
    """Hold the lock ``name`` as a live run of another controller would, and release it ``seconds`` later: two
    steps started meanwhile both find it held, wait, and race for it at the same moment."""
    ssm = lab_client(lab_env, "ssm")
    now = int(time.time())
    holder = {"owner": "test-holder", "host": "another-controller", "pid": None, "started": now,
              "expires": now + seconds + 120}
    ssm.put_parameter(Name=name, Value=json.dumps(holder), Type="String", Overwrite=False)
    release = threading.Timer(seconds, lambda: ssm.delete_parameter(Name=name))
    release.start()
    return release


def autogrow_pair(ansible_env, tmp_path, args, tag, lab_env=None):
    release = hold_lock(lab_env, f"/hpc/{args['cluster']}/locks/autogrow", 8) if lab_env else None
    play = tmp_path / "autogrow.yml"
    play.write_text(AUTOGROW_PLAY)
    processes = []
    for index in range(2):
        variables = {"step_args": args, "result_file": str(tmp_path / f"{tag}{index}.json"),
                     "ansible_python_interpreter": sys.executable}
        (tmp_path / f"{tag}{index}.vars.json").write_text(json.dumps(variables))
        processes.append(start(ansible_env, "-i", "localhost,", str(play), "-e",
                               f"@{tmp_path / f'{tag}{index}.vars.json'}"))
    runs = finish(processes, timeout=180)
    if release is not None:
        release.join()
    for code, out in runs:
        assert code == 0, out[-3000:]
    return [json.loads((tmp_path / f"{tag}{index}.json").read_text()) for index in range(2)]


def test_two_autogrow_steps_at_once(tmp_path, lab_env, ansible_env):
    cluster = f"ag{uuid.uuid4().hex[:8]}"
    ec2 = lab_client(lab_env, "ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    tags = [{"Key": "hpc:cluster", "Value": cluster}, {"Key": "hpc:role", "Value": "computenode"}]
    ids = [item["InstanceId"] for item in ec2.run_instances(
        ImageId=image, MinCount=4, MaxCount=4, InstanceType="c5.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]]
    ec2.stop_instances(InstanceIds=ids)
    base = {"cluster": cluster, "region": lab_env.get("AWS_REGION", "us-east-1"), "max_nodes": 2, "forecast": False}
    ok = False
    observed = ""
    try:
        # both steps find the lock held and take it when it goes: they contend for real
        grow = autogrow_pair(ansible_env, tmp_path, {**base, "pending_jobs": [{"nodes": 1}] * 5}, "grow", lab_env)
        started = [key for result in grow for key in result["decision"]["start"]]
        launched = [key for result in grow for key in result["launched"]]
        live = {item["InstanceId"]: item for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                for item in reservation["Instances"]}
        running = sorted(key for key, item in live.items() if item["State"]["Name"] in ("pending", "running"))
        # both idle long ago: each step would stop both
        names = {key: (live[key].get("PrivateDnsName") or key).split(".")[0] for key in running}
        idle = {name: {"state": "idle", "idle_since": int(time.time()) - 7200} for name in names.values()}
        shrink = autogrow_pair(ansible_env, tmp_path, {**base, "pending_jobs": [], "scheduler_nodes": idle,
                                                       "idle_timeout": 0, "billing_minimum": 0}, "shrink", lab_env)
        stopped = [key for result in shrink for key in result["decision"]["stop"]]
        after = [item["State"]["Name"] for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                 for item in reservation["Instances"]]
        observed = (f"started {len(started)} ({len(set(started))} distinct) of max 2, launched {len(launched)}, "
                    f"stopped {len(stopped)} ({len(set(stopped))} distinct) of {len(running)}")
        assert len(started) == len(set(started)) and len(started) + len(launched) <= 2, grow
        assert running == sorted(started), (running, started)
        assert len(stopped) == len(set(stopped)) == len(running), shrink
        assert sorted(after).count("stopped") + sorted(after).count("stopping") == 4
        assert lock_gone(lab_env, f"/hpc/{cluster}/locks/autogrow")
        ok = True
    finally:
        reliability_record("concurrent", "two autogrow steps at once", clean="started 2 of max 2, stopped 2",
                           observed=observed, ok=ok)
        ec2.terminate_instances(InstanceIds=ids)


@pytest.mark.skipif(PACKER is None, reason="packer is not installed (bash lab/debian-deps.sh packer)")
def test_two_bakes_at_once_register_one_image(tmp_path, lab_env, ansible_env):
    cluster = "cb" + uuid.uuid4().hex[:8]
    ec2 = lab_client(lab_env, "ec2")
    base = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["Windows_Server-2016-English-Full-Base-*"]}])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName=f"hpc-{cluster}-computenode",
                               LaunchTemplateData={"ImageId": base, "InstanceType": "m5.large"})
    variables = {
        "hpc_aws_region": "us-east-1",
        "hpc_aws_endpoint_url": "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}",
        "hpc_cluster_name": cluster,
        "ami_bakery_images": ["computenode"],
        "ami_bakery_packer_var_files": ["lab.pkrvars.hcl"],
        "ami_bakery_source_ami_filters": {
            "computenode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]}},
        "hpc_lock_wait": 600,
    }
    processes = []
    for index in range(2):
        run_vars = {**variables, "ami_bakery_manifest_path": str(tmp_path / f"manifest{index}.json"),
                    "ami_bakery_log_path": str(tmp_path / f"packer{index}.log")}
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = tmp_path / f"inventory{index}.json"
        inventory.write_text(json.dumps({"all": {"hosts": {"localhost": host}, "vars": run_vars}}))
        processes.append(start(ansible_env, "-i", str(inventory), "playbooks/bake.yml"))
    began = time.monotonic()
    runs = finish(processes, timeout=900)
    seconds = round(time.monotonic() - began)
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:hpc:cluster", "Values": [cluster]}])["Images"]
    hashes = Counter({t["Key"]: t["Value"] for t in image.get("Tags") or []}.get("hpc:input-hash") for image in images)
    observed = f"rc {[code for code, _out in runs]}, {len(images)} AMI, {len(hashes)} input hash"
    ok = False
    try:
        for code, out in runs:
            assert code == 0, out[-4000:]
        assert len(images) == 1 and set(hashes.values()) == {1}, images
        assert lock_gone(lab_env, f"/hpc/{cluster}/locks/bake")
        ok = True
    finally:
        reliability_record("concurrent", "two bakes at once", clean="1 AMI per input hash", observed=observed,
                           ok=ok, seconds=seconds)
        for image in images:
            ec2.deregister_image(ImageId=image["ImageId"])
            for bdm in image.get("BlockDeviceMappings", []):
                if bdm.get("Ebs", {}).get("SnapshotId"):
                    ec2.delete_snapshot(SnapshotId=bdm["Ebs"]["SnapshotId"])
        ec2.delete_launch_template(LaunchTemplateName=f"hpc-{cluster}-computenode")
