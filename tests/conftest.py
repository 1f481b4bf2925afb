"""Shared pytest fixtures.

Unit tests (tests/unit) never touch the network. Integration tests (tests/integration) run the
collection against the embedded lab endpoint that `make test` starts; run by hand they read the
lab settings from .lab/env (start the lab with `make lab-up`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
COLLECTIONS = ROOT / ".lab" / "collections"

# Make `ansible_collections.hpcops.aws_hpc` importable from the working tree, as the Makefile's
# collection link does for ansible-* commands.
_link = COLLECTIONS / "ansible_collections" / "hpcops" / "aws_hpc"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another xdist worker made it first
        _link.symlink_to(Path("..") / ".." / ".." / "..")
sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(ROOT / "lab"))

import labctl  # noqa: E402 - lab/ joins the path just above

# `make integration` runs the integration tests on two pytest-xdist workers (`-n 2 --dist loadgroup`): every
# test file is a group, so its tests run in order on one worker, sharing their module fixtures. Files that share
# something no test owns alone are one group, so they never run at the same time:
# - the lab's Slurm cluster (lab/slurmlab.py: one set of compute hosts and node states; the any-folder test
#   brings a second lab up and checks the machine is clean after);
# - account-wide singletons (one CloudTrail multi-region trail and one AWS Config recorder per region);
# - ParallelCluster's stacks (pcluster list-clusters lists every cluster of a region);
# - Packer (one plugin folder and cache in the home folder).
# Longest first (measured with --durations): the Slurm group, then the files that run site.yml several times.
# With --no-loadscope-reorder pytest-xdist keeps this order and gives a worker the next group when it is nearly
# done with its own, so the long groups start early and the two workers end together.
XDIST_GROUPS = {
    "slurm": ("test_slurm_lab.py", "test_fleet_lab.py", "test_awx_job_templates.py", "test_any_folder.py",
              "test_portal.py"),
    "account": ("test_guardrails.py", "test_guardrails_info.py", "test_module_budget.py"),
    "pcluster": ("test_pcluster_dryrun.py", "test_teardown_extras.py"),
    "packer": ("test_bake_playbook.py", "test_progress.py"),
}
_GROUP_OF = {name: group for group, names in XDIST_GROUPS.items() for name in names}
FIRST = ("slurm", "test_crash_resume", "test_site", "test_faults", "test_ssm_endpoints", "test_installed_collection",
         "test_bad_inputs", "pcluster", "test_concurrent", "test_site_gates")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Give every integration test its xdist group (see XDIST_GROUPS); the longest groups (FIRST) start first."""

    def group(item):
        path = Path(str(item.fspath))
        return _GROUP_OF.get(path.name, path.stem) if path.parent.name == "integration" else None

    for item in items:
        if group(item) is not None:
            item.add_marker(pytest.mark.xdist_group(name=group(item)))
    items.sort(key=lambda item: FIRST.index(group(item)) if group(item) in FIRST else len(FIRST))


RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+"
    r"unreachable=(?P<unreachable>\d+)\s+failed=(?P<failed>\d+)"
)


def read_lab_env() -> dict[str, str]:
    """The lab's AWS settings: the environment when set, else .lab/env."""
    env = labctl.read_env()
    if os.environ.get("AWS_ENDPOINT_URL"):
        env.update({k: v for k, v in os.environ.items() if k.startswith("AWS_")})
    return env


@pytest.fixture(scope="session")
def lab_env() -> dict[str, str]:
    env = read_lab_env()
    if not env.get("AWS_ENDPOINT_URL"):
        pytest.fail("the embedded lab is not running: start it with `make lab-up` (make test does)")
    return env


@pytest.fixture(scope="session")
def ansible_env(lab_env) -> dict[str, str]:
    """Environment for ansible-* commands run from the checkout against the lab."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(lab_env)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ---------------------------------------------------------------- PowerShell sources (tree-sitter)
USER_DATA_TAG = re.compile(r"^\s*</?(powershell|persist)>.*$", re.MULTILINE)


def strip_user_data(text: str) -> str:
    """EC2 user data wraps PowerShell in <powershell>...</powershell> (and <persist>): not PowerShell.
    The tag lines become empty lines, so line numbers stay those of the file."""
    return USER_DATA_TAG.sub("", text)


@functools.lru_cache(maxsize=1)
def powershell_parser():
    """One tree-sitter parser of the PowerShell grammar (tree-sitter-powershell) for every test."""
    import tree_sitter
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def walk(node):
    """Every node of a tree-sitter tree below ``node`` (itself included), in source order."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))


