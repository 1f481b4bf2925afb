"""The live progress lines of pcluster_cluster's waits (option progress_file).

The wait loops are driven by a fake ``describe`` (a list of answers) and a fake clock, so the
elapsed seconds in the lines are exact; one test runs the whole module against the fake pcluster
executable of test_pcluster_cluster.py. A real cluster cannot be created against the lab endpoint.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pcluster_manager
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_cli import PclusterError
from ansible_collections.hpcops.aws_hpc.plugins.modules import pcluster_cluster

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pcluster"
SPEC = yaml.safe_load((FIXTURES / "minimal.spec.yml").read_text())
POLL = 30


class FakeClock:
    """time.monotonic/time.sleep of the module: each sleep moves the clock on."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class FakePcluster:
    def __init__(self, answers, fleet=()):
        self.answers = list(answers)
        self.fleet = list(fleet)
        self.runs = []

    def describe(self, name):
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if answer is None:
            return None
        status, fleet = answer if isinstance(answer, tuple) else (answer, "RUNNING")
        return {"clusterName": name, "clusterStatus": status, "cloudFormationStackStatus": status,
                "computeFleetStatus": fleet}

    def run(self, *args):
        self.runs.append(args)
        return 0, {}


def manager(tmp_path, monkeypatch, answers, *, progress=True, secrets=(), timeout=3600):
    clock = FakeClock()
    monkeypatch.setattr(_pcluster_manager, "time", clock)
    path = tmp_path / "progress.log"
    path.touch()

    module = SimpleNamespace(
        params={"progress_file": str(path) if progress else None, "wait_timeout": timeout, "poll_interval": POLL},
        no_log_values=set(secrets),
    )
    cluster = _pcluster_manager.ClusterManager(module, FakePcluster(answers), "demo", {})
    return cluster, path


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


def test_create_wait_writes_each_status_change_once_with_elapsed_seconds(tmp_path, monkeypatch):
    answers = ["CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    cluster, path = manager(tmp_path, monkeypatch, answers)
    described = cluster.wait(("CREATE_COMPLETE",), ("CREATE_FAILED",))
    assert described["clusterStatus"] == "CREATE_COMPLETE"
    assert lines(path) == [
        f"pcluster[demo] waiting for CREATE_COMPLETE (timeout 3600 s, a status query every {POLL} s)",
        "pcluster[demo] 0 s: CREATE_IN_PROGRESS (stack CREATE_IN_PROGRESS)",
        "pcluster[demo] 90 s: CREATE_COMPLETE (stack CREATE_COMPLETE)",
    ]
    # the result's progress keeps the same changes
    assert cluster.progress == [{"elapsed": 0, "status": "CREATE_IN_PROGRESS"},
                                {"elapsed": 90, "status": "CREATE_COMPLETE"}]


def test_delete_wait_ends_when_the_cluster_is_gone(tmp_path, monkeypatch):
    cluster, path = manager(tmp_path, monkeypatch, ["DELETE_IN_PROGRESS", "DELETE_IN_PROGRESS", None])
    assert cluster.wait((), ("DELETE_FAILED",), gone_ok=True) is None
    assert lines(path) == [
        f"pcluster[demo] waiting for the deletion (timeout 3600 s, a status query every {POLL} s)",
        "pcluster[demo] 0 s: DELETE_IN_PROGRESS (stack DELETE_IN_PROGRESS)",
        "pcluster[demo] 60 s: DELETE_COMPLETE (the cluster is gone)",
    ]


def test_failure_writes_the_failed_stack_events_with_secrets_masked(tmp_path, monkeypatch):
    cluster, path = manager(tmp_path, monkeypatch, ["CREATE_IN_PROGRESS", "CREATE_FAILED"], secrets={"s3cr3t-key"})
    events = [{"logical_resource_id": "HeadNode", "resource_type": "AWS::EC2::Instance", "status": "CREATE_FAILED",
               "reason": "insufficient capacity (s3cr3t-key)"}]
    monkeypatch.setattr(cluster, "stack_events", lambda: events)
    with pytest.raises(PclusterError) as failure:
        cluster.wait(("CREATE_COMPLETE",), ("CREATE_FAILED",))
    assert "HeadNode: insufficient capacity" in failure.value.fail_kwargs()["msg"]
    assert lines(path)[-2:] == [
        "pcluster[demo] 30 s: CREATE_FAILED (stack CREATE_FAILED)",
        "pcluster[demo] stack event HeadNode (AWS::EC2::Instance) CREATE_FAILED: insufficient capacity (********)",
    ]
    assert "s3cr3t-key" not in path.read_text()


def test_timeout_is_the_last_line(tmp_path, monkeypatch):
    cluster, path = manager(tmp_path, monkeypatch, ["UPDATE_IN_PROGRESS"], timeout=60)
    with pytest.raises(PclusterError, match="Timed out after 60 s"):
        cluster.wait(("UPDATE_COMPLETE",), ("UPDATE_FAILED",))
    assert lines(path)[-1] == "pcluster[demo] 60 s: timed out, last status UPDATE_IN_PROGRESS"


def test_compute_fleet_wait_writes_each_fleet_status_change(tmp_path, monkeypatch):
    answers = [("UPDATE_COMPLETE", "STOP_REQUESTED"), ("UPDATE_COMPLETE", "STOPPING"),
               ("UPDATE_COMPLETE", "STOPPING"), ("UPDATE_COMPLETE", "STOPPED")]
    cluster, path = manager(tmp_path, monkeypatch, answers)
    cluster.set_fleet("STOP_REQUESTED", "STOPPED")
    assert cluster.pcluster.runs == [("update-compute-fleet", "--cluster-name", "demo", "--status", "STOP_REQUESTED")]
    assert lines(path) == [
        "pcluster[demo] compute fleet STOP_REQUESTED: waiting for STOPPED (timeout 3600 s)",
        "pcluster[demo] 0 s: compute fleet STOP_REQUESTED",
        "pcluster[demo] 30 s: compute fleet STOPPING",
        "pcluster[demo] 90 s: compute fleet STOPPED",
    ]


def test_without_progress_file_the_wait_writes_nothing(tmp_path, monkeypatch):
    cluster, path = manager(tmp_path, monkeypatch, ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"], progress=False)
    cluster.wait(("CREATE_COMPLETE",), ("CREATE_FAILED",))
    assert [p["status"] for p in cluster.progress] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert path.read_text() == ""


def test_the_module_writes_its_create_progress(tmp_path, monkeypatch, capsys):
    """The whole module against the fake pcluster executable, with progress_file as the action plugin sets it."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKE_PCLUSTER_STATE", str(state))
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    progress = tmp_path / "progress.log"
    progress.touch()
    args = {"spec": SPEC, "pcluster_path": str(FIXTURES / "fake" / "pcluster"), "poll_interval": 0,
            "region": "eu-west-1", "progress_file": str(progress)}
    with patch_module_args(args), pytest.raises(SystemExit):
        pcluster_cluster.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True and result["status"] == "CREATE_COMPLETE"
    name = result["cluster_name"]
    assert lines(progress) == [
        f"pcluster[{name}] creating the cluster (pcluster create-cluster)",
        f"pcluster[{name}] waiting for CREATE_COMPLETE (timeout 3600 s, a status query every 0 s)",
        f"pcluster[{name}] 0 s: CREATE_IN_PROGRESS (stack CREATE_IN_PROGRESS)",
        f"pcluster[{name}] 0 s: CREATE_COMPLETE (stack CREATE_COMPLETE)",
    ]
