"""Unit tests of the client factory (no network: clients are built, never called)."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _aws


@pytest.mark.parametrize(
    ("mode", "attempts", "expected"),
    [
        (None, None, {"mode": "adaptive", "total_max_attempts": 10}),
        ("standard", 3, {"mode": "standard", "total_max_attempts": 3}),
        ("legacy", 1, {"mode": "legacy", "total_max_attempts": 1}),
    ],
)
def test_retry_config(mode, attempts, expected):
    assert _aws.retry_config(mode, attempts) == expected


@pytest.mark.parametrize(
    ("mode", "attempts", "message"),
    [
        ("fast", None, "retry_mode must be one of adaptive, standard, legacy, got 'fast'"),
        (None, 0, "max_attempts must be a whole number of at least 1, got 0"),
        (None, True, "max_attempts must be a whole number of at least 1, got True"),
        (None, "3", "max_attempts must be a whole number of at least 1, got '3'"),
    ],
)
def test_retry_config_rejects(mode, attempts, message):
    with pytest.raises(_aws.AWSConfigError) as err:
        _aws.retry_config(mode, attempts)
    assert str(err.value) == message


def test_session_kwargs_maps_options():
    expected = {"profile_name": "prod", "region_name": "eu-west-1"}
    assert _aws.session_kwargs(profile="prod", region="eu-west-1") == expected
    assert _aws.session_kwargs(access_key="AK", secret_key="SK", session_token="T") == {
        "aws_access_key_id": "AK",
        "aws_secret_access_key": "SK",
        "aws_session_token": "T",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "p", "access_key": "AK", "secret_key": "SK"}, "profile cannot be combined"),
        ({"access_key": "AK"}, "access_key and secret_key must be given together"),
        ({"secret_key": "SK"}, "access_key and secret_key must be given together"),
    ],
)
def test_session_kwargs_rejects(kwargs, message):
    with pytest.raises(_aws.AWSConfigError, match=message):
        _aws.session_kwargs(**kwargs)


def test_client_carries_endpoint_region_and_retry_policy(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    client = _aws.client(
        "ec2",
        region="eu-central-1",
        endpoint_url="http://127.0.0.1:1",
        access_key="AK",
        secret_key="SK",
        retry_mode="standard",
        max_attempts=4,
    )
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert "hpcops.aws_hpc" in client.meta.config.user_agent_extra


def test_client_reuses_a_session():
    session = _aws.make_session(access_key="AK", secret_key="SK", region="us-west-2")
    first = _aws.client("ec2", session=session, endpoint_url="http://127.0.0.1:1")
    second = _aws.client("ec2", session=session, region="eu-west-1", endpoint_url="http://127.0.0.1:1")
    assert first.meta.region_name == "us-west-2"
    assert second.meta.region_name == "eu-west-1"


def test_error_code():
    class Boom(Exception):
        def __init__(self):
            super().__init__("boom")
            self.response = {"Error": {"Code": "ThrottlingException"}}

    assert _aws.error_code(Boom()) == "ThrottlingException"
    assert _aws.error_code(ValueError("x")) == ""
    assert _aws.error_cause(Boom()) == "ThrottlingException: boom"
    assert _aws.error_cause(ValueError("x")) == "x"


def test_client_takes_aws_config_but_keeps_retry_policy():
    client = _aws.client(
        "ec2",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        access_key="AK",
        secret_key="SK",
        aws_config={"connect_timeout": 7, "retries": {"mode": "legacy"}},
    )
    assert client.meta.config.connect_timeout == 7
    assert client.meta.config.retries["mode"] == "adaptive"


def test_client_rejects_unknown_aws_config():
    with pytest.raises(_aws.AWSConfigError, match="aws_config has a parameter botocore does not know"):
        _aws.client("ec2", region="us-east-1", access_key="AK", secret_key="SK", aws_config={"bogus": 1})
