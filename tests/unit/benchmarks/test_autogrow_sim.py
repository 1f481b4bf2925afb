"""Unit tests of the autogrow simulator (benchmarks/autogrow_sim.py and its modules): what policies may see,
ParallelCluster's power-saving rule, estimates, billing, the warm pool's EBS charge, start failures."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import _cluster as cl  # benchmarks/ is not a package
import _swf
import autogrow_sim as sim

PRICES = cl.Prices()


class PeekedError(AssertionError):
    """A policy, the forecast or the scheduler read a job's actual runtime before the job ended."""


class GuardedJob(cl.SimJob):
    """A job whose actual runtime raises when read before the simulated end of the job."""

    __slots__ = ()

    @property
    def runtime(self):
        if not self.done:
            raise PeekedError(f"job {self.index}: runtime read before the job ended")
        return self._runtime


TRACE = """; MaxNodes: 8
1 0 -1 500 2 -1 -1 2 900 -1 1 -1 -1 -1 1 -1 -1 -1
2 10 -1 4000 8 -1 -1 8 7200 -1 1 -1 -1 -1 1 -1 -1 -1
3 20 -1 100 1 -1 -1 1 -1 -1 1 -1 -1 -1 1 -1 -1 -1
4 900 -1 3000 4 -1 -1 4 3600 -1 1 -1 -1 -1 1 -1 -1 -1
5 950 -1 60 1 -1 -1 1 600 -1 1 -1 -1 -1 1 -1 -1 -1
6 20000 -1 1200 3 -1 -1 3 1800 -1 1 -1 -1 -1 1 -1 -1 -1
7 20010 -1 5000 6 -1 -1 6 3600 -1 1 -1 -1 -1 1 -1 -1 -1
"""


def trace():
    return _swf.parse(TRACE.splitlines())


def settings(max_nodes=8, cold=300.0, warm=60.0):
    return {"max_nodes": max_nodes, "cold_boot_s": cold, "warm_boot_s": warm, "scaledown_idletime": 600.0,
            "keep_time": sim.autogrow.pool_keep_time(cold, warm, PRICES.ebs_ratio), "interval": 30.0}


def run(name, jobs, **options):
    return sim.simulate(jobs, name, max_nodes=8, settings=settings(), prices=PRICES, **options)


# ------------------------------------------------------------------ (a) nobody reads the future
# every online policy; the clairvoyant reference (_policies.REFERENCES) reads the future by design
@pytest.mark.parametrize("name", sim._policies.ONLINE)
@pytest.mark.parametrize("options", [{}, {"stop_s": 60.0, "fail_rate": 0.3, "seed": 3}])
def test_no_policy_reads_a_runtime_before_the_job_ends(name, options):
    jobs, _max_time = sim.build_jobs(trace(), "requested", job_class=GuardedJob)
    result = run(name, jobs, **options)  # raises PeekedError on any early read
    assert result.unfinished == 0
    assert result.node_hours > 0


def test_the_guard_catches_an_oracle():
    """The guard works: exact estimates are the runtimes, read at submission."""
    with pytest.raises(PeekedError):
        sim.build_jobs(trace(), "exact", job_class=GuardedJob)


def test_the_guard_catches_a_forecast_fed_runtimes(monkeypatch):
    """A forecast given the runtimes instead of the time limits fails the test."""
    jobs, _max_time = sim.build_jobs(trace(), "requested", job_class=GuardedJob)
    real = sim._policies.autogrow.forecast

    def cheating(now, pending, running, capacity, depth=500):
        pending = list(pending)
        world_jobs = [job for job in jobs if job.start is None and job.submit <= now]
        for job in world_jobs:
            job.runtime  # noqa: B018 - the peek under test
        return real(now, pending, running, capacity, depth)

    monkeypatch.setattr(sim._policies.autogrow, "forecast", cheating)
    with pytest.raises(PeekedError):
        run("autogrow", jobs)


