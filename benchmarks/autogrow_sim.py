"""Replay Standard Workload Format traces: autogrow against ParallelCluster, measured honestly.

    benchmarks/autogrow_sim.py --trace lublin_256.swf \\
        --trace benchmarks/traces/lublin_synth_a.swf --trace benchmarks/traces/lublin_synth_b.swf
    benchmarks/autogrow_sim.py --trace FILE.swf --policy autogrow --json

Each trace prints one table with two comparisons: the product (``autogrow`` with its warm pool
against ``parallelcluster``, cold boots) and the policy alone (``autogrow`` against
``parallelcluster-warm``, ParallelCluster's rule on the same warm pool), with the hindsight lower
bound beside both and the ``clairvoyant`` reference (benchmark-only, reads the future: the best
achievable figure, with its own gap closure). ``--boot-s`` repeated prints one table set per boot time;
``--interval`` is autogrow's poll (30 s, the service's; 0 models an event-driven service). The world
(jobs, instances, Slurm's scheduler, billing) is benchmarks/_cluster.py;
the policies are benchmarks/_policies.py (``autogrow`` is plugins/module_utils/_autogrow.py's code).

Estimates (``--estimates``): ``requested`` (default) - what Slurm knows: the trace's requested time
(SWF field 9) where it has one, else the partition's maximum time (``--max-time``, default the
trace's longest request or, when it has none, its longest runtime: a partition ``MaxTime`` that
admits every job), never the job's own runtime; ``exact`` - the actual runtime (an oracle, for
comparison); ``factor:F`` - the runtime times a factor drawn reproducibly from [1, F]. A job runs
for its runtime but is killed at its time limit (the request, else ``--max-time``): SWF runtimes are
what happened, so a well-formed trace never exceeds its requests; those that do are cut and counted
(``clamped``).

Costs: instance time is billed per start, per second with a 60 s minimum (``--billing hourly``:
whole hours), boot time included; a stopped instance's EBS volume is charged as node-hour
equivalents (``--volume-gib`` x ``--ebs-gb-month`` / 730 h / ``--instance-hour``); ``cost_node_hours``
is both. Start failures (insufficient capacity, ``--start-failure-rate``, seeded) and the stop latency
(``--stop-s``) are options. Metrics: node-hours billed; mean and 95th percentile wait (start of the
run - submit); mean bounded slowdown max(1, (wait + run) / max(run, 10 s)); the hindsight lower bound:
sum of nodes x runtime plus one (fastest) boot of the largest job's nodes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import _cluster as cl  # benchmarks/ is the script's own directory
import _policies
import _swf as swf
from _report import module_util

ROOT = Path(__file__).resolve().parent.parent
ESTIMATE_SEED = 256
# Defaults, cited in docs/fleet.md
COLD_BOOT_S = 300.0  # ParallelCluster's own integration tests wait at most 5 minutes for dynamic nodes to join
WARM_BOOT_S = 60.0  # assumption: a stopped instance from an AMI already booted once (no published figure)
SCALEDOWN_IDLETIME_S = 600.0  # ParallelCluster 3 SlurmSettings/ScaledownIdletime default (10 minutes)
VOLUME_GIB = 40.0  # assumption: root volume of a compute node (ParallelCluster AMIs' root volume size)
EBS_GB_MONTH = 0.08  # Amazon EBS pricing, gp3, us-east-1: $0.08/GB-month
INSTANCE_HOUR = 0.085  # Amazon EC2 On-Demand pricing, c5.large Linux, us-east-1: $0.085/h
SERVICE_INTERVAL_S = 30.0  # roles/autogrow_service: the service reconciles every 30 s (DEFAULT_INTERVAL)
STOP_S = 60.0  # assumption: the `stopping` state of an EBS-backed instance (no published figure)

autogrow = module_util("_autogrow")


def parse_estimates(text):
    """``requested``, ``exact`` or ``factor:F`` (F >= 1) -> ``(mode, factor)``."""
    if text in ("requested", "exact"):
        return text, 1.0
    if text.startswith("factor:"):
        try:
            factor = float(text.split(":", 1)[1])
        except ValueError:
            factor = 0.0
        if factor >= 1.0:
            return "factor", factor
    raise ValueError(f"--estimates must be requested, exact or factor:F with F >= 1, got {text!r}")


def max_time_of(trace):
    """The partition maximum time: the longest request, else the longest runtime (seconds)."""
    requests = [job.requested_time for job in trace.jobs if job.requested_time and job.requested_time > 0]
    if requests:
        return float(max(requests))
    return float(max((job.runtime for job in trace.jobs), default=3600))


def build_jobs(trace, estimates="requested", *, max_time=None, cores_per_node=1, job_class=cl.SimJob):
    """The world's jobs from an SWF trace; estimates and limits as the module docstring says."""
    mode, factor = parse_estimates(estimates)
    max_time = float(max_time) if max_time else max_time_of(trace)
    draw = random.Random(ESTIMATE_SEED)  # noqa: S311 - reproducible estimates, not secrets
    jobs = []
    for index, job in enumerate(trace.jobs):
        requested = job.requested_time if job.requested_time and job.requested_time > 0 else None
        limit = float(requested) if requested else max_time
        sim = job_class(index, job.submit, job.nodes(cores_per_node), job.runtime, estimate=limit, limit=limit)
        if mode == "exact":
            sim.estimate = sim.limit = max(sim.runtime, 1.0)
        elif mode == "factor":
            sim.estimate = sim.limit = max(sim.runtime, 1.0) * (1.0 + (factor - 1.0) * draw.random())
        jobs.append(sim)
    return jobs, max_time


