"""Unit tests of the pcluster_cluster module's state machine against a fake pcluster executable.

tests/unit/fixtures/pcluster/fake/pcluster answers like pcluster 3 (JSON, exit codes, statuses that move
on with each describe-cluster) and records every call, so the tests assert what the module ran.
No network, no AWS.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pcluster_manager
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pcluster_policy as pcp
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import render
from ansible_collections.hpcops.aws_hpc.plugins.modules import pcluster_cluster

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pcluster"
FAKE = str(FIXTURES / "fake" / "pcluster")
SPEC = yaml.safe_load((FIXTURES / "minimal.spec.yml").read_text())


@pytest.fixture
def fake(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_PCLUSTER_STATE", str(tmp_path))
    # The fake's shebang is `#!/usr/bin/env python`: this interpreter's directory comes first.
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)

    class Fake:
        path = tmp_path / "state.json"

        def state(self):
            return json.loads(self.path.read_text()) if self.path.exists() else {"clusters": {}, "calls": []}

        def set(self, **knobs):
            state = self.state()
            state.update(knobs)
            self.path.write_text(json.dumps(state))

        def commands(self):
            def short(call):
                flags = [
                    f"{flag} {call[i + 1]}" for i, flag in enumerate(call) if flag in ("--dryrun", "--force-update")
                ]
                return " ".join([call[0], *flags])

            return [short(c) for c in self.state()["calls"]]

        def seed(self, name, config, status="CREATE_COMPLETE", fleet="RUNNING"):
            state = self.state()
            state["clusters"][name] = {"status": status, "config": yaml.safe_dump(config), "fleet": fleet}
            self.path.write_text(json.dumps(state))

    return Fake()


def run(capsys, check_mode=False, diff=False, **args):
    args.setdefault("pcluster_path", FAKE)
    args.setdefault("poll_interval", 0)
    args.setdefault("region", "eu-west-1")
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        pcluster_cluster.main()
    return json.loads(capsys.readouterr().out)


def config(**changes):
    spec = json.loads(json.dumps(SPEC))
    spec.update(changes)
    return render(spec)


# ---------------------------------------------------------------- rendered
def test_rendered_runs_nothing(fake, capsys):
    result = run(capsys, state="rendered", spec=SPEC, pcluster_path="/nonexistent/pcluster")
    assert result["changed"] is False
    assert result["config"] == render(SPEC)
    assert fake.state()["calls"] == []


def test_bad_variables_fail_before_any_call(fake, capsys):
    spec = dict(SPEC, scaledown_idletime=0)
    result = run(capsys, state="rendered", spec=spec)
    assert result["failed"]
    assert "spec.scaledown_idletime" in result["msg"]
    result = run(capsys, state="present", spec=spec)
    assert result["failed"] and "spec.scaledown_idletime" in result["msg"]
    assert fake.state()["calls"] == []


# ---------------------------------------------------------------- create
def test_check_mode_is_a_dry_run(fake, capsys):
    result = run(capsys, check_mode=True, spec=SPEC)
    assert result["changed"] is True and result["decision"] == "create"
    assert fake.commands() == ["describe-cluster", "create-cluster --dryrun true"]
    assert fake.state()["clusters"] == {}
    assert result["validation_messages"][0]["type"] == "CustomAmiTagValidator"


def test_dry_run_option_reports_without_change(fake, capsys):
    result = run(capsys, spec=SPEC, dry_run=True)
    assert result["changed"] is False and result["would_change"] is True
    assert fake.state()["clusters"] == {}


def test_create_waits_and_returns_head_node(fake, capsys):
    result = run(capsys, spec=SPEC, diff=True)
    assert result["changed"] is True
    assert result["status"] == "CREATE_COMPLETE"
    assert result["head_node"]["private_ip_address"] == "10.0.0.10"
    assert [p["status"] for p in result["progress"]] == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]
    assert fake.commands() == [
        "describe-cluster",
        "create-cluster --dryrun true",
        "create-cluster",
        "describe-cluster",
        "describe-cluster",
    ]
    assert result["diff"]["before"] == ""


def test_second_run_is_unchanged(fake, capsys):
    fake.seed("hello", config())
    result = run(capsys, spec=SPEC)
    assert result["changed"] is False and result["decision"] == pcp.NO_CHANGE
    assert fake.commands() == ["describe-cluster"]


def test_validation_failure_shows_pclusters_messages(fake, capsys):
    fake.set(
        validation_errors=[{"level": "ERROR", "type": "InstanceTypeValidator", "message": "c5.large is not offered"}]
    )
    result = run(capsys, spec=SPEC)
    assert result["failed"]
    assert "[ERROR] InstanceTypeValidator: c5.large is not offered" in result["msg"]


def test_failed_create_reports_stack_events(fake, capsys, monkeypatch):
    fake.set(fail_create=True)
    events = [{"logical_resource_id": "HeadNode", "status": "CREATE_FAILED", "reason": "capacity"}]
    monkeypatch.setattr(_pcluster_manager.ClusterManager, "stack_events", lambda self: events)
    result = run(capsys, spec=SPEC)
    assert result["failed"]
    assert "CREATE_FAILED" in result["msg"] and "HeadNode: capacity" in result["msg"]
    assert result["stack_events"] == events


# ---------------------------------------------------------------- update decision table in the module
def test_live_update(fake, capsys):
    fake.seed("hello", config())
    spec = json.loads(json.dumps(SPEC))
    spec["queues"][0]["compute_resources"][0]["max_count"] = 20
    result = run(capsys, spec=spec, diff=True)
    assert result["changed"] is True and result["decision"] == pcp.LIVE_UPDATE
    assert fake.commands() == [
        "describe-cluster",
        "update-cluster --dryrun true",
        "update-cluster",
        "describe-cluster",
        "describe-cluster",
    ]
    assert "MaxCount: 10" in result["diff"]["before"] and "MaxCount: 20" in result["diff"]["after"]
    # and the next run is unchanged
    assert run(capsys, spec=spec)["changed"] is False


def test_update_check_mode_changes_nothing(fake, capsys):
    fake.seed("hello", config())
    spec = json.loads(json.dumps(SPEC))
    spec["queues"][0]["compute_resources"][0]["max_count"] = 20
    result = run(capsys, check_mode=True, spec=spec)
    assert result["changed"] is True
    assert fake.commands() == ["describe-cluster", "update-cluster --dryrun true"]
    assert "MaxCount: 10" in fake.state()["clusters"]["hello"]["config"]


def test_fleet_stop_refused_without_permission(fake, capsys):
    fake.seed("hello", config())
    result = run(capsys, spec=dict(SPEC, scaledown_idletime=30))
    assert result["failed"] and result["decision"] == pcp.FLEET_STOP
    assert "needs the compute fleet stopped" in result["msg"]
    assert "Scheduling.SlurmSettings.ScaledownIdletime: 10 -> 30" in result["msg"]
    assert "allow_fleet_stop" in result["msg"]
    assert fake.commands() == ["describe-cluster"]


def test_fleet_stop_allowed_stops_updates_starts(fake, capsys):
    fake.seed("hello", config())
    fake.set(needs_stop=True)
    result = run(capsys, spec=dict(SPEC, scaledown_idletime=30), allow_fleet_stop=True)
    assert result["changed"] is True, result.get("msg")
    commands = fake.commands()
    assert commands[:3] == ["describe-cluster", "update-compute-fleet", "describe-cluster"]
    assert "update-cluster --dryrun true" in commands and "update-cluster" in commands
    assert commands.index("update-cluster") < len(commands) - 1
    assert [c for c in commands if c == "update-compute-fleet"] == ["update-compute-fleet"] * 2
    assert fake.state()["clusters"]["hello"]["fleet"] == "RUNNING"


def test_fleet_stop_check_mode_forces_dry_run_only(fake, capsys):
    fake.seed("hello", config())
    fake.set(needs_stop=True)
    result = run(capsys, check_mode=True, spec=dict(SPEC, scaledown_idletime=30), allow_fleet_stop=True)
    assert result["changed"] is True
    assert fake.commands() == ["describe-cluster", "update-cluster --dryrun true --force-update true"]
    assert fake.state()["clusters"]["hello"]["fleet"] == "RUNNING"


def test_replacement_refused_without_permission(fake, capsys):
    fake.seed("hello", config())
    spec = json.loads(json.dumps(SPEC))
    spec["head_node"]["instance_type"] = "t3.large"
    result = run(capsys, spec=spec)
    assert result["failed"] and result["decision"] == pcp.REPLACEMENT
    assert "HeadNode.InstanceType: 't3.micro' -> 't3.large'" in result["msg"]
    assert "allow_replacement" in result["msg"]


def test_replacement_allowed_deletes_and_creates(fake, capsys):
    fake.seed("hello", config())
    spec = json.loads(json.dumps(SPEC))
    spec["head_node"]["instance_type"] = "t3.large"
    result = run(capsys, spec=spec, allow_replacement=True)
    assert result["changed"] is True and result["status"] == "CREATE_COMPLETE"
    assert "delete-cluster" in fake.commands() and "create-cluster" in fake.commands()
    assert "t3.large" in fake.state()["clusters"]["hello"]["config"]


# ---------------------------------------------------------------- absent
def test_absent(fake, capsys):
    fake.seed("hello", config())
    assert run(capsys, check_mode=True, name="hello", state="absent")["changed"] is True
    assert "hello" in fake.state()["clusters"]
    result = run(capsys, name="hello", state="absent")
    assert result["changed"] is True and result["exists"] is False
    assert result["progress"][-1]["status"] == "DELETE_COMPLETE"
    assert run(capsys, name="hello", state="absent")["changed"] is False


def test_missing_pcluster_is_explained(fake, capsys):
    result = run(capsys, spec=SPEC, pcluster_path="no-such-pcluster-command")
    assert result["failed"] and "pip install aws-parallelcluster" in result["msg"]


def test_credentials_go_to_the_environment_not_argv(fake, capsys):
    run(capsys, spec=SPEC, check_mode=True, access_key="AKIAEXAMPLE", secret_key="secret-value")
    for call in fake.state()["calls"]:
        assert "secret-value" not in " ".join(call)


# ---------------------------------------------------------------- documented returns and option names
def test_update_returns_the_change_set_and_the_fleet_status(fake, capsys):
    fake.seed("hello", config())
    spec = json.loads(json.dumps(SPEC))
    spec["queues"][0]["compute_resources"][0]["max_count"] = 20
    result = run(capsys, check_mode=True, spec=spec)
    assert result["change_set"] == [{"parameter": "x", "currentValue": 1, "requestedValue": 2}]
    assert result["compute_fleet_status"] == "RUNNING"


def test_fleet_stop_refusal_names_module_options(fake, capsys):
    fake.seed("hello", config())
    result = run(capsys, spec=dict(SPEC, scaledown_idletime=30))
    assert "Set allow_fleet_stop: true" in result["msg"]
    assert "spec.queue_update_strategy (QueueUpdateStrategy)" in result["msg"]
    assert "parallelcluster_" not in result["msg"]


def test_failure_carries_the_result_so_far(fake, capsys):
    fake.seed("hello", config())
    result = run(capsys, spec=dict(SPEC, scaledown_idletime=30))
    assert result["failed"] and result["cluster_name"] == "hello"
    assert result["changes"][0]["path"] == "Scheduling.SlurmSettings.ScaledownIdletime"
    assert result["progress"] == []
