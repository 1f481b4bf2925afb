"""hpc-autogrow: the autogrow policy as a long-running service (installed by the autogrow_service role).

Every --interval seconds (or once with --once): read the scheduler's queue and nodes (Slurm: squeue
--json / sinfo --json on this host; HPC Pack: the head node's REST API with a client certificate),
decide with the same policy code as the hpc_autogrow module (_autogrow.py, installed next to this
file), and act through batched EC2 / Auto Scaling calls (at most 1,000 ids per call; throttling is
retried by botocore's adaptive mode, set by _aws.py). Then resume the started nodes and drain the
stopped ones in Slurm. Settings: a JSON file (--config), written by the role.
"""
# ruff: noqa: S603, S607 - runs the scheduler's own commands (squeue, sinfo, scontrol) from PATH, argv lists only

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOG = logging.getLogger("hpc-autogrow")


def _load(name):
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


autogrow = _load("_autogrow")
sched = _load("_sched")
aws = _load("_aws")


def hpcpack_call(headnode, action, body=None, *, cert_file=None, key_file=None, ca_file=None, timeout=30):
    """Call the REST API with a client certificate; returns the parsed JSON (None when empty)."""
    method, url, data, headers = sched.hpcpack_request(headnode, action, body)
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - https URL built above
    with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - https only
        payload = response.read()
    return json.loads(payload) if payload else None


def read_scheduler(settings):
    if settings.get("scheduler", "slurm") == "slurm":
        squeue = subprocess.run(["squeue", "--json"], capture_output=True, text=True, check=True).stdout
        sinfo = subprocess.run(["sinfo", "--json"], capture_output=True, text=True, check=True).stdout
        return sched.slurm_pending_jobs(squeue), sched.slurm_running_jobs(squeue), sched.slurm_nodes(sinfo)
    head = settings["headnode"]
    cert = {"cert_file": settings.get("cert_file"), "key_file": settings.get("key_file"),
            "ca_file": settings.get("ca_file")}
    listed = hpcpack_call(head, "nodes", **cert) or []
    idle = sched.hpcpack_idle_nodes(
        hpcpack_call(head, "check_nodes_idle", [n["Name"] for n in listed if n.get("Name")], **cert) or [])
    nodes = sched.hpcpack_nodes(listed, idle)
    grow = sum(sched.hpcpack_grow_decision(hpcpack_call(head, "grow_decision", **cert) or {}).values())
    # grow-decision is net of the online nodes: add the idle ones back so the policy sees the demand
    idle_count = sum(1 for node in nodes.values() if node["state"] == sched.IDLE)
    jobs = [{"nodes": 1} for _unused in range(grow + idle_count)]
    return jobs, None, nodes  # grow-decision is the HPC Pack scheduler's own plan: no forecast


def instances(ec2, cluster):
    found = []
    filters = [{"Name": "tag:hpc:cluster", "Values": [cluster]}, {"Name": "tag:hpc:role", "Values": ["computenode"]},
               {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
        for reservation in page.get("Reservations", []):
            found.extend(reservation.get("Instances", []))
    return found


def act(settings, ec2, asg, decision, in_service):
    cluster = settings["cluster"]
    name = f"hpc-{cluster}-computenode"
    if settings.get("pool_mode", "tagged") == "warm_pool":
        grow = len(decision.start) + decision.launch
        if grow:
            asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=in_service + grow, HonorCooldown=False)
        for instance_id in decision.stop:
            asg.terminate_instance_in_auto_scaling_group(InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)
        return
    for batch in autogrow.batches(decision.start, 1000):
        ec2.start_instances(InstanceIds=batch)
        ec2.delete_tags(Resources=batch, Tags=[{"Key": autogrow.IDLE_TAG}])
    for batch in autogrow.batches(decision.stop, 1000):
        ec2.stop_instances(InstanceIds=batch)
        ec2.delete_tags(Resources=batch, Tags=[{"Key": autogrow.IDLE_TAG}])
    if decision.launch:
        ec2.run_instances(MinCount=decision.launch, MaxCount=decision.launch,
                          LaunchTemplate={"LaunchTemplateName": name, "Version": "$Default"},
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [
                              {"Key": "hpc:cluster", "Value": cluster}, {"Key": "hpc:role", "Value": "computenode"}]}])


def step(settings, config, ec2, asg, dry_run=False):
    now = time.time()
    jobs, running, nodes_view = read_scheduler(settings)
    queue = autogrow.summarize_queue(jobs, config.max_nodes, config.cores_per_node, now=now,
                                     running=running if config.use_forecast else None)
    nodes, names, tag_idle, untag = autogrow.observe(instances(ec2, settings["cluster"]), nodes_view, now,
                                                     config.cold_boot_s, settings.get("node_name_tag", "hpc:node-name"))
    decision = autogrow.decide(now, queue, nodes, config)
    LOG.info("demand %d, in service %d: start %s, launch %d, stop %s", decision.demand, decision.in_service,
             [names[i] for i in decision.start], decision.launch, [names[i] for i in decision.stop])
    if dry_run:
        return decision
    for value in sorted(set(tag_idle.values())):
        ids = sorted(i for i, v in tag_idle.items() if v == value and i not in decision.stop)
        for batch in autogrow.batches(ids, 1000):
            ec2.create_tags(Resources=batch, Tags=[{"Key": autogrow.IDLE_TAG, "Value": value}])
    for batch in autogrow.batches(untag, 1000):
        ec2.delete_tags(Resources=batch, Tags=[{"Key": autogrow.IDLE_TAG}])
    act(settings, ec2, asg, decision, decision.in_service)
    if settings.get("scheduler", "slurm") == "slurm":
        for instance_id in decision.start:
            subprocess.run(sched.slurm_resume_argv(names[instance_id]), check=False)
        for instance_id in decision.stop:
            subprocess.run(sched.slurm_drain_argv(names[instance_id], "hpc autogrow stopped the instance"), check=False)
    return decision


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="settings (JSON) written by the autogrow_service role")
    parser.add_argument("--once", action="store_true", help="one reconcile step, then exit")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, change nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = json.loads(Path(args.config).read_text())
    policy = settings.get("policy", {})
    config = autogrow.Config(**policy)
    client_args = {"region": settings.get("region"), "endpoint_url": settings.get("endpoint_url") or None}
    ec2 = aws.client("ec2", **client_args)
    asg = aws.client("autoscaling", **client_args)
    interval = float(settings.get("interval_s", 30))
    while True:
        try:
            step(settings, config, ec2, asg, dry_run=args.dry_run)
        except (subprocess.CalledProcessError, OSError, ValueError, sched.SchedulerError) as exc:
            LOG.error("reconcile step failed: %s", exc)
            if args.once:
                return 1
        except Exception as exc:  # a service logs any AWS error and tries again next time
            LOG.exception("reconcile step failed: %s", exc)
            if args.once:
                return 1
        if args.once:
            return 0
        time.sleep(interval)


if __name__ == "__main__":
    sys.exit(main())
