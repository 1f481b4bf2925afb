"""lab/faultproxy.py: injected faults have each protocol's shape, botocore retries them, the rest passes unchanged.

A small stub endpoint stands in for moto: it echoes what it received (so forwarding can be checked byte for
byte) and answers botocore with an empty but valid response.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from faultproxy import CONTROL_PATH, FaultPolicy, FaultProxy, action_of, format_counts, main, protocol_of, service_of

EMPTY = {
    "ec2": ("text/xml", b"<DescribeVpcsResponse><requestId>r</requestId><vpcSet/></DescribeVpcsResponse>"),
    "autoscaling": ("text/xml", b"<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult>"
                                b"<AutoScalingGroups/></DescribeAutoScalingGroupsResult>"
                                b"<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
                                b"</DescribeAutoScalingGroupsResponse>"),
    "ssm": ("application/x-amz-json-1.1", b'{"Parameters": []}'),
    "s3": ("application/xml", b"<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>"),
}
# service -> (the call, the throttling code, its HTTP status)
CALLS = {
    "ec2": (lambda c: c.describe_vpcs(), "RequestLimitExceeded", 503),
    "autoscaling": (lambda c: c.describe_auto_scaling_groups(), "Throttling", 400),
    "iam": (lambda c: c.list_roles(), "Throttling", 400),
    "route53": (lambda c: c.list_hosted_zones(), "Throttling", 400),
    "ssm": (lambda c: c.describe_parameters(), "ThrottlingException", 400),
    "kms": (lambda c: c.list_keys(), "ThrottlingException", 400),
    "secretsmanager": (lambda c: c.list_secrets(), "ThrottlingException", 400),
    "s3": (lambda c: c.list_buckets(), "SlowDown", 503),
}
UNAVAILABLE = {"ec2": "Unavailable", "autoscaling": "ServiceUnavailable", "ssm": "ServiceUnavailableException",
               "s3": "ServiceUnavailable"}


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Echo.seen.append({"method": self.command, "path": self.path, "headers": list(self.headers.items()),
                          "body": body})
        service = service_of(self.headers, self.path)
        content_type, payload = EMPTY.get(service, ("application/json", b"{}"))
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Echo", "1")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _any


@pytest.fixture(scope="module")
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def client(service, url, attempts, mode="standard"):
    config = botocore.config.Config(retries={"mode": mode, "total_max_attempts": attempts},
                                    connect_timeout=5, read_timeout=10)
    # Backoff is real time; a short base delay keeps the test fast (botocore's standard mode caps it anyway).
    made = boto3.session.Session().client(service, endpoint_url=url, region_name="us-east-1",
                                          aws_access_key_id="testing", aws_secret_access_key="testing",
                                          config=config)
    return made


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """No real sleeping between botocore's retries (the retry decision is what is tested, not the wait)."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr("botocore.retryhandler.delay_exponential", lambda **kwargs: 0)


@pytest.mark.parametrize("service", sorted(CALLS))
def test_every_throttle_shape_is_parsed_and_retried_by_botocore(backend, service):
    call, code, status = CALLS[service]
    with FaultProxy(backend, rate=1.0, seed=1, kinds=("throttle",)) as proxy:
        with pytest.raises(ClientError) as caught:
            call(client(service, proxy.url, attempts=3))
        counts = proxy.counts()
    error = caught.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["ResponseMetadata"]["RetryAttempts"] == 2  # botocore retried it twice: it saw throttling
    assert counts["injected"] == {service: {code: 3}}
    assert counts["total"]["forwarded"] == 0  # nothing reached the endpoint


@pytest.mark.parametrize("service", sorted(UNAVAILABLE))
def test_unavailable_faults_are_transient_for_botocore(backend, service):
    call = CALLS[service][0]
    with FaultProxy(backend, rate=1.0, seed=1, kinds=("unavailable",)) as proxy, pytest.raises(ClientError) as caught:
        call(client(service, proxy.url, attempts=2, mode="legacy"))
    assert caught.value.response["Error"]["Code"] == UNAVAILABLE[service]
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1


