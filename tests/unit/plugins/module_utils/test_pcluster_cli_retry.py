"""pcluster gets botocore's standard retry mode (throttling and 5xx retried) unless the user set their own."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_cli import RETRY_ENVIRONMENT, retry_environment


def test_standard_retries_by_default():
    assert retry_environment({}) == {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "10"} == RETRY_ENVIRONMENT


def test_the_users_settings_win():
    assert retry_environment({"AWS_RETRY_MODE": "adaptive"}) == {"AWS_MAX_ATTEMPTS": "10"}
    assert retry_environment({"AWS_RETRY_MODE": "legacy", "AWS_MAX_ATTEMPTS": "3"}) == {}


def test_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "4")
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    assert retry_environment() == {"AWS_RETRY_MODE": "standard"}
