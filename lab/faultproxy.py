"""A fault-injecting HTTP proxy in front of the embedded AWS endpoint (moto's server).

It answers a chosen, seeded fraction of the requests itself with a throttling or a 5xx error in the
shape of each protocol, *before* forwarding anything, so the faulted request was never processed and
a retry is always safe; every other request is forwarded unchanged (method, path, headers - Host and
the SigV4 ``Authorization`` included - and body) and the answer is copied back. It proves that the
collection's AWS actors (Ansible modules, Packer, pcluster, the autogrow service) survive the
throttling and transient errors real AWS returns, without touching real AWS.

    python lab/faultproxy.py --target http://127.0.0.1:4566 --port 4570 --rate 0.2 --seed 1
    AWS_ENDPOINT_URL=http://127.0.0.1:4570 ansible-playbook ...

``GET /__faults`` on the proxy (never forwarded) returns the counts as JSON; the CLI also writes them
to ``--report`` (or prints them) when it stops (SIGINT/SIGTERM). As a library::

    proxy = FaultProxy("http://127.0.0.1:4566", rate=0.2, seed=1).start()   # a thread; proxy.url
    ...; proxy.counts(); proxy.stop()

Which request is which: the service is the SigV4 credential scope of the ``Authorization`` header
(``Credential=AKID/20240101/us-east-1/ec2/aws4_request``) or of a presigned URL's ``X-Amz-Credential``;
the protocol is JSON when the request has an ``X-Amz-Target`` header (SSM, KMS, Secrets Manager,
CloudTrail, ...), S3's own XML for ``s3``, EC2's XML for ``ec2`` and the query protocol's
``ErrorResponse`` XML for the others (Auto Scaling, IAM, STS, CloudFormation, Route 53's REST-XML too).

The shapes and codes, and why a client retries them:

* EC2: HTTP 503, ``<Response><Errors><Error><Code>RequestLimitExceeded</Code>...</Errors><RequestID>``
  (the EC2 API reference, "Error codes": RequestLimitExceeded is EC2's throttling code).
* Query/REST-XML services: HTTP 400, ``<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>``.
* JSON services: HTTP 400, ``{"__type": "ThrottlingException", "message": ...}``.
* S3: HTTP 503, ``<Error><Code>SlowDown</Code>...`` (the S3 API reference, "Error responses").
* Transient: HTTP 503 ``ServiceUnavailable`` (``ServiceUnavailableException`` for JSON; EC2's
  ``Unavailable``) in the same shapes.

botocore (boto3: the modules, pcluster, the autogrow service) retries them in its ``standard`` and
``adaptive`` modes: botocore/retries/standard.py lists ``Throttling``, ``ThrottlingException``,
``RequestLimitExceeded`` and ``SlowDown`` in ``ThrottledRetryableChecker._THROTTLED_ERROR_CODES`` and
HTTP 500/502/503/504 in ``TransientRetryableChecker._TRANSIENT_STATUS_CODES``; the ``legacy`` mode's
botocore/data/_retry.json has ``throttling``/``throttling_exception`` (code with HTTP 400) and
``service_unavailable`` (HTTP 503), and its EC2 section ``RequestLimitExceeded``. The AWS SDK for Go v1
that Packer 1.6.6 is built on retries the same codes (aws/request/retryer.go: ``throttleCodes`` has
``Throttling``, ``ThrottlingException``, ``RequestLimitExceeded``, ``EC2ThrottledException``..., and
every 5xx but 501 is retryable) up to ``max_retries`` times.

Standard library only; a threaded server. Loopback only: the proxy listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import random
import re
import signal
import sys
import threading
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PATH = "/__faults"
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/(?P<service>[^/,\s]+)/aws4_request")
_QUERY_CREDENTIAL = re.compile(r"^[^/]+/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request$")
# Hop-by-hop headers (RFC 9110 section 7.6.1) are not copied back from the endpoint's answer.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "transfer-encoding"}
KINDS = ("throttle", "unavailable")


def service_of(headers, path):
    """The SigV4 signing name of a request (``ec2``, ``ssm``, ...), ``unknown`` when it is not signed."""
    match = _CREDENTIAL.search(headers.get("Authorization") or "")
    if match:
        return match["service"]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    for value in query.get("X-Amz-Credential", []):
        found = _QUERY_CREDENTIAL.match(value)
        if found:
            return found["service"]
    return "unknown"


def protocol_of(service, headers):
    """``json``, ``s3``, ``ec2`` or ``query`` (the XML ``ErrorResponse`` of the query and REST-XML services)."""
    if headers.get("X-Amz-Target"):
        return "json"
    if service == "s3":
        return "s3"
    if service == "ec2":
        return "ec2"
    if "json" in (headers.get("Content-Type") or ""):
        return "json"
    return "query"


# protocol -> kind -> (HTTP status, error code)
CODES = {
    "ec2": {"throttle": (503, "RequestLimitExceeded"), "unavailable": (503, "Unavailable")},
    "query": {"throttle": (400, "Throttling"), "unavailable": (503, "ServiceUnavailable")},
    "json": {"throttle": (400, "ThrottlingException"), "unavailable": (503, "ServiceUnavailableException")},
    "s3": {"throttle": (503, "SlowDown"), "unavailable": (503, "ServiceUnavailable")},
}
MESSAGES = {"throttle": "Rate exceeded (injected by faultproxy)",
            "unavailable": "Service is unavailable, try again (injected by faultproxy)"}


def fault_response(protocol, kind, request_id=None):
    """(status, content type, body bytes, code) of an injected fault in ``protocol``'s own error shape."""
    status, code = CODES[protocol][kind]
    message = MESSAGES[kind]
    rid = request_id or str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        return status, "application/x-amz-json-1.1", body, code
    if protocol == "ec2":
        text = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>"
                f"<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>")
    elif protocol == "s3":
        text = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{rid}</RequestId><HostId>faultproxy</HostId></Error>")
    else:
        text = (f"<ErrorResponse><Error><Type>{'Sender' if kind == 'throttle' else 'Receiver'}</Type>"
                f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>")
    return status, "text/xml", text.encode(), code


class Counts:
    """Thread-safe counters: faults injected and requests forwarded per service (and code).

    ``retried`` counts the injected faults whose identical request (method, path and body) came back
    later and was forwarded: the client retried it (or asked again, as a poller does).
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.injected = {}  # service -> code -> n
        self.retried = {}  # service -> code -> n
        self.forwarded = {}  # service -> n
        self.pending = {}  # request digest -> [(service, code), ...]

    def fault(self, service, code, digest):
        with self.lock:
            per = self.injected.setdefault(service, {})
            per[code] = per.get(code, 0) + 1
            self.pending.setdefault(digest, []).append((service, code))

    def forward(self, service, digest):
        with self.lock:
            self.forwarded[service] = self.forwarded.get(service, 0) + 1
            for svc, code in self.pending.pop(digest, []):
                per = self.retried.setdefault(svc, {})
                per[code] = per.get(code, 0) + 1

    def snapshot(self):
        with self.lock:
            injected = sum(n for per in self.injected.values() for n in per.values())
            retried = sum(n for per in self.retried.values() for n in per.values())
            return {
                "injected": json.loads(json.dumps(self.injected)),
                "retried": json.loads(json.dumps(self.retried)),
                "forwarded": dict(self.forwarded),
                "total": {"injected": injected, "retried": retried, "forwarded": sum(self.forwarded.values())},
            }

    def reset(self):
        with self.lock:
            self.injected, self.retried, self.forwarded, self.pending = {}, {}, {}, {}


class FaultPolicy:
    """Decides, seeded, which requests get a fault: ``rate`` of them, of the ``kinds`` given.

    ``only`` limits the faults to these services; ``skip_actions`` never faults these actions (the
    query protocol's ``Action=`` or the JSON target's operation). ``enabled`` switches faults off and on.
    """

    def __init__(self, rate=0.2, seed=None, kinds=KINDS, only=(), skip_actions=()):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise ValueError(f"kinds must be some of {', '.join(KINDS)}, got {', '.join(kinds)}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.only = set(only)
        self.skip_actions = set(skip_actions)
        self.enabled = True
        self.random = random.Random(seed)  # noqa: S311 - a reproducible test draw, not a secret
        self.lock = threading.Lock()

    def choose(self, service, action):
        """The kind of fault for this request, or None to forward it."""
        if not self.enabled or (self.only and service not in self.only) or action in self.skip_actions:
            return None
        with self.lock:
            if self.random.random() >= self.rate:
                return None
            return self.random.choice(self.kinds)


def action_of(headers, path, body):
    """The API action of a request when it is cheap to tell (query ``Action=``, JSON target), else ''."""
    target = headers.get("X-Amz-Target") or ""
    if target:
        return target.rsplit(".", 1)[-1]
    for text in (urllib.parse.urlsplit(path).query, body[:4096].decode("latin-1")):
        found = urllib.parse.parse_qs(text).get("Action")
        if found:
            return found[0]
    return ""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("faultproxy: " + (format % args) + "\n")

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._raw_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _raw_chunked(self):
        """The chunked body as received (chunk lines and all), forwarded as it came."""
        raw = bytearray()
        while True:
            line = self.rfile.readline()
            raw += line
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers up to the empty line
                    trailer = self.rfile.readline()
                    raw += trailer
                    if trailer in (b"\r\n", b"\n", b""):
                        return bytes(raw)
            raw += self.rfile.read(size + 2)

    def _send(self, status, content_type, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        body = self._body()
        if self.path.split("?", 1)[0] == CONTROL_PATH and "Authorization" not in self.headers:
            self._send(200, "application/json", json.dumps(self.server.counts.snapshot(), indent=2).encode())
            return
        service = service_of(self.headers, self.path)
        digest = hashlib.sha256(f"{self.command} {self.path}\n".encode() + body).hexdigest()
        kind = self.server.policy.choose(service, action_of(self.headers, self.path, body))
        if kind:
            protocol = protocol_of(service, self.headers)
            status, content_type, payload, code = fault_response(protocol, kind)
            self.server.counts.fault(service, code, digest)
            extra = [("x-amzn-RequestId", str(uuid.uuid4()))]
            if protocol == "json":
                extra.append(("x-amzn-ErrorType", code))
            self._send(status, content_type, payload, extra)
            return
        self._forward(body, service, digest)

    def _forward(self, body, service, digest):
        target = self.server.target
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=self.server.timeout_s)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders(body or None)
            answer = conn.getresponse()
            payload = answer.read()
        except OSError as exc:
            self._send(502, "text/plain", f"faultproxy: the endpoint did not answer: {exc}".encode())
            return
        finally:
            conn.close()
        self.server.counts.forward(service, digest)
        self.send_response(answer.status, answer.reason)
        # a HEAD answer has no body but the length of the body a GET would get (S3 HeadObject): keep it as is
        keep_length = self.command == "HEAD"
        for name, value in answer.getheaders():
            if name.lower() not in _HOP_BY_HOP and (keep_length or name.lower() != "content-length"):
                self.send_header(name, value)
        if not keep_length:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle


class FaultProxy:
    """The proxy as a library: ``start()`` serves in a daemon thread, ``stop()`` shuts it down."""

    def __init__(self, target, *, port=0, rate=0.2, seed=None, kinds=KINDS, only=(), skip_actions=(),
                 verbose=False, timeout=60):
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"target must be an http:// URL, got {target!r}")
        self.policy = FaultPolicy(rate, seed, kinds, only, skip_actions)
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.server.target = parsed
        self.server.policy = self.policy
        self.server.counts = Counts()
        self.server.verbose = verbose
        self.server.timeout_s = timeout
        self.thread = None

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def counts(self):
        return self.server.counts.snapshot()

    def reset(self):
        self.server.counts.reset()

    def faults(self, enabled):
        """Switch fault injection on or off (the proxy keeps forwarding)."""
        self.policy.enabled = bool(enabled)

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, name="faultproxy", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        if self.thread:
            self.thread.join(timeout=5)
        return self.counts()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def format_counts(counts):
    """The counts as lines: ``service code injected N retried M`` and the totals."""
    lines = []
    for service in sorted(counts["injected"]):
        for code, n in sorted(counts["injected"][service].items()):
            retried = counts["retried"].get(service, {}).get(code, 0)
            lines.append(f"{service:16} {code:28} injected {n:4}  retried {retried:4}")
    total = counts["total"]
    lines.append(f"{'total':45} injected {total['injected']:4}  retried {total['retried']:4}  "
                 f"forwarded {total['forwarded']}")
    return "\n".join(lines)


def _names(text):
    return tuple(item.strip() for item in (text or "").split(",") if item.strip())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--target", required=True, help="the endpoint to forward to, e.g. http://127.0.0.1:4566")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (127.0.0.1); 0 = any free port")
    parser.add_argument("--rate", type=float, default=0.2, help="fraction of requests answered with a fault")
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault choice (same seed, same faults)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="faults to inject: throttle,unavailable")
    parser.add_argument("--only", default="", help="fault only these services (SigV4 names: ec2,ssm,...)")
    parser.add_argument("--skip-actions", default="", help="never fault these actions (DescribeImages,...)")
    parser.add_argument("--report", help="file the counts are written to as JSON when the proxy stops")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    try:
        proxy = FaultProxy(args.target, port=args.port, rate=args.rate, seed=args.seed, kinds=_names(args.kinds),
                           only=_names(args.only), skip_actions=_names(args.skip_actions), verbose=args.verbose)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *sig: stopping.set())
    proxy.start()
    print(f"faultproxy: {proxy.url} -> {args.target}, rate {args.rate}, seed {args.seed}; counts at "
          f"{proxy.url}{CONTROL_PATH}", flush=True)
    stopping.wait()
    counts = proxy.stop()
    text = json.dumps(counts, indent=2, sort_keys=True) + "\n"
    if args.report:
        with open(args.report, "w", encoding="utf-8") as handle:
            handle.write(text)
    print(format_counts(counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
