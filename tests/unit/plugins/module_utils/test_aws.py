"""Unit tests of the client factory (no network: clients are built, never called)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import Stubber

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


# ---------------------------------------------------------------------------- credentials and certificates

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN"
ROLE = "arn:aws:iam::123456789012:role/hpc-inventory-read"


@pytest.mark.parametrize(("validate_certs", "ca_bundle", "expected"), [
    (True, None, None),              # botocore decides: AWS_CA_BUNDLE, the profile's ca_bundle, certifi
    (True, "/etc/ssl/corp.pem", "/etc/ssl/corp.pem"),
    (False, None, False),
    (False, "/etc/ssl/corp.pem", False),  # not validating wins, as in amazon.aws
])
def test_verify_setting(validate_certs, ca_bundle, expected):
    assert _aws.verify_setting(validate_certs, ca_bundle) == expected


def test_client_passes_certificate_settings():
    plain = _aws.client("ec2", region="us-east-1", access_key="AK", secret_key="SK", endpoint_url="https://127.0.0.1:1")
    unchecked = _aws.client("ec2", region="us-east-1", access_key="AK", secret_key="SK",
                            endpoint_url="https://127.0.0.1:1", validate_certs=False)
    assert unchecked._endpoint.http_session._verify is False
    assert plain._endpoint.http_session._verify not in (False, None)


def test_make_session_with_keys_and_session_token():
    session = _aws.make_session(access_key="ASIAEXAMPLE", secret_key=SECRET, session_token=TOKEN, region="eu-west-1")
    credentials = session.get_credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("ASIAEXAMPLE", SECRET, TOKEN)
    assert session.region_name == "eu-west-1"


class StubbedSTS:
    """What the stubbed STS clients answer (botocore Stubber) and how _aws built them."""

    def __init__(self):
        self.answers = []  # (method, response dict or error code, expected params)
        self.made = []  # (service, keyword arguments of _aws.client)


@pytest.fixture
def sts(monkeypatch):
    """Make the STS client that make_session builds through _aws.client answer from a botocore Stubber."""
    stub = StubbedSTS()
    real_client = _aws.client

    def client(service, **kwargs):
        stub.made.append((service, kwargs))
        made = real_client(service, **kwargs)
        stubber = Stubber(made)
        for method, response, expected in stub.answers:
            if isinstance(response, str):
                stubber.add_client_error(method, service_error_code=response, http_status_code=403,
                                         service_message="User: arn:aws:iam::123456789012:user/reader is not "
                                                         "authorized to perform: sts:AssumeRole",
                                         expected_params=expected)
            else:
                stubber.add_response(method, response, expected)
        stubber.activate()
        return made

    monkeypatch.setattr(_aws, "client", client)
    return stub


def test_make_session_assumes_the_role(sts):
    expiry = datetime.now(UTC) + timedelta(hours=1)
    temporary = {"AccessKeyId": "ASIATEMPORARYKEY01", "SecretAccessKey": "temp-secret", "SessionToken": "temp-token",
                 "Expiration": expiry}
    sts.answers.append(("assume_role", {"Credentials": temporary},
                        {"RoleArn": ROLE, "RoleSessionName": "hpcops.aws_hpc.hpc_ec2"}))
    session = _aws.make_session(access_key="AKIABASE", secret_key=SECRET, region="eu-central-1", assume_role_arn=ROLE,
                                role_session_name="hpcops.aws_hpc.hpc_ec2", endpoint_url="http://127.0.0.1:1",
                                validate_certs=False, max_attempts=3)
    credentials = session.get_credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        "ASIATEMPORARYKEY01", "temp-secret", "temp-token")
    assert session.region_name == "eu-central-1"
    service, kwargs = sts.made[0]
    assert service == "sts"
    assert kwargs["region"] == "eu-central-1" and kwargs["endpoint_url"] == "http://127.0.0.1:1"
    assert kwargs["retry_mode"] == "standard" and kwargs["max_attempts"] == 3
    assert kwargs["validate_certs"] is False
    base = kwargs["session"].get_credentials()
    assert (base.access_key, base.secret_key) == ("AKIABASE", SECRET)


def test_make_session_assume_role_refused_names_the_option(sts):
    sts.answers.append(("assume_role", "AccessDenied", {"RoleArn": ROLE, "RoleSessionName": "hpcops.aws_hpc"}))
    with pytest.raises(_aws.AWSConfigError) as err:
        _aws.make_session(access_key="AKIABASE", secret_key=SECRET, session_token=TOKEN, region="us-east-1",
                          assume_role_arn=ROLE)
    assert err.value.option == "assume_role_arn"
    assert err.value.cause == (f"cannot assume {ROLE}: AccessDenied: User: arn:aws:iam::123456789012:user/reader "
                               "is not authorized to perform: sts:AssumeRole")
    assert str(err.value) == "assume_role_arn: " + err.value.cause
    assert SECRET not in str(err.value) and TOKEN not in str(err.value)


def test_make_session_assume_role_needs_a_region(monkeypatch, tmp_path):
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(_aws.AWSConfigError) as err:
        _aws.make_session(access_key="AKIABASE", secret_key=SECRET, assume_role_arn=ROLE)
    assert err.value.option == "region"
    assert "assume_role_arn needs a region for the STS call" in str(err.value)


def test_assume_role_rejects_a_bad_session_name():
    session = _aws.make_session(access_key="AKIABASE", secret_key=SECRET, region="us-east-1")
    with pytest.raises(_aws.AWSConfigError, match="role session name must be 2 to 64 characters") as err:
        _aws.assume_role(session, ROLE, session_name="bad name!", region="us-east-1")
    assert err.value.option == "role_session_name"


# --- the one AWS call and error path --------------------------------------------------------------

def _client_error(code="RequestLimitExceeded", message="Request limit exceeded.", request_id="rid-1", status=503):
    import botocore.exceptions

    return botocore.exceptions.ClientError(
        {"Error": {"Code": code, "Message": message},
         "ResponseMetadata": {"RequestId": request_id, "HTTPStatusCode": status, "RetryAttempts": 9}},
        "DescribeImages")


def _raiser(exc):
    def call(**kwargs):
        raise exc
    return call


def test_aws_call_error_carries_code_message_and_request_id():
    with pytest.raises(_aws.AWSCallError) as err:
        _aws.aws_call("describe images", _raiser(_client_error()), Owners=["self"])
    assert str(err.value) == ("Failed to describe images: RequestLimitExceeded: Request limit exceeded. "
                              "(request id rid-1)")
    assert err.value.fail_kwargs() == {
        "msg": str(err.value),
        "error": {"code": "RequestLimitExceeded", "message": "Request limit exceeded."},
        "response_metadata": {"request_id": "rid-1", "http_status_code": 503, "retry_attempts": 9},
    }
    assert err.value.fail_kwargs("Custom")["msg"] == "Custom"


def test_aws_call_ignores_listed_codes_and_returns_the_result():
    assert _aws.aws_call("x", _raiser(_client_error("InvalidAMIID.NotFound")), ignore=("InvalidAMIID.NotFound",),
                         default=[]) == []
    assert _aws.aws_call("x", lambda **kw: kw, a=1) == {"a": 1}
    with pytest.raises(_aws.AWSCallError):
        _aws.aws_call("x", _raiser(_client_error("AccessDenied")), ignore=("InvalidAMIID.NotFound",))


def test_aws_call_botocore_error_has_no_code():
    import botocore.exceptions

    with pytest.raises(_aws.AWSCallError) as err:
        _aws.aws_call("reach EC2", _raiser(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")))
    assert err.value.code == ""
    assert str(err.value).startswith('Failed to reach EC2: Could not connect to the endpoint URL: "http://x"')
    assert "error" not in err.value.fail_kwargs()


def test_handles_aws_errors_formats_what_from_self_and_arguments():
    class Group:
        name = "hpc-prod-computenode"

        @_aws.handles_aws_errors("describe group {self.name} ({ids})")
        def describe(self, ids=None):
            raise _client_error("ValidationError", "bad", "rid-2", 400)

    with pytest.raises(_aws.AWSCallError) as err:
        Group().describe(ids=["i-1"])
    assert str(err.value) == ("Failed to describe group hpc-prod-computenode (['i-1']): ValidationError: bad "
                              "(request id rid-2)")


def test_paginate_collects_every_page():
    ec2 = _aws.client("ec2", region="us-east-1", access_key="AKIDEXAMPLE", secret_key="secret")
    with Stubber(ec2) as stub:
        stub.add_response("describe_images", {"Images": [{"ImageId": "ami-1"}], "NextToken": "t"}, {"Owners": ["self"]})
        stub.add_response("describe_images", {"Images": [{"ImageId": "ami-2"}]}, {"Owners": ["self"], "NextToken": "t"})
        assert _aws.paginate("describe images", ec2, "describe_images", "Images", Owners=["self"]) == [
            {"ImageId": "ami-1"}, {"ImageId": "ami-2"}]


class _Module:
    def __init__(self):
        self.exited = None

    def fail_json(self, **kwargs):
        self.exited = ("fail", kwargs)
        raise SystemExit(1)

    def exit_json(self, **kwargs):
        self.exited = ("exit", kwargs)
        raise SystemExit(0)


def test_run_module_exits_once_with_the_result_or_the_aws_error():
    module = _Module()
    with pytest.raises(SystemExit):
        _aws.run_module(module, lambda: {"changed": True})
    assert module.exited == ("exit", {"changed": True})

    def broken():
        _aws.aws_call("create tags", _raiser(_client_error("UnauthorizedOperation", "no", "rid-3", 403)))

    with pytest.raises(SystemExit):
        _aws.run_module(module, broken)
    assert module.exited[0] == "fail"
    assert module.exited[1]["msg"] == "Failed to create tags: UnauthorizedOperation: no (request id rid-3)"
    assert module.exited[1]["error"]["code"] == "UnauthorizedOperation"

    def bad_config():
        raise _aws.AWSConfigError("region is required")

    with pytest.raises(SystemExit):
        _aws.run_module(module, bad_config)
    assert module.exited == ("fail", {"msg": "Invalid AWS connection settings: region is required"})
