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
``_aws.AWSCallError`` (the module fails with it, the service logs it). The service installs this
file next to ``_autogrow.py``, ``_aws.py`` and ``_tags.py``, hence the side-by-side imports.
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
except ImportError:  # side by side in the autogrow service, outside Ansible: the files it loaded by name
    import importlib

    _autogrow = importlib.import_module("_autogrow")
    _tags = importlib.import_module("_tags")
    _aws = importlib.import_module("_aws")
    AWSCallError, aws_call, paginate = _aws.AWSCallError, _aws.aws_call, _aws.paginate
    try:
        _lock = importlib.import_module("_lock")
    except ImportError:  # a service installed before _lock.py was: steps run unserialized, and say so
        _lock = None

__all__ = ("BATCH", "POOL_EBS_RATIO", "POOL_MODES", "STEP_LOCK_LEASE", "STEP_LOCK_WAIT", "AWSCallError", "Step", "Trim",
           "act", "compute_instances", "ebs_ratio", "observe", "plan_trim", "step", "step_lock_name", "stopped_since",
           "terminate")

BATCH = 1000  # EC2 takes at most 1,000 instance ids per call
ASG_BATCH = 50  # DescribeAutoScalingInstances takes at most 50 instance ids per call
# The option pool_ebs_ratio's default: what a stopped instance's EBS volume costs per hour over the instance's price
# per hour - 40 GiB x $0.08/GB-month (gp3, us-east-1) / 730 h / $0.085 (c5.large On-Demand, us-east-1), as the
# simulator's defaults (benchmarks/autogrow_sim.py). 0 keeps stopped instances forever (no trim).
POOL_EBS_RATIO = 0.0516
# EC2 Auto Scaling tags the instances it launches or attaches with their group's name (a key AWS reserves).
ASG_NAME_TAG = "aws:autoscaling:groupName"
# Instance.StateTransitionReason of a stop through the API: "User initiated (2016-05-24 21:58:39 GMT)" (moto: "UTC")
_STOPPED_AT = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")
POOL_MODES = ("tagged", "warm_pool")
LIVE_STATES = ("pending", "running", "stopping", "stopped")
_SCHED_BUSY = ("busy", "draining", "drained")
_SCHED_ABSENT = (None, "unknown", "down")
# The autogrow lock (see step()): a step takes seconds, so a holder's lease is 300 s; a step waits 30 s at most.
STEP_LOCK_LEASE, STEP_LOCK_WAIT = 300, 30


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


def _act_warm_pool(asg, group, decision):
    grow = len(decision.start) + decision.launch
    if grow:
        aws_call("raise the desired capacity of %s" % group, asg.set_desired_capacity, AutoScalingGroupName=group,
                 DesiredCapacity=decision.in_service + grow, HonorCooldown=False)
    for instance_id in decision.stop:
        aws_call("scale in %s from %s" % (instance_id, group), asg.terminate_instance_in_auto_scaling_group,
                 InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)
    return []