class Result:
    def __init__(self, name, world, prices, *, lower_bound_s, elapsed):
        self.policy = name
        jobs = [job for job in world.jobs if job.ready is not None]
        waits = [job.ready - job.submit for job in jobs]
        runs = [min(job.runtime, job.limit) for job in jobs]
        self.node_hours = world.billed / 3600.0
        self.pool_node_hours = world.stopped_s / 3600.0 * prices.ebs_ratio
        self.cost_node_hours = self.node_hours + self.pool_node_hours
        self.stopped_instance_hours = world.stopped_s / 3600.0
        self.mean_wait_s = sum(waits) / len(waits) if waits else 0.0
        ordered = sorted(waits)
        self.p95_wait_s = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)] if ordered else 0.0
        slowdowns = [max(1.0, (wait + run) / max(run, 10.0)) for wait, run in zip(waits, runs, strict=True)]
        self.mean_bounded_slowdown = sum(slowdowns) / len(slowdowns) if slowdowns else 0.0
        self.lower_bound_node_hours = lower_bound_s / 3600.0
        self.unfinished = len(world.jobs) - len(jobs)
        self.clamped = sum(1 for job in world.jobs if job.clamped)
        self.starts = dict(world.starts)
        self.failures = world.failures
        self.timeline = world.timeline or []
        self.decisions = world.decisions
        self.elapsed = elapsed

    def metrics(self):
        return {
            "node_hours": round(self.node_hours, 3),
            "cost_node_hours": round(self.cost_node_hours, 3),
            "pool_node_hours": round(self.pool_node_hours, 3),
            "stopped_instance_hours": round(self.stopped_instance_hours, 1),
            "mean_wait_s": round(self.mean_wait_s, 3),
            "p95_wait_s": round(self.p95_wait_s, 3),
            "mean_bounded_slowdown": round(self.mean_bounded_slowdown, 4),
            "lower_bound_node_hours": round(self.lower_bound_node_hours, 3),
            "warm_starts": self.starts["warm"],
            "cold_starts": self.starts["cold"],
            "start_failures": self.failures,
            "clamped_jobs": self.clamped,
            "unfinished_jobs": self.unfinished,
        }


