"""Crash and resume: bake.yml, pool.yml and site.yml killed with SIGKILL at chosen points, as when AWX's
container dies, then rerun until they converge.

Each playbook walks one chain on one cluster (no fresh cluster per crash point): run 1 is killed at point A,
run 2 (the resume) at point B, run 3 at point C, run 4 completes, run 5 changes nothing, and nothing is left
over (no Packer builder, temporary key pair or security group, half-done AMI, stray snapshot, stray instance).
A kill takes the whole process group and every descendant found in /proc (Packer runs in processes of its
own). Each crash point is recorded with reliability_record("crash", ...).

A lock left by the killed run is taken over by the rerun on the same host (its ansible-playbook is gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, VENV_BIN, cluster_instances, cluster_inventory, lab_client, play_recap, reliability_record

pytestmark = pytest.mark.lab

PACKER = shutil.which("packer")
BAKE_IMAGES = ["computenode", "pcluster-linux"]
LAB_FILTERS = {
    "computenode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]},
    "pcluster-linux": {"name": "amzn2-ami-ecs-gpu-hvm-*-x86_64-ebs", "owners": ["amazon"]},
}


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


# ---------------------------------------------------------------- killing a run
def _descendants(root: int) -> set[int]:
    """Every process below ``root`` and every process of its session (Packer may start its own group)."""
    children: dict[int, list[int]] = {}
    session = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            session[int(entry.name)] = int(fields[3])
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in found:
                found.add(child)
                todo.append(child)
    found |= {pid for pid, sid in session.items() if sid == root}
    found.add(root)
    return found


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGSTOP everything first (nothing moves on while we look), then SIGKILL it all."""
    pids = _descendants(proc.pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids | _descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


class Point:
    """Where to kill: the ``count``-th output line matching ``line``, or the first match of ``log`` in a file."""

    def __init__(self, name, line=None, count=1, log=None, log_path=None):
        self.name, self.line, self.count, self.log, self.log_path = name, line, count, log, log_path

    def reached(self, lines) -> bool:
        if self.line is not None:
            return len(re.findall(self.line, "".join(lines), re.MULTILINE)) >= self.count
        with contextlib.suppress(OSError):
            return re.search(self.log, Path(self.log_path).read_text(errors="replace")) is not None
        return False


def run_killed(ansible_env, args, point: Point, timeout=600):
    """Run ansible-playbook and SIGKILL it (with every descendant) when ``point`` is reached.
    Returns (killed, output)."""
    proc = subprocess.Popen([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=ansible_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    killed = False
    while proc.poll() is None and time.monotonic() < deadline:
        if point.reached(list(lines)):
            kill_tree(proc)
            killed = True
            break
        time.sleep(0.02)
    if proc.poll() is None:
        kill_tree(proc)
    reader.join(timeout=10)
    return killed, "".join(lines)


def run(ansible_env, args, timeout=900):
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), *args], cwd=ROOT, env=ansible_env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------- what a killed run can leave
def bake_leftovers(ec2, cluster):
    """Packer builders alive, temporary key pairs and groups of this cluster's builders, AMIs named for the
    cluster without the input hash, snapshots made by its builders or tagged for it that no AMI uses."""
    found = []
    builders = [i for r in ec2.describe_instances(Filters=[
        {"Name": "tag:hpc:bake", "Values": ["true"]}, {"Name": "tag:Name", "Values": [f"packer hpc-{cluster}-*"]},
    ])["Reservations"] for i in r["Instances"]]
    found += [f"builder {i['InstanceId']}" for i in builders if i["State"]["Name"] != "terminated"]
    keys = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    found += [f"key pair {i['KeyName']}" for i in builders if i.get("KeyName") in keys]
    groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    found += [f"security group {g['GroupId']}" for i in builders for g in i.get("SecurityGroups", [])
              if g["GroupId"] in groups]
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [f"hpc-{cluster}-*"]}])["Images"]
    found += [f"untagged AMI {a['ImageId']}" for a in images if "hpc:input-hash" not in tags(a)]
    used = {b["Ebs"]["SnapshotId"] for a in ec2.describe_images(Owners=["self"])["Images"]
            for b in a.get("BlockDeviceMappings", []) if "SnapshotId" in b.get("Ebs", {})}
    builder_ids = {i["InstanceId"] for i in builders}
    for snap in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]:
        made = re.match(r"Created by CreateImage\((i-[0-9a-f]+)\)", snap.get("Description", ""))
        ours = (made and made.group(1) in builder_ids) or tags(snap).get("hpc:cluster") == cluster
        if ours and snap["SnapshotId"] not in used:
            found.append(f"snapshot {snap['SnapshotId']}")
    return sorted(found)