def test_every_policy_but_the_references_is_under_the_guard():
    assert set(sim._policies.ONLINE) | set(sim._policies.REFERENCES) == set(sim._policies.NAMES)
    assert sim._policies.REFERENCES == ("clairvoyant",)


# ------------------------------------------------------------------ the clairvoyant reference
def test_clairvoyant_waits_for_no_boot_and_is_bounded_both_ways():
    jobs, _max_time = sim.build_jobs(trace(), "requested")
    best = run("clairvoyant", jobs)
    assert all(job.ready == job.start for job in jobs)  # a job waits only in the queue, never for a boot
    assert best.mean_wait_s <= run("static", jobs).mean_wait_s  # static's nodes boot once, at the start
    assert best.lower_bound_node_hours <= best.cost_node_hours
    for name in ("autogrow", "parallelcluster", "parallelcluster-warm"):
        assert best.cost_node_hours <= run(name, jobs).cost_node_hours + 1e-9


@pytest.mark.parametrize(("gap", "how"), [(100.0, "keep"), (119.0, "keep"), (200.0, "warm"), (4000.0, "warm"),
                                          (5000.0, "cold")])
def test_clairvoyant_bridges_each_gap_the_cheapest_way(gap, how):
    policy = sim._policies.make("clairvoyant", settings())
    policy.attach(cl.World([], 1, mode=policy.mode, cold_boot_s=300.0, warm_boot_s=60.0, prices=PRICES, stop_s=60.0))
    # keep below stop + warm boot (120 s); warm while 60 + 0.0516 (gap - 60) < 300, i.e. below ~4,711 s; then cold
    assert policy.gap_choice(gap)[1] == how


def test_clairvoyant_charges_the_pool_and_boots_it_chose():
    text = """; MaxNodes: 1
1 0 -1 100 1 -1 -1 1 200 -1 1 -1 -1 -1 1 -1 -1 -1
2 1100 -1 100 1 -1 -1 1 200 -1 1 -1 -1 -1 1 -1 -1 -1
3 20000 -1 100 1 -1 -1 1 200 -1 1 -1 -1 -1 1 -1 -1 -1
"""
    jobs, _max_time = sim.build_jobs(_swf.parse(text.splitlines()), "requested")
    result = sim.simulate(jobs, "clairvoyant", max_nodes=1, settings=settings(max_nodes=1), prices=PRICES,
                          stop_s=60.0)
    # a cold launch, a 1,000 s gap bridged warm (stopped 940 s), an 18,800 s gap bridged by a fresh launch
    assert result.starts == {"warm": 1, "cold": 2}
    assert result.mean_wait_s == 0.0
    assert result.stopped_instance_hours == pytest.approx(940 / 3600.0)
    assert result.node_hours == pytest.approx((300 + 100 + 60 + 100 + 300 + 100) / 3600.0)


# ------------------------------------------------------------------ (b) ParallelCluster's rule
def test_parallelcluster_powers_down_an_idle_node_while_a_job_that_cannot_use_it_waits():
    # 4 nodes; a 3-node job runs 10,000 s; a 4-node job waits for it; the 4th node is idle
    text = """; MaxNodes: 4
1 0 -1 10000 3 -1 -1 3 10000 -1 1 -1 -1 -1 1 -1 -1 -1
2 5 -1 1 1 -1 -1 1 60 -1 1 -1 -1 -1 1 -1 -1 -1
3 10 -1 100 4 -1 -1 4 200 -1 1 -1 -1 -1 1 -1 -1 -1
"""
    jobs, _max_time = sim.build_jobs(_swf.parse(text.splitlines()), "requested")
    policy = sim._policies.make("parallelcluster", settings(max_nodes=4))
    world = cl.World(jobs, 4, mode=policy.mode, cold_boot_s=300.0, warm_boot_s=60.0, prices=PRICES)
    seen = []
    original = policy.decide

    def watch(now):
        original(now)
        waiting = [job for job in world.pending() if job.nodes == 4]
        seen.append((now, sum(1 for slot in world.slots if slot.state == cl.OFF), bool(waiting)))

    policy.decide = watch
    world.run(policy)
    # the 1-node job ran on the 4th node (boot 300 s), which is then idle; 600 s later it is powered
    # down although the 4-node job still waits (it cannot use one node)
    assert (300.0 + 5 + 1 + 600.0, 1, True) in seen
    assert jobs[2].ready >= 10000.0  # the wide job ran after the long one, on resumed nodes
    assert world.starts["cold"] == 5  # 3 + 1 at first, then the powered-down node resumed for the wide job


