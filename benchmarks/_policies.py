"""The policies the autogrow simulator plays (benchmarks/autogrow_sim.py), around benchmarks/_cluster.py's world.

* ``autogrow``: the product. ``_autogrow.decide`` (the code the module and the service run) with its
  preset and the queue's forecast from what Slurm reports (pending jobs' time limits, running jobs'
  expected ends = start + time limit); idle nodes stop into the warm pool and the pool is sized by
  ``_autogrow.pool_trim``: a stopped instance is terminated once keeping it has cost what a warm
  start saves over a fresh launch (``_autogrow.pool_keep_time``). No pool exists at the start:
  every pool instance was a fresh launch, billed.
* ``parallelcluster``: ParallelCluster's Slurm power saving. The scheduler allocates jobs to idle or
  powered-down nodes; powered-down ones are resumed (fresh launch) and the job waits for the boot.
  A node with no job is powered down (terminated) after ``ScaledownIdletime`` - even while jobs wait
  that cannot use it.
* ``parallelcluster-warm``: the same rule on autogrow's warm pool: a powered-down node stops into
  the pool (same sizing rule) and a resume starts a stopped instance when there is one.
* ``static``, ``idle-timeout-600``, ``hpcpack-autogrowshrink``, ``end-of-hour``: the older presets
  of ``_autogrow.preset`` played through ``decide`` (the scheduler uses only running nodes).
* ``clairvoyant``: a benchmark-only reference that reads the future, so no online policy can beat it
  under the same boot times, billing and EBS price (exempt from the no-peeking test by design). Every node
  is started exactly one boot before the scheduler allocates it (no job waits for a boot); when an idle node is
  next allocated, it is decided in hindsight what was cheapest over its gap (ski rental with hindsight):
  kept idle, stopped into the pool and started warm (EBS for the gap, a warm boot), or terminated and launched
  fresh (a cold boot). That also sizes the pool in hindsight. A node is let go when its last job ends.
"""

from __future__ import annotations

import math

import _cluster as cl  # benchmarks/ is the script's own directory
from _report import module_util

autogrow = module_util("_autogrow")

ONLINE = ("autogrow", "parallelcluster", "parallelcluster-warm", "static", "idle-timeout-600",
          "hpcpack-autogrowshrink", "end-of-hour")
REFERENCES = ("clairvoyant",)  # benchmark-only: reads the future
NAMES = ONLINE + REFERENCES
COMPARED = ("autogrow", "parallelcluster", "parallelcluster-warm", "clairvoyant")


class _Base:
    interval = 0.0
    mode = "policy"

    def __init__(self, name, settings):
        self.name = name
        self.settings = settings
        self.world = None
        self.decide_at = None

    def attach(self, world):
        self.world = world

    def want(self, when):
        if self.interval > 0:
            when = math.ceil(when / self.interval) * self.interval
        if self.decide_at is None or when < self.decide_at:
            self.decide_at = when
            self.world.push(when, "decide")

    def due(self, now):
        if self.decide_at == now:
            self.decide_at = None
            return True
        return False

    def trim(self, now, keep_time):
        """Terminate the stopped instances the pool no longer pays for; when to look again."""
        world = self.world
        stopped = [slot for slot in world.slots if slot.state == cl.STOPPED]
        ids, recheck = autogrow.pool_trim(now, stopped, keep_time)
        by_id = {slot.node_id: slot for slot in stopped}
        for node_id in ids:
            world.terminate(by_id[node_id])
        return recheck


class ParallelCluster(_Base):
    """Slurm power saving as ParallelCluster configures it (resume on allocation, ScaledownIdletime)."""

    mode = "resume"

    def __init__(self, name, settings, warm):
        super().__init__(name, settings)
        self.warm = warm
        self.idle_s = settings["scaledown_idletime"]

    def changed(self, now):
        # the only clock this rule has: a node idle since now powers down ScaledownIdletime later
        self.want(now + self.idle_s)
        if self.warm:
            self.want(now + self.settings["keep_time"])

    def decide(self, now):
        world = self.world
        recheck = None
        for slot in world.slots:
            if slot.state != cl.IDLE:
                continue
            due = slot.since + self.idle_s
            if due <= now:
                world.stop(slot, keep=self.warm)  # power down: into the pool, or terminated
            elif recheck is None or due < recheck:
                recheck = due
        if self.warm:
            again = self.trim(now, self.settings["keep_time"])
            if again is not None and (recheck is None or again < recheck):
                recheck = again
        if recheck is not None:
            self.want(recheck)