def settings_of(args, max_nodes, prices):
    keep = autogrow.pool_keep_time(args.boot_s, args.warm_boot_s, prices.ebs_ratio, args.pool_wait_weight)
    return {"max_nodes": max_nodes, "cold_boot_s": args.boot_s, "warm_boot_s": args.warm_boot_s,
            "scaledown_idletime": args.scaledown_idletime, "keep_time": keep, "interval": args.interval}


def simulate(jobs, name, *, max_nodes, settings, prices, stop_s=0.0, fail_rate=0.0, seed=1, record=True):
    """Play ``jobs`` (:class:`_cluster.SimJob`) under policy ``name``; returns a :class:`Result`."""
    started = time.perf_counter()
    for job in jobs:
        job.start = job.ready = None
        job.done = job.clamped = False
    policy = _policies.make(name, settings)
    world = cl.World(jobs, max_nodes, mode=policy.mode, cold_boot_s=settings["cold_boot_s"],
                     warm_boot_s=settings["warm_boot_s"], prices=prices, stop_s=stop_s, fail_rate=fail_rate,
                     seed=seed, record=record)
    world.run(policy)
    lower = autogrow.lower_bound_node_seconds(((job.nodes, min(job.runtime, job.limit)) for job in world.jobs),
                                              min(settings["cold_boot_s"], settings["warm_boot_s"]))
    return Result(name, world, prices, lower_bound_s=lower, elapsed=time.perf_counter() - started)


def compare(ours, base):
    """How ``ours`` does against ``base``: share of the gap to the bound closed, and the wait ratio."""
    gap = base.cost_node_hours - ours.lower_bound_node_hours
    closed = (base.cost_node_hours - ours.cost_node_hours) / gap if gap > 0 else 0.0
    wait = ours.mean_wait_s / base.mean_wait_s if base.mean_wait_s else math.inf
    best = (base.cost_node_hours - ours.lower_bound_node_hours) / base.cost_node_hours if base.cost_node_hours else 0
    return {"baseline": base.policy, "cost_ratio": round(ours.cost_node_hours / base.cost_node_hours, 4),
            "gap_closed": round(closed, 4), "gap_target": 0.8, "gap_pass": closed >= 0.8,
            "wait_ratio": round(wait, 4), "wait_target": 0.75, "wait_pass": wait <= 0.75,
            "bound_saving": round(best, 4)}


def table(label, results, params):
    lines = [f"== {label}: " + ", ".join(f"{key}={value}" for key, value in params.items()),
             f"{'policy':<22}{'node-h':>10}{'pool node-h':>12}{'cost node-h':>12}{'x bound':>8}{'mean wait s':>12}"
             f"{'p95 wait s':>11}{'bsld':>8}{'warm/cold starts':>18}{'sim s':>7}"]
    for result in results:
        starts = f"{result.starts['warm']}/{result.starts['cold']}"
        lines.append(
            f"{result.policy:<22}{result.node_hours:>10.0f}{result.pool_node_hours:>12.0f}"
            f"{result.cost_node_hours:>12.0f}{result.cost_node_hours / result.lower_bound_node_hours:>8.3f}"
            f"{result.mean_wait_s:>12.0f}{result.p95_wait_s:>11.0f}{result.mean_bounded_slowdown:>8.2f}"
            f"{starts:>18}{result.elapsed:>7.1f}")
    lines.append(f"{'hindsight lower bound':<22}{'':>10}{'':>12}{results[0].lower_bound_node_hours:>12.0f}{1.0:>8.3f}")
    for title, check in comparisons(results).items():
        lines.append(
            f"{title}: cost {check['cost_ratio']:.3f}x, closes {100 * check['gap_closed']:.0f}% of the gap to the "
            f"bound (target 80%: {'PASS' if check['gap_pass'] else 'FAIL'}); mean wait {check['wait_ratio']:.3f}x "
            f"(target 0.75: {'PASS' if check['wait_pass'] else 'FAIL'})")
    return "\n".join(lines)


