"""Unit tests of the rolling replacement planner: batches, min healthy, never a busy node, resume."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pool

NEW, OLD = "ami-new", "ami-old"
NOW = 100_000


def node(n, image=OLD, sched=_pool.SCHED_IDLE, serving=True, **tags):
    tags = {key.replace("_", "-").replace("pool-", "hpc:pool-"): value for key, value in tags.items()}
    return _pool.PoolNode(f"i-{n:04d}", image, serving, tags=tags, sched=sched)


def draining(n, sched, since=NOW - 10):
    return _pool.PoolNode(f"i-{n:04d}", OLD, True, tags=_pool.drain_tags("run1", since), sched=sched)


def test_first_batch_respects_batch_size_and_prefers_idle():
    nodes = [node(1, sched="busy"), node(2), node(3), node(4, NEW)]
    plan = _pool.plan(nodes, NEW, desired=4, now=NOW, min_healthy_percent=50, batch_size=2)
    assert plan.drain == ["i-0002", "i-0003"]
    assert plan.terminate == []
    assert not plan.done


def test_min_healthy_percent_limits_the_batch():
    nodes = [node(n) for n in range(1, 11)]
    plan = _pool.plan(nodes, NEW, desired=10, now=NOW, min_healthy_percent=80, batch_size=5)
    assert len(plan.drain) == 2  # 10 serving, 8 must stay
    plan = _pool.plan(nodes, NEW, desired=10, now=NOW, min_healthy_percent=100, batch_size=5)
    assert plan.drain == []
    assert "must stay" in plan.notes[0]


def test_busy_draining_node_is_never_terminated_before_the_timeout():
    nodes = [draining(1, "busy"), draining(2, "idle"), draining(3, "drained")]
    plan = _pool.plan(nodes, NEW, desired=3, now=NOW, min_healthy_percent=0, batch_size=3, drain_timeout=600)
    assert plan.terminate == ["i-0002", "i-0003"]
    assert plan.waiting == ["i-0001"]


def test_drain_timeout_terminates_a_busy_node():
    plan = _pool.plan([draining(1, "busy", since=NOW - 700)], NEW, desired=1, now=NOW, min_healthy_percent=0,
                      drain_timeout=600)
    assert plan.terminate == ["i-0001"]
    assert "timeout" in plan.notes[0]


def test_in_flight_batch_blocks_the_next_one():
    nodes = [draining(1, "busy"), node(2), node(3)]
    plan = _pool.plan(nodes, NEW, desired=3, now=NOW, min_healthy_percent=0, batch_size=1)
    assert plan.drain == []
    assert plan.waiting == ["i-0001"]


def test_resume_after_crash_terminates_replacing_nodes_again():
    crashed = _pool.PoolNode("i-0001", OLD, True, tags=_pool.replacing_tags("run1"), sched="busy")
    plan = _pool.plan([crashed, node(2, NEW)], NEW, desired=2, now=NOW, min_healthy_percent=50)
    assert plan.terminate == ["i-0001"]
    assert plan.drain == []


def test_stopped_warm_pool_nodes_are_replaced_without_draining():
    plan = _pool.plan([node(1, serving=False), node(2, NEW)], NEW, desired=1, now=NOW, min_healthy_percent=100)
    assert plan.terminate_stopped == ["i-0001"]
    assert plan.drain == []


def test_done_when_every_node_is_current():
    plan = _pool.plan([node(1, NEW), node(2, NEW)], NEW, desired=2, now=NOW)
    assert plan.done
    assert not plan.changed


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target_image": ""}, "no current AMI"),
    ({"batch_size": 0}, "batch_size"),
    ({"min_healthy_percent": 120}, "min_healthy_percent"),
])
def test_errors_name_the_input(kwargs, message):
    args = {"nodes": [], "target_image": NEW, "desired": 1, "now": NOW}
    args.update(kwargs)
    with pytest.raises(_pool.PoolError, match=message):
        _pool.plan(**args)


@pytest.mark.parametrize(("batch_size", "max_size"), [(1, 4), (4, 4), (1, 0), (3, None)])
def test_a_batch_size_within_the_group_fits(batch_size, max_size):
    assert _pool.batch_size_error(batch_size, max_size, "hpc-unit-computenode") == ""


def test_a_batch_size_larger_than_the_group_names_both_numbers():
    message = _pool.batch_size_error(50, 4, "hpc-unit-computenode")
    assert message.startswith("batch_size 50 is larger than the max size 4 of Auto Scaling group hpc-unit-computenode")
    assert "1 to 4" in message