def test_parallelcluster_resumes_only_nodes_the_scheduler_allocates():
    text = "; MaxNodes: 8\n1 0 -1 100 2 -1 -1 2 200 -1 1 -1 -1 -1 1 -1 -1 -1\n"
    jobs, _max_time = sim.build_jobs(_swf.parse(text.splitlines()), "requested")
    result = run("parallelcluster", jobs)
    assert result.starts == {"warm": 0, "cold": 2}
    assert result.mean_wait_s == 300.0  # the job waits for its nodes' boot (ResumeProgram, ResumeTimeout)


# ------------------------------------------------------------------ estimates
def test_estimates_are_requested_times_else_the_partition_maximum():
    jobs, max_time = sim.build_jobs(trace(), "requested")
    assert max_time == 7200.0  # the longest request
    assert [job.estimate for job in jobs[:3]] == [900.0, 7200.0, 7200.0]  # job 3 has no request: MaxTime
    jobs, max_time = sim.build_jobs(trace(), "requested", max_time=3000)
    assert jobs[2].estimate == 3000.0
    no_requests = _swf.parse(["1 0 -1 500 2", "2 5 -1 900 1"])
    jobs, max_time = sim.build_jobs(no_requests, "requested")
    assert max_time == 900.0  # no requests at all: the longest runtime as the partition's MaxTime
    assert [job.estimate for job in jobs] == [900.0, 900.0]


def test_estimate_modes():
    assert sim.parse_estimates("factor:3") == ("factor", 3.0)
    assert sim.parse_estimates("exact") == ("exact", 1.0)
    for bad in ("factor:0.5", "factor:x", "guess"):
        with pytest.raises(ValueError, match="--estimates"):
            sim.parse_estimates(bad)
    jobs, _max_time = sim.build_jobs(trace(), "exact")
    assert [job.estimate for job in jobs[:2]] == [500.0, 4000.0]
    jobs, _max_time = sim.build_jobs(trace(), "factor:2")
    assert all(job.runtime <= job.estimate <= 2 * job.runtime for job in jobs)


def test_a_job_longer_than_its_request_is_killed_at_its_limit_and_counted():
    text = "; MaxNodes: 2\n1 0 -1 5000 1 -1 -1 1 1000 -1 1 -1 -1 -1 1 -1 -1 -1\n"
    jobs, _max_time = sim.build_jobs(_swf.parse(text.splitlines()), "requested")
    result = sim.simulate(jobs, "parallelcluster", max_nodes=2, settings=settings(max_nodes=2), prices=PRICES)
    assert result.clamped == 1
    assert result.lower_bound_node_hours == pytest.approx((1000 + 60) / 3600.0)


def test_cli_alias_and_errors(capsys, tmp_path):
    path = tmp_path / "t.swf"
    path.write_text(TRACE)
    assert sim.main(["--trace", str(path), "--estimate-factor", "2", "--no-plot", "--policy", "autogrow",
                     "--json"]) == 0
    assert '"cost_node_hours"' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        sim.main(["--trace", str(path), "--estimates", "nope"])