class Preset(_Base):
    """A ``_autogrow.preset`` played through ``_autogrow.decide``; ``autogrow`` adds the forecast and pool sizing."""

    def __init__(self, name, settings):
        super().__init__(name, settings)
        world_max = settings["max_nodes"]
        self.config = autogrow.preset(name, world_max, cold_boot_time=settings["cold_boot_s"],
                                      warm_boot_time=settings["warm_boot_s"], interval=settings.get("interval"))
        self.interval = float(self.config.interval)
        # autogrow sizes its pool; end-of-hour (the seed's rule) keeps every stopped instance
        self.keep_time = settings["keep_time"] if name == "autogrow" else math.inf

    def changed(self, now):
        self.want(now)

    def _summary(self, now):
        world = self.world
        pending = world.pending()
        plan = None
        if self.config.forecast:
            plan = autogrow.forecast(now, ((job.nodes, job.estimate) for job in pending), world.running.values(),
                                     world.max_nodes, cl.BACKFILL_DEPTH)
        return autogrow.QueueSummary(world.pending_nodes(), len(pending), forecast=plan)

    def decide(self, now):
        world = self.world
        usable = (cl.BUSY, cl.IDLE, cl.STARTING)
        nodes = [slot for slot in world.slots
                 if slot.state in usable or (slot.state == cl.STOPPED and slot.retry_at <= now)]
        decision = autogrow.decide(now, self._summary(now), nodes, self.config)
        by_id = {slot.node_id: slot for slot in nodes}
        failed = False
        for node_id in decision.start:
            failed = not world.boot(by_id[node_id]) or failed
        if decision.launch:
            fresh = [slot for slot in world.slots if slot.state == cl.OFF and slot.retry_at <= now]
            for slot in fresh[:decision.launch]:
                failed = not world.boot(slot) or failed
        keep = self.config.use_warm_pool
        for node_id in decision.stop:
            world.stop(by_id[node_id], keep=keep)
        recheck = decision.recheck_at
        if keep and self.keep_time != math.inf:
            again = self.trim(now, self.keep_time)
            if again is not None and (recheck is None or again < recheck):
                recheck = again
        if failed:
            self.want(now + 1.0)  # ask again: the next pool instance, or a fresh launch
        if recheck is not None:
            self.want(recheck)


class Clairvoyant(_Base):
    """The hindsight reference (see the module docstring); the world calls :meth:`reuse` at each allocation."""

    mode = "clairvoyant"

    def changed(self, now):
        """Nothing to do as time passes: every choice is made in hindsight."""

    def decide(self, now):
        """Never asked (it asks for no decision)."""

    def gap_choice(self, gap):
        """``(cost in node-seconds, how)``: the cheapest way to bridge ``gap`` idle seconds on one node."""
        world = self.world
        warm, cold = self.settings["warm_boot_s"], self.settings["cold_boot_s"]
        options = [(gap, "keep")]
        if gap >= world.stop_s + warm:
            options.append((warm + world.prices.ebs_ratio * (gap - warm), "warm"))
        if gap >= cold:
            options.append((cold, "cold"))
        return min(options)

    def reuse(self, slot):
        """``slot`` (idle, or never launched) is allocated now: account for its gap with hindsight."""
        world = self.world
        now = world.now
        if slot.state == cl.OFF:
            how = "cold"
        else:
            how = self.gap_choice(now - slot.since)[1]
            if how == "keep":
                return
            world.billed += world.prices.billed_seconds(slot.since - slot.billed_since)
            if how == "warm":
                world.stopped_s += now - self.settings["warm_boot_s"] - slot.since
        if how == "cold" and slot.state == cl.OFF:
            world.up += 1
        world.starts[how] += 1
        slot.billed_since = now - self.settings[f"{how}_boot_s"]


def make(name, settings):
    """The policy called ``name``; ``settings``: max_nodes, cold_boot_s, warm_boot_s, scaledown_idletime, keep_time."""
    if name == "parallelcluster":
        return ParallelCluster(name, settings, warm=False)
    if name == "parallelcluster-warm":
        return ParallelCluster(name, settings, warm=True)
    if name == "clairvoyant":
        return Clairvoyant(name, settings)
    if name in NAMES:
        return Preset(name, settings)
    raise ValueError(f"policy must be one of {', '.join(NAMES)}, got {name!r}")
