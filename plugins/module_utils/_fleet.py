# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The autogrow actuator: observe the compute instances, decide with the policy, act (private: not a public API).

The one place where autogrow touches AWS. The module ``hpc_autogrow`` (one reconcile step) and the
long-running service (roles/autogrow_service/files/hpc_autogrow_service.py) both call :func:`step`
with the scheduler's queue and node states they read their own way; the policy itself is
``_autogrow.py``.

* observe: the cluster's compute instances (tags ``hpc:cluster`` and ``hpc:role=computenode``)
  become policy nodes (:func:`observe`); the time a node was first seen idle is kept in its
  ``hpc:idle-since`` tag, so successive steps (and runs) share it; a stopped node's ``since`` is when
  EC2 stopped it (:func:`stopped_since`);
* decide: :func:`_autogrow.decide`; then the pool's size (:func:`plan_trim`): a stopped instance kept
  :func:`_autogrow.pool_keep_time` or longer (its EBS cost against the waits it saves, ``pool_ebs_ratio``)
  is terminated (:func:`terminate`), never one the decision starts;
* act: ``pool_mode=tagged`` starts and stops the instances (batches of at most 1,000 ids) and
  launches fresh ones from the launch template ``hpc-<cluster>-computenode``;
  ``pool_mode=warm_pool`` raises the desired capacity of the Auto Scaling group of that name and
  terminates the stopped nodes in it with the capacity decremented.

Every AWS call goes through ``_aws.aws_call``/``_aws.paginate``: a failure raises
``_aws.AWSCallError`` (the module fails with it, the service logs it). The pool's trim (which stopped instances go,
and how) is ``_fleet_trim.py``. The service installs this file next to ``_fleet_trim.py``, ``_autogrow.py``,
``_aws.py``, ``_tags.py`` and ``_lock.py``, hence the side-by-side imports.
"""

from __future__ import annotations

import datetime
import os
import re
import socket
import time

try:
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _lock, _tags
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError, aws_call, paginate
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils._fleet_trim import (
        ASG_BATCH,
        BATCH,
        POOL_EBS_RATIO,
        Trim,
        ebs_ratio,
        plan_trim,
        route_trim,
        split_trim,
        terminate,
    )
except ImportError:  # side by side in the autogrow service, outside Ansible: the files it loaded by name
    import importlib

    _autogrow = importlib.import_module("_autogrow")
    _tags = importlib.import_module("_tags")
    _aws = importlib.import_module("_aws")
    AWSCallError, aws_call, paginate = _aws.AWSCallError, _aws.aws_call, _aws.paginate
    _trim = importlib.import_module("_fleet_trim")
    ASG_BATCH, BATCH, POOL_EBS_RATIO, Trim = _trim.ASG_BATCH, _trim.BATCH, _trim.POOL_EBS_RATIO, _trim.Trim
    ebs_ratio, plan_trim, route_trim, split_trim, terminate = (
        _trim.ebs_ratio, _trim.plan_trim, _trim.route_trim, _trim.split_trim, _trim.terminate)
    try:
        _lock = importlib.import_module("_lock")
    except ImportError:  # a service installed before _lock.py was: steps run unserialized, and say so
        _lock = None

__all__ = ("ASG_BATCH", "BATCH", "POOL_EBS_RATIO", "POOL_MODES", "STEP_LOCK_LEASE", "STEP_LOCK_WAIT", "AWSCallError",
           "PartialAct", "Step", "Trim", "act", "compute_instances", "ebs_ratio", "observe", "plan_trim", "split_trim",
           "step", "step_lock_name", "stopped_since", "terminate")

# Instance.StateTransitionReason of a stop through the API: "User initiated (2016-05-24 21:58:39 GMT)" (moto: "UTC")
_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")
POOL_MODES = ("tagged", "warm_pool")
LIVE_STATES = ("pending", "running", "stopping", "stopped")
_SCHED_BUSY = ("busy", "draining", "drained")
_SCHED_ABSENT = (None, "unknown", "down")
# The autogrow lock (see step()): a step takes seconds, so a holder's lease is 300 s; a step waits 30 s at most.
STEP_LOCK_LEASE, STEP_LOCK_WAIT = 300, 30
# SSM refusing the lock for lack of rights: the step acts unserialized (and says so) rather than not at all
LOCK_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException")


def _epoch(value, default):
    if value is None:
        return default
    if hasattr(value, "timestamp"):
        if getattr(value, "tzinfo", None) is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _idle_since(view, tags, now, launched):
    """When an idle node became idle: the scheduler's time, else the tag, else ``None`` (now, to record)."""
    since = _epoch(view.get("idle_since"), None) if isinstance(view, dict) else None
    if since is None:
        since = _epoch(tags.get(_tags.IDLE_TAG), None)
    return None if since is None else max(since, launched)


