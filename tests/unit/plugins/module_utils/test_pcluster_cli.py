"""The pcluster CLI runner of pcluster_cluster (module_utils/_pcluster_cli.py): answers that are not JSON fail
with the command, exit code, stdout and stderr instead of becoming an empty answer."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_cli import (
    PclusterError,
    environment,
    parse_answer,
)
from ansible_collections.hpcops.aws_hpc.plugins.modules import pcluster_cluster

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pcluster"
SPEC = yaml.safe_load((FIXTURES / "minimal.spec.yml").read_text())
ARGV = ["/opt/pcluster", "describe-cluster", "--cluster-name", "demo"]


def test_json_answers_are_parsed():
    assert parse_answer(ARGV, 0, '{"clusterStatus": "CREATE_COMPLETE"}\n', "") == {"clusterStatus": "CREATE_COMPLETE"}
    assert parse_answer(ARGV, 0, '[{"clusterName": "a"}]', "") == {"items": [{"clusterName": "a"}]}
    assert parse_answer(ARGV, 1, '{"message": "Cluster demo does not exist"}', "") == {
        "message": "Cluster demo does not exist"
    }
    assert parse_answer(ARGV, 0, "", "") == {}


def test_output_that_is_not_json_fails_with_command_rc_stdout_stderr():
    with pytest.raises(PclusterError) as failure:
        parse_answer(ARGV, 0, "Traceback (most recent call last):\n  boom", "a warning")
    result = failure.value.fail_kwargs()
    assert "describe-cluster answered with output that is not JSON (exit 0)" in result["msg"]
    assert result["command"] == "/opt/pcluster describe-cluster --cluster-name demo"
    assert result["rc"] == 0
    assert result["stdout"] == "Traceback (most recent call last):\n  boom"
    assert result["stderr"] == "a warning"


def test_a_failure_without_an_answer_fails_with_stderr():
    with pytest.raises(PclusterError) as failure:
        parse_answer(ARGV, 2, "", "usage: pcluster ...")
    result = failure.value.fail_kwargs()
    assert result["msg"] == "pcluster describe-cluster failed (exit 2): usage: pcluster ..."
    assert (result["rc"], result["stderr"]) == (2, "usage: pcluster ...")


def test_failure_keeps_its_own_keys_over_the_result_so_far():
    error = PclusterError("boom", status="CREATE_FAILED").with_result({"status": None, "cluster_name": "demo"})
    assert error.fail_kwargs() == {"msg": "boom", "status": "CREATE_FAILED", "cluster_name": "demo"}


def test_connection_options_go_to_the_environment():
    env = environment({"region": "eu-west-1", "profile": "ops", "endpoint_url": "http://127.0.0.1:1",
                       "access_key": "AKIAEXAMPLE", "secret_key": "s3cr3t", "session_token": "tok"})
    assert env == {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "AWS_PROFILE": "ops",
                   "AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
                   "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok"}
    assert environment({}) == {}


def test_the_module_fails_on_output_that_is_not_json(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "pcluster"
    broken.write_text("#!/bin/sh\necho 'not json at all'\necho 'on stderr' >&2\nexit 0\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    args = {"spec": SPEC, "pcluster_path": str(broken), "region": "eu-west-1", "poll_interval": 0}
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    with patch_module_args(args), pytest.raises(SystemExit):
        pcluster_cluster.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"]
    assert "not JSON" in result["msg"]
    assert result["command"].startswith(f"{broken} describe-cluster --cluster-name hello")
    assert result["rc"] == 0
    assert result["stdout"].strip() == "not json at all"
    assert result["stderr"].strip() == "on stderr"
    assert result["cluster_name"] == "hello"  # the result collected so far comes with the failure
