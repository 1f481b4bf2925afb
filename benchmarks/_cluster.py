"""The world of the autogrow simulator: jobs, EC2 instances, Slurm's scheduler, billing (benchmarks/autogrow_sim.py).

What a policy may see is what a real scheduler knows: each job's submit time, node count and time
limit (its *estimate*). A job's actual runtime (``SimJob.runtime``) is the world's secret until the
job ends; the world alone reads it (``_runtime``) to play the job's end. The unit tests hand the world
jobs whose ``runtime`` raises when read before the end, and run every policy.

Nodes are the ``max_nodes`` slots a ParallelCluster queue defines (``MaxCount``); each is
``off`` (no instance), ``stopped`` (a stopped instance: its EBS volume is billed), ``stopping``,
``starting`` (billed), ``idle`` or ``busy`` (billed). Two ways to power nodes:

* ``resume`` (Slurm power saving, ParallelCluster): the scheduler allocates a job to any node that
  is idle or powered down, idle ones first; powered-down nodes it took are resumed (a stopped one
  from the pool, else a fresh launch) and the job starts when all its nodes are up.
* ``policy`` (autogrow): the scheduler runs jobs on idle nodes only; the policy starts and stops
  nodes (stopped nodes are drained in Slurm, as the service does).
* ``clairvoyant`` (a benchmark-only reference, not a policy anyone can run): the scheduler allocates as
  in ``resume`` but every node is ready when allocated - it was started one boot earlier - and what was
  done with an idle node is decided in hindsight, when the node is next allocated (benchmarks/_policies.py).

The scheduler is first come, first served with EASY backfill over all ``max_nodes`` (as Slurm
plans over powered-down cloud nodes), with the estimates; a job runs for its runtime, cut at its
time limit (Slurm kills it then; such jobs are counted as ``clamped``).
"""

from __future__ import annotations

import heapq
import math
import random

OFF, STOPPED, STOPPING, STARTING, IDLE, BUSY = "off", "stopped", "stopping", "starting", "idle", "busy"
BACKFILL_DEPTH = 500  # queued jobs a backfill pass looks at (Slurm's bf_max_job_test default)
RETRY_S = 300.0  # a node whose start failed (insufficient capacity) is not tried again for 5 minutes
INF = math.inf


class SimJob:
    """A trace job as the world holds it; ``runtime`` is only for after its end."""

    __slots__ = ("_runtime", "clamped", "done", "estimate", "index", "limit", "nodes", "ready", "start", "submit")

    def __init__(self, index, submit, nodes, runtime, *, estimate, limit):
        self.index = index
        self.submit = float(submit)
        self.nodes = int(nodes)
        self._runtime = float(runtime)
        self.estimate = float(estimate)  # what the scheduler and the policies see (the time limit)
        self.limit = float(limit)  # when Slurm kills the job
        self.start = None  # when its nodes were allocated
        self.ready = None  # when it began running (its nodes up)
        self.done = False
        self.clamped = False

    @property
    def runtime(self):
        return self._runtime


class Slot:
    """One node slot; ``node_id``/``state``/``since``/``billed_since``/``warm`` as ``_autogrow.Node``."""

    __slots__ = ("billed_since", "job", "node_id", "retry_at", "since", "state", "stopped_since")

    def __init__(self, node_id):
        self.node_id = node_id
        self.state = OFF
        self.since = None  # idle: when it became idle; stopped: when it was stopped
        self.billed_since = None
        self.stopped_since = None  # EBS billed from then (stop request) while the instance is stopped
        self.job = None
        self.retry_at = -INF

    @property
    def warm(self):
        return self.state == STOPPED


class Prices:
    """Billing: instance time per start (per second with a minimum, or hourly) and EBS of stopped instances."""

    def __init__(self, *, billing="second", minimum_s=60.0, volume_gib=40.0, ebs_gb_month=0.08, instance_hour=0.085):
        self.billing = billing
        self.minimum_s = float(minimum_s)
        self.volume_gib = float(volume_gib)
        self.ebs_gb_month = float(ebs_gb_month)
        self.instance_hour = float(instance_hour)

    def billed_seconds(self, seconds):
        """Seconds billed for one run of an instance (a start to its stop)."""
        if self.billing == "hourly":
            return max(1, math.ceil(seconds / 3600.0 - 1e-9)) * 3600.0
        return max(seconds, self.minimum_s)

    @property
    def ebs_ratio(self):
        """Node-hour equivalents one stopped instance costs per hour (730 hours a month, AWS's convention)."""
        return self.volume_gib * self.ebs_gb_month / 730.0 / self.instance_hour