def stopped_since(instance):
    """When EC2 stopped a stopped instance (epoch seconds), ``None`` when unknown.

    From the instance's ``StateTransitionReason`` - "the reason for the most recent state transition. This might be
    an empty string" (Amazon EC2 API Reference, Instance) - which reads ``User initiated (YYYY-MM-DD HH:MM:SS GMT)``
    after a StopInstances call; moto writes ``UTC``. Any other text is an unknown age,
    and the pool keeps such an instance (:func:`_autogrow.pool_trim`).
    """
    match = _STOPPED_AT.search(instance.get("StateTransitionReason") or "")
    if match is None:
        return None
    stamp = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def observe(instances, sched, now, cold_boot_time, name_tag=_tags.NODE_NAME_TAG):
    """Policy nodes from EC2 instances (DescribeInstances entries) and the scheduler's node states.

    Returns ``(nodes, names, tag_idle, untag)``: the :class:`_autogrow.Node` list, instance id ->
    scheduler name (tag ``name_tag``, else the short private DNS name), the instances whose idle
    time starts now (to tag ``hpc:idle-since``) and those whose tag must go (busy again). A running
    instance the scheduler does not know yet counts as starting until ``cold_boot_time`` after its
    launch, then as idle. A stopped instance's ``since`` is when it was stopped (:func:`stopped_since`);
    a stopping one is not warm and has none.
    """
    nodes = []
    names = {}
    tag_idle = {}
    untag = []
    for instance in sorted(instances, key=lambda item: item["InstanceId"]):
        instance_id = instance["InstanceId"]
        tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags") or []}
        name = tags.get(name_tag) or (instance.get("PrivateDnsName") or instance_id).split(".")[0]
        names[instance_id] = name
        ec2_state = (instance.get("State") or {}).get("Name")
        launched = _epoch(instance.get("LaunchTime"), now)
        if ec2_state in ("stopped", "stopping"):
            warm = ec2_state == "stopped"
            nodes.append(_autogrow.Node(instance_id, _autogrow.STOPPED, since=stopped_since(instance) if warm else None,
                                        warm=warm))
            continue
        view = sched.get(name) if ec2_state != "pending" else None
        state = view.get("state") if isinstance(view, dict) else view
        if ec2_state != "pending" and state in _SCHED_BUSY:
            nodes.append(_autogrow.Node(instance_id, _autogrow.BUSY, billed_since=launched))
            if _tags.IDLE_TAG in tags:
                untag.append(instance_id)
        elif ec2_state != "pending" and (
                state == "idle" or (state in _SCHED_ABSENT and now - launched >= cold_boot_time)):
            since = _idle_since(view, tags, now, launched)
            if since is None:
                since = max(now, launched)
                tag_idle[instance_id] = "%d" % now
            nodes.append(_autogrow.Node(instance_id, _autogrow.IDLE, since=since, billed_since=launched))
        else:
            nodes.append(_autogrow.Node(instance_id, _autogrow.STARTING, billed_since=launched))
    return nodes, names, tag_idle, untag


def compute_instances(ec2, cluster):
    """The cluster's live compute instances (DescribeInstances entries), sorted by id."""
    filters = _tags.cluster_filters(cluster, _tags.COMPUTE_ROLE)
    filters.append({"Name": "instance-state-name", "Values": list(LIVE_STATES)})
    reservations = paginate("describe the compute instances of cluster %s" % cluster, ec2, "describe_instances",
                            "Reservations", Filters=filters)
    found = [instance for reservation in reservations for instance in reservation.get("Instances") or []]
    return sorted(found, key=lambda item: item["InstanceId"])


