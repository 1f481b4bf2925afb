"""Unit tests of the autogrow policy: the decision table, limits, determinism, speed (no AWS)."""

from __future__ import annotations

import time

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow as ag

NOW = 10_000.0


def q(*sizes):
    return ag.summarize_queue([{"nodes": size} for size in sizes], max_nodes=100)


def busy(node_id):
    return ag.Node(node_id, ag.BUSY, billed_since=NOW - 3000)


def idle(node_id, idle_s, billed_s=3000):
    return ag.Node(node_id, ag.IDLE, since=NOW - idle_s, billed_since=NOW - billed_s)


def stopped(node_id):
    return ag.Node(node_id, ag.STOPPED, warm=True)


def starting(node_id):
    return ag.Node(node_id, ag.STARTING, billed_since=NOW - 10)


CFG = ag.Config(min_nodes=0, max_nodes=4, warm_boot_time=60, cold_boot_time=600)


@pytest.mark.parametrize(
    ("queue", "nodes", "start", "launch", "stop"),
    [
        # nothing queued, nothing running: nothing to do
        (q(), [stopped("w1")], [], 0, []),
        # queued work starts warm-pool nodes first, sorted by id
        (q(2), [stopped("w2"), stopped("w1"), stopped("w3")], ["w1", "w2"], 0, []),
        # more than the warm pool holds: the rest is launched fresh
        (q(3), [stopped("w1")], ["w1"], 2, []),
        # capped at max_nodes in service
        (q(9), [busy("b1"), stopped("w1")], ["w1"], 2, []),
        # idle and starting nodes count against the demand
        (q(2), [idle("i1", 5), starting("s1"), stopped("w1")], [], 0, []),
        # busy nodes are never stopped, even with nothing queued
        (q(), [busy("b1"), busy("b2")], [], 0, []),
        # idle past the window (60 s = max(warm boot, billing minimum)) and no demand: stop
        (q(), [idle("i1", 61), idle("i2", 30)], [], 0, ["i1"]),
        # an idle node the queue needs is kept
        (q(1), [idle("i1", 900), busy("b1")], [], 0, []),
        # started less than the billing minimum ago: already paid, not stopped
        (q(), [idle("i1", 61, billed_s=59)], [], 0, []),
    ],
)
def test_decision_table(queue, nodes, start, launch, stop):
    decision = ag.decide(NOW, queue, nodes, CFG)
    assert decision.start == start
    assert decision.launch == launch
    assert decision.stop == stop


def test_min_nodes_kept():
    config = ag.Config(min_nodes=1, max_nodes=4)
    decision = ag.decide(NOW, q(), [idle("i1", 5000), idle("i2", 5000)], config)
    assert decision.stop == ["i1"]
    decision = ag.decide(NOW, q(), [stopped("w1")], config)
    assert decision.start == ["w1"]


def test_end_of_hour_rule_waits_for_the_end_of_the_billed_hour():
    config = ag.Config(max_nodes=4, idle_timeout=0, end_of_hour=True, hour_window=300)
    early = ag.decide(NOW, q(), [idle("i1", 600, billed_s=1200)], config)
    assert early.stop == []
    assert early.recheck_at == NOW - 1200 + 3300
    late = ag.decide(NOW, q(), [idle("i1", 600, billed_s=3400)], config)
    assert late.stop == ["i1"]


def test_recheck_at_is_when_the_next_stop_falls_due():
    decision = ag.decide(NOW, q(), [idle("i1", 20)], CFG)
    assert decision.stop == []
    assert decision.recheck_at == NOW + 40


def test_unsatisfiable_jobs_do_not_grow_the_fleet():
    summary = ag.summarize_queue([{"nodes": 500}, {"cores": 7}], max_nodes=100, cores_per_node=2)
    assert summary.unsatisfiable_jobs == 1
    assert summary.pending_nodes == 4


