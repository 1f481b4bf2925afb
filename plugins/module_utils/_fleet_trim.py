# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The warm pool's trim of the autogrow actuator (private: not a public API; ``_fleet.py`` re-exports it).

Which stopped instances of the pool go (:func:`plan_trim`: kept :func:`_autogrow.pool_keep_time` or longer, their
EBS cost against the waits a warm start saves, ``pool_ebs_ratio``), how (:func:`route_trim`/:func:`split_trim`:
through the compute group, with the desired capacity decremented, or with EC2 TerminateInstances), and the
terminations themselves (:func:`terminate`: one by one when EC2 refuses a batch, the refused ones kept with EC2's
reason). Every AWS call goes through ``_aws.aws_call``/``_aws.paginate``. The autogrow service installs this file
next to ``_fleet.py``, hence the side-by-side imports.
"""

from __future__ import annotations

try:
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _tags
    from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import AWSCallError, aws_call, paginate
except ImportError:  # side by side in the autogrow service, outside Ansible: the files it loaded by name
    import importlib

    _autogrow = importlib.import_module("_autogrow")
    _tags = importlib.import_module("_tags")
    _aws = importlib.import_module("_aws")
    AWSCallError, aws_call, paginate = _aws.AWSCallError, _aws.aws_call, _aws.paginate

__all__ = ("ASG_BATCH", "BATCH", "POOL_EBS_RATIO", "Trim", "ebs_ratio", "plan_trim", "route_trim", "split_trim",
           "terminate")

BATCH = 1000  # EC2 takes at most 1,000 instance ids per call
ASG_BATCH = 50  # DescribeAutoScalingInstances takes at most 50 instance ids per call
# The option pool_ebs_ratio's default: what a stopped instance's EBS volume costs per hour over the instance's price
# per hour - 40 GiB x $0.08/GB-month (gp3, us-east-1) / 730 h / $0.085 (c5.large On-Demand, us-east-1), as the
# simulator's defaults (benchmarks/autogrow_sim.py). 0 keeps stopped instances forever (no trim).
POOL_EBS_RATIO = 0.0516
# EC2 Auto Scaling tags the instances it launches or attaches with their group's name (a key AWS reserves).
ASG_NAME_TAG = "aws:autoscaling:groupName"


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