def record_idle(ec2, tag_idle, untag, stopping=()):
    """Tag the instances idle from now (``hpc:idle-since``), untag those busy again; batched."""
    skip = set(stopping)
    for value in sorted(set(tag_idle.values())):
        ids = sorted(key for key, since in tag_idle.items() if since == value and key not in skip)
        for batch in _autogrow.batches(ids, BATCH):
            aws_call("record the idle time of %s" % ", ".join(batch), ec2.create_tags, Resources=batch,
                     Tags=[{"Key": _tags.IDLE_TAG, "Value": value}])
    for batch in _autogrow.batches(untag, BATCH):
        aws_call("clear the idle time of %s" % ", ".join(batch), ec2.delete_tags, Resources=batch,
                 Tags=[{"Key": _tags.IDLE_TAG}])


def _act_warm_pool(asg, group, decision, started, stopped):
    grow = len(decision.start) + decision.launch
    if grow:
        aws_call("raise the desired capacity of %s" % group, asg.set_desired_capacity, AutoScalingGroupName=group,
                 DesiredCapacity=decision.in_service + grow, HonorCooldown=False)
        started.extend(decision.start)
    for instance_id in decision.stop:
        aws_call("scale in %s from %s" % (instance_id, group), asg.terminate_instance_in_auto_scaling_group,
                 InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)
        stopped.append(instance_id)
    return []


class PartialAct(Exception):
    """An AWS call of :func:`act` failed (throttled past botocore's retries, 5xx...) after others succeeded:
    ``started``/``stopped`` hold the instance ids acted on before it, ``error`` the :class:`AWSCallError`."""

    def __init__(self, error, started, stopped):
        super(PartialAct, self).__init__(str(error))
        self.error, self.started, self.stopped = error, list(started), list(stopped)


def act(ec2, asg, cluster, decision, pool_mode="tagged"):
    """Carry the decision out; returns the ids of the instances launched fresh. A failed call raises
    :class:`PartialAct` with what was done before it: the next step reads that from EC2 and does not redo it."""
    group = _tags.compute_group_name(cluster)
    clear = [{"Key": _tags.IDLE_TAG}]
    started, stopped = [], []
    try:
        if pool_mode == "warm_pool":
            return _act_warm_pool(asg, group, decision, started, stopped)
        for batch in _autogrow.batches(decision.start, BATCH):
            # the idle time first: a started node never runs with an old idle time the next step would stop it for
            aws_call("clear the idle time of %s" % ", ".join(batch), ec2.delete_tags, Resources=batch, Tags=clear)
            aws_call("start %s" % ", ".join(batch), ec2.start_instances, InstanceIds=batch)
            started.extend(batch)
        for batch in _autogrow.batches(decision.stop, BATCH):
            aws_call("stop %s" % ", ".join(batch), ec2.stop_instances, InstanceIds=batch)
            stopped.extend(batch)
            aws_call("clear the idle time of %s" % ", ".join(batch), ec2.delete_tags, Resources=batch, Tags=clear)
        if not decision.launch:
            return []
        return _launch(ec2, cluster, group, decision.launch)
    except AWSCallError as exc:
        raise PartialAct(exc, started, stopped) from exc


