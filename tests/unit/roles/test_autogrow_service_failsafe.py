"""Fail-safe autogrow service: a scheduler that cannot be read starts, stops and launches nothing.

The HPC Pack REST client is called against a real HTTPS server on 127.0.0.1 (a thread with http.server and
ssl, its self-signed certificate made here with ``cryptography``): a 5xx answer, a timeout and a certificate
that does not validate each leave the instances as they were, the log says why, and the next poll acts.
Slurm: squeue failing, hanging or missing, and output that is not Slurm's JSON, do the same.
"""

from __future__ import annotations

import http.server
import json
import logging
import ssl
import subprocess
import threading
import time

import pytest
from conftest import make_certificate

# aws and service are pytest fixtures this file's tests take by name
from test_autogrow_service import FIXTURES, Slurm, aws, service, settings_file, states  # noqa: F401 # pylint: disable=unused-import

NODES_ANSWER = [{"Name": "compute-dy-c5large-1", "NodeState": "Offline", "NodeHealth": "OK"},
                {"Name": "compute-dy-c5large-2", "NodeState": "Offline", "NodeHealth": "OK"}]


class HeadNode:
    """An HPC Pack REST API on 127.0.0.1 over HTTPS; ``mode``: ok, 5xx, slow, empty."""

    def __init__(self, cert_file, key_file, grow=2):
        self.mode = "ok"
        self.grow = grow
        self.calls = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self):
                owner.calls.append((owner.mode, self.path))
                if owner.mode == "5xx":
                    self.send_error(503, "Service Unavailable")
                    return
                if owner.mode == "slow":
                    time.sleep(1.5)
                route = self.path.split("/HpcManager/api/", 1)[1]
                body = {"nodes": NODES_ANSWER, "auto-scale/check-nodes-idle": [],
                        "auto-scale/grow-decision": {"CoresToGrow": owner.grow, "NodesToGrow": owner.grow,
                                                     "SocketsToGrow": owner.grow}}[route]
                data = b"" if owner.mode == "empty" else json.dumps(body).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout)

            def do_GET(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self._answer()

            do_POST = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def headnode(tmp_path):
    cert_file, key_file = make_certificate(tmp_path)
    server = HeadNode(cert_file, key_file)
    server.ca_file = str(cert_file)
    yield server
    server.close()


def hpcpack_settings(tmp_path, headnode, ca_file, timeout=5):
    settings = json.loads(settings_file(tmp_path).read_text())
    settings.update(scheduler="hpcpack", headnode=f"127.0.0.1:{headnode.port}", ca_file=ca_file,
                    scheduler_timeout=timeout)
    return settings


def poll(loaded, settings, ec2):
    return loaded.run(settings, loaded.autogrow.Config(**settings["policy"]), ec2, None, once=True)


HPCPACK_CASES = [
    ("5xx", True, 5, "answered HTTP 503 Service Unavailable"),
    ("slow", True, 0.5, "timed out after 0.5 s"),
    ("ok", False, 5, "the head node's certificate does not validate (self-signed certificate"),
    ("empty", True, 5, "answered nothing"),
]


def test_hpcpack_unreadable_changes_nothing_and_the_next_poll_acts(service, aws, headnode, tmp_path, caplog):  # noqa: F811
    """5xx, a timeout, a certificate that does not validate, an empty answer: each poll changes nothing and says
    why; the next poll that reads the head node acts (the first case's acts; the others find the nodes running)."""
    caplog.set_level(logging.INFO, logger="hpc-autogrow")
    for mode, trusted, timeout, message in HPCPACK_CASES:
        caplog.clear()
        before = states(aws)
        check_hpcpack_case(service, aws, headnode, tmp_path, caplog, mode, trusted, timeout, message)
        assert states(aws) == before, f"{mode}: an unreadable scheduler started or stopped an instance"
    headnode.mode = "ok"
    caplog.clear()
    assert poll(service, hpcpack_settings(tmp_path, headnode, headnode.ca_file), aws) == 0
    assert states(aws) == ["running", "running"]
    assert "demand 2, in service 0" in caplog.text


def check_hpcpack_case(service, aws, headnode, tmp_path, caplog, *args):  # noqa: F811
    mode, trusted, timeout, message = args
    headnode.mode = mode
    settings = hpcpack_settings(tmp_path, headnode, headnode.ca_file if trusted else None, timeout)
    assert poll(service, settings, aws) == 1
    assert states(aws) == ["stopped", "stopped"], "an unreadable scheduler started or stopped an instance"
    assert "reconcile step skipped, the scheduler cannot be read: HPC Pack REST" in caplog.text
    assert message in caplog.text
    assert "nothing started, stopped or launched" in caplog.text
    assert "Traceback" not in caplog.text


class BrokenSlurm(Slurm):
    """squeue answers ``squeue`` (a CompletedProcess or an exception to raise); sinfo is the fixture."""

    def __init__(self, squeue):
        super().__init__("squeue_empty.json", "sinfo_idle.json")
        self.squeue = squeue

    def __call__(self, argv, **kwargs):
        if argv[0] == "squeue":
            if isinstance(self.squeue, BaseException):
                raise self.squeue
            return self.squeue
        return super().__call__(argv, **kwargs)


SLURM_CASES = [
    (subprocess.CompletedProcess(["squeue"], 1, "", "slurm_load_jobs error: Unable to contact slurm controller"),
     "squeue --json failed (exit 1): slurm_load_jobs error: Unable to contact slurm controller"),
    (subprocess.TimeoutExpired(["squeue", "--json"], 30), "squeue --json did not answer within 30 s"),
    (FileNotFoundError(2, "No such file or directory"), "squeue --json could not run"),
    (subprocess.CompletedProcess(["squeue"], 0, "{}", ""), "squeue --json output has no 'jobs' list"),
    (subprocess.CompletedProcess(["squeue"], 0, '{"jobs": [], "errors": [{"error": "Unable to contact"}]}', ""),
     "squeue --json output reports Slurm errors: Unable to contact"),
    (subprocess.CompletedProcess(["squeue"], 0, "garbage", ""), "squeue --json output is not JSON"),
]


def test_slurm_unreadable_stops_no_idle_node(service, aws, tmp_path, monkeypatch, caplog):  # noqa: F811
    """Idle nodes with an empty queue are stopped - unless the queue could not be read."""
    ids = [i["InstanceId"] for r in aws.describe_instances()["Reservations"] for i in r["Instances"]]
    aws.start_instances(InstanceIds=ids)
    slurm = BrokenSlurm(None)
    monkeypatch.setattr(service.subprocess, "run", slurm)
    caplog.set_level(logging.INFO, logger="hpc-autogrow")
    settings = json.loads(settings_file(tmp_path, idle_timeout=0, billing_minimum=0).read_text())
    for squeue, message in SLURM_CASES:
        caplog.clear()
        slurm.squeue = squeue
        assert poll(service, settings, aws) == 1
        assert states(aws) == ["running", "running"], message
        assert slurm.scontrol == []
        assert message in caplog.text
        assert "nothing started, stopped or launched, trying again at the next poll" in caplog.text
    slurm.squeue = subprocess.CompletedProcess(["squeue"], 0, (FIXTURES / "squeue_empty.json").read_text(), "")
    assert poll(service, settings, aws) == 0
    assert states(aws) == ["stopped", "stopped"]
    assert [argv[3] for argv in slurm.scontrol] == ["state=drain", "state=drain"]