def cluster_orphans(lab_env, ec2, cluster):
    """aws_state.orphans when the lead's helper is there, else the bake leftovers here."""
    try:
        from aws_state import orphans
    except ImportError:
        return bake_leftovers(ec2, cluster)
    return sorted(set(orphans(lab_env, cluster)) | set(bake_leftovers(ec2, cluster)))


# ---------------------------------------------------------------- bake.yml
@pytest.fixture(scope="module")
def bake(tmp_path_factory, lab_env, ansible_env):
    if PACKER is None:
        pytest.skip("packer is not installed (bash lab/debian-deps.sh packer)")
    tmp = tmp_path_factory.mktemp("crash-bake")
    cluster = "cb" + uuid.uuid4().hex[:8]
    ec2 = lab_client(lab_env, "ec2")
    variables = {
        "hpc_aws_region": "us-east-1",
        "hpc_aws_endpoint_url": "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}",
        "hpc_cluster_name": cluster,
        "ami_bakery_images": BAKE_IMAGES,
        "ami_bakery_packer_var_files": ["lab.pkrvars.hcl"],
        "ami_bakery_source_ami_filters": LAB_FILTERS,
        "ami_bakery_manifest_path": str(tmp / "manifest.json"),
        "ami_bakery_log_path": str(tmp / "packer.log"),
    }
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = tmp / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": host}, "vars": variables}}))
    base = ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": [LAB_FILTERS["computenode"]["name"]]}])["Images"][0]["ImageId"]
    template = f"hpc-{cluster}-computenode"
    ec2.create_launch_template(LaunchTemplateName=template,
                               LaunchTemplateData={"ImageId": base, "InstanceType": "m5.large"})
    yield {"cluster": cluster, "ec2": ec2, "args": ["-i", str(inventory), "playbooks/bake.yml"], "tmp": tmp,
           "template": template}
    for image in ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:hpc:cluster", "Values": [cluster]}])[
            "Images"]:
        ec2.deregister_image(ImageId=image["ImageId"])
        for bdm in image.get("BlockDeviceMappings", []):
            with contextlib.suppress(Exception):
                ec2.delete_snapshot(SnapshotId=bdm["Ebs"]["SnapshotId"])
    with contextlib.suppress(Exception):
        ec2.delete_launch_template(LaunchTemplateName=template)


def _bake_state(bake):
    ec2, cluster = bake["ec2"], bake["cluster"]
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:hpc:cluster", "Values": [cluster]}])["Images"]
    default = ec2.describe_launch_template_versions(LaunchTemplateName=bake["template"], Versions=["$Default"])[
        "LaunchTemplateVersions"][0]
    by_image = {tags(i)["hpc:image"]: i["ImageId"] for i in images}
    return {
        "images": sorted(tags(i)["hpc:image"] for i in images),
        "computenode_is_default": default["LaunchTemplateData"].get("ImageId") == by_image.get("computenode"),
    }


BAKE_POINTS = [
    ("during the plan", dict(line=r"^TASK \[.*Compute the input hashes")),
    ("Packer running, builder instance exists", dict(log=r"Instance ID: i-")),
    ("Packer running, AMI registered", dict(log=r"AMI: ami-")),
    ("during publish and retention", dict(line=r"^TASK \[.*Point the launch templates at the images")),
]