def test_deterministic():
    nodes = [idle(f"i{n}", 100 + n) for n in range(50)] + [stopped(f"w{n}") for n in range(50)]
    first = ag.decide(NOW, q(), nodes, ag.Config(max_nodes=100)).as_dict()
    assert first == ag.decide(NOW, q(), list(reversed(nodes)), ag.Config(max_nodes=100)).as_dict()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("min_nodes", -1, "min_nodes"), ("max_nodes", 0, "max_nodes"), ("cores_per_node", 0, "cores_per_node")],
)
def test_config_errors_name_the_setting(field, value, message):
    with pytest.raises(ag.PolicyError, match=message):
        ag.Config(**{field: value})


def test_presets_and_unknown_policy():
    assert ag.preset("static", 8).min_nodes == 8
    assert ag.preset("idle-timeout-600", 8).idle_window == 600
    assert ag.preset("hpcpack-autogrowshrink", 8).interval == 300
    assert ag.preset("autogrow", 8).idle_window == 60
    with pytest.raises(ag.PolicyError, match="policy must be one of"):
        ag.preset("nope", 8)


def test_batches_of_at_most_1000_ids():
    assert [len(batch) for batch in ag.batches(range(2500))] == [1000, 1000, 500]
    assert ag.batches([]) == []


def test_lower_bound():
    assert ag.lower_bound_node_seconds([(2, 100), (4, 10)], 60) == 2 * 100 + 4 * 10 + 4 * 60


def test_10k_jobs_1k_nodes_under_one_second():
    jobs = [{"nodes": 1 + n % 8} for n in range(10_000)]
    nodes = [busy(f"b{n}") for n in range(250)] + [idle(f"i{n}", n) for n in range(250)]
    nodes += [stopped(f"w{n}") for n in range(500)]
    started = time.perf_counter()
    decision = ag.decide(NOW, ag.summarize_queue(jobs, 1000), nodes, ag.Config(max_nodes=1000))
    assert time.perf_counter() - started < 1.0
    assert len(decision.start) == 500


# ------------------------------------------------------------------ the queue forecast
def test_forecast_jobs_that_fit_start_now():
    plan = ag.forecast(NOW, [(2, 100), (3, None)], [(NOW + 50, 4)], capacity=10)
    assert plan.as_dict() == {"now_nodes": 5, "reserve_at": None, "reserve_nodes": 0, "freeing_nodes": 0}


def test_forecast_reserves_the_first_blocked_job_and_backfills_behind_it():
    running = [(NOW + 300, 4), (NOW + 900, 4)]
    # 2 free of 10; a 6-node job waits for the first running job (t+300): 6 free then, none spare
    pending = [(6, 1000), (2, 200), (2, 400), (1, None)]
    plan = ag.forecast(NOW, pending, running, capacity=10)
    assert plan.reserve_at == NOW + 300
    assert plan.reserve_nodes == 6
    # the 2-node job ending by t+300 backfills; the 400 s one would delay the reservation; no limit, no backfill
    assert plan.now_nodes == 2
    # nodes serving the reservation: the 4 of the running job and the 2 of the backfilled one
    assert plan.freeing_nodes == 6


def test_forecast_spare_nodes_at_the_reservation_take_long_jobs():
    plan = ag.forecast(NOW, [(5, 100), (1, None)], [(NOW + 60, 8)], capacity=10)
    assert (plan.reserve_at, plan.reserve_nodes) == (NOW + 60, 5)
    assert plan.now_nodes == 1  # 10 free at t+60, the reservation takes 5: a 1-node job fits the spare 5


def test_forecast_without_expected_ends_has_no_reservation_time():
    plan = ag.forecast(NOW, [(4, 100)], [(None, 8)], capacity=10)
    assert plan.reserve_at == float("inf")
    assert plan.now_nodes == 0
    assert plan.as_dict()["reserve_at"] is None  # module results stay plain JSON
    assert plan.as_dict()["reserve_nodes"] == 4


def test_forecast_scans_at_most_depth_jobs_behind_the_blocked_one():
    plan = ag.forecast(NOW, [(9, 100)] + [(1, 10)] * 5, [(NOW + 100, 9)], capacity=10, depth=2)
    assert plan.now_nodes == 1  # one node free: the first backfill candidate takes it, the scan stops at 2


