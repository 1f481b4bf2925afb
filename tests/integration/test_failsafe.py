"""Fail-safe autoscaling (issue 15) against the embedded endpoint: a scheduler that cannot be read changes nothing.

1. playbooks/autogrow.yml, tagged pool: a compute group (an Auto Scaling group of 4, two of its instances stopped)
   and a scheduler on the head host (squeue/sinfo/scontrol: scripts first on PATH, the head host this host with
   ``ansible_connection: local``, as the role runs the commands by name). squeue printing something that is not
   Slurm's JSON, and a head host that cannot be reached (ssh to a closed port), each leave every instance and the
   group's desired capacity as they were, the run succeeds and the round line says why. Then two rounds in one run,
   squeue failing on its first call only: round 1 does nothing and says why, round 2 starts the stopped nodes for
   the pending job and resumes them in Slurm - the next poll recovers.
2. The autogrow service (roles/autogrow_service/files/hpc_autogrow_service.py, installed side by side as the role
   does, run with ``--once`` as a process) against an HPC Pack REST API on 127.0.0.1 over HTTPS (a thread, its
   self-signed certificate made here): an HTTP 503 and a certificate the client does not trust change nothing and
   the log says why; a good answer starts the nodes.

Each case is recorded with ``reliability_record("failsafe", ...)``.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid

import pytest
import yaml
from conftest import ROOT, cluster_instances, lab_client, make_certificate, play_recap, reliability_record

pytestmark = pytest.mark.lab

FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "fleet"
NODES = [f"compute-dy-c5large-{n}" for n in range(1, 5)]  # 1-2 running (busy in Slurm), 3-4 stopped
UNREADABLE = "the scheduler cannot be read"
NOTHING = "nothing started, stopped or launched; the next round reads it again"


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def by_name(ec2, cluster):
    """{node name: EC2 state} of the cluster's instances."""
    return {tags(i).get("hpc:node-name", i["InstanceId"]): i["State"]["Name"] for i in cluster_instances(ec2, cluster)}


def desired(asg, name):
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["DesiredCapacity"]


def snapshot(group):
    """What a step could change: every instance of the cluster (state and tags), the group (sizes and members)
    and the cluster's SSM parameters (the autogrow lock). aws_state.cluster_state lists the whole account
    (seconds a call): this is the part of it an autogrow step touches."""
    instances = sorted((i["InstanceId"], i["State"]["Name"], sorted(tags(i).items()))
                       for i in cluster_instances(group["ec2"], group["cluster"]))
    found = group["asg"].describe_auto_scaling_groups(AutoScalingGroupNames=[group["name"]])["AutoScalingGroups"][0]
    sizes = (found["MinSize"], found["MaxSize"], found["DesiredCapacity"],
             sorted(i["InstanceId"] for i in found["Instances"]))
    parameters = group["ssm"].get_parameters_by_path(Path=f"/hpc/{group['cluster']}", Recursive=True)["Parameters"]
    return {"instances": instances, "group": sizes, "parameters": sorted(p["Name"] for p in parameters)}


def amazon_image(ec2):
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["amzn2-ami-*x86_64*"]}])
    return sorted(image["ImageId"] for image in images["Images"])[0]


# ---------------------------------------------------------------- 1. the autogrow playbook


@pytest.fixture(scope="module")
def group(lab_env):
    """A compute group of 4 (Auto Scaling group hpc-<cluster>-computenode, tagged as the collection tags it):
    nodes 1-2 running, 3-4 stopped."""
    ec2, asg = lab_client(lab_env, "ec2"), lab_client(lab_env, "autoscaling")
    cluster = f"fs{uuid.uuid4().hex[:8]}"
    name = f"hpc-{cluster}-computenode"
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.98.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_launch_template(LaunchTemplateName=name,
                               LaunchTemplateData={"ImageId": amazon_image(ec2), "InstanceType": "c5.large"})
    asg.create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name, "Version": "$Default"},
        MinSize=0, MaxSize=8, DesiredCapacity=len(NODES), VPCZoneIdentifier=subnet,
        Tags=[{"Key": "hpc:cluster", "Value": cluster, "PropagateAtLaunch": True},
              {"Key": "hpc:role", "Value": "computenode", "PropagateAtLaunch": True}])
    ids = sorted(i["InstanceId"] for i in cluster_instances(ec2, cluster))
    assert len(ids) == len(NODES)
    for instance_id, node in zip(ids, NODES, strict=True):
        ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "hpc:node-name", "Value": node}])
    ec2.stop_instances(InstanceIds=ids[2:])
    yield {"cluster": cluster, "name": name, "ec2": ec2, "asg": asg, "ssm": lab_client(lab_env, "ssm")}
    with contextlib.suppress(Exception):
        asg.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)
    live = cluster_instances(ec2, cluster)
    if live:
        ec2.terminate_instances(InstanceIds=[i["InstanceId"] for i in live])
    for call, kwargs in ((ec2.delete_launch_template, {"LaunchTemplateName": name}),
                         (ec2.delete_subnet, {"SubnetId": subnet}), (ec2.delete_vpc, {"VpcId": vpc})):
        with contextlib.suppress(Exception):
            call(**kwargs)