def test_cli_table_has_both_comparisons_for_each_trace(capsys, tmp_path):
    path = tmp_path / "t.swf"
    path.write_text(TRACE)
    assert sim.main(["--trace", str(path), "--trace", str(path), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert out.count("product: autogrow+pool vs parallelcluster") == 2
    assert out.count("policy alone: autogrow vs parallelcluster-warm") == 2
    assert out.count("hindsight lower bound") == 2
    assert out.count("best achievable: clairvoyant vs parallelcluster:") == 2


def test_cli_one_table_set_per_boot_time(capsys, tmp_path):
    path = tmp_path / "t.swf"
    path.write_text(TRACE)
    assert sim.main(["--trace", str(path), "--boot-s", "300", "--boot-s", "600", "--no-plot", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report) == ["t.swf boot_s=300", "t.swf boot_s=600"]
    assert report["t.swf boot_s=600"]["params"]["boot_s"] == 600.0
    assert report["t.swf boot_s=600"]["policies"]["parallelcluster"]["mean_wait_s"] >= 600.0


def test_interval_zero_is_event_driven():
    jobs, _max_time = sim.build_jobs(trace(), "requested")
    polled = sim.simulate(jobs, "autogrow", max_nodes=8, settings=settings(), prices=PRICES)
    event = sim.simulate(jobs, "autogrow", max_nodes=8, settings={**settings(), "interval": 0.0}, prices=PRICES)
    assert event.mean_wait_s < polled.mean_wait_s
    assert event.decisions > 0


# ------------------------------------------------------------------ billing and the pool's cost
def test_per_second_billing_with_a_60_s_minimum_and_hourly():
    assert cl.Prices().billed_seconds(10) == 60
    assert cl.Prices().billed_seconds(61.5) == 61.5
    hourly = cl.Prices(billing="hourly")
    assert hourly.billed_seconds(10) == 3600
    assert hourly.billed_seconds(3600) == 3600
    assert hourly.billed_seconds(3601) == 7200


def test_ebs_charge_in_node_hours():
    prices = cl.Prices(volume_gib=40, ebs_gb_month=0.08, instance_hour=0.085)
    # 40 GiB x $0.08 / 730 h = $0.004384/h, over $0.085/h = 0.0516 node-hours per stopped hour
    assert prices.ebs_ratio == pytest.approx(40 * 0.08 / 730 / 0.085)
    assert prices.ebs_ratio == pytest.approx(0.05158, abs=1e-5)


def test_stopped_time_is_charged_and_pool_instances_are_born_billed():
    text = """; MaxNodes: 2
1 0 -1 100 1 -1 -1 1 200 -1 1 -1 -1 -1 1 -1 -1 -1
2 1000 -1 100 1 -1 -1 1 200 -1 1 -1 -1 -1 1 -1 -1 -1
"""
    jobs, _max_time = sim.build_jobs(_swf.parse(text.splitlines()), "requested")
    result = sim.simulate(jobs, "autogrow", max_nodes=2, settings=settings(max_nodes=2), prices=PRICES)
    # no pool at the start: the first node is a fresh launch; it stops into the pool, restarts warm
    assert result.starts == {"warm": 1, "cold": 1}
    assert result.stopped_instance_hours > 0
    assert result.pool_node_hours == pytest.approx(result.stopped_instance_hours * PRICES.ebs_ratio)
    assert result.cost_node_hours == pytest.approx(result.node_hours + result.pool_node_hours)


def test_start_failures_are_seeded():
    jobs, _max_time = sim.build_jobs(trace(), "requested")
    first = run("parallelcluster-warm", jobs, fail_rate=0.5, seed=5)
    again = run("parallelcluster-warm", jobs, fail_rate=0.5, seed=5)
    other = run("parallelcluster-warm", jobs, fail_rate=0.5, seed=6)
    assert first.failures > 0
    assert first.metrics() == again.metrics()
    assert (first.failures, first.mean_wait_s) != (other.failures, other.mean_wait_s)
    assert run("parallelcluster-warm", jobs).failures == 0


def test_stop_latency_keeps_a_stopping_node_out_of_service():
    world = cl.World([], 1, mode="policy", cold_boot_s=300.0, warm_boot_s=60.0, prices=PRICES, stop_s=60.0)
    slot = world.slots[0]
    world.boot(slot)
    slot.state = cl.IDLE
    world.stop(slot)
    assert slot.state == cl.STOPPING
    assert not world.can_boot(slot)