def test_botocore_classifies_the_codes_as_throttling_or_transient():
    throttled = ThrottledRetryableChecker()
    transient = TransientRetryableChecker()

    class Context:
        def __init__(self, code, status):
            self.parsed_response = {"Error": {"Code": code}}
            self.http_response = type("R", (), {"status_code": status})()
            self.caught_exception = None

        def get_error_code(self):
            return self.parsed_response["Error"]["Code"]

    for code, status in (("RequestLimitExceeded", 503), ("Throttling", 400), ("ThrottlingException", 400),
                         ("SlowDown", 503)):
        assert throttled.is_retryable(Context(code, status)), code
    for code in ("Unavailable", "ServiceUnavailable", "ServiceUnavailableException"):
        assert transient.is_retryable(Context(code, 503)), code


def test_a_throttled_call_succeeds_on_retry_and_is_counted(backend):
    with FaultProxy(backend, rate=0.5, seed=7) as proxy:
        ssm = client("ssm", proxy.url, attempts=20)
        ec2 = client("ec2", proxy.url, attempts=20)
        retries = sum(ssm.describe_parameters()["ResponseMetadata"]["RetryAttempts"] +
                      ec2.describe_vpcs()["ResponseMetadata"]["RetryAttempts"] for attempt in range(10))
        counts = proxy.counts()
    assert counts["total"]["injected"] == retries > 0
    assert counts["total"]["retried"] == counts["total"]["injected"]
    assert counts["forwarded"] == {"ssm": 10, "ec2": 10}
    assert "injected" in format_counts(counts)


def test_forwarding_is_byte_for_byte(backend):
    Echo.seen.clear()
    body = b"Action=DescribeVpcs&Version=2016-11-15&X=%2F%20"
    headers = {"Authorization": "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/ec2/aws4_request, Signature=ab",
               "X-Amz-Date": "20240101T000000Z", "Content-Type": "application/x-www-form-urlencoded"}
    with FaultProxy(backend, rate=0.0) as proxy:
        request = urllib.request.Request(proxy.url + "/a/b?c=d%2Fe", data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request) as answer:
            assert answer.headers["X-Echo"] == "1"
        host = f"127.0.0.1:{proxy.port}"
    seen = Echo.seen[-1]
    assert seen["method"] == "POST" and seen["path"] == "/a/b?c=d%2Fe" and seen["body"] == body
    received = dict(seen["headers"])
    assert received["Host"] == host  # the client's Host header, unchanged (SigV4 signs it)
    for name, value in headers.items():
        assert received[name] == value


def test_control_path_is_answered_by_the_proxy(backend):
    Echo.seen.clear()
    with FaultProxy(backend, rate=1.0, seed=1) as proxy, urllib.request.urlopen(proxy.url + CONTROL_PATH) as answer:
        counts = json.loads(answer.read())
    assert counts["total"] == {"injected": 0, "retried": 0, "forwarded": 0}
    assert Echo.seen == []


def test_same_seed_same_faults():
    def draws(seed):
        policy = FaultPolicy(rate=0.3, seed=seed)
        return [policy.choose("ec2", "DescribeImages") for draw in range(200)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)
    assert 30 < sum(1 for d in draws(5) if d) < 90


def test_filters_and_switch():
    policy = FaultPolicy(rate=1.0, seed=1, only=("ec2",), skip_actions=("DescribeImages",))
    assert policy.choose("ssm", "GetParameter") is None
    assert policy.choose("ec2", "DescribeImages") is None
    assert policy.choose("ec2", "RunInstances") in ("throttle", "unavailable")
    policy.enabled = False
    assert policy.choose("ec2", "RunInstances") is None
    with pytest.raises(ValueError, match="rate"):
        FaultPolicy(rate=1.5)
    with pytest.raises(ValueError, match="kinds"):
        FaultPolicy(kinds=("boom",))


def test_service_protocol_and_action_detection():
    auth = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/ssm/aws4_request, Signature=x",
            "X-Amz-Target": "AmazonSSM.GetParameter"}
    assert service_of(auth, "/") == "ssm"
    assert protocol_of("ssm", auth) == "json"
    assert action_of(auth, "/", b"") == "GetParameter"
    presigned = "/b/k?X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=x"
    assert service_of({}, presigned) == "s3"
    assert service_of({}, "/") == "unknown"
    assert protocol_of("ec2", {}) == "ec2" and protocol_of("s3", {}) == "s3"
    assert protocol_of("autoscaling", {}) == "query"
    assert action_of({}, "/", b"Action=RunInstances&Version=2016-11-15") == "RunInstances"


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["--target", "ftp://x", "--port", "0"])
    assert "http://" in capsys.readouterr().err
