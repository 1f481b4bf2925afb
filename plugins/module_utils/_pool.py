# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Rolling replacement planner of the pool manager (private: not a public API).

Pure Python, no I/O. The module ``hpc_pool`` gathers the compute nodes (EC2 + Auto Scaling), the
launch template's current AMI and the scheduler's node states, calls :func:`plan` and carries the
plan out; ``playbooks/pool.yml`` drains the nodes in the scheduler between steps.

A node whose AMI is not the launch template's current one is *outdated*. Each outdated node that
serves (in service, running) goes through, with its progress in its own tags so that a run killed
halfway resumes where it stopped:

    (no tag) --drain--> hpc:pool-state=draining --idle or timed out--> replacing --> terminated

* ``drain``: the next batch - at most ``batch_size`` nodes draining or replacing at once, and never
  so many that the serving nodes fall below ``min_healthy_percent`` of the desired capacity. Idle
  nodes are taken first, then by id (deterministic).
* ``terminate``: draining nodes the scheduler reports idle or drained (or unknown to it), or whose
  drain began more than ``drain_timeout`` seconds ago; nodes already tagged ``replacing`` that
  still exist (the run was killed between the tag and the call) are terminated again. A busy node
  is never terminated before its drain timeout.
* outdated nodes that do not serve (stopped in the warm pool) are terminated at once: the Auto
  Scaling group refills the warm pool from the current launch template.
* the Auto Scaling group replaces what it loses; the planner itself never launches, so a rerun can
  not duplicate instances.
"""

from __future__ import annotations

import math

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import POOL_RUN_TAG, POOL_SINCE_TAG, POOL_STATE_TAG

DRAINING = "draining"
REPLACING = "replacing"

# scheduler states as adapters report them
SCHED_BUSY = "busy"
SCHED_IDLE = "idle"
SCHED_DRAINED = "drained"
SCHED_UNKNOWN = "unknown"
SCHED_DOWN = "down"


class PoolError(ValueError):
    """A planner input is wrong; the message names it."""


class PoolNode(object):
    """One instance of the pool.

    ``serving``: running and in service (not a stopped warm-pool instance, not pending);
    ``sched``: the scheduler's view (busy, idle, drained, down, unknown).
    """

    __slots__ = ("image_id", "instance_id", "name", "sched", "serving", "tags")

    def __init__(self, instance_id, image_id, serving, *, tags=None, sched=SCHED_UNKNOWN, name=None):
        self.instance_id = instance_id
        self.image_id = image_id
        self.serving = serving
        self.tags = dict(tags or {})
        self.sched = sched
        self.name = name or instance_id

    @property
    def pool_state(self):
        return self.tags.get(POOL_STATE_TAG)


class Plan(object):
    def __init__(self):
        self.drain = []
        self.terminate = []
        self.terminate_stopped = []
        self.waiting = []
        self.outdated = []
        self.current = []
        self.serving = 0
        self.required = 0
        self.in_flight = 0
        self.done = False
        self.notes = []

    @property
    def changed(self):
        return bool(self.drain or self.terminate or self.terminate_stopped)

    def as_dict(self):
        return {
            "drain": list(self.drain),
            "terminate": list(self.terminate),
            "terminate_stopped": list(self.terminate_stopped),
            "waiting": list(self.waiting),
            "outdated": list(self.outdated),
            "current": list(self.current),
            "serving": self.serving,
            "required_serving": self.required,
            "in_flight": self.in_flight,
            "done": self.done,
            "notes": list(self.notes),
        }


def required_serving(desired, min_healthy_percent):
    """Serving nodes that must remain: ceil(desired x min_healthy_percent / 100)."""
    if not 0 <= min_healthy_percent <= 100:
        raise PoolError("min_healthy_percent must be within 0-100, got %r" % min_healthy_percent)
    return math.ceil(desired * min_healthy_percent / 100.0)


def batch_size_error(batch_size, max_size, group_name):
    """Why ``batch_size`` does not fit the group (more nodes at once than it can ever hold); empty when it fits."""
    if max_size is None or batch_size <= max(int(max_size), 1):
        return ""
    most = max(max_size, 1)
    return ("batch_size %d is larger than the max size %d of Auto Scaling group %s: at most %d nodes can drain or be "
            "replaced at once; give a batch size of 1 to %d" % (batch_size, max_size, group_name, most, most))


def _drain_since(node):
    try:
        return float(node.tags.get(POOL_SINCE_TAG, ""))
    except ValueError:
        return None


def plan(  # noqa: PLR0912 - one pass over the nodes
    nodes, target_image, desired, now, *, min_healthy_percent=90, batch_size=1, drain_timeout=3600):
    """Plan the next step of a rolling replacement; see the module docstring."""
    if not target_image:
        raise PoolError("the launch template has no current AMI (target_image is empty)")
    if batch_size < 1:
        raise PoolError("batch_size must be at least 1, got %r" % batch_size)
    result = Plan()
    result.required = required_serving(desired, min_healthy_percent)
    candidates = []
    for node in sorted(nodes, key=lambda item: item.instance_id):
        state = node.pool_state
        if state in (DRAINING, REPLACING):
            result.in_flight += 1
            result.outdated.append(node.instance_id)
            if state == REPLACING:
                result.terminate.append(node.instance_id)
                continue
            since = _drain_since(node)
            timed_out = since is not None and now - since >= drain_timeout
            if node.sched in (SCHED_IDLE, SCHED_DRAINED, SCHED_DOWN, SCHED_UNKNOWN) or not node.serving or timed_out:
                result.terminate.append(node.instance_id)
                if timed_out and node.sched == SCHED_BUSY:
                    result.notes.append("%s: drain timeout (%ss) reached while busy" % (node.name, drain_timeout))
            else:
                result.waiting.append(node.instance_id)
            continue
        if node.image_id == target_image:
            result.current.append(node.instance_id)
            if node.serving:
                result.serving += 1
            continue
        result.outdated.append(node.instance_id)
        if not node.serving:
            result.terminate_stopped.append(node.instance_id)
            continue
        result.serving += 1
        candidates.append(node)
    # next batch: idle first, then by id; bounded by batch size and min healthy
    room = min(batch_size - result.in_flight, result.serving - result.required)
    if candidates and room <= 0:
        if result.serving - result.required <= 0:
            result.notes.append("waiting: %d serving, %d must stay (min_healthy_percent %s of %d)"
                                % (result.serving, result.required, min_healthy_percent, desired))
        else:
            result.notes.append("waiting: batch of %d still in flight" % result.in_flight)
    if room > 0:
        candidates.sort(key=lambda item: (0 if item.sched in (SCHED_IDLE, SCHED_DRAINED) else 1, item.instance_id))
        result.drain = [node.instance_id for node in candidates[:room]]
    result.done = not result.outdated
    return result


def drain_tags(run_id, now):
    """Tags that mark a node as draining in run ``run_id``."""
    return {POOL_STATE_TAG: DRAINING, POOL_RUN_TAG: run_id, POOL_SINCE_TAG: "%d" % now}


def replacing_tags(run_id):
    return {POOL_STATE_TAG: REPLACING, POOL_RUN_TAG: run_id}
