"""hpc-autogrow: the autogrow policy as a long-running service (installed by the autogrow_service role).

Every ``interval`` seconds of the settings (or once with --once): read the scheduler's queue and nodes
(Slurm: squeue --json / sinfo --json on this host; HPC Pack: the head node's REST API with a client
certificate), then one step of the autogrow actuator - the same code as the hpc_autogrow module
(_fleet.py with _autogrow.py, _aws.py and _tags.py, installed next to this file): observe the compute
instances, decide, act through batched EC2 / Auto Scaling calls (at most 1,000 ids per call;
throttling is retried by botocore's adaptive mode, set by _aws.py), stopped instances kept past their
keep time terminated (``pool_ebs_ratio``). Then resume the started nodes and drain the stopped ones in
Slurm. Settings: a JSON file (--config), written by the role; its ``policy`` keys are the hpc_autogrow
module's option names for the policy (_autogrow.Config), and its other keys (``pool_mode``,
``node_name_tag``, ``pool_ebs_ratio``) the module's options of the same names.
"""
# ruff: noqa: S603 - runs the scheduler's own commands (squeue, sinfo, scontrol) from PATH, argv lists only

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOG = logging.getLogger("hpc-autogrow")


def _load(name):
    """A module_utils file installed next to this one, importable by its name (as ``_fleet.py`` imports it)."""
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# in import order: _fleet.py imports the other three side by side
tags = _load("_tags")
aws = _load("_aws")
autogrow = _load("_autogrow")
sched = _load("_sched")
lock = _load("_lock")  # _fleet.py imports it side by side: steps hold the cluster's autogrow lock
trim = _load("_fleet_trim")  # _fleet.py imports it side by side: the pool's trim
fleet = _load("_fleet")
DEFAULT_INTERVAL = 30


SCHEDULER_TIMEOUT = 30


class SchedulerUnreadable(sched.SchedulerError):
    """The scheduler could not be read: the step starts, stops and launches nothing, and says why."""