def _launch(ec2, cluster, group, count):
    tags = [{"Key": _tags.CLUSTER_TAG, "Value": cluster}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE}]
    result = aws_call("launch %d nodes from launch template %s" % (count, group), ec2.run_instances,
                      MinCount=count, MaxCount=count,
                      LaunchTemplate={"LaunchTemplateName": group, "Version": "$Default"},
                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return [item["InstanceId"] for item in (result or {}).get("Instances", [])]


class Step(object):
    """What one reconcile step saw, decided and did (``trim``: the pool's :class:`Trim`)."""

    def __init__(self, config, queue, nodes, names, *, decision, launched, trim=None):
        self.config = config
        self.queue = queue
        self.nodes = nodes
        self.names = names
        self.decision = decision
        self.launched = launched
        self.trim = trim if trim is not None else Trim(0.0, _autogrow.INF, [], None)
        self.skipped = None  # why the step acted on nothing (another step held the cluster's lock)
        self.failed = None  # why the step stopped part-way (an AWS call failed); the decision holds what was done

    @property
    def started_nodes(self):
        return sorted(self.names[key] for key in self.decision.start)

    @property
    def stopped_nodes(self):
        return sorted(self.names[key] for key in self.decision.stop)

    @property
    def terminated(self):
        return self.trim.terminated

    @property
    def changed(self):
        return self.decision.changed or bool(self.terminated)

    @property
    def recheck_at(self):
        """The earliest of the decision's recheck time and the next stopped instance's trim; ``None``: none."""
        times = [when for when in (self.decision.recheck_at, self.trim.recheck_at) if when is not None]
        return min(times) if times else None

    def result(self, diff=False):
        """The module's result (see hpc_autogrow's RETURN)."""
        decision = self.decision
        made = decision.as_dict()
        made["reasons"].extend(self.trim.reasons())
        policy = self.config.as_dict()
        policy["pool_ebs_ratio"] = self.trim.ebs_ratio
        policy["pool_keep_time"] = None if self.trim.keep_time == _autogrow.INF else self.trim.keep_time
        result = {
            "changed": self.changed,
            "decision": made,
            "started_nodes": self.started_nodes,
            "stopped_nodes": self.stopped_nodes,
            "launched": list(self.launched),
            "terminated": self.terminated,
            "recheck_at": self.recheck_at,
            "queue": self.queue.as_dict(),
            "policy": policy,
            "nodes": [{"instance_id": node.node_id, "name": self.names[node.node_id], "state": node.state}
                      for node in self.nodes],
        }
        if self.failed:
            result.update(failed=True, msg="The autogrow step stopped part-way: %s" % self.failed)
        if diff:
            after = decision.in_service + len(decision.start) + decision.launch - len(decision.stop)
            pool = sum(1 for node in self.nodes if node.state == _autogrow.STOPPED and node.warm)
            pool_after = pool - len(decision.start) + len(decision.stop) - len(self.terminated)
            result["diff"] = {"before": {"in_service": decision.in_service, "stopped": pool},
                              "after": {"in_service": after, "stopped": pool_after}}
        return result


def step_lock_name(cluster):
    """The SSM parameter that serializes the autogrow steps of ``cluster``."""
    return "/hpc/%s/locks/autogrow" % cluster


def _skipped(config, queue, why):
    """The step that could not take the lock: it changed nothing, and says why."""
    done = Step(config, queue, [], {}, launched=[], decision=_autogrow.Decision(
        [], 0, [], recheck_at=None, demand=queue.pending_nodes, in_service=0, reasons=["not acted: %s" % why]))
    done.skipped = why
    return done


def step(ec2, asg, cluster, config, *, jobs, running=None, scheduler_nodes=None, pool_mode="tagged",
         node_name_tag=_tags.NODE_NAME_TAG, apply=True, now=None, pool_ebs_ratio=POOL_EBS_RATIO, ssm=None,
         lock_wait=STEP_LOCK_WAIT):
    """One reconcile step: observe, decide, size the pool and (with ``apply``) act; returns a :class:`Step`.

    ``jobs``/``running``: pending and running jobs (``running=None``: no forecast);
    ``scheduler_nodes``: node name -> state (or a dict with ``state`` and ``idle_since``).
    ``asg`` is used with ``pool_mode=warm_pool`` and for stopped instances an Auto Scaling group launched
    (``None``: such instances are kept). ``pool_ebs_ratio``: see :func:`ebs_ratio` and :data:`POOL_EBS_RATIO`.
    A step with something to do holds the cluster's autogrow lock (:func:`step_lock_name`, through ``ssm``, by
    default a client made like ``ec2``) and observes and decides again under it before acting, so two steps never
    stop the same node twice nor start more than ``max_nodes``; a step that cannot take it in ``lock_wait`` seconds
    acts on nothing and says why (``Step.skipped``, the decision's reasons). A step with nothing to do only records
    idle times, without the lock.
    """
    ratio = ebs_ratio(pool_ebs_ratio)
    now = time.time() if now is None else now
    queue = _autogrow.summarize_queue(jobs, config.max_nodes, config.cores_per_node, now=now,
                                      running=running if config.forecast else None)
    look = dict(queue=queue, scheduler_nodes=scheduler_nodes, node_name_tag=node_name_tag, now=now, ratio=ratio)
    seen = _Look(ec2, asg, cluster, config, **look)
    if not (apply and (seen.decision.changed or seen.trim.due)):
        if apply:
            record_idle(ec2, seen.tag_idle, seen.untag, seen.decision.stop)
        return seen.step([])
    if _lock is None:
        seen.decision.reasons.append("unserialized: _lock.py is not installed next to _fleet.py")
        return seen.act(pool_mode)
    lock = _lock.Lock(ssm if ssm is not None else _lock.client_like(ec2, "ssm"), step_lock_name(cluster),
                      "autogrow-%s-%d-%d" % (socket.gethostname(), os.getpid(), int(time.time() * 1e6)),
                      STEP_LOCK_LEASE, pid=os.getpid())
    try:
        lock.acquire(lock_wait)
    except _lock.LockBusy as exc:
        return _skipped(config, queue, "another autogrow step holds the lock %s, %s"
                        % (lock.name, _lock.describe(exc.extra.get("holder"))))
    except AWSCallError as exc:  # no SSM rights (an older instance role), no SSM endpoint: act, unserialized
        if exc.code not in LOCK_DENIED:
            raise
        seen.decision.reasons.append("UNSERIALIZED: the autogrow lock %s cannot be used (%s): grant ssm:GetParameter, "
                                     "ssm:PutParameter and ssm:DeleteParameter on it" % (lock.name, exc))
        return seen.act(pool_mode)
    try:
        # what the other step did before we got the lock is in EC2 now: look again
        done = _Look(ec2, asg, cluster, config, **look).act(pool_mode)
    finally:
        try:
            lock.release()
        except AWSCallError as exc:  # the step's result matters more; the lease (300 s) frees the lock
            lock.warnings.append("the autogrow lock %s was not released (%s): it frees itself when its lease ends"
                                 % (lock.name, exc))
    done.decision.reasons.extend(lock.warnings)  # a stale holder taken over, a lock not released
    return done


class _Look(object):
    """What a step observed and decided (its instances, nodes, idle tags, decision and trim), to act on or not."""

    def __init__(self, ec2, asg, cluster, config, *, queue, scheduler_nodes, node_name_tag, now, ratio):
        self.ec2, self.asg, self.cluster, self.config, self.queue = ec2, asg, cluster, config, queue
        instances = compute_instances(ec2, cluster)
        self.nodes, self.names, self.tag_idle, self.untag = observe(instances, scheduler_nodes or {}, now,
                                                                    config.cold_boot_time, node_name_tag)
        self.decision = _autogrow.decide(now, queue, self.nodes, config)
        self.trim = plan_trim(now, self.nodes, self.decision, config, ratio)
        if self.trim.due:
            route_trim(self.trim, asg, cluster, instances)

    def step(self, launched):
        return Step(self.config, self.queue, self.nodes, self.names, decision=self.decision, launched=launched,
                    trim=self.trim)

    def act(self, pool_mode):
        record_idle(self.ec2, self.tag_idle, self.untag, self.decision.stop)
        try:
            launched = act(self.ec2, self.asg, self.cluster, self.decision, pool_mode)
        except PartialAct as exc:  # report what was done; the pool's trim waits for the next step
            decision = self.decision
            decision.start, decision.stop, decision.launch = exc.started, exc.stopped, 0
            self.trim = Trim(self.trim.ebs_ratio, self.trim.keep_time, [], self.trim.recheck_at)
            done = self.step([])
            done.failed = "%s (done before it: started %d, stopped %d; the next step goes on from there)" % (
                exc.error, len(exc.started), len(exc.stopped))
            decision.reasons.append("stopped part-way: %s" % done.failed)
            return done
        try:
            terminate(self.ec2, self.asg, self.trim)
        except AWSCallError as exc:  # the nodes were started/stopped/launched as reported: keep that result
            self.trim = Trim(self.trim.ebs_ratio, self.trim.keep_time, [], self.trim.recheck_at)
            done = self.step(launched)
            done.failed = "%s (the pool's trim stopped there; the nodes were started, stopped and launched as " \
                          "reported, and the next step trims again)" % exc
            self.decision.reasons.append("stopped part-way: %s" % done.failed)
            return done
        return self.step(launched)
