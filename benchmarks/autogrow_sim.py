"""Replay a Standard Workload Format trace through the autogrow policy and its baselines.

    benchmarks/autogrow_sim.py --trace ../shared/traces/lublin_256.swf --policy all
    benchmarks/autogrow_sim.py --trace FILE.swf --policy autogrow --json

Every policy is plugins/module_utils/_autogrow.py's ``decide`` with a preset ``Config`` (the same
code the module and the service run); the simulator only plays the cluster around it:

* scheduler: first come, first served with EASY backfill, planned over every node the fleet may
  hold (as Slurm plans over powered-down cloud nodes): the first job that does not fit gets a
  reservation at the time enough running work ends, later jobs start on idle nodes only when they
  end by then or use nodes spare at that time. Runtime estimates are the trace's runtimes (the
  Lublin trace has no requested times), or up to ``--estimate-factor`` x longer. Same for every
  policy.
* the forecast: ``autogrow`` is given the scheduler's plan as Slurm would report it (running
  jobs' expected ends, pending jobs' estimates) through ``_autogrow.forecast``; the baselines count
  every pending node as wanted now, as their namesakes do.
* nodes: a warm-pool start takes ``--warm-boot-s`` (default 60 s), a fresh launch ``--boot-s``
  (default 600 s, seed 002's 10 minutes); a node is billed from its start to its stop, per second with a 60 s minimum
  per start (both Linux and Windows since 2021). Stopped warm-pool instances cost only their EBS
  volumes, which are not counted. Boot time is billed.
* policies decide at once on each event (job submitted, job finished, node ready, a stop falling
  due) or, when their preset polls (autogrow every 30 s, HPC Pack every 300 s, end-of-hour 60 s),
  at the first poll after it.

Metrics: node-hours billed; mean and 95th percentile wait (start - submit); mean bounded slowdown
max(1, (wait + run) / max(run, 10 s)); the hindsight lower bound on node-hours: sum of nodes x
runtime over all jobs plus one (fastest) boot of the largest job's nodes - no policy can use less.

Defaults: --max-nodes is twice the trace header's MaxNodes/MaxProcs (the Lublin 256 trace offers
~1.06x the load of 256 nodes, so a 256-node cap would make every policy a static cluster: the
elastic fleet is capped above the demand, as a cloud account's limit would be); --cores-per-node 1.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
import time
from pathlib import Path

import _swf as swf  # benchmarks/ is the script's own directory
from _report import module_util

ROOT = Path(__file__).resolve().parent.parent
BILLING_MIN_S = 60.0
ESTIMATE_SEED = 256
BACKFILL_DEPTH = 500  # queued jobs a backfill pass looks at (Slurm's bf_max_job_test default)


autogrow = module_util("_autogrow")


class Result:
    def __init__(self, policy, config, *, node_seconds, waits, slowdowns, lower_bound_s, timeline, decisions, elapsed):
        self.policy = policy
        self.config = config
        self.node_hours = node_seconds / 3600.0
        self.waits = waits
        self.mean_wait_s = sum(waits) / len(waits) if waits else 0.0
        ordered = sorted(waits)
        self.p95_wait_s = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0
        self.mean_bounded_slowdown = sum(slowdowns) / len(slowdowns) if slowdowns else 0.0
        self.lower_bound_node_hours = lower_bound_s / 3600.0
        self.timeline = timeline
        self.decisions = decisions
        self.elapsed = elapsed

    def metrics(self):
        return {
            "node_hours": round(self.node_hours, 3),
            "mean_wait_s": round(self.mean_wait_s, 3),
            "p95_wait_s": round(self.p95_wait_s, 3),
            "mean_bounded_slowdown": round(self.mean_bounded_slowdown, 4),
            "lower_bound_node_hours": round(self.lower_bound_node_hours, 3),
        }


def simulate(jobs, policy, max_nodes, boot_s, warm_boot_s, *, record=True, estimate_factor=1.0):  # noqa: PLR0912, PLR0915 - one event loop
    """Play ``jobs`` (list of (submit, runtime, nodes)) under ``policy``; return a :class:`Result`."""
    started = time.perf_counter()
    config = autogrow.preset(policy, max_nodes, cold_boot_time=boot_s, warm_boot_time=warm_boot_s)
    Node = autogrow.Node
    jobs = [job for job in jobs if job[2] <= max_nodes]
    jobs.sort(key=lambda job: job[0])
    n_jobs = len(jobs)
    # runtime estimates (what backfill and the forecast see): exact, or up to estimate_factor x longer
    draw = random.Random(ESTIMATE_SEED)  # noqa: S311 - reproducible estimates, not secrets
    estimates = [job[1] * (1.0 + (estimate_factor - 1.0) * draw.random()) for job in jobs]
    nodes = {}  # id -> Node
    idle_stack = []  # idle node ids, most recently idle last
    if config.use_warm_pool:
        for index in range(max_nodes):
            nodes[f"w{index:05d}"] = Node(f"w{index:05d}", autogrow.STOPPED, warm=True)
    serial = [0]
    billed = [0.0]
    t0 = jobs[0][0] if jobs else 0.0
    if policy == "static":
        for index in range(max_nodes):
            node_id = f"s{index:05d}"
            nodes[node_id] = Node(node_id, autogrow.IDLE, since=t0, billed_since=t0, warm=False)
            idle_stack.append(node_id)
    queue = []  # job indices, FCFS
    queue_head = [0]
    pending_nodes = [0]
    events = []  # (time, order, kind, payload)
    order = [0]
    waits = [0.0] * n_jobs
    slowdowns = [0.0] * n_jobs
    timeline = []
    decisions = [0]
    interval = config.interval
    decide_at = [None]

    outstanding = [0]  # finish and ready events not yet played

    def push(when, kind, payload=None):
        order[0] += 1
        if kind != "decide":
            outstanding[0] += 1
        heapq.heappush(events, (when, order[0], kind, payload))

    def want_decision(when):
        if interval > 0:
            when = math.ceil(when / interval) * interval
        if decide_at[0] is None or when < decide_at[0]:
            decide_at[0] = when
            push(when, "decide")

    def bill(node, now):
        billed[0] += max(now - node.billed_since, BILLING_MIN_S)

    running = {}  # finish event order -> (finish time, nodes)

    def start_job(now, position, index):
        need = jobs[index][2]
        taken = [idle_stack.pop() for _unused in range(need)]
        for node_id in taken:
            node = nodes[node_id]
            node.state = autogrow.BUSY
            node.since = None
        submit, runtime = jobs[index][0], jobs[index][1]
        waits[index] = now - submit
        slowdowns[index] = max(1.0, (now - submit + runtime) / max(runtime, 10.0))
        push(now + runtime, "finish", taken)
        running[order[0]] = (now + estimates[index], need)
        queue[position] = None
        pending_nodes[0] -= need

    def shadow(need):
        """EASY backfill over every node the fleet may hold (as Slurm plans over cloud nodes)."""
        busy = sum(count for _unused, count in running.values())
        return autogrow.shadow(max_nodes - busy, sorted(running.values()), need)

    def schedule(now):
        """FCFS with EASY backfill (runtimes as the estimates; the SWF trace has no requests)."""
        position = queue_head[0]
        head_shadow = None
        extra = 0
        scanned = 0
        while position < len(queue) and idle_stack and scanned < BACKFILL_DEPTH:
            index = queue[position]
            if index is None:
                position += 1
                continue
            need = jobs[index][2]
            if head_shadow is None:
                if need <= len(idle_stack):
                    start_job(now, position, index)
                else:
                    head_shadow, extra = shadow(need)
            else:
                scanned += 1
                if need <= len(idle_stack) and (now + estimates[index] <= head_shadow or need <= extra):
                    if now + estimates[index] > head_shadow:
                        extra -= need
                    start_job(now, position, index)
            position += 1
        while queue_head[0] < len(queue) and queue[queue_head[0]] is None:
            queue_head[0] += 1

    next_job = 0
    now = t0
    last_finish = t0
    while True:
        next_event = events[0][0] if events else math.inf
        next_arrival = jobs[next_job][0] if next_job < n_jobs else math.inf
        if min(next_event, next_arrival) == math.inf:
            break
        now = min(next_event, next_arrival)
        run_decision = False
        while next_job < n_jobs and jobs[next_job][0] == now:
            queue.append(next_job)
            pending_nodes[0] += jobs[next_job][2]
            next_job += 1
        while events and events[0][0] == now:
            _when, _order, kind, payload = heapq.heappop(events)
            if kind != "decide":
                outstanding[0] -= 1
            if kind == "finish":
                running.pop(_order, None)
                last_finish = max(last_finish, now)
                for node_id in payload:
                    node = nodes[node_id]
                    node.state = autogrow.IDLE
                    node.since = now
                    idle_stack.append(node_id)
            elif kind == "ready":
                node = nodes[payload]
                node.state = autogrow.IDLE
                node.since = now
                idle_stack.append(payload)
            elif kind == "decide" and decide_at[0] == now:
                decide_at[0] = None
                run_decision = True
        schedule(now)
        if run_decision:
            live = [index for index in queue[queue_head[0]:] if index is not None]
            plan = None
            if config.forecast:
                plan = autogrow.forecast(now, ((jobs[index][2], estimates[index]) for index in live),
                                         running.values(), max_nodes, BACKFILL_DEPTH)
            summary = autogrow.QueueSummary(pending_nodes[0], len(live), forecast=plan)
            decision = autogrow.decide(now, summary, nodes.values(), config)
            decisions[0] += 1
            for node_id in decision.start:
                node = nodes[node_id]
                node.state = autogrow.STARTING
                node.billed_since = now
                push(now + warm_boot_s, "ready", node_id)
            for _unused in range(decision.launch):
                serial[0] += 1
                node_id = f"c{serial[0]:07d}"
                nodes[node_id] = Node(node_id, autogrow.STARTING, billed_since=now, warm=False)
                push(now + boot_s, "ready", node_id)
            if decision.stop:
                stopping = set(decision.stop)
                idle_stack[:] = [node_id for node_id in idle_stack if node_id not in stopping]
                for node_id in decision.stop:
                    node = nodes[node_id]
                    bill(node, now)
                    if node.warm or config.use_warm_pool:
                        node.state = autogrow.STOPPED
                        node.warm = True
                        node.since = None
                    else:
                        del nodes[node_id]
            if decision.recheck_at is not None:
                want_decision(decision.recheck_at)
            if record:
                in_service = decision.in_service + len(decision.start) + decision.launch - len(decision.stop)
                timeline.append((now, pending_nodes[0], in_service))
        elif record and timeline and (timeline[-1][1] != pending_nodes[0]):
            timeline.append((now, pending_nodes[0], timeline[-1][2]))
        if not run_decision:
            # anything that changed the queue or the nodes asks for a decision (at the next poll)
            want_decision(now)
        if next_job >= n_jobs and queue_head[0] >= len(queue) and outstanding[0] == 0 and config.min_nodes > 0:
            break  # a fixed floor (static) is billed up to the last job's end
    end = last_finish if config.min_nodes > 0 else now if now != math.inf else last_finish
    for node in nodes.values():
        if node.state != autogrow.STOPPED:
            bill(node, max(end, last_finish))
    lower = autogrow.lower_bound_node_seconds(((job[2], job[1]) for job in jobs), min(boot_s, warm_boot_s))
    return Result(policy, config, node_seconds=billed[0], waits=waits, slowdowns=slowdowns, lower_bound_s=lower,
                  timeline=timeline, decisions=decisions[0], elapsed=time.perf_counter() - started)


def plot(results, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"autogrow_sim: matplotlib is not installed, no plot written ({path})", file=sys.stderr)
        return None
    fig, axes = plt.subplots(2, 1, figsize=(12, 7), sharex=True)
    for result in results:
        if not result.timeline:
            continue
        t0 = result.timeline[0][0]
        times = [(point[0] - t0) / 86400.0 for point in result.timeline]
        axes[1].step(times, [point[2] for point in result.timeline], where="post", linewidth=0.6,
                     label=result.policy)
    first = results[0]
    if first.timeline:
        t0 = first.timeline[0][0]
        axes[0].step([(p[0] - t0) / 86400.0 for p in first.timeline], [p[1] for p in first.timeline],
                     where="post", linewidth=0.6, color="tab:red")
    axes[0].set_ylabel(f"queued nodes ({first.policy})")
    axes[1].set_ylabel("nodes in service")
    axes[1].set_xlabel("days")
    axes[1].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def table(results, params):
    lines = [
        "autogrow_sim: " + ", ".join(f"{key}={value}" for key, value in params.items()),
        f"{'policy':<24}{'node-hours':>12}{'x bound':>9}{'mean wait s':>13}{'p95 wait s':>12}"
        f"{'mean bsld':>11}{'decisions':>11}{'sim s':>7}",
    ]
    for result in results:
        lines.append(
            f"{result.policy:<24}{result.node_hours:>12.1f}{result.node_hours / result.lower_bound_node_hours:>9.3f}"
            f"{result.mean_wait_s:>13.1f}{result.p95_wait_s:>12.1f}{result.mean_bounded_slowdown:>11.3f}"
            f"{result.decisions:>11}{result.elapsed:>7.2f}"
        )
    lines.append(f"{'hindsight lower bound':<24}{results[0].lower_bound_node_hours:>12.1f}{1.0:>9.3f}")
    by_name = {result.policy: result for result in results}
    ours, base = by_name.get("autogrow"), by_name.get("idle-timeout-600")
    if ours and base:
        node_ratio = ours.node_hours / base.node_hours
        wait_ratio = ours.mean_wait_s / base.mean_wait_s if base.mean_wait_s else math.inf
        bound_ratio = ours.node_hours / ours.lower_bound_node_hours
        lines.append(
            f"autogrow vs idle-timeout-600: node-hours {node_ratio:.3f}x (target <= 0.9) "
            f"{'PASS' if node_ratio <= 0.9 else 'FAIL'}; mean wait {wait_ratio:.3f}x (target <= 1.1) "
            f"{'PASS' if wait_ratio <= 1.1 else 'FAIL'}; vs hindsight bound {bound_ratio:.3f}x (target <= 1.5) "
            f"{'PASS' if bound_ratio <= 1.5 else 'FAIL'}"
        )
        best = ours.lower_bound_node_hours / base.node_hours
        lines.append(
            f"feasibility: no policy can use fewer node-hours than the hindsight bound, so the best any policy "
            f"can reach against idle-timeout-600 on this trace is {best:.3f}x"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", required=True, help="SWF trace file")
    parser.add_argument("--policy", default="all", choices=(*autogrow.POLICIES, "all"),
                        help="one policy, or all of them side by side (default)")
    parser.add_argument("--max-nodes", type=int, help="fleet cap (default: 2 x the trace's MaxNodes/MaxProcs)")
    parser.add_argument("--boot-s", type=float, default=600.0,
                        help="fresh launch to ready, s (default 600: seed 002, cloning from the AMI took 10 minutes)")
    parser.add_argument("--warm-boot-s", type=float, default=60.0, help="warm-pool start to ready, s (default 60)")
    parser.add_argument("--estimate-factor", type=float, default=1.0,
                        help="runtime estimates (time limits) are the runtime x a factor drawn from [1, F] "
                             "(default 1: exact; the trace has no requested times)")
    parser.add_argument("--cores-per-node", type=int, default=1, help="processors of a trace job per node")
    parser.add_argument("--json", action="store_true", help="print one JSON object (per policy with --policy all)")
    parser.add_argument("--plot", help="PNG of queue and nodes over time (default .lab/benchmarks/autogrow_sim.png)")
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    args = parser.parse_args(argv)
    if args.estimate_factor < 1.0:
        parser.error(f"--estimate-factor must be 1 or more (estimates are never shorter than the runtime), "
                     f"got {args.estimate_factor}")

    trace = swf.load(args.trace)
    max_nodes = args.max_nodes or 2 * max(1, -(-trace.max_procs // args.cores_per_node))
    jobs = [(float(job.submit), float(job.runtime), job.nodes(args.cores_per_node)) for job in trace.jobs]
    policies = autogrow.POLICIES if args.policy == "all" else (args.policy,)
    if args.policy == "all":
        # ours first so the plot's queue panel is autogrow's
        policies = ("autogrow", *(name for name in autogrow.POLICIES if name != "autogrow"))
    results = [simulate(jobs, name, max_nodes, args.boot_s, args.warm_boot_s, record=not args.no_plot,
                        estimate_factor=args.estimate_factor)
               for name in policies]
    params = {
        "trace": Path(args.trace).name,
        "jobs": len(jobs),
        "max_nodes": max_nodes,
        "boot_s": args.boot_s,
        "warm_boot_s": args.warm_boot_s,
        "cores_per_node": args.cores_per_node,
        "estimate_factor": args.estimate_factor,
        "billing": "per second, 60 s minimum",
    }
    if not args.no_plot:
        path = Path(args.plot) if args.plot else ROOT / ".lab" / "benchmarks" / "autogrow_sim.png"
        written = plot(results, path)
        params["plot"] = str(written) if written else "none"
    if args.json:
        if len(results) == 1:
            print(json.dumps(results[0].metrics()))
        else:
            print(json.dumps({result.policy: result.metrics() for result in results}))
    else:
        print(table(results, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
