"""Time one autogrow reconcile step: 10,000 queued jobs and 1,000 nodes (target: under 1 s).

    benchmarks/autogrow_step.py [--jobs 10000] [--nodes 1000] [--repeat 5] [--json]

The step is what hpc_autogrow and the service do per reconcile: summarise the queue with its
forecast (running jobs' expected ends, pending jobs' time limits) and decide
(plugins/module_utils/_autogrow.py), plus building the batched EC2 calls (at most 1,000 ids each).
Inputs are deterministic (fixed seed): a quarter of the nodes busy (one running job each), a
quarter idle for various times, a tenth starting, the rest stopped in the warm pool.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from _report import module_util  # benchmarks/ is the script's own directory

TARGET_S = 1.0


def inputs(n_jobs, n_nodes, seed=7):
    autogrow = module_util("_autogrow")
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    now = 1_000_000.0
    jobs = [{"id": str(i), "nodes": rng.choice((1, 1, 1, 2, 4, 8)), "cores": rng.choice((0, 2, 4)),
             "submit": now - rng.randint(0, 3600), "time_limit_s": rng.choice((None, 600, 3600, 86400))}
            for i in range(n_jobs)]
    nodes = []
    running = []
    for i in range(n_nodes):
        share = i / n_nodes
        node_id = f"i-{i:017x}"
        if share < 0.25:
            nodes.append(autogrow.Node(node_id, autogrow.BUSY, billed_since=now - 4000))
            running.append({"id": f"r{i}", "nodes": 1, "end": now + rng.randint(60, 7200)})
        elif share < 0.5:
            since = now - rng.randint(0, 900)
            nodes.append(autogrow.Node(node_id, autogrow.IDLE, since=since, billed_since=now - 5000))
        elif share < 0.6:
            nodes.append(autogrow.Node(node_id, autogrow.STARTING, billed_since=now - 20))
        else:
            nodes.append(autogrow.Node(node_id, autogrow.STOPPED, warm=True))
    return autogrow, now, jobs, running, nodes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    autogrow, now, jobs, running, nodes = inputs(args.jobs, args.nodes)
    config = autogrow.Config(max_nodes=args.nodes, cores_per_node=2)
    timings = []
    decision = None
    for _unused in range(args.repeat):
        started = time.perf_counter()
        queue = autogrow.summarize_queue(jobs, config.max_nodes, config.cores_per_node, now=now, running=running)
        decision = autogrow.decide(now, queue, nodes, config)
        batches = autogrow.batches(decision.start, 1000) + autogrow.batches(decision.stop, 1000)
        timings.append(time.perf_counter() - started)
    worst = max(timings)
    result = {
        "jobs": args.jobs, "nodes": args.nodes, "worst_s": round(worst, 4), "best_s": round(min(timings), 4),
        "target_s": TARGET_S, "pass": worst < TARGET_S, "start": len(decision.start), "launch": decision.launch,
        "stop": len(decision.stop), "api_batches": len(batches),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"autogrow reconcile step: {args.jobs} queued jobs, {args.nodes} nodes, {args.repeat} runs")
        print(f"  decision time worst {worst * 1000:.1f} ms, best {min(timings) * 1000:.1f} ms "
              f"(target < {TARGET_S * 1000:.0f} ms): {'PASS' if result['pass'] else 'FAIL'}")
        print(f"  decision: start {result['start']} warm, launch {result['launch']}, stop {result['stop']} "
              f"in {result['api_batches']} API batches")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
