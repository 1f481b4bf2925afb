"""A synthetic workload with requested times, after Lublin & Feitelson's model (benchmarks/gen_trace.py).

Lublin, U. and Feitelson, D. G. (2003), "The workload on parallel supercomputers: modeling the
characteristics of rigid jobs", Journal of Parallel and Distributed Computing 63(11). This is a
simplified implementation of its shape, seeded and deterministic:

* size: a share of serial jobs; parallel sizes log2-uniform in two stages, most of them rounded to
  a power of two (the model's ``pow2`` emphasis);
* runtime: log-runtime from a hyper-gamma (a mix of two gammas), the long branch more likely for
  larger jobs (runtime correlates with size);
* arrivals: gamma-distributed gaps modulated by a daily cycle (busy days, quiet nights).

Requested times (SWF field 9) over-estimate the runtime as users do - Mu'alem and Feitelson (2001),
"Utilization, predictability, workloads, and user runtime estimates in scheduling the IBM SP2 with
backfilling", and Tsafrir, Etsion and Feitelson (2005), "Modeling user runtime estimates": a few
round values take most jobs (the model's modal estimates), a share of jobs asks for the partition
maximum, and the runtime is never above the request (Slurm kills a job at its limit). The
parameters are this project's choice, not fitted to a log: read the figures as a second workload
shape, not as a measurement of any site.
"""

from __future__ import annotations

import math
import random

# popular requested times (Tsafrir et al.: ~20 values cover most jobs): 5 min .. 36 h
POPULAR = (300, 600, 900, 1200, 1800, 3600, 7200, 10800, 14400, 21600, 28800, 43200, 64800, 86400, 129600)


def _size(draw, max_nodes, serial=0.24, pow2=0.75):
    if draw.random() < serial:
        return 1
    top = math.log2(max_nodes)
    # two-stage uniform on log2 size: most jobs in the lower stage
    value = draw.uniform(0.8, top - 2.5) if draw.random() < 0.86 else draw.uniform(top - 2.5, top)
    if draw.random() < pow2:
        return max(2, min(max_nodes, 2 ** round(value)))
    return max(2, min(max_nodes, round(2 ** value)))


def _runtime(draw, size, max_nodes):
    # hyper-gamma on ln(runtime); the long branch is likelier for wide jobs
    short_share = 0.78 - 0.4 * math.log2(size) / max(1.0, math.log2(max_nodes))
    short = draw.random() < short_share
    log_runtime = draw.gammavariate(4.2, 0.94) if short else draw.gammavariate(312.0, 0.03)
    return max(1, min(int(math.exp(log_runtime)), 129600))


def _request(draw, runtime, max_time):
    if draw.random() < 0.15:
        return max_time  # "the maximum allowed": a large share of users' requests
    wanted = runtime * draw.uniform(1.0, 4.0)
    for value in POPULAR:
        if value >= wanted and value <= max_time:
            return value
    return max_time


def _gap(draw, clock, mean_gap):
    hour = (clock % 86400) / 3600.0
    # daily cycle: arrivals peak in the working day, a third as many at night
    rate = 1.0 + 0.6 * math.sin((hour - 8.0) / 24.0 * 2 * math.pi)
    return draw.gammavariate(2.0, mean_gap / 2.0) / max(0.2, rate)


def generate(seed, n_jobs, max_nodes, load=0.9, max_time=129600):
    """``(jobs, header)``: ``jobs`` as ``(id, submit, runtime, procs, requested)``, offered load ~``load``."""
    draw = random.Random(seed)  # noqa: S311 - a reproducible workload, not secrets
    shapes = []
    for _index in range(n_jobs):
        size = _size(draw, max_nodes)
        runtime = _runtime(draw, size, max_nodes)
        shapes.append((size, runtime, _request(draw, runtime, max_time)))
    work = sum(size * runtime for size, runtime, _request_s in shapes)
    mean_gap = work / (load * max_nodes) / n_jobs  # spread the work to the offered load
    clock = 3600.0
    jobs = []
    for job_id, (size, runtime, request) in enumerate(shapes, start=1):
        clock += _gap(draw, clock, mean_gap)
        jobs.append((job_id, round(clock), runtime, size, request))
    header = {"Version": 2, "Computer": "synthetic (benchmarks/gen_trace.py)",
              "Note": f"Lublin-Feitelson shape, over-estimated requests, seed {seed}, load {load}",
              "MaxJobs": n_jobs, "MaxRecords": n_jobs, "MaxNodes": max_nodes, "MaxRuntime": max_time}
    return jobs, header
