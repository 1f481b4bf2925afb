"""Unit tests of the autogrow service (roles/autogrow_service/files/hpc_autogrow_service.py), as the role installs it.

The service and the module_utils files the role copies (vars/main.yml ``_autogrow_service_files``) go to a
folder of their own, and the collection is made unimportable, as on a head node: the actuator
(_fleet.py) must load its neighbours side by side. One step runs against moto in-process with the
Slurm commands replaced by the fixtures' output; an AWS failure is logged as ``str(AWSCallError)``.
"""

from __future__ import annotations

import datetime
import json
import logging
import shutil
import subprocess
import sys
import types

import boto3
import pytest
import yaml
from botocore.stub import Stubber
from conftest import ROOT
from moto import mock_aws

FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "fleet"
ROLE = ROOT / "roles" / "autogrow_service"
REGION = "us-east-1"
CLUSTER = "svc"
NODES = ["compute-dy-c5large-1", "compute-dy-c5large-2"]
SIDE_BY_SIDE = ("_tags", "_aws", "_autogrow", "_sched", "_lock", "_fleet_trim", "_fleet")
COLLECTION = "ansible_collections.hpcops.aws_hpc.plugins.module_utils"


def role_files():
    """The files the role installs, from its vars (``{{ _autogrow_service_utils }}/X.py`` or files/X.py)."""
    files = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_autogrow_service_files"]
    return [ROOT / "plugins" / "module_utils" / name.rsplit("/", 1)[1] if "/" in name else ROLE / "files" / name
            for name in files]