def test_bake_killed_then_resumed(bake, ansible_env, lab_env):
    """Each run resumes the one killed before it and is killed in turn; then one completes, one changes nothing."""
    ec2, cluster = bake["ec2"], bake["cluster"]
    clean = {"images": sorted(BAKE_IMAGES), "computenode_is_default": True}
    log_path = bake["tmp"] / "packer.log"
    removed = []
    for name, where in BAKE_POINTS:
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        killed, output = run_killed(ansible_env, bake["args"], Point(name, log_path=log_path, **where))
        removed += re.findall(r"A killed bake left \(removed\): [^\n\"]*", output)
        assert killed, f"bake.yml ended before '{name}':\n{output[-3000:]}"
        left = bake_leftovers(ec2, cluster)
        reliability_record("crash", f"bake.yml: {name}", clean="nothing left", observed=f"{len(left)} left at the kill",
                           ok=True, left=left)
    resumed = run(ansible_env, bake["args"])
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    final = run(ansible_env, bake["args"])
    assert final.returncode == 0, final.stdout[-3000:]
    state, orphans = _bake_state(bake), cluster_orphans(lab_env, ec2, cluster)
    changed = play_recap(final.stdout)["localhost"]["changed"]
    ok = changed == 0 and state == clean and orphans == []
    reliability_record("crash", "bake.yml: resumed after 4 kills", clean=clean, ok=ok,
                       observed=dict(state, changed_on_rerun=changed, orphans=orphans), removed=removed)
    assert changed == 0
    assert state == clean
    assert orphans == []
    # the builders killed while Packer ran were found and removed by a later run
    assert removed, "no run reported what a killed bake left"


# ---------------------------------------------------------------- pool.yml
POOL_DESIRED = 4


@pytest.fixture(scope="module")
def pool(tmp_path_factory, lab_env):
    ec2, asg = lab_client(lab_env, "ec2"), lab_client(lab_env, "autoscaling")
    cluster = f"cp{uuid.uuid4().hex[:8]}"
    name = f"hpc-{cluster}-computenode"
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-*x86_64*"]}])
    old, new = sorted(image["ImageId"] for image in images["Images"])[:2]
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.98.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={"ImageId": old, "InstanceType": "c5.large"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name, "Version": "1"},
        MinSize=0, MaxSize=POOL_DESIRED * 2, DesiredCapacity=POOL_DESIRED, VPCZoneIdentifier=subnet,
        Tags=[{"Key": "hpc:cluster", "Value": cluster, "PropagateAtLaunch": True},
              {"Key": "hpc:role", "Value": "computenode", "PropagateAtLaunch": True}])
    ec2.create_launch_template_version(LaunchTemplateName=name, SourceVersion="1", LaunchTemplateData={"ImageId": new})
    ec2.modify_launch_template(LaunchTemplateName=name, DefaultVersion="2")
    inventory = tmp_path_factory.mktemp("crash-pool") / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    extra = {"hpc_aws_region": "us-east-1", "fleet_pool_cluster": cluster, "fleet_pool_scheduler": "none",
             "fleet_pool_interval": 1, "fleet_pool_batch_size": 2, "fleet_pool_min_healthy_percent": 50,
             "fleet_pool_max_rounds": 40, "ansible_python_interpreter": sys.executable}
    yield {"cluster": cluster, "name": name, "new": new, "ec2": ec2, "asg": asg,
           "args": ["-i", str(inventory), "playbooks/pool.yml", "-e", json.dumps(extra)]}
    with contextlib.suppress(Exception):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    live = cluster_instances(ec2, cluster)
    if live:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in live])
    for call, kwargs in ((ec2.delete_launch_template, {"LaunchTemplateName": name}),
                         (ec2.delete_subnet, {"SubnetId": subnet}), (ec2.delete_vpc, {"VpcId": vpc})):
        with contextlib.suppress(Exception):
            call(**kwargs)


POOL_POINTS = [
    ("mid-round, after tags are written", dict(line=r"^TASK \[.*Show the step")),
    ("after a termination", dict(line=r"terminated\s+\[[^\]]*i-[0-9a-f]")),
    ("during the wait between rounds", dict(line=r"^TASK \[.*Wait before the next round")),
]


