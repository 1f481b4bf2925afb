# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The autogrow policy: how many compute nodes to start or stop (private: not a public API).

Pure Python, no I/O, deterministic. The actuator ``_fleet.py`` (called by the module ``hpc_autogrow`` and the
service) and the simulator (benchmarks/autogrow_sim.py) call :func:`decide`.

Inputs: the queue (:func:`summarize_queue` of the pending jobs); the nodes (:class:`Node`: ``busy``
(running work, or draining), ``idle`` (since ``since``), ``starting``, ``stopped`` (a warm-pool
instance)); a :class:`Config` (names and defaults: :data:`DEFAULTS`, the module's options and roles' variables).
The warm pool's size: :func:`pool_keep_time` and :func:`pool_trim` (stopped instances to terminate).

Rules (in this order)
  0. The demand: with the queue's :class:`Forecast` (the scheduler's plan over ``max_nodes``
     from running jobs' expected ends and pending jobs' time limits), the nodes of the jobs that
     can start now, plus - from one boot and one poll before it (``lead_time``) - the nodes the first
     blocked job's reservation still lacks. Nodes held idle for a wide job that cannot start for
     a long while are stopped and come back just in time. Without a forecast (HPC Pack's
     grow-decision, ``forecast=False``), every pending node is demand now.
  1. Scale out by the queue's unmet demand at once: demand minus idle and starting nodes,
     capped by ``max_nodes`` in service, raised to ``min_nodes``. Stopped warm-pool nodes are
     started first (about a minute), the rest is launched fresh (cold boot).
  2. Scale in only idle nodes the queue does not need: never a busy or draining node, never below
     ``min_nodes``. An idle node stops once idle for the idle window, by default the cost of getting it
     back: one warm boot, at least the billing minimum (ski-rental break-even). A node that has run less
     than the billing minimum since its start is not stopped (that time is paid anyway). With
     ``end_of_hour`` (the seed's rule, for hourly billing) a node stops only in a billed hour's last ``hour_window``.
  3. ``recheck_at``: when the next stop falls due or a reservation's nodes must start.
Cost: O(n log n) in the nodes to decide; O(jobs + running log running) for the forecast.
"""

from __future__ import annotations

BUSY = "busy"
IDLE = "idle"
STARTING = "starting"
STOPPED = "stopped"
STATES = (BUSY, IDLE, STARTING, STOPPED)

HOUR = 3600.0
INF = float("inf")


class PolicyError(ValueError):
    """A configuration value is wrong; the message names it."""


class Node(object):
    """One compute node as the policy sees it.

    ``since``: when it became idle (idle nodes) or was stopped (stopped nodes, when known: the pool's
    age, see :func:`pool_trim`). ``billed_since``: when its current billing period
    began (the start or launch), for the billing minimum and the end-of-hour rule.
    ``warm``: a stopped node that can be started from the warm pool.
    """

    __slots__ = ("billed_since", "node_id", "since", "state", "warm")

    def __init__(self, node_id, state, since=None, billed_since=None, warm=True):
        if state not in STATES:
            raise PolicyError("node %s: state must be one of %s, got %r" % (node_id, ", ".join(STATES), state))
        self.node_id = node_id
        self.state = state
        self.since = since
        self.billed_since = billed_since
        self.warm = warm

    def __repr__(self):
        return "Node(%r, %r)" % (self.node_id, self.state)


class QueueSummary(object):
    """What the policy needs from the queue: pending nodes (satisfiable jobs), job counts.

    ``forecast``: a :class:`Forecast` when the scheduler's plan is known (see :func:`forecast`),
    else ``None`` and every pending node counts as wanted now.
    """

    __slots__ = ("forecast", "largest_job_nodes", "pending_jobs", "pending_nodes", "unsatisfiable_jobs")

    def __init__(self, pending_nodes=0, pending_jobs=0, unsatisfiable_jobs=0, largest_job_nodes=0, forecast=None):
        self.pending_nodes = pending_nodes
        self.pending_jobs = pending_jobs
        self.unsatisfiable_jobs = unsatisfiable_jobs
        self.largest_job_nodes = largest_job_nodes
        self.forecast = forecast

    def as_dict(self):
        data = {key: getattr(self, key) for key in self.__slots__ if key != "forecast"}
        data["forecast"] = self.forecast.as_dict() if self.forecast is not None else None
        return data


class Forecast(object):
    """The scheduler's plan for the queue, as far as the policy needs it (see :func:`forecast`).

    ``now_nodes``: nodes of the pending jobs that start as soon as nodes are there (in queue order
    and by backfill). ``reserve_at``/``reserve_nodes``: the first job that must wait for running
    work to end, when it starts and how many nodes it takes (``None``/0 when there is none, or
    ``reserve_at`` is ``inf`` when no running job has an expected end). ``freeing_nodes``: nodes of
    running (and now-starting) jobs that end by ``reserve_at``; they serve the reservation.
    """

    __slots__ = ("freeing_nodes", "now_nodes", "reserve_at", "reserve_nodes")

    def __init__(self, now_nodes=0, reserve_at=None, reserve_nodes=0, freeing_nodes=0):
        self.now_nodes = now_nodes
        self.reserve_at = reserve_at
        self.reserve_nodes = reserve_nodes
        self.freeing_nodes = freeing_nodes

    def as_dict(self):
        """Plain JSON: an unknown reservation time (``inf``) is ``None``, told apart by ``reserve_nodes``."""
        data = {key: getattr(self, key) for key in self.__slots__}
        if data["reserve_at"] == INF:
            data["reserve_at"] = None
        return data


# One name for each setting: the Config field, the hpc_autogrow option, the service's settings key and
# the role variables' suffix (autogrow_service_<name>, fleet_autogrow_<name>). Durations in seconds.
DEFAULTS = {
    "min_nodes": 0,
    "max_nodes": 16,
    "cores_per_node": 1,
    "warm_boot_time": 60,
    "cold_boot_time": 600,
    "idle_timeout": None,
    "billing_minimum": 60,
    "end_of_hour": False,
    "hour_window": 300,
    "interval": 0,
    "forecast": True,
    "use_warm_pool": True,
}
DURATIONS = ("warm_boot_time", "cold_boot_time", "idle_timeout", "billing_minimum", "hour_window", "interval")


def _seconds(name, value):
    """A duration in seconds (an int when whole); the error names the setting."""
    if isinstance(value, bool):
        raise PolicyError("%s must be a number of seconds, got %r" % (name, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PolicyError("%s must be a number of seconds, got %r" % (name, value)) from None
    if number < 0:
        raise PolicyError("%s must be 0 or more, got %r" % (name, value))
    return int(number) if number.is_integer() else number


def _count(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PolicyError("%s must be a whole number, got %r" % (name, value)) from None


class Config(object):
    """The policy's settings (see the module docstring and :data:`DEFAULTS`); errors name the setting."""

    def __init__(self, **settings):
        unknown = sorted(set(settings) - set(DEFAULTS))
        if unknown:
            raise PolicyError("unknown setting %s; the settings are %s" % (", ".join(unknown), ", ".join(DEFAULTS)))
        values = dict(DEFAULTS, **settings)
        self.min_nodes = _count("min_nodes", values["min_nodes"])
        self.max_nodes = _count("max_nodes", values["max_nodes"])
        self.cores_per_node = _count("cores_per_node", values["cores_per_node"])
        for name in DURATIONS:
            value = values[name]
            setattr(self, name, None if value is None and name == "idle_timeout" else _seconds(name, value))
        self.end_of_hour = bool(values["end_of_hour"])
        self.forecast = bool(values["forecast"])
        self.use_warm_pool = bool(values["use_warm_pool"])
        self.validate()

    def validate(self):
        if self.min_nodes < 0:
            raise PolicyError("min_nodes must be 0 or more, got %d" % self.min_nodes)
        if self.max_nodes < 1 or self.max_nodes < self.min_nodes:
            raise PolicyError("max_nodes must be at least 1 and at least min_nodes (%d), got %d"
                              % (self.min_nodes, self.max_nodes))
        if self.cores_per_node < 1:
            raise PolicyError("cores_per_node must be at least 1, got %d" % self.cores_per_node)
        if self.end_of_hour and not 0 < self.hour_window <= HOUR:
            raise PolicyError("hour_window must be within (0, 3600] with end_of_hour, got %r" % self.hour_window)

    @property
    def idle_window(self):
        """The idle time after which a node is stopped (derived from the restart cost by default)."""
        if self.idle_timeout is not None:
            return self.idle_timeout
        return max(self.restart_time, self.billing_minimum)

    @property
    def restart_time(self):
        """How long bringing a node back takes: a warm-pool start, else a fresh launch."""
        return self.warm_boot_time if self.use_warm_pool else self.cold_boot_time

    @property
    def lead_time(self):
        """How long before a reserved start the nodes for it are started: a boot and one poll."""
        return self.restart_time + self.interval

    def as_dict(self):
        data = dict(vars(self))
        data["idle_window"] = self.idle_window
        return data


class Decision(object):
    __slots__ = ("demand", "in_service", "launch", "reasons", "recheck_at", "start", "stop")

    def __init__(self, start, launch, stop, *, recheck_at, demand, in_service, reasons):
        self.start = start
        self.launch = launch
        self.stop = stop
        self.recheck_at = recheck_at
        self.demand = demand
        self.in_service = in_service
        self.reasons = reasons

    @property
    def changed(self):
        return bool(self.start or self.launch or self.stop)

    def as_dict(self):
        return {
            "start": list(self.start),
            "launch": self.launch,
            "stop": list(self.stop),
            "recheck_at": self.recheck_at,
            "demand": self.demand,
            "in_service": self.in_service,
            "reasons": list(self.reasons),
        }


def job_nodes(job, cores_per_node=1):
    """Nodes one pending job needs: ``nodes`` when given, else ``cores`` over ``cores_per_node``."""
    nodes = job.get("nodes") or 0
    cores = job.get("cores") or 0
    by_cores = -(-int(cores) // cores_per_node) if cores else 0
    return max(int(nodes), by_cores, 1)


def summarize_queue(jobs, max_nodes, cores_per_node=1, now=None, running=None):
    """Summarise pending jobs (dicts with ``nodes`` and/or ``cores``, in queue order); O(jobs).

    A job that needs more than ``max_nodes`` can never run and is counted as unsatisfiable
    instead of growing the fleet for it. With ``running`` (dicts with ``nodes``/``cores`` and an
    expected ``end``, ``None`` when unknown) and ``now``, the summary carries the queue's
    :func:`forecast` over ``max_nodes``, pending jobs' ``time_limit_s`` as their runtime estimates.
    """
    pending_nodes = 0
    pending_jobs = 0
    unsatisfiable = 0
    largest = 0
    planned = []
    for job in jobs:
        need = job_nodes(job, cores_per_node)
        if need > max_nodes:
            unsatisfiable += 1
            continue
        pending_jobs += 1
        pending_nodes += need
        largest = max(largest, need)
        planned.append((need, job.get("time_limit_s")))
    plan = None
    if running is not None and now is not None:
        plan = forecast(now, planned, ((job.get("end"), job_nodes(job, cores_per_node)) for job in running),
                        max_nodes)
    return QueueSummary(pending_nodes, pending_jobs, unsatisfiable, largest, forecast=plan)


def shadow(free, releases, need):
    """EASY backfill's shadow: when ``need`` nodes are free, and how many are spare then.

    ``free``: nodes free now; ``releases``: sorted ``(time, nodes)`` of running work ending.
    Returns ``(time, extra)``; ``(inf, 0)`` when they never are.
    """
    for when, count in releases:
        free += count
        if free >= need:
            return when, free - need
    return INF, 0


def forecast(now, pending, running, capacity, depth=500):
    """The scheduler's plan for the queue over ``capacity`` nodes (FCFS with EASY backfill).

    ``pending``: ``(nodes, runtime estimate or None)`` in queue order; ``running``: ``(expected
    end or None, nodes)`` of the running jobs. Every node the fleet may hold counts, running or not
    (as Slurm plans over powered-down cloud nodes). Jobs start in order while they fit; the first
    that does not gets a reservation at its shadow time and later jobs (up to ``depth``, Slurm's
    ``bf_max_job_test``) start now only when they fit and end by then or use spare nodes.
    O(pending + running log running).
    """
    ends = [(INF if end is None else float(end), int(nodes)) for end, nodes in running]
    free = capacity - sum(nodes for _unused, nodes in ends)
    now_nodes = 0
    reserve_at = None
    reserve_nodes = 0
    freeing = 0
    extra = 0
    scanned = 0
    for need, runtime in pending:
        if need > capacity:
            continue
        end = INF if runtime is None else now + runtime
        if reserve_at is None:
            if need <= free:
                free -= need
                now_nodes += need
                ends.append((end, need))
                continue
            releases = sorted(ends)
            reserve_at, extra = shadow(free, releases, need)
            reserve_nodes = need
            freeing = sum(nodes for when, nodes in releases if when <= reserve_at)
            continue
        scanned += 1
        if scanned > depth:
            break
        if need <= free and (end <= reserve_at or need <= extra):
            if end > reserve_at:
                extra -= need
            else:
                freeing += need
            free -= need
            now_nodes += need
    return Forecast(now_nodes, reserve_at, reserve_nodes, freeing)


def _stop_due(node, now, config, window):
    """When ``node`` (idle) may be stopped: idle window, billing minimum, end-of-hour rule."""
    since = node.since if node.since is not None else now
    due = since + window
    billed = node.billed_since if node.billed_since is not None else since
    due = max(due, billed + config.billing_minimum)
    if config.end_of_hour:
        # stop only within the last hour_window of a billed hour
        elapsed = due - billed
        into_hour = elapsed % HOUR
        if into_hour < HOUR - config.hour_window:
            due += (HOUR - config.hour_window) - into_hour
    return due


def _demand(now, queue, config):
    """Nodes wanted now (rule 0) and when a reservation's nodes must be started (``None``: not later)."""
    plan = queue.forecast if config.forecast else None
    if plan is None:
        return queue.pending_nodes, None
    # only what can start now; a reservation's nodes come back one boot (and a poll) before it
    demand = plan.now_nodes
    if not plan.reserve_nodes or plan.reserve_at is None or plan.reserve_at == INF:
        return demand, None
    due = plan.reserve_at - config.lead_time
    if due > now:
        return demand, due
    return demand + max(0, plan.reserve_nodes - plan.freeing_nodes), None


def decide(now, queue, nodes, config):  # noqa: PLR0912 - the rules, in order
    """Decide which nodes to start, how many to launch fresh and which to stop; see the docstring."""
    busy = 0
    starting = 0
    idle = []
    stopped = []
    for node in nodes:
        state = node.state
        if state == BUSY:
            busy += 1
        elif state == IDLE:
            idle.append(node)
        elif state == STARTING:
            starting += 1
        elif node.warm:
            stopped.append(node)
    in_service = busy + len(idle) + starting
    reasons = []
    demand, reserve_due = _demand(now, queue, config)
    shortfall = max(0, demand - len(idle) - starting)
    grow = min(shortfall, max(0, config.max_nodes - in_service))
    if shortfall > grow:
        reasons.append("capped: %d more nodes wanted, max_nodes %d reached" % (shortfall - grow, config.max_nodes))
    if in_service + grow < config.min_nodes:
        grow = config.min_nodes - in_service
        reasons.append("min_nodes: keep %d in service" % config.min_nodes)
    start = []
    launch = 0
    if grow > 0:
        if config.use_warm_pool and stopped:
            # most recently stopped first (when known) so the oldest age out (pool_trim); else by id
            stopped.sort(key=lambda node: (-node.since if node.since is not None else INF, str(node.node_id)))
            start = [node.node_id for node in stopped[:grow]]
        launch = grow - len(start)
        reasons.append("grow: %d pending nodes, %d idle, %d starting -> start %d warm, launch %d"
                       % (demand, len(idle), starting, len(start), launch))
    stop = []
    recheck_at = None
    if grow == 0 and idle:
        # idle nodes the queue will use are kept; the rest stop when due, longest idle first
        spare = len(idle) - min(len(idle), demand)
        spare = min(spare, in_service - config.min_nodes)
        if spare > 0:
            window = config.idle_window
            candidates = sorted(((_stop_due(node, now, config, window), str(node.node_id), node) for node in idle),
                                key=lambda item: (item[0], item[1]))
            for due, _unused, node in candidates[:spare]:
                if due <= now:
                    stop.append(node.node_id)
                elif recheck_at is None or due < recheck_at:
                    recheck_at = due
            if stop:
                reasons.append("shrink: %d idle longer than %.0f s" % (len(stop), window))
    if reserve_due is not None and (recheck_at is None or reserve_due < recheck_at):
        recheck_at = reserve_due
    return Decision(start, launch, stop, recheck_at=recheck_at, demand=demand, in_service=in_service, reasons=reasons)


# ------------------------------------------------------------------ presets (policy and baselines)
POLICIES = ("autogrow", "parallelcluster", "static", "idle-timeout-600", "hpcpack-autogrowshrink", "end-of-hour")
SCALEDOWN_IDLETIME = 600  # ParallelCluster 3 SlurmSettings/ScaledownIdletime default, 10 minutes


def preset(name, max_nodes, *, cold_boot_time=DEFAULTS["cold_boot_time"], warm_boot_time=DEFAULTS["warm_boot_time"],
           min_nodes=0, interval=None):
    """The :class:`Config` of a named policy; the baselines are faithful to what they stand for.

    * ``autogrow``: this policy (warm pool, idle window from the restart cost, polls every 30 s).
    * ``static``: ``max_nodes`` always in service.
    * ``parallelcluster``: the settings of ParallelCluster's power saving (``ScaledownIdletime`` 600 s); the
      simulator plays its scheduler-driven resume (benchmarks/_policies.py).
    * ``idle-timeout-600``: ParallelCluster's default - launch fresh on demand (cold boot), stop
      after 600 s idle (Slurm ``SuspendTime``), reacts at once.
    * ``hpcpack-autogrowshrink``: HPC Pack AutoGrowShrink defaults - checks every 5 minutes, grows by
      the queue's demand (fresh nodes), shrinks nodes idle for 15 minutes (3 idle checks).
    * ``end-of-hour``: the seed's rule - warm pool, stop idle nodes only in the last 5 minutes of a
      billed hour.
    """
    common = {"min_nodes": min_nodes, "max_nodes": max_nodes, "warm_boot_time": warm_boot_time,
              "cold_boot_time": cold_boot_time}
    if name == "autogrow":
        return Config(**common, use_warm_pool=True, interval=30 if interval is None else interval)
    if name == "static":
        common["min_nodes"] = max_nodes
        return Config(**common, use_warm_pool=False, idle_timeout=float("inf"), forecast=False)
    if name in ("idle-timeout-600", "parallelcluster"):
        return Config(**common, use_warm_pool=False, idle_timeout=600, billing_minimum=0, interval=0, forecast=False)
    if name == "hpcpack-autogrowshrink":
        return Config(**common, use_warm_pool=False, idle_timeout=900, billing_minimum=0, interval=300,
                      forecast=False)
    if name == "end-of-hour":
        return Config(**common, use_warm_pool=True, idle_timeout=0, end_of_hour=True, hour_window=300,
                      interval=60 if interval is None else interval, forecast=False)
    raise PolicyError("policy must be one of %s, got %r" % (", ".join(POLICIES), name))


def pool_keep_time(cold_boot_time, warm_boot_time, ebs_ratio, wait_weight=1.0):
    """Seconds a stopped pool instance is worth keeping (ski-rental break-even; ``inf`` when EBS is free):
    a warm start saves ``cold - warm`` billed seconds and as many seconds of wait (worth ``wait_weight``
    node-seconds each); a stopped instance costs ``ebs_ratio`` node-seconds per second (EBS / instance price)."""
    saved = max(0.0, float(cold_boot_time) - float(warm_boot_time)) * (1.0 + max(0.0, float(wait_weight)))
    return saved / float(ebs_ratio) if ebs_ratio > 0 else INF


def pool_trim(now, nodes, keep_time):
    """``(ids, recheck_at)``: the stopped nodes stopped (``since``) ``keep_time`` or longer ago, oldest first,
    to terminate, and when the next falls due (``None``: never). Nodes of unknown age are kept."""
    due = sorted((node.since + keep_time, str(node.node_id), node.node_id) for node in nodes
                 if node.state == STOPPED and node.since is not None)
    ids = [item[2] for item in due if item[0] <= now]
    later = [item[0] for item in due if now < item[0] < INF]
    return ids, (min(later) if later else None)


def lower_bound_node_seconds(jobs, boot_s):
    """Hindsight lower bound on node-seconds for any policy, from ``(nodes, runtime)`` pairs.

    Every job's nodes are billed while it runs (sum of nodes x runtime), and the largest job needs
    that many nodes in service at once, each of which was booted at least once (``boot_s``: the
    fastest boot available, billed). No policy, even one that knows the future, uses less.
    """
    work = 0.0
    largest = 0
    for nodes, runtime in jobs:
        work += nodes * runtime
        largest = max(largest, nodes)
    return work + largest * boot_s


def batches(ids, size=1000):
    """Split ``ids`` into lists of at most ``size`` (EC2 takes at most 1,000 instance ids per call)."""
    ids = list(ids)
    return [ids[index:index + size] for index in range(0, len(ids), size)]