@pytest.fixture
def service(tmp_path, monkeypatch):
    """The service module, loaded from a folder holding what the role installs, without the collection."""
    for path in role_files():
        shutil.copy(path, tmp_path / path.name)
    for name in (COLLECTION, f"{COLLECTION}._autogrow", f"{COLLECTION}._aws", f"{COLLECTION}._tags"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it raises ImportError, as outside Ansible
    saved = {name: sys.modules.pop(name) for name in SIDE_BY_SIDE if name in sys.modules}
    import importlib.util

    spec = importlib.util.spec_from_file_location("hpc_autogrow_service", tmp_path / "hpc_autogrow_service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for name in SIDE_BY_SIDE:
        sys.modules.pop(name, None)
    sys.modules.update(saved)


def test_the_role_installs_every_file_the_actuator_imports(service, tmp_path):
    assert sorted(path.name for path in tmp_path.glob("*.py")) == [
        "_autogrow.py", "_aws.py", "_fleet.py", "_fleet_trim.py", "_lock.py", "_sched.py", "_tags.py",
        "hpc_autogrow_service.py"]
    # the actuator loaded its neighbours, not the collection's files
    for module in (service.fleet._autogrow, service.fleet._tags, service.fleet._lock, service.autogrow, service.aws):
        assert module.__file__.startswith(str(tmp_path)), module.__file__
    assert service.fleet.AWSCallError is service.aws.AWSCallError


class Slurm:
    """subprocess.run for squeue/sinfo (the fixtures) and scontrol (recorded)."""

    def __init__(self, squeue, sinfo):
        self.outputs = {"squeue": (FIXTURES / squeue).read_text(), "sinfo": (FIXTURES / sinfo).read_text()}
        self.scontrol = []

    def __call__(self, argv, **_kwargs):
        if argv[0] == "scontrol":
            self.scontrol.append(argv)
            return subprocess.CompletedProcess(argv, 0, "", "")
        return subprocess.CompletedProcess(argv, 0, self.outputs[argv[0]], "")


@pytest.fixture
def aws(moto_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ids = []
        for node in NODES:
            tags = [{"Key": "hpc:cluster", "Value": CLUSTER}, {"Key": "hpc:role", "Value": "computenode"},
                    {"Key": "hpc:node-name", "Value": node}]
            ids.append(ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="c5.large",
                                         TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
                       ["Instances"][0]["InstanceId"])
        ec2.stop_instances(InstanceIds=ids)
        yield ec2


def settings_file(tmp_path, pool_ebs_ratio=0.0516, **policy):
    """The settings the role writes (vars/main.yml ``_autogrow_service_settings``), with the module's option names."""
    settings = {"cluster": CLUSTER, "region": REGION, "endpoint_url": "", "scheduler": "slurm", "pool_mode": "tagged",
                "node_name_tag": "hpc:node-name", "pool_ebs_ratio": pool_ebs_ratio, "headnode": "", "cert_file": None,
                "key_file": None, "ca_file": None,
                "policy": {"min_nodes": 0, "max_nodes": 4, "cores_per_node": 1, "warm_boot_time": 60,
                           "cold_boot_time": 600, "idle_timeout": None, "billing_minimum": 60, "end_of_hour": False,
                           "interval": 30, "forecast": True, **policy}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    return path


def states(ec2):
    found = ec2.describe_instances(Filters=[{"Name": "tag:hpc:cluster", "Values": [CLUSTER]}])
    return sorted(i["State"]["Name"] for r in found["Reservations"] for i in r["Instances"])


def test_one_step_starts_the_stopped_nodes_and_resumes_them_in_slurm(service, aws, tmp_path, monkeypatch, caplog):
    slurm = Slurm("squeue_pending.json", "sinfo_idle.json")  # a 2-node job pending, 2 one-node jobs running
    monkeypatch.setattr(service.subprocess, "run", slurm)
    caplog.set_level(logging.INFO, logger="hpc-autogrow")
    assert service.main(["--config", str(settings_file(tmp_path)), "--once"]) == 0
    assert states(aws) == ["running", "running"]
    assert sorted(argv[2] for argv in slurm.scontrol) == [f"nodename={node}" for node in NODES]
    assert all(argv[3] == "state=resume" for argv in slurm.scontrol)
    assert "demand 2, in service 0" in caplog.text


def test_dry_run_changes_nothing(service, aws, tmp_path, monkeypatch, caplog):
    slurm = Slurm("squeue_pending.json", "sinfo_idle.json")
    monkeypatch.setattr(service.subprocess, "run", slurm)
    caplog.set_level(logging.INFO, logger="hpc-autogrow")
    assert service.main(["--config", str(settings_file(tmp_path)), "--once", "--dry-run"]) == 0
    assert states(aws) == ["stopped", "stopped"]
    assert slurm.scontrol == []
    assert "start ['compute-dy-c5large-1', 'compute-dy-c5large-2']" in caplog.text


def test_idle_nodes_are_stopped_and_drained(service, aws, tmp_path, monkeypatch):
    ids = [i["InstanceId"] for r in aws.describe_instances()["Reservations"] for i in r["Instances"]]
    aws.start_instances(InstanceIds=ids)
    slurm = Slurm("squeue_empty.json", "sinfo_idle.json")
    monkeypatch.setattr(service.subprocess, "run", slurm)
    settings = json.loads(settings_file(tmp_path, idle_timeout=0, billing_minimum=0).read_text())
    config = service.autogrow.Config(**settings["policy"])
    done = service.step(settings, config, aws, None)  # idle in Slurm, no idle window (test settings)
    assert sorted(done.decision.stop) == sorted(ids)
    assert states(aws) == ["stopped", "stopped"]
    assert [argv[3] for argv in slurm.scontrol] == ["state=drain", "state=drain"]


def test_an_aws_failure_is_logged_and_the_step_fails(service, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(service.subprocess, "run", Slurm("squeue_empty.json", "sinfo_idle.json"))
    ec2 = boto3.client("ec2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    settings = json.loads(settings_file(tmp_path).read_text())
    config = service.autogrow.Config(**settings["policy"])
    with Stubber(ec2) as stub:
        stub.add_client_error("describe_instances", service_error_code="RequestLimitExceeded",
                              service_message="slow down", response_meta={"RequestId": "req-9"})
        assert service.run(settings, config, ec2, None, once=True) == 1
    assert ("reconcile step failed: Failed to describe the compute instances of cluster svc: "
            "RequestLimitExceeded: slow down (request id req-9)") in caplog.text
    assert "Traceback" not in caplog.text


def test_stopped_instances_past_their_keep_time_are_terminated(service, aws, tmp_path, monkeypatch, caplog):
    """One instance stopped longer than the keep time goes; the one stopped just now stays (role settings)."""
    ids = sorted(i["InstanceId"] for r in aws.describe_instances()["Reservations"] for i in r["Instances"])
    keep = service.autogrow.pool_keep_time(600, 60, 0.1)
    aws.start_instances(InstanceIds=[ids[0]])
    old = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=keep + 60)
    with monkeypatch.context() as patch:
        patch.setattr("moto.ec2.models.instances.utcnow", lambda: old)
        aws.stop_instances(InstanceIds=[ids[0]])  # EC2 stamps the stop time in StateTransitionReason
    monkeypatch.setattr(service.subprocess, "run", Slurm("squeue_empty.json", "sinfo_idle.json"))
    caplog.set_level(logging.INFO, logger="hpc-autogrow")
    path = settings_file(tmp_path, pool_ebs_ratio=0.1)
    assert service.main(["--config", str(path), "--once", "--dry-run"]) == 0
    assert states(aws) == ["stopped", "stopped"]
    assert f"terminate ['{ids[0]}']" in caplog.text
    assert service.main(["--config", str(path), "--once"]) == 0
    found = {i["InstanceId"]: i["State"]["Name"]
             for r in aws.describe_instances()["Reservations"] for i in r["Instances"]}
    assert found == {ids[0]: "terminated", ids[1]: "stopped"}
    caplog.clear()
    assert service.main(["--config", str(path), "--once"]) == 0
    assert "terminate []" in caplog.text


def test_a_wrong_pool_ebs_ratio_is_named(service, tmp_path, caplog):
    assert service.main(["--config", str(settings_file(tmp_path, pool_ebs_ratio=-0.5)), "--once"]) == 2
    assert "pool_ebs_ratio must be a finite number, 0 or more" in caplog.text


def test_a_policy_error_names_the_setting(service, tmp_path, caplog):
    path = settings_file(tmp_path, idle_timeout=-5)
    assert service.main(["--config", str(path), "--once"]) == 2
    assert "idle_timeout must be 0 or more" in caplog.text


def test_the_service_sleeps_the_policy_interval_between_steps(service, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(service, "step", lambda *args, **kwargs: calls.append("step"))

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) > 3:
            raise KeyboardInterrupt

    settings = json.loads(settings_file(tmp_path, interval=45).read_text())
    with pytest.raises(KeyboardInterrupt):
        service.run(settings, service.autogrow.Config(**settings["policy"]), None, None, sleep=sleep)
    assert calls == ["step", 45, "step", 45]


def test_the_service_steps_again_at_the_decisions_recheck_time_when_sooner(service, tmp_path, monkeypatch):
    """A stop falling due or a reservation's nodes to start in 12 s: the next step comes then, not 45 s later."""
    recheck = iter([1000.0 + 12, None, 1000.0 + 0.2, 1000.0 + 90])
    calls = []

    def step(*args, **kwargs):
        calls.append("step")
        return types.SimpleNamespace(recheck_at=next(recheck))

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) >= 8:
            raise KeyboardInterrupt

    monkeypatch.setattr(service, "step", step)
    settings = json.loads(settings_file(tmp_path, interval=45).read_text())
    with pytest.raises(KeyboardInterrupt):
        service.run(settings, service.autogrow.Config(**settings["policy"]), None, None, sleep=sleep,
                    clock=lambda: 1000.0)
    # sooner recheck -> 12 s; none -> the interval; due now -> at least 1 s; later than the interval -> the interval
    assert calls == ["step", 12.0, "step", 45, "step", 1.0, "step", 45]