def hpcpack_call(headnode, action, body=None, *, cert_file=None, key_file=None, ca_file=None,
                 timeout=SCHEDULER_TIMEOUT):
    """Call the REST API with a client certificate; returns the parsed JSON.

    Any failure - a timeout, an HTTP error (5xx...), a certificate that does not validate, an answer
    that is empty or not JSON - raises :class:`SchedulerUnreadable` naming the call and the cause.
    """
    method, url, data, headers = sched.hpcpack_request(headnode, action, body)
    what = f"HPC Pack REST {method} {url}"
    try:
        context = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - https URL
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:  # noqa: S310 - https
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise SchedulerUnreadable(f"{what} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            cause = reason.verify_message or reason
            raise SchedulerUnreadable(f"{what}: the head node's certificate does not validate ({cause})") from None
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise SchedulerUnreadable(f"{what} timed out after {timeout} s") from None
        raise SchedulerUnreadable(f"{what} failed: {reason}") from None
    except TimeoutError:
        raise SchedulerUnreadable(f"{what} timed out after {timeout} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise SchedulerUnreadable(f"{what} failed: {exc}") from None
    if not payload.strip():
        raise SchedulerUnreadable(f"{what} answered nothing (an empty body is not an answer)")
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise SchedulerUnreadable(f"{what} answered something that is not JSON ({exc})") from None


def slurm_output(argv, timeout=SCHEDULER_TIMEOUT):
    """stdout of ``squeue --json`` / ``sinfo --json``; SchedulerUnreadable when it fails, hangs or is missing."""
    command = " ".join(argv)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SchedulerUnreadable(f"{command} did not answer within {timeout} s") from None
    except OSError as exc:
        raise SchedulerUnreadable(f"{command} could not run: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout or "").strip()[:500]
        raise SchedulerUnreadable(f"{command} failed (exit {done.returncode}): {said}")
    return done.stdout


def read_scheduler(settings):
    """(pending jobs, running jobs, nodes) from the scheduler; SchedulerError (SchedulerUnreadable when the
    scheduler cannot be reached) before anything is changed."""
    timeout = settings.get("scheduler_timeout") or SCHEDULER_TIMEOUT
    if settings.get("scheduler", "slurm") == "slurm":
        squeue = slurm_output(["squeue", "--json"], timeout)
        sinfo = slurm_output(["sinfo", "--json"], timeout)
        return (sched.slurm_pending_jobs(squeue, source="squeue --json output"),
                sched.slurm_running_jobs(squeue, source="squeue --json output"),
                sched.slurm_nodes(sinfo, source="sinfo --json output"))
    head = settings["headnode"]
    cert = {"cert_file": settings.get("cert_file"), "key_file": settings.get("key_file"),
            "ca_file": settings.get("ca_file"), "timeout": timeout}
    listed = hpcpack_call(head, "nodes", **cert)
    if not isinstance(listed, list):
        raise SchedulerUnreadable(f"HPC Pack REST nodes answered {listed!r}, not a list of nodes")
    idle = sched.hpcpack_idle_nodes(
        hpcpack_call(head, "check_nodes_idle", [n["Name"] for n in listed if n.get("Name")], **cert))
    nodes = sched.hpcpack_nodes(listed, idle)
    grow = sum(sched.hpcpack_grow_decision(hpcpack_call(head, "grow_decision", **cert)).values())
    # grow-decision is net of the online nodes: add the idle ones back so the policy sees the demand
    idle_count = sum(1 for node in nodes.values() if node["state"] == sched.IDLE)
    jobs = [{"nodes": 1} for _unused in range(grow + idle_count)]
    return jobs, None, nodes  # grow-decision is the HPC Pack scheduler's own plan: no forecast


def pool_ebs_ratio(settings):
    """The settings' ``pool_ebs_ratio`` (the actuator's default when absent); PolicyError naming it when wrong."""
    return fleet.ebs_ratio(settings.get("pool_ebs_ratio", fleet.POOL_EBS_RATIO))


def step(settings, config, ec2, asg, dry_run=False):
    """One reconcile step: the scheduler, the actuator, then resume/drain in Slurm; returns the actuator's step
    (its ``decision``, and ``recheck_at``: the decision's or the next pool instance's to trim, whichever first)."""
    jobs, running, nodes_view = read_scheduler(settings)
    done = fleet.step(ec2, asg, settings["cluster"], config, jobs=jobs, running=running, scheduler_nodes=nodes_view,
                      pool_mode=settings.get("pool_mode", "tagged"),
                      node_name_tag=settings.get("node_name_tag") or tags.NODE_NAME_TAG, apply=not dry_run,
                      pool_ebs_ratio=pool_ebs_ratio(settings))
    decision = done.decision
    LOG.info("demand %d, in service %d: start %s, launch %d, stop %s, terminate %s", decision.demand,
             decision.in_service, done.started_nodes, decision.launch, done.stopped_nodes, done.terminated)
    for instance_id, reason in sorted(done.trim.kept.items()):
        LOG.info("pool: keep %s, %s", instance_id, reason)
    if dry_run:
        return done
    if settings.get("scheduler", "slurm") == "slurm":
        for name in done.started_nodes:
            subprocess.run(sched.slurm_resume_argv(name), check=False)
        for name in done.stopped_nodes:
            subprocess.run(sched.slurm_drain_argv(name, "hpc autogrow stopped the instance"), check=False)
    if getattr(done, "failed", None):  # an AWS call failed part-way: what was done is resumed/drained above
        LOG.error("reconcile step stopped part-way: %s", done.failed)
    return done


def pause(interval, recheck_at, now):
    """Seconds until the next step: ``interval``, or sooner when the decision asked to look again earlier
    (``recheck_at``: an idle node's stop falling due, a reservation's nodes to start one boot before the
    scheduler's expected start), at least 1 s."""
    if recheck_at is None or recheck_at - now >= interval:
        return interval
    return max(1.0, recheck_at - now)


def run(settings, config, ec2, asg, *, once=False, dry_run=False, sleep=time.sleep, clock=time.time):
    """Reconcile every ``config.interval`` seconds, or at the decision's ``recheck_at`` when sooner (or once);
    a failed step is logged and retried next time."""
    interval = config.interval or DEFAULT_INTERVAL
    while True:
        recheck_at = None
        try:
            done = step(settings, config, ec2, asg, dry_run=dry_run)
            recheck_at = getattr(done, "recheck_at", None)
            if once and getattr(done, "failed", None):
                return 1
        except fleet.AWSCallError as exc:
            LOG.error("reconcile step failed: %s", exc)
            if once:
                return 1
        except sched.SchedulerError as exc:  # read before any change: nothing started, stopped or launched
            LOG.error("reconcile step skipped, the scheduler cannot be read: %s; nothing started, stopped or "
                      "launched, trying again at the next poll", exc)
            if once:
                return 1
        except (subprocess.CalledProcessError, OSError, ValueError) as exc:
            LOG.error("reconcile step failed: %s", exc)
            if once:
                return 1
        except Exception as exc:  # a service logs any other error and tries again next time
            LOG.exception("reconcile step failed: %s", exc)
            if once:
                return 1
        if once:
            return 0
        sleep(pause(interval, recheck_at, clock()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="settings (JSON) written by the autogrow_service role")
    parser.add_argument("--once", action="store_true", help="one reconcile step, then exit")
    parser.add_argument("--dry-run", action="store_true", help="decide and log, change nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = json.loads(Path(args.config).read_text())
    try:
        config = autogrow.Config(**settings.get("policy", {}))
        pool_ebs_ratio(settings)
    except autogrow.PolicyError as exc:
        LOG.error("invalid policy in %s: %s", args.config, exc)
        return 2
    client_args = {"region": settings.get("region"), "endpoint_url": settings.get("endpoint_url") or None}
    ec2 = aws.client("ec2", **client_args)
    asg = aws.client("autoscaling", **client_args)
    return run(settings, config, ec2, asg, once=args.once, dry_run=args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
