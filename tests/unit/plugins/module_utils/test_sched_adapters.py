"""Unit tests of the scheduler adapters: Slurm 22.05 JSON (captured in the lab) and HPC Pack REST."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _sched

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fleet"


def fixture(name):
    return (FIXTURES / name).read_text()


def test_squeue_pending_jobs_from_real_output():
    jobs = _sched.slurm_pending_jobs(fixture("squeue_pending.json"))
    assert len(jobs) == 1
    assert jobs[0]["nodes"] == 2
    assert jobs[0]["cores"] == 2
    assert jobs[0]["submit"] > 0


def test_squeue_running_jobs_from_real_output():
    # the lab's partition has no time limit: Slurm puts the end a year ahead, the adapter says unknown
    running = _sched.slurm_running_jobs(fixture("squeue_pending.json"))
    assert running == [{"id": "3", "nodes": 1, "end": None}, {"id": "4", "nodes": 1, "end": None}]
    assert _sched.slurm_pending_jobs(fixture("squeue_pending.json"))[0]["time_limit_s"] is None


@pytest.mark.parametrize(
    ("time_limit", "seconds"),
    [
        (30, 1800),  # 22.05: minutes
        ({"set": True, "infinite": False, "number": 5}, 300),  # 23.02+
        ({"set": True, "infinite": True, "number": 0}, None),
        ({"set": False, "infinite": False, "number": 0}, None),
        (None, None),
        (4294967295, None),  # 22.05 INFINITE
    ],
)
def test_time_limits(time_limit, seconds):
    data = {"jobs": [
        {"job_id": 1, "job_state": "PENDING", "node_count": 2, "time_limit": time_limit},
        {"job_id": 2, "job_state": ["RUNNING"], "node_count": 3, "time_limit": time_limit, "end_time": 9000},
    ]}
    assert _sched.slurm_pending_jobs(data)[0]["time_limit_s"] == seconds
    assert _sched.slurm_running_jobs(data) == [{"id": "2", "nodes": 3, "end": None if seconds is None else 9000}]


def test_squeue_empty():
    assert _sched.slurm_pending_jobs(fixture("squeue_empty.json")) == []


def test_sinfo_states_from_real_output():
    nodes = _sched.slurm_nodes(fixture("sinfo_busy_drain.json"))
    assert nodes["compute-dy-c5large-1"]["state"] == _sched.BUSY
    assert nodes["compute-dy-c5large-2"]["state"] == _sched.DRAINING
    idle = _sched.slurm_nodes(fixture("sinfo_idle.json"))
    assert {node["state"] for node in idle.values()} == {_sched.IDLE}


@pytest.mark.parametrize(
    ("words", "state"),
    [
        (["IDLE"], "idle"), (["ALLOCATED"], "busy"), (["MIXED"], "busy"), (["IDLE", "DRAIN"], "drained"),
        (["ALLOCATED", "DRAIN"], "draining"), (["DOWN"], "down"), (["IDLE", "POWERED_DOWN"], "down"), ([], "unknown"),
    ],
)
def test_slurm_state_table(words, state):
    assert _sched.slurm_node_state(words) == state


def test_slurm_23_shapes_are_accepted():
    data = {"jobs": [{"job_id": 9, "job_state": ["PENDING"], "node_count": {"set": True, "number": 3},
                      "cpus": {"set": True, "number": 6}, "submit_time": {"set": True, "number": 5}}]}
    assert _sched.slurm_pending_jobs(json.dumps(data))[0]["nodes"] == 3
    nodes = _sched.slurm_nodes({"nodes": [{"name": "n1", "state": ["IDLE", "DRAIN"]}]})
    assert nodes["n1"]["state"] == "drained"


def test_drain_argv_and_bad_names():
    assert _sched.slurm_drain_argv("compute-dy-c5large-1", "pool run x") == [
        "scontrol", "update", "nodename=compute-dy-c5large-1", "state=drain", "reason=pool run x"]
    with pytest.raises(_sched.SchedulerError, match="not a Slurm node name"):
        _sched.slurm_drain_argv("n1; rm -rf /", "x")


def test_not_json_is_named():
    with pytest.raises(_sched.SchedulerError, match=r"^squeue_json \(the output of squeue --json\) is not JSON "
                                                    r"\(Expecting value.*\); it starts with 'nope'$"):
        _sched.slurm_pending_jobs("nope")
    with pytest.raises(_sched.SchedulerError, match=r"^sinfo_json \(the output of sinfo --json\) is not JSON"):
        _sched.slurm_nodes("<html>")
    with pytest.raises(_sched.SchedulerError, match=r"^squeue --json output is not JSON"):
        _sched.slurm_running_jobs("", source="squeue --json output")  # the service names the command


@pytest.mark.parametrize(
    ("call", "text", "message"),
    [
        ("slurm_pending_jobs", "{}", "squeue_json (the output of squeue --json) has no 'jobs' list (keys: none)"),
        ("slurm_pending_jobs", "[]", "squeue_json (the output of squeue --json) must be a JSON object with a 'jobs' "
                                     "list, got a JSON list"),
        ("slurm_running_jobs", '{"jobs": [], "errors": [{"error": "Unable to contact slurm controller"}]}',
         "squeue_json (the output of squeue --json) reports Slurm errors: Unable to contact slurm controller"),
        ("slurm_pending_jobs", '{"jobs": [7]}', "squeue_json (the output of squeue --json): jobs[0] must be a JSON "
                                                "object, got 7"),
        ("slurm_pending_jobs", '{"jobs": [{"job_id": 12, "job_state": "PENDING", "node_count": "two"}]}',
         "squeue_json (the output of squeue --json): jobs[0] (job 12) field node_count must be a number, got 'two'"),
        ("slurm_nodes", '{"nodes": [{"name": "n1", "state": "IDLE", "cpus": "x"}]}',
         "sinfo_json (the output of sinfo --json): nodes[0] (n1) field cpus must be a number, got 'x'"),
        ("slurm_nodes", '{"partitions": []}', "sinfo_json (the output of sinfo --json) has no 'nodes' list "
                                              "(keys: partitions)"),
    ],
)
def test_scheduler_output_errors_name_the_option_and_what_is_wrong(call, text, message):
    """An answer without the list would read as an empty queue (idle nodes stopped): it is refused instead."""
    with pytest.raises(_sched.SchedulerError) as raised:
        getattr(_sched, call)(text)
    assert str(raised.value) == message


def test_other_scheduler_inputs_are_checked_by_name():
    assert _sched.check_jobs([{"nodes": 2}, {"cores": 4, "end": None}], "pending_jobs") == [{"nodes": 2},
                                                                                            {"cores": 4, "end": None}]
    with pytest.raises(_sched.SchedulerError, match=r"^pending_jobs\[1\] must be a dict with nodes and/or cores"):
        _sched.check_jobs([{"nodes": 1}, "x"], "pending_jobs")
    with pytest.raises(_sched.SchedulerError, match=r"^running_jobs: \[0\] field end must be a number, got 'soon'"):
        _sched.check_jobs([{"nodes": 1, "end": "soon"}], "running_jobs")
    assert _sched.check_nodes({"n1": "idle", "n2": {"state": "busy", "idle_since": 5}}, "scheduler_nodes")
    with pytest.raises(_sched.SchedulerError, match=r"^scheduler_nodes\[n1\]: state must be one of busy, idle"):
        _sched.check_nodes({"n1": "sleeping"}, "scheduler_nodes")
    with pytest.raises(_sched.SchedulerError, match=r"^scheduler_nodes must be a dict of node name to state"):
        _sched.check_nodes(["n1"], "scheduler_nodes")


def test_hpcpack_requests():
    method, url, data, headers = _sched.hpcpack_request("head.example", "check_nodes_idle", ["CN-0001"])
    assert (method, url) == ("POST", "https://head.example/HpcManager/api/auto-scale/check-nodes-idle")
    assert json.loads(data) == ["CN-0001"]
    assert headers["Content-Type"] == "application/json"
    assert _sched.hpcpack_request("head", "nodes")[:3] == ("GET", "https://head/HpcManager/api/nodes", None)
    with pytest.raises(_sched.SchedulerError, match="unknown HPC Pack REST action"):
        _sched.hpcpack_request("head", "format_c")


def test_hpcpack_responses():
    assert _sched.hpcpack_grow_decision(fixture("hpcpack_grow_decision.json")) == {"": 4}
    assert _sched.hpcpack_grow_decision(fixture("hpcpack_grow_decision_groups.json")) == {"ComputeNodes": 2, "GPU": 0}
    idle = _sched.hpcpack_idle_nodes(fixture("hpcpack_check_nodes_idle.json"))
    nodes = _sched.hpcpack_nodes(fixture("hpcpack_nodes.json"), idle)
    assert {name: node["state"] for name, node in nodes.items()} == {
        "CN-0001": "busy", "CN-0002": "idle", "CN-0003": "drained", "CN-0004": "draining", "CN-0005": "unknown"}
    assert nodes["CN-0002"]["idle_since"] == "2026-11-23T10:15:00Z"