def _pool_state(pool):
    live = cluster_instances(pool["ec2"], pool["cluster"])
    group = pool["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[pool["name"]])["AutoScalingGroups"][0]
    return {
        "instances": len(live),
        "all_in_group": sorted(i["InstanceId"] for i in live) == sorted(i["InstanceId"] for i in group["Instances"]),
        "all_new": {i["ImageId"] for i in live} == {pool["new"]},
        "pool_tags": sum(1 for i in live if tags(i).get("hpc:pool-state")),
        "desired": group["DesiredCapacity"],
    }


def test_pool_killed_then_resumed(pool, ansible_env, lab_env):
    clean = {"instances": POOL_DESIRED, "all_in_group": True, "all_new": True, "pool_tags": 0,
             "desired": POOL_DESIRED}
    for name, where in POOL_POINTS:
        killed, output = run_killed(ansible_env, pool["args"], Point(name, **where))
        assert killed, f"pool.yml ended before '{name}':\n{output[-3000:]}"
        halfway = _pool_state(pool)
        rounds = re.findall(r"round \d+:[^\n]*", output)
        reliability_record("crash", f"pool.yml: {name}", clean="resumable", observed=halfway, ok=True,
                           last_round=rounds[-1] if rounds else None)
    resumed = run(ansible_env, pool["args"])
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    final = run(ansible_env, pool["args"])
    assert final.returncode == 0, final.stdout[-3000:]
    changed = play_recap(final.stdout)["localhost"]["changed"]
    state, orphans = _pool_state(pool), cluster_orphans(lab_env, pool["ec2"], pool["cluster"])
    reliability_record("crash", "pool.yml: resumed after 3 kills", clean=clean, ok=changed == 0 and state == clean,
                       observed=dict(state, changed_on_rerun=changed, orphans=orphans))
    assert changed == 0
    assert "0 outdated" in final.stdout
    assert state == clean
    assert orphans == []


# ---------------------------------------------------------------- site.yml
SITE_POINTS = [
    ("in the foundation (IAM)", dict(line=r"^TASK \[.*aws_foundation : Create the instance profile")),
    ("after a launch template version, before the group uses it",
     dict(line=r"^TASK \[.*aws_tier : Tag the launch template")),
    ("during a tier's wait for its instances",
     dict(line=r"^TASK \[.*aws_tier : Create the auto scaling group", count=2)),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory, lab_env, ansible_env):
    name = f"cs{uuid.uuid4().hex[:8]}"
    inventory = cluster_inventory(tmp_path_factory.mktemp("crash-site"), name)
    yield {"name": name, "args": ["site.yml", "-i", str(inventory)]}
    run(ansible_env, ["playbooks/teardown.yml", "-i", str(inventory), "-e",
                      '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}'])


def _site_state(lab_env, name):
    ec2, asg = lab_client(lab_env, "ec2"), lab_client(lab_env, "autoscaling")
    # by name: a run killed before "Tag the launch template" leaves it untagged
    templates = [t for t in ec2.describe_launch_templates()["LaunchTemplates"]
                 if t["LaunchTemplateName"].startswith(f"hpc-{name}-")]
    groups = [g for g in asg.describe_auto_scaling_groups()["AutoScalingGroups"]
              if g["AutoScalingGroupName"].startswith(f"hpc-{name}-")]
    return {
        "launch_template_versions": {t["LaunchTemplateName"].removeprefix(f"hpc-{name}-"): t["LatestVersionNumber"]
                                     for t in templates},
        "groups": {g["AutoScalingGroupName"].removeprefix(f"hpc-{name}-"): len(g["Instances"]) for g in groups},
        "instances": len(cluster_instances(ec2, name)),
        "vpcs": len(ec2.describe_vpcs(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["Vpcs"]),
    }


def test_site_killed_then_resumed(site, ansible_env, lab_env):
    for point, where in SITE_POINTS:
        killed, output = run_killed(ansible_env, site["args"], Point(point, **where))
        assert killed, f"site.yml ended before '{point}':\n{output[-3000:]}"
        reliability_record("crash", f"site.yml: {point}", clean="resumable", ok=True,
                           observed=_site_state(lab_env, site["name"]))
    resumed = run(ansible_env, site["args"])
    assert resumed.returncode == 0, resumed.stdout[-4000:]
    final = run(ansible_env, site["args"])
    assert final.returncode == 0, final.stdout[-4000:]
    changed = play_recap(final.stdout)["localhost"]["changed"]
    state, orphans = _site_state(lab_env, site["name"]), cluster_orphans(lab_env, lab_client(lab_env, "ec2"),
                                                                         site["name"])
    # a clean run makes one version of each launch template, one VPC, and the groups' instances only
    clean_versions = dict.fromkeys(state["launch_template_versions"], 1)
    ok = changed == 0 and state["launch_template_versions"] == clean_versions and orphans == []
    reliability_record("crash", "site.yml: resumed after 3 kills", ok=ok,
                       clean={"changed_on_rerun": 0, "launch_template_versions": clean_versions, "orphans": []},
                       observed=dict(state, changed_on_rerun=changed, orphans=orphans))
    assert changed == 0
    assert sorted(state["launch_template_versions"]) == ["computenode", "headnode", "sqlserver"]
    assert state["launch_template_versions"] == clean_versions
    assert state["vpcs"] == 1
    assert state["instances"] == sum(state["groups"].values())
    assert orphans == []