def test_summarize_queue_forecasts_from_running_jobs():
    jobs = [{"nodes": 4, "time_limit_s": 600}, {"nodes": 1, "time_limit_s": 60}]
    summary = ag.summarize_queue(jobs, 4, now=NOW, running=[{"nodes": 2, "end": NOW + 120}])
    assert summary.forecast.as_dict() == {"now_nodes": 1, "reserve_at": NOW + 120, "reserve_nodes": 4,
                                          "freeing_nodes": 3}
    assert summary.as_dict()["forecast"]["reserve_nodes"] == 4
    assert ag.summarize_queue(jobs, 4).forecast is None


def wide_job_waiting(reserve_in_s):
    """Two of four nodes busy until now + reserve_in_s, a 4-node job pending behind them."""
    plan = ag.Forecast(now_nodes=0, reserve_at=NOW + reserve_in_s, reserve_nodes=4, freeing_nodes=2)
    return ag.QueueSummary(pending_nodes=4, pending_jobs=1, forecast=plan)


FORECAST_CFG = ag.Config(max_nodes=4, warm_boot_time=60, cold_boot_time=600, interval=30)


def test_nodes_held_for_a_distant_reservation_stop():
    nodes = [busy("b1"), busy("b2"), idle("i1", 61), idle("i2", 61)]
    decision = ag.decide(NOW, wide_job_waiting(3600), nodes, FORECAST_CFG)
    assert decision.stop == ["i1", "i2"]
    assert decision.demand == 0
    # without the forecast the same queue keeps them idle for the hour
    assert ag.decide(NOW, wide_job_waiting(3600), nodes, ag.Config(max_nodes=4, forecast=False)).stop == []


def test_reservation_nodes_start_one_boot_and_one_poll_ahead():
    nodes = [busy("b1"), busy("b2"), stopped("w1"), stopped("w2")]
    early = ag.decide(NOW, wide_job_waiting(3600), nodes, FORECAST_CFG)
    assert (early.start, early.launch) == ([], 0)
    assert early.recheck_at == NOW + 3600 - 90
    due = ag.decide(NOW, wide_job_waiting(90), nodes, FORECAST_CFG)
    # 4 nodes reserved, 2 come from the running work ending by then: start the 2 stopped ones
    assert due.start == ["w1", "w2"]
    assert due.demand == 2


def test_reservation_without_an_end_time_keeps_no_nodes():
    nodes = [busy("b1"), busy("b2"), idle("i1", 61)]
    decision = ag.decide(NOW, wide_job_waiting(float("inf")), nodes, FORECAST_CFG)
    assert decision.stop == ["i1"]
    assert decision.recheck_at is None


# ------------------------------------------------------------------ the warm pool's size
def test_most_recently_stopped_pool_nodes_start_first():
    nodes = [ag.Node("w1", ag.STOPPED, since=NOW - 500), ag.Node("w2", ag.STOPPED, since=NOW - 100), stopped("w0")]
    assert ag.decide(NOW, q(2), nodes, CFG).start == ["w2", "w1"]


def test_pool_keep_time_is_the_ski_rental_break_even():
    # a warm start saves 240 billed seconds and 240 s of wait (weight 1); EBS costs 0.05 node-s per s
    assert ag.pool_keep_time(300, 60, 0.05) == pytest.approx(480 / 0.05)
    assert ag.pool_keep_time(300, 60, 0.05, wait_weight=0) == pytest.approx(240 / 0.05)
    assert ag.pool_keep_time(300, 60, 0) == float("inf")


def test_pool_trim_terminates_instances_stopped_longer_than_the_keep_time():
    nodes = [ag.Node("w1", ag.STOPPED, since=NOW - 5000), ag.Node("w2", ag.STOPPED, since=NOW - 100),
             stopped("w3"), idle("i1", 9000)]
    ids, recheck = ag.pool_trim(NOW, nodes, 1000)
    assert ids == ["w1"]  # w3's age is unknown: kept; idle nodes are decide()'s
    assert recheck == NOW - 100 + 1000
    assert ag.pool_trim(NOW, nodes, float("inf")) == ([], None)


def test_parallelcluster_preset():
    config = ag.preset("parallelcluster", 8)
    assert config.idle_window == ag.SCALEDOWN_IDLETIME == 600
    assert not config.use_warm_pool
    assert "parallelcluster" in ag.POLICIES