class World:
    def __init__(self, jobs, max_nodes, *, mode, cold_boot_s, warm_boot_s, prices, stop_s=0.0, fail_rate=0.0,
                 seed=1, record=True):
        self.jobs = sorted((job for job in jobs if job.nodes <= max_nodes), key=lambda job: (job.submit, job.index))
        self.max_nodes = max_nodes
        self.mode = mode
        self.cold_boot_s = cold_boot_s
        self.warm_boot_s = warm_boot_s
        self.prices = prices
        self.stop_s = stop_s
        self.fail_rate = fail_rate
        self.draw = random.Random(seed)  # noqa: S311 - reproducible start failures, not secrets
        self.slots = [Slot(f"n{index:05d}") for index in range(max_nodes)]
        self.now = self.jobs[0].submit if self.jobs else 0.0
        self.queue = []  # pending jobs in submit order (None: started)
        self.head = 0
        self.running = {}  # job index -> (expected end, nodes): what Slurm reports
        self.events = []
        self.order = 0
        self.billed = 0.0
        self.stopped_s = 0.0
        self.failures = 0
        self.starts = {"warm": 0, "cold": 0}
        self.waiting = 0  # nodes of the pending jobs
        self.up = 0  # slots starting, idle or busy
        self.timeline = [] if record else None
        self.decisions = 0
        self.policy = None

    # ------------------------------------------------------------------ events and node transitions
    def push(self, when, kind, payload=None):
        self.order += 1
        heapq.heappush(self.events, (when, self.order, kind, payload))

    def _bill(self, slot):
        if slot.billed_since is not None:
            self.billed += self.prices.billed_seconds(self.now - slot.billed_since)
            slot.billed_since = None

    def _unstop(self, slot):
        if slot.stopped_since is not None:
            self.stopped_s += self.now - slot.stopped_since
            slot.stopped_since = None

    def boot(self, slot, job=None, draw=True):
        """Start a stopped slot (warm) or launch one that is off (cold); False when the start failed."""
        warm = slot.state == STOPPED
        if draw and self.fail_rate and self.draw.random() < self.fail_rate:
            self.failures += 1
            slot.retry_at = self.now + RETRY_S
            self.push(slot.retry_at, "retry")
            return False
        self._unstop(slot)
        self.starts["warm" if warm else "cold"] += 1
        self.up += 1
        slot.state = STARTING
        slot.since = None
        slot.billed_since = self.now
        slot.job = job
        self.push(self.now + (self.warm_boot_s if warm else self.cold_boot_s), "ready", slot)
        return True

    def stop(self, slot, keep=True):
        """Stop an idle slot into the pool (``keep``) or terminate it; a stop takes ``stop_s`` (not billed)."""
        self._bill(slot)
        self.up -= 1
        slot.job = None
        if keep:
            slot.state = STOPPING if self.stop_s else STOPPED
            slot.stopped_since = self.now
            slot.since = self.now
            if self.stop_s:
                self.push(self.now + self.stop_s, "stopped", slot)
        else:
            slot.state = OFF
            slot.since = None

    def terminate(self, slot):
        """Terminate a stopped instance: its EBS volume goes."""
        self._unstop(slot)
        slot.state = OFF
        slot.since = None

    def can_boot(self, slot):
        return slot.state in (OFF, STOPPED) and slot.retry_at <= self.now

    # ------------------------------------------------------------------ the scheduler
    def _start(self, position, job, taken):
        self.queue[position] = None
        self.waiting -= job.nodes
        job.start = self.now
        if self.mode == "clairvoyant":
            for slot in taken:
                self.policy.reuse(slot)
            self._run(job, taken)
            return
        booting = []
        for slot in taken:
            if slot.state == IDLE:
                slot.state = BUSY
                slot.since = None
                slot.job = job
            else:
                booting.append(slot)
        if booting:
            self.running[job.index] = (self.now + self.cold_boot_s + job.estimate, job.nodes)
            for slot in booting:
                self.boot(slot, job, draw=False)
        else:
            self._run(job, taken)

    def _run(self, job, taken):
        job.ready = self.now
        self.running[job.index] = (self.now + job.estimate, job.nodes)
        for slot in taken:
            slot.state = BUSY
            slot.job = job
        duration = job._runtime  # the world plays the job's end: it alone knows it
        if duration > job.limit:
            duration = job.limit
            job.clamped = True
        self.push(self.now + duration, "finish", (job, taken))

    def _candidates(self):
        idle = [slot for slot in self.slots if slot.state == IDLE]
        idle.sort(key=lambda slot: -(slot.since or 0.0))
        if self.mode == "clairvoyant":
            # most recently freed first (the shortest gaps), then instances never launched
            return idle + [slot for slot in self.slots if slot.state == OFF]
        if self.mode != "resume":
            return idle
        down = [slot for slot in self.slots if self.can_boot(slot)]
        # stopped pool instances (most recently stopped first), then fresh launches
        down.sort(key=lambda slot: (slot.state != STOPPED, -(slot.since or 0.0), slot.node_id))
        return idle + down

    def _take(self, candidates, need):
        """The first ``need`` candidates that can serve (drawing start failures); ``None`` when too few."""
        taken = []
        while candidates and len(taken) < need:
            slot = candidates.pop(0)
            if slot.state == IDLE or not self.fail_rate or self.mode == "clairvoyant":
                taken.append(slot)
            elif self.draw.random() >= self.fail_rate:
                taken.append(slot)
                slot.retry_at = -INF
            else:
                self.failures += 1
                slot.retry_at = self.now + RETRY_S
                self.push(slot.retry_at, "retry")
        return taken if len(taken) == need else None

    def schedule(self):
        """First come, first served with EASY backfill; the estimates are the jobs' time limits."""
        if self.head >= len(self.queue):
            return
        candidates = self._candidates()
        busy = sum(nodes for _end, nodes in self.running.values())
        position = self.head
        shadow = None
        extra = 0
        scanned = 0
        while position < len(self.queue) and candidates and scanned < BACKFILL_DEPTH:
            job = self.queue[position]
            position += 1
            if job is None:
                continue
            if shadow is None:
                if job.nodes <= len(candidates):
                    taken = self._take(candidates, job.nodes)
                    if taken is not None:
                        self._start(position - 1, job, taken)
                        busy += job.nodes
                        continue
                shadow, extra = _shadow(self.max_nodes - busy, sorted(self.running.values()), job.nodes)
                continue
            scanned += 1
            fits_time = self.now + job.estimate <= shadow
            if job.nodes <= len(candidates) and (fits_time or job.nodes <= extra):
                taken = self._take(candidates, job.nodes)
                if taken is not None:
                    if not fits_time:
                        extra -= job.nodes
                    self._start(position - 1, job, taken)
                    busy += job.nodes
        while self.head < len(self.queue) and self.queue[self.head] is None:
            self.head += 1

    # ------------------------------------------------------------------ what a policy may read
    def pending(self):
        return [job for job in self.queue[self.head:] if job is not None]

    def pending_nodes(self):
        return self.waiting

    def in_service(self):
        return self.up

    # ------------------------------------------------------------------ the event loop
    def _handle(self, kind, payload):
        if kind == "finish":
            job, taken = payload
            job.done = True
            self.running.pop(job.index, None)
            for slot in taken:
                slot.state = IDLE
                slot.since = self.now
                slot.job = None
        elif kind == "ready":
            slot = payload
            job = slot.job
            slot.state = IDLE
            slot.since = self.now
            if job is not None:
                slot.state = BUSY
                group = [other for other in self.slots if other.job is job]
                if all(other.state == BUSY for other in group):
                    self._run(job, group)
        elif kind == "stopped" and payload.state == STOPPING:
            payload.state = STOPPED

    def run(self, policy):
        """Play every job under ``policy`` (see benchmarks/_policies.py); returns self."""
        jobs = self.jobs
        next_job = 0
        self.policy = policy
        policy.attach(self)
        while True:
            next_event = self.events[0][0] if self.events else INF
            next_arrival = jobs[next_job].submit if next_job < len(jobs) else INF
            now = min(next_event, next_arrival)
            if now == INF:
                break
            self.now = now
            while next_job < len(jobs) and jobs[next_job].submit == now:
                self.queue.append(jobs[next_job])
                self.waiting += jobs[next_job].nodes
                next_job += 1
            decide = False
            while self.events and self.events[0][0] == now:
                _when, _order, kind, payload = heapq.heappop(self.events)
                if kind == "decide":
                    decide = decide or policy.due(now)
                else:
                    self._handle(kind, payload)
            self.schedule()
            if decide:
                self.decisions += 1
                policy.decide(now)
                self.schedule()
            else:
                policy.changed(now)
            if self.timeline is not None:
                point = (now, self.pending_nodes(), self.in_service())
                if not self.timeline or self.timeline[-1][1:] != point[1:]:
                    self.timeline.append(point)
        self.finish()
        return self

    def finish(self):
        """Bill what is still running or stopped at the end."""
        end = self.now
        for slot in self.slots:
            if self.mode == "clairvoyant" and slot.state == IDLE:
                self.now = slot.since  # with hindsight a node is let go when its last job ends
            if slot.state in (STARTING, IDLE, BUSY):
                self._bill(slot)
            self.now = end
            self._unstop(slot)


def _shadow(free, releases, need):
    for when, count in releases:
        free += count
        if free >= need:
            return when, free - need
    return INF, 0
