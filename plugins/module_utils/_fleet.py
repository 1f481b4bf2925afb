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
  ``hpc:idle-since`` tag, so successive steps (and runs) share it;
* decide: :func:`_autogrow.decide`;
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
import time

try:
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _tags
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError, aws_call, paginate
except ImportError:  # side by side in the autogrow service, outside Ansible: the files it loaded by name
    import importlib

    _autogrow = importlib.import_module("_autogrow")
    _tags = importlib.import_module("_tags")
    _aws = importlib.import_module("_aws")
    AWSCallError, aws_call, paginate = _aws.AWSCallError, _aws.aws_call, _aws.paginate

__all__ = ("BATCH", "POOL_MODES", "AWSCallError", "Step", "act", "compute_instances", "observe", "step")

BATCH = 1000  # EC2 takes at most 1,000 instance ids per call
POOL_MODES = ("tagged", "warm_pool")
LIVE_STATES = ("pending", "running", "stopping", "stopped")
_SCHED_BUSY = ("busy", "draining", "drained")
_SCHED_ABSENT = (None, "unknown", "down")


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


def observe(instances, sched, now, cold_boot_time, name_tag=_tags.NODE_NAME_TAG):
    """Policy nodes from EC2 instances (DescribeInstances entries) and the scheduler's node states.

    Returns ``(nodes, names, tag_idle, untag)``: the :class:`_autogrow.Node` list, instance id ->
    scheduler name (tag ``name_tag``, else the short private DNS name), the instances whose idle
    time starts now (to tag ``hpc:idle-since``) and those whose tag must go (busy again). A running
    instance the scheduler does not know yet counts as starting until ``cold_boot_time`` after its
    launch, then as idle.
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
            nodes.append(_autogrow.Node(instance_id, _autogrow.STOPPED, warm=ec2_state == "stopped"))
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


class Step(object):
    """What one reconcile step saw, decided and did."""

    def __init__(self, config, queue, nodes, names, *, decision, launched):
        self.config = config
        self.queue = queue
        self.nodes = nodes
        self.names = names
        self.decision = decision
        self.launched = launched

    @property
    def started_nodes(self):
        return sorted(self.names[key] for key in self.decision.start)

    @property
    def stopped_nodes(self):
        return sorted(self.names[key] for key in self.decision.stop)

    def result(self, diff=False):
        """The module's result (see hpc_autogrow's RETURN)."""
        decision = self.decision
        result = {
            "changed": decision.changed,
            "decision": decision.as_dict(),
            "started_nodes": self.started_nodes,
            "stopped_nodes": self.stopped_nodes,
            "launched": list(self.launched),
            "queue": self.queue.as_dict(),
            "policy": self.config.as_dict(),
            "nodes": [{"instance_id": node.node_id, "name": self.names[node.node_id], "state": node.state}
                      for node in self.nodes],
        }
        if diff:
            after = decision.in_service + len(decision.start) + decision.launch - len(decision.stop)
            result["diff"] = {"before": {"in_service": decision.in_service}, "after": {"in_service": after}}
        return result


def step(ec2, asg, cluster, config, *, jobs, running=None, scheduler_nodes=None, pool_mode="tagged",
         node_name_tag=_tags.NODE_NAME_TAG, apply=True, now=None):
    """One reconcile step: observe, decide and (with ``apply``) act; returns a :class:`Step`.

    ``jobs``/``running``: pending and running jobs (``running=None``: no forecast);
    ``scheduler_nodes``: node name -> state (or a dict with ``state`` and ``idle_since``).
    ``asg`` is only used with ``pool_mode=warm_pool``.
    """
    now = time.time() if now is None else now
    queue = _autogrow.summarize_queue(jobs, config.max_nodes, config.cores_per_node, now=now,
                                      running=running if config.forecast else None)
    nodes, names, tag_idle, untag = observe(compute_instances(ec2, cluster), scheduler_nodes or {}, now,
                                            config.cold_boot_time, node_name_tag)
    decision = _autogrow.decide(now, queue, nodes, config)
    launched = []
    if apply:
        record_idle(ec2, tag_idle, untag, decision.stop)
        launched = act(ec2, asg, cluster, decision, pool_mode)
    return Step(config, queue, nodes, names, decision=decision, launched=launched)