def lab_client(lab_env, service):
    """A boto3 client of the lab's endpoint, with the lab's credentials and region."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"],
        region_name=lab_env.get("AWS_REGION") or "us-east-1",
    )
    return session.client(service, endpoint_url=lab_env["AWS_ENDPOINT_URL"])


def cluster_inventory(directory: Path, name: str, source: str | None = None, extra: str = "") -> Path:
    """A copy of inventories/lab for a cluster of a test's own, in ``directory``.

    The lab's group variables go to group_vars/all/lab.yml; group_vars/all/zz_test.yml names the cluster,
    a secrets prefix of its own (so SSM parameters never mix with another cluster's) and the summary file
    (``directory``/summary.txt), then ``extra`` YAML lines. The hpc_ec2 source lists the lab region and this
    cluster, or what ``source`` says (the file's lines after ``plugin:``).
    """
    directory = Path(directory)
    shutil.copytree(ROOT / "inventories" / "lab" / "group_vars", directory / "group_vars")
    (directory / "group_vars" / "all").mkdir()
    (directory / "group_vars" / "all.yml").rename(directory / "group_vars" / "all" / "lab.yml")
    if source is None:
        source = f"regions: [us-east-1]\ncluster: {name}\n"
    (directory / "hpc_ec2.yml").write_text("---\nplugin: hpcops.aws_hpc.hpc_ec2\n" + source)
    (directory / "group_vars" / "all" / "zz_test.yml").write_text(
        f"---\nhpc_cluster_name: {name}\naws_foundation_secrets_prefix: /hpc/{name}\n"
        f"hpc_summary_file: {directory}/summary.txt\n" + extra
    )
    return directory


def cluster_instances(ec2, cluster):
    """The cluster's instances (tag ``hpc:cluster``) that are not terminated, from a boto3 EC2 client."""
    found = []
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:hpc:cluster", "Values": [cluster]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    ):
        for reservation in page["Reservations"]:
            found.extend(reservation["Instances"])
    return found


def play_recap(output: str) -> dict[str, dict[str, int]]:
    """Parse PLAY RECAP lines into {host: {ok, changed, unreachable, failed}}."""
    recap = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = RECAP_LINE.match(line.strip())
            if match:
                recap[match["host"]] = {k: int(v) for k, v in match.groupdict().items() if k != "host"}
    return recap


@pytest.fixture(scope="session")
def run_playbook(ansible_env):
    """Run ansible-playbook from the checkout; returns the CompletedProcess (stdout+stderr merged)."""

    def _run(*args: str, timeout: int = 900, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = dict(ansible_env)
        env.update(extra_env or {})
        return subprocess.run(
            [str(VENV_BIN / "ansible-playbook"), *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    return _run


def _json_results(output):
    """Per-task localhost results from the ansible.posix.json callback's output."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture
def run_tasks(run_playbook, tmp_path):
    """Run tasks in one play on localhost (the modules' integration tests); returns the list of task results."""

    def _run(tasks, *args):
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        path.write_text(json.dumps([{"name": "tasks", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        proc = run_playbook(str(path), *args, extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        return _json_results(proc.stdout)

    return _run


def make_certificate(directory, host="127.0.0.1"):
    """A self-signed certificate for ``host`` (IP SAN) and its key, as PEM files; returns (cert, key). The HPC Pack
    REST API's stand-in (an HTTPS server on 127.0.0.1) of the autogrow service's tests serves it."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "head.pem", directory / "head.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


RELIABILITY_DIR = ROOT / ".lab" / "reliability"


def reliability_record(area: str, case: str, clean, observed, ok: bool, **details) -> Path:
    """Keep one figure of the reliability report (benchmarks/reliability.py prints them side by side).

    ``area`` is one of faults, crash, concurrent, bad_input; ``case`` names the scenario (``site.yml``, ``bake
    killed while Packer runs``...); ``clean`` is what the clean run showed and ``observed`` what this run showed
    (short strings or numbers); ``ok`` whether the test's assertions held; ``details`` any counts worth keeping
    (faults injected, faults survived...). One JSON file per (area, case), rewritten by a later run.
    """
    import json

    RELIABILITY_DIR.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{area} {case}".lower()).strip("-")
    path = RELIABILITY_DIR / f"{slug}.json"
    record = {"area": area, "case": case, "clean": clean, "observed": observed, "ok": bool(ok), **details}
    path.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return path


@pytest.fixture
def moto_credentials(monkeypatch):
    """Environment for moto in-process (``mock_aws``): dummy keys, no endpoint, profile or shared files of the
    machine, so a unit test can never reach the lab or a real account."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return monkeypatch


@pytest.fixture
def fleet_moto(moto_credentials):
    """EC2 and Auto Scaling clients of moto in-process (us-east-1) with the launch template of the compute group of
    cluster ``unit`` (``hpc-unit-computenode``), for the fleet actuator's unit tests."""
    import boto3
    from moto import mock_aws

    from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _tags

    moto_credentials.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.create_launch_template(LaunchTemplateName=_tags.compute_group_name("unit"),
                                   LaunchTemplateData={"ImageId": image, "InstanceType": "c5.large"})
        yield ec2, boto3.client("autoscaling", region_name="us-east-1")