def act(ec2, asg, cluster, decision, pool_mode="tagged"):
    """Carry the decision out; returns the ids of the instances launched fresh."""
    group = _tags.compute_group_name(cluster)
    if pool_mode == "warm_pool":
        return _act_warm_pool(asg, group, decision)
    clear = [{"Key": _tags.IDLE_TAG}]
    for batch in _autogrow.batches(decision.start, BATCH):
        aws_call("start %s" % ", ".join(batch), ec2.start_instances, InstanceIds=batch)
        aws_call("clear the idle time of %s" % ", ".join(batch), ec2.delete_tags, Resources=batch, Tags=clear)
    for batch in _autogrow.batches(decision.stop, BATCH):
        aws_call("stop %s" % ", ".join(batch), ec2.stop_instances, InstanceIds=batch)
        aws_call("clear the idle time of %s" % ", ".join(batch), ec2.delete_tags, Resources=batch, Tags=clear)
    if not decision.launch:
        return []
    tags = [{"Key": _tags.CLUSTER_TAG, "Value": cluster}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE}]
    result = aws_call("launch %d nodes from launch template %s" % (decision.launch, group), ec2.run_instances,
                      MinCount=decision.launch, MaxCount=decision.launch,
                      LaunchTemplate={"LaunchTemplateName": group, "Version": "$Default"},
                      TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
    return [item["InstanceId"] for item in (result or {}).get("Instances", [])]


def ebs_ratio(value):
    """The option ``pool_ebs_ratio`` as a float; :class:`_autogrow.PolicyError` naming it unless a number >= 0."""
    if isinstance(value, bool):
        raise _autogrow.PolicyError("pool_ebs_ratio must be a number, got %r" % (value,))
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        raise _autogrow.PolicyError("pool_ebs_ratio must be a number, got %r" % (value,)) from None
    if not 0 <= ratio < _autogrow.INF:  # NaN fails too
        raise _autogrow.PolicyError("pool_ebs_ratio must be a finite number, 0 or more (0: keep stopped instances), "
                                    "got %r" % (value,))
    return ratio


class Trim(object):
    """The warm pool's trim of one step: which stopped instances go, how, and which due ones stay and why.

    ``due``: instance ids stopped ``keep_time`` or longer ago (oldest first); ``in_group``: those terminated through
    the cluster's compute Auto Scaling group, ``outside``: with EC2 TerminateInstances; ``kept``: id -> why a due
    instance stays; ``recheck_at``: when the next stopped instance falls due (``None``: never).
    """

    def __init__(self, ratio, keep_time, due, recheck_at):
        self.ebs_ratio = ratio
        self.keep_time = keep_time
        self.due = list(due)
        self.recheck_at = recheck_at
        self.in_group = []
        self.outside = list(due)
        self.kept = {}

    @property
    def terminated(self):
        return sorted(self.in_group + self.outside)

    def reasons(self):
        found = []
        if self.terminated:
            found.append("pool: terminate %d stopped for %.0f s or longer (pool_ebs_ratio %g)"
                         % (len(self.terminated), self.keep_time, self.ebs_ratio))
        found.extend("pool: keep %s, %s" % (key, why) for key, why in sorted(self.kept.items()))
        return found


def plan_trim(now, nodes, decision, config, ratio):
    """The stopped instances to terminate (:func:`_autogrow.pool_trim` over ``pool_keep_time``), as a :class:`Trim`.

    Only stopped (warm) nodes whose stop time is known, never one ``decision`` starts; all go through EC2
    until :func:`route_trim` has looked at their groups. Nothing when a warm start saves nothing over a fresh
    launch (``cold_boot_time <= warm_boot_time``): a keep time of 0 would empty the pool on a setting's slip.
    """
    keep_time = _autogrow.pool_keep_time(config.cold_boot_time, config.warm_boot_time, ratio)
    if keep_time <= 0:  # cold_boot_time <= warm_boot_time: no saving to weigh, so settings, not data: keep the pool
        return Trim(ratio, _autogrow.INF, [], None)
    starting = set(decision.start)
    pool = [node for node in nodes if node.state == _autogrow.STOPPED and node.warm and node.node_id not in starting]
    due, recheck_at = _autogrow.pool_trim(now, pool, keep_time)
    return Trim(ratio, keep_time, due, recheck_at)


def split_trim(trim, group, tagged, members):
    """Sort ``trim.due`` by group membership (pure): ``tagged`` ids carry the group-name tag; ``members``: id ->
    (group, lifecycle state) of those in a group (``None``: not known, no Auto Scaling client)."""
    trim.in_group, trim.outside, trim.kept = [], [], {}
    for key in trim.due:
        member = None if key not in tagged or members is None else members.get(key)
        if key not in tagged or (members is not None and member is None):
            trim.outside.append(key)  # never in a group, or detached (the tag outlives the membership)
        elif member is None:
            trim.kept[key] = "launched by an Auto Scaling group (no Auto Scaling client to check it)"
        elif member[0] != group:
            trim.kept[key] = "in the Auto Scaling group %s, not %s" % (member[0], group)
        elif str(member[1]).startswith("Warmed:"):
            trim.kept[key] = "in the warm pool of %s, which keeps its own size (hpc_pool warm_pool_size)" % group
        elif member[1] == "InService":
            trim.in_group.append(key)
        else:
            trim.kept[key] = "in %s in lifecycle state %s" % (group, member[1])
    return trim


def route_trim(trim, asg, cluster, instances):
    """Look up the Auto Scaling groups of the due instances that carry the group-name tag (50 ids a call)."""
    tagged = {item["InstanceId"] for item in instances
              if any(tag["Key"] == ASG_NAME_TAG for tag in item.get("Tags") or [])}
    asked = [key for key in trim.due if key in tagged]
    members = None
    if asked and asg is not None:
        members = {}
        for batch in _autogrow.batches(asked, ASG_BATCH):
            found = paginate("describe the Auto Scaling groups of %s" % ", ".join(batch), asg,
                             "describe_auto_scaling_instances", "AutoScalingInstances", InstanceIds=batch)
            members.update({item["InstanceId"]: (item.get("AutoScalingGroupName"), item.get("LifecycleState"))
                            for item in found})
    return split_trim(trim, _tags.compute_group_name(cluster), tagged, members)


def terminate(ec2, asg, trim):
    """Terminate what the trim chose; a group that refuses (its minimum size) keeps the instance, with the cause.

    Why two calls (Amazon EC2 Auto Scaling API Reference, TerminateInstanceInAutoScalingGroup): an instance of a group
    terminated without decrementing the desired capacity is replaced by a fresh launch, so a group member goes
    through the group with ``ShouldDecrementDesiredCapacity=True`` (one id a call) and the desired capacity stays
    what autogrow set. That call "cannot be called on instances in a warm pool", and EC2 Auto Scaling "launches and
    maintains" the warm pool's size (PutWarmPool, MaxGroupPreparedCapacity): warm-pool instances are kept
    (:func:`split_trim`). Instances outside a group (``pool_mode=tagged`` launches them with RunInstances) go through
    EC2 TerminateInstances, 1,000 ids a call.
    """
    for instance_id in list(trim.in_group):
        try:
            aws_call("terminate %s in its Auto Scaling group" % instance_id,
                     asg.terminate_instance_in_auto_scaling_group, InstanceId=instance_id,
                     ShouldDecrementDesiredCapacity=True)
        except AWSCallError as exc:
            if exc.code != "ValidationError":
                raise
            trim.in_group.remove(instance_id)
            trim.kept[instance_id] = str(exc)
    for batch in _autogrow.batches(list(trim.outside), BATCH):
        try:
            aws_call("terminate %s" % ", ".join(batch), ec2.terminate_instances, InstanceIds=batch)
        except AWSCallError as exc:
            if exc.code not in REFUSED:
                raise
            _terminate_one_by_one(ec2, trim, batch)


# EC2 refuses a whole TerminateInstances call for one instance it may not terminate (termination protection:
# OperationNotPermitted; an IAM condition on the instance: UnauthorizedOperation).
REFUSED = ("OperationNotPermitted", "UnauthorizedOperation")


def _terminate_one_by_one(ec2, trim, batch):
    """After a refused batch: each instance on its own, so the others still go and a refused one is kept, with
    EC2's message, instead of failing every later step on it."""
    for instance_id in batch:
        try:
            aws_call("terminate %s" % instance_id, ec2.terminate_instances, InstanceIds=[instance_id])
        except AWSCallError as exc:
            if exc.code not in REFUSED:
                raise
            trim.outside.remove(instance_id)
            trim.kept[instance_id] = str(exc)


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
    try:
        # what the other step did before we got the lock is in EC2 now: look again
        done = _Look(ec2, asg, cluster, config, **look).act(pool_mode)
    finally:
        lock.release()
    done.decision.reasons.extend(lock.warnings)  # a stale holder taken over
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
        launched = act(self.ec2, self.asg, self.cluster, self.decision, pool_mode)
        terminate(self.ec2, self.asg, self.trim)
        return self.step(launched)