def slurm_documents(directory):
    """squeue --json (a two-node job pending, two one-node jobs running on nodes 1-2: Slurm 22.05's output in the
    unit fixtures) and sinfo --json (nodes 1-2 allocated)."""
    sinfo = json.loads((FIXTURES / "sinfo_busy_drain.json").read_text())
    for node in sinfo["nodes"]:
        node["state_flags"] = []
    shutil.copy(FIXTURES / "squeue_pending.json", directory / "squeue.json")
    (directory / "sinfo.json").write_text(json.dumps(sinfo))


def scheduler_bin(directory, squeue_body):
    """squeue/sinfo/scontrol scripts in ``directory``/bin (put first on PATH); scontrol records its arguments."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    scripts = {
        "squeue": squeue_body,
        "sinfo": f'cat "{directory}/sinfo.json"',
        "scontrol": f'echo "$*" >> "{directory}/scontrol.log"',
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def inventory(directory, head=None):
    lines = [f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}"]
    if head:
        lines += ["[pcluster_head]", head]
    path = directory / "hosts.ini"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def autogrow(run_playbook, group, hosts, bin_dir, steps=1, **more):
    extra_vars = {**more, "hpc_aws_region": "us-east-1", "fleet_autogrow_cluster": group["cluster"],
                  "fleet_autogrow_max_nodes": len(NODES), "fleet_autogrow_steps": steps, "fleet_autogrow_interval": 0,
                  "ansible_python_interpreter": sys.executable}
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    return run_playbook("-i", hosts, "playbooks/autogrow.yml", "-e", json.dumps(extra_vars), timeout=300,
                        extra_env={"PATH": path, "ANSIBLE_SHOW_CUSTOM_STATS": "true",
                                   "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                                   "ANSIBLE_HOST_KEY_CHECKING": "false"})


def round_lines(output):
    """The round lines of the run (the debug tasks' msg, one line each in the json result format)."""
    return [json.loads("{" + line.strip() + "}")["msg"] for line in output.splitlines()
            if line.strip().startswith('"msg": "round ')]


def check_unreadable(run_playbook, group, tmp_path, *, case, hosts, bin_dir, why, **more):
    """One run with an unreadable scheduler: rc 0, the round line says why, the cluster's resources unchanged."""
    before_states, before_desired = by_name(group["ec2"], group["cluster"]), desired(group["asg"], group["name"])
    before = snapshot(group)
    result = autogrow(run_playbook, group, hosts, bin_dir, **more)
    after = snapshot(group)
    states, capacity = by_name(group["ec2"], group["cluster"]), desired(group["asg"], group["name"])
    lines = [line for line in round_lines(result.stdout) if UNREADABLE in line]
    ok = (result.returncode == 0 and len(lines) == 1 and why in lines[0] and NOTHING in lines[0]
          and states == before_states and capacity == before_desired and after == before
          and not (tmp_path / "scontrol.log").exists())
    reliability_record("failsafe", f"autogrow.yml, {case}", clean="round 2 of the recovery run started 2 stopped nodes",
                       observed=f"nothing started or stopped, desired capacity {capacity} kept; said: "
                                f"{lines[0] if lines else result.stdout[-300:]}", ok=ok)
    assert result.returncode == 0, result.stdout[-3000:]
    assert play_recap(result.stdout)["localhost"]["failed"] == 0
    assert len(lines) == 1 and why in lines[0] and NOTHING in lines[0], result.stdout[-3000:]
    assert "scheduler_unreadable" in result.stdout  # the run statistics (AWX artifacts)
    assert states == before_states and capacity == before_desired
    assert after == before
    assert not (tmp_path / "scontrol.log").exists(), "an unreadable scheduler resumed or drained nodes"


def test_garbage_from_squeue_changes_nothing(run_playbook, group, tmp_path):
    slurm_documents(tmp_path)
    bin_dir = scheduler_bin(tmp_path, "echo 'squeue: error: Invalid user for SlurmUser slurm'")
    check_unreadable(run_playbook, group, tmp_path, case="squeue prints something that is not JSON",
                     hosts=inventory(tmp_path), bin_dir=bin_dir, why="squeue_json (the output of squeue --json)")


def test_hanging_squeue_is_cut_and_changes_nothing(run_playbook, group, tmp_path):
    slurm_documents(tmp_path)
    bin_dir = scheduler_bin(tmp_path, "exec sleep 60")
    check_unreadable(run_playbook, group, tmp_path, case="squeue hangs", hosts=inventory(tmp_path), bin_dir=bin_dir,
                     why="squeue --json did not answer within 2 s", fleet_autogrow_scheduler_timeout=2)


def test_unreachable_head_host_changes_nothing(run_playbook, group, tmp_path):
    slurm_documents(tmp_path)
    bin_dir = scheduler_bin(tmp_path, f'cat "{tmp_path}/squeue.json"')
    head = (f"head ansible_host=127.0.0.1 ansible_port={closed_port()} ansible_connection=ssh ansible_user=hpc "
            "ansible_ssh_common_args='-o ConnectTimeout=5 -o BatchMode=yes'")
    check_unreadable(run_playbook, group, tmp_path, case="head host unreachable", hosts=inventory(tmp_path, head),
                     bin_dir=bin_dir, why="squeue --json on head: host unreachable")


def test_squeue_fails_in_round_one_and_round_two_acts(run_playbook, group, tmp_path):
    """fleet_autogrow_steps=2: squeue fails on its first call only (a counter file), so round 1 must change
    nothing and round 2, reading the queue, starts the stopped nodes 3-4 for the pending two-node job."""
    slurm_documents(tmp_path)
    counter = tmp_path / "calls"
    bin_dir = scheduler_bin(tmp_path, "\n".join([
        f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo $n > "{counter}"',
        'if [ "$n" -eq 1 ]; then echo "slurm_load_jobs error: Unable to contact slurm controller" >&2; exit 1; fi',
        f'cat "{tmp_path}/squeue.json"',
    ]))
    before_states, before_desired = by_name(group["ec2"], group["cluster"]), desired(group["asg"], group["name"])
    assert sorted(before_states.values()) == ["running", "running", "stopped", "stopped"]
    result = autogrow(run_playbook, group, inventory(tmp_path), bin_dir, steps=2)
    states = by_name(group["ec2"], group["cluster"])
    lines = round_lines(result.stdout)
    resumed = (tmp_path / "scontrol.log").read_text().split("\n") if (tmp_path / "scontrol.log").exists() else []
    started = sorted(node for node, state in states.items() if before_states[node] == "stopped" and state != "stopped")
    ok = (result.returncode == 0 and len(lines) == 2 and UNREADABLE in lines[0] and "start [" in lines[1]
          and started == NODES[2:] and desired(group["asg"], group["name"]) == before_desired)
    reliability_record("failsafe", "autogrow.yml, squeue fails in round 1 of 2",
                       clean=f"round 2: started {', '.join(started) or 'nothing'} for the pending job, resumed them",
                       observed=f"round 1: nothing started or stopped; said: {lines[0] if lines else '?'}", ok=ok)
    assert result.returncode == 0, result.stdout[-3000:]
    assert len(lines) == 2, lines
    assert lines[0].startswith("round 1/2: the scheduler cannot be read (squeue --json failed (exit 1): "
                               "slurm_load_jobs error: Unable to contact slurm controller)"), lines[0]
    assert NOTHING in lines[0]
    assert lines[1].startswith("round 2/2: demand 2 nodes"), lines[1]
    assert started == NODES[2:], states
    assert {node: states[node] for node in NODES[:2]} == {node: "running" for node in NODES[:2]}
    assert desired(group["asg"], group["name"]) == before_desired
    assert sorted(line.split()[1] for line in resumed if line) == [f"nodename={node}" for node in NODES[2:]]
    assert counter.read_text().strip() == "2"


# ---------------------------------------------------------------- 2. the autogrow service (HPC Pack REST)

HPCPACK_NODES = [{"Name": node, "NodeState": "Offline", "NodeHealth": "OK"} for node in NODES[:2]]


@pytest.fixture
def headnode(tmp_path):
    """An HPC Pack REST API on 127.0.0.1 over HTTPS (a thread): ``server.mode`` "503" or "ok" (grow 2 nodes)."""
    cert_file, key_file = make_certificate(tmp_path)

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if server.mode == "503":
                self.send_error(503, "Service Unavailable")
                return
            route = self.path.split("/HpcManager/api/", 1)[1]
            body = {"nodes": HPCPACK_NODES, "auto-scale/check-nodes-idle": [],
                    "auto-scale/grow-decision": {"CoresToGrow": 2, "NodesToGrow": 2, "SocketsToGrow": 2}}[route]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.mode, server.ca_file = "ok", str(cert_file)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def service_cluster(lab_env):
    """Two stopped compute instances named for the head node's nodes."""
    ec2 = lab_client(lab_env, "ec2")
    cluster = f"fsv{uuid.uuid4().hex[:8]}"
    image = amazon_image(ec2)
    ids = []
    for node in NODES[:2]:
        node_tags = [{"Key": "hpc:cluster", "Value": cluster}, {"Key": "hpc:role", "Value": "computenode"},
                     {"Key": "hpc:node-name", "Value": node}]
        ids.append(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="c5.large",
                                     TagSpecifications=[{"ResourceType": "instance", "Tags": node_tags}])
                   ["Instances"][0]["InstanceId"])
    ec2.stop_instances(InstanceIds=ids)
    yield cluster, ec2
    ec2.terminate_instances(InstanceIds=ids)