COMPARISONS = (("product", "autogrow", "parallelcluster", "product: autogrow+pool vs parallelcluster"),
               ("policy alone", "autogrow", "parallelcluster-warm", "policy alone: autogrow vs parallelcluster-warm"),
               ("best achievable", "clairvoyant", "parallelcluster",
                "best achievable: clairvoyant vs parallelcluster"),
               ("best achievable, same pool", "clairvoyant", "parallelcluster-warm",
                "best achievable: clairvoyant vs parallelcluster-warm"))


def comparisons(results):
    """The comparisons the results allow, by title (see :data:`COMPARISONS`)."""
    by_name = {result.policy: result for result in results}
    found = {}
    for _key, ours, base, title in COMPARISONS:
        if ours in by_name and base in by_name:
            found[title] = compare(by_name[ours], by_name[base])
    return found


def plot(traces, path):
    """One panel pair per trace: queued nodes and nodes in service over time, each policy a line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"autogrow_sim: matplotlib is not installed, no plot written ({path})", file=sys.stderr)
        return None
    fig, axes = plt.subplots(2, len(traces), figsize=(6 * len(traces), 6), squeeze=False, sharex="col")
    for column, (label, results) in enumerate(traces):
        for result in results:
            if not result.timeline or result.policy in _policies.REFERENCES:
                continue  # the clairvoyant's idle nodes may have been stopped in hindsight: no timeline
            t0 = result.timeline[0][0]
            days = [(point[0] - t0) / 86400.0 for point in result.timeline]
            axes[0][column].step(days, [point[1] for point in result.timeline], where="post", linewidth=0.5,
                                 label=result.policy)
            axes[1][column].step(days, [point[2] for point in result.timeline], where="post", linewidth=0.5,
                                 label=result.policy)
        axes[0][column].set_title(label, fontsize="small")
        axes[0][column].set_ylabel("queued nodes")
        axes[1][column].set_ylabel("nodes in service")
        axes[1][column].set_xlabel("days")
    axes[1][0].legend(loc="upper right", fontsize="x-small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def parser_of():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", action="append", required=True, help="SWF trace file (repeat for several)")
    parser.add_argument("--policy", default="compare", choices=(*_policies.NAMES, "compare", "all"),
                        help="one policy, compare (autogrow, both ParallelCluster baselines and the clairvoyant "
                             "reference, default) or all")
    parser.add_argument("--max-nodes", type=int, help="fleet cap (default: 2 x the trace's MaxNodes/MaxProcs)")
    parser.add_argument("--estimates", default="requested", help="requested (default), exact or factor:F")
    parser.add_argument("--estimate-factor", type=float, help="alias of --estimates factor:F")
    parser.add_argument("--max-time", type=float, help="partition MaxTime, s (default: the trace's longest request)")
    parser.add_argument("--boot-s", type=float, action="append",
                        help="fresh launch to ready, s (default 300); repeat for one table set per boot time")
    parser.add_argument("--warm-boot-s", type=float, default=WARM_BOOT_S, help="stopped to ready, s (default 60)")
    parser.add_argument("--scaledown-idletime", type=float, default=SCALEDOWN_IDLETIME_S,
                        help="ParallelCluster's ScaledownIdletime, s (default 600)")
    parser.add_argument("--stop-s", type=float, default=STOP_S, help="stopping state, s (default 60)")
    parser.add_argument("--start-failure-rate", type=float, default=0.0, help="share of starts failing (seeded)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the start failures")
    parser.add_argument("--billing", choices=("second", "hourly"), default="second",
                        help="per second with a 60 s minimum (default) or whole hours")
    parser.add_argument("--volume-gib", type=float, default=VOLUME_GIB, help="EBS volume per node, GiB (40)")
    parser.add_argument("--ebs-gb-month", type=float, default=EBS_GB_MONTH, help="EBS $/GB-month (gp3: 0.08)")
    parser.add_argument("--instance-hour", type=float, default=INSTANCE_HOUR, help="instance $/h (c5.large: 0.085)")
    parser.add_argument("--pool-wait-weight", type=float, default=1.0,
                        help="node-seconds one second of a node's wait is worth when sizing the pool (default 1)")
    parser.add_argument("--interval", type=float, default=SERVICE_INTERVAL_S,
                        help="autogrow's poll interval, s (default 30: the service's; 0: event-driven, on each "
                             "submission, job end and node change)")
    parser.add_argument("--cores-per-node", type=int, default=1, help="processors of a trace job per node")
    parser.add_argument("--json", action="store_true", help="print JSON: trace -> policy -> metrics")
    parser.add_argument("--plot", help="PNG of queue and nodes over time (default .lab/benchmarks/autogrow_sim.png)")
    parser.add_argument("--no-plot", action="store_true", help="write no PNG")
    return parser


def run_trace(path, args, policies, prices):
    trace = swf.load(path)
    estimates = f"factor:{args.estimate_factor}" if args.estimate_factor else args.estimates
    jobs, max_time = build_jobs(trace, estimates, max_time=args.max_time, cores_per_node=args.cores_per_node)
    max_nodes = args.max_nodes or 2 * max(1, -(-trace.max_procs // args.cores_per_node))
    settings = settings_of(args, max_nodes, prices)
    results = [simulate(jobs, name, max_nodes=max_nodes, settings=settings, prices=prices, stop_s=args.stop_s,
                        fail_rate=args.start_failure_rate, seed=args.seed, record=not args.no_plot)
               for name in policies]
    requested = sum(1 for job in trace.jobs if job.requested_time and job.requested_time > 0)
    params = {"jobs": len(jobs), "with requested time": requested, "max_nodes": max_nodes,
              "estimates": estimates, "max_time_s": round(max_time), "boot_s": args.boot_s,
              "warm_boot_s": args.warm_boot_s, "interval": args.interval, "stop_s": args.stop_s,
              "billing": args.billing,
              "start_failure_rate": args.start_failure_rate, "pool_keep_s": round(settings["keep_time"]),
              "clamped": results[0].clamped}
    return results, params


def main(argv=None):
    parser = parser_of()
    args = parser.parse_args(argv)
    try:
        parse_estimates(args.estimates)
    except ValueError as exc:
        parser.error(str(exc))
    if args.estimate_factor is not None and args.estimate_factor < 1.0:
        parser.error(f"--estimate-factor must be 1 or more, got {args.estimate_factor}")
    prices = cl.Prices(billing=args.billing, volume_gib=args.volume_gib, ebs_gb_month=args.ebs_gb_month,
                       instance_hour=args.instance_hour)
    policies = {"compare": _policies.COMPARED, "all": _policies.NAMES}.get(args.policy, (args.policy,))
    boots = args.boot_s or [COLD_BOOT_S]
    report = {}
    drawn = []
    for boot in boots:
        run_args = argparse.Namespace(**{**vars(args), "boot_s": boot})
        for path in args.trace:
            results, params = run_trace(path, run_args, policies, prices)
            label = Path(path).name if len(boots) == 1 else f"{Path(path).name} boot_s={boot:g}"
            if boot == boots[0]:
                drawn.append((label, results))
            report[label] = {"params": params, "policies": {result.policy: result.metrics() for result in results},
                             "comparisons": comparisons(results)}
            if not args.json:
                print(table(label, results, params), flush=True)
    if not args.no_plot:
        path = Path(args.plot) if args.plot else ROOT / ".lab" / "benchmarks" / "autogrow_sim.png"
        written = plot(drawn, path)
        if not args.json:
            print(f"plot: {written if written else 'none'}")
    if args.json:
        if len(report) == 1 and len(policies) == 1:
            print(json.dumps(next(iter(report.values()))["policies"][policies[0]]))
        else:
            print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