def install_service(directory):
    """The service and the module_utils files it loads, side by side, as the autogrow_service role installs them
    (its vars/main.yml ``_autogrow_service_files``)."""
    role = ROOT / "roles" / "autogrow_service"
    for name in yaml.safe_load((role / "vars" / "main.yml").read_text())["_autogrow_service_files"]:
        source = ROOT / "plugins" / "module_utils" / name.rsplit("/", 1)[1] if "/" in name else role / "files" / name
        shutil.copy(source, directory / source.name)
    return directory / "hpc_autogrow_service.py"


def run_service(lab_env, directory, cluster, headnode, ca_file):
    """One poll (``--once``) of the installed service; returns (exit code, log)."""
    settings = {"cluster": cluster, "region": "us-east-1", "endpoint_url": lab_env["AWS_ENDPOINT_URL"],
                "scheduler": "hpcpack", "pool_mode": "tagged", "node_name_tag": "hpc:node-name",
                "pool_ebs_ratio": 0.0516, "headnode": f"127.0.0.1:{headnode.server_address[1]}", "cert_file": None,
                "key_file": None, "ca_file": ca_file, "scheduler_timeout": 10,
                "policy": {"min_nodes": 0, "max_nodes": 4, "cores_per_node": 1, "warm_boot_time": 60,
                           "cold_boot_time": 600, "idle_timeout": None, "billing_minimum": 60, "end_of_hour": False,
                           "interval": 30, "forecast": True}}
    config = directory / "settings.json"
    config.write_text(json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(lab_env)
    done = subprocess.run([sys.executable, str(directory / "hpc_autogrow_service.py"), "--config", str(config),
                           "--once"], env=env, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


SERVICE_CASES = [
    ("HTTP 503", "503", True, "answered HTTP 503 Service Unavailable"),
    ("certificate not trusted", "ok", False, "the head node's certificate does not validate (self-signed certificate"),
]


def test_service_hpcpack_unreadable_changes_nothing_and_a_good_answer_acts(lab_env, service_cluster, headnode,
                                                                           tmp_path):
    cluster, ec2 = service_cluster
    install_service(tmp_path)
    results = []
    for case, mode, trusted, why in SERVICE_CASES:
        headnode.mode = mode
        before = sorted(by_name(ec2, cluster).items())
        code, log = run_service(lab_env, tmp_path, cluster, headnode, headnode.ca_file if trusted else None)
        after = sorted(by_name(ec2, cluster).items())
        said = next((line for line in log.splitlines() if UNREADABLE in line), log.strip()[-300:])
        ok = (code == 1 and after == before and why in said and "nothing started, stopped or launched" in said
              and "Traceback" not in log)
        results.append((case, ok, code, before, after, why, log))
        reliability_record("failsafe", f"autogrow service, HPC Pack REST {case}",
                           clean="a good answer started 2 stopped nodes",
                           observed=f"nothing started or stopped (exit {code}); logged: "
                                    f"{said.split(' ERROR ', 1)[-1]}", ok=ok)
    headnode.mode = "ok"
    code, log = run_service(lab_env, tmp_path, cluster, headnode, headnode.ca_file)
    states = sorted(by_name(ec2, cluster).values())
    for case, ok, code_case, before, after, why, log_case in results:
        assert code_case == 1, (case, log_case)
        assert after == before, f"{case}: an unreadable scheduler started or stopped an instance"
        assert why in log_case and "reconcile step skipped, the scheduler cannot be read" in log_case, log_case
        assert "Traceback" not in log_case
        assert ok, case
    assert code == 0, log
    assert "demand 2, in service 0" in log
    assert set(states) <= {"pending", "running"}, states
