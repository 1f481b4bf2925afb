"""The bad-input corpus (tests/integration/bad_inputs.yml): every case is refused before any AWS change.

Each case must end with rc != 0, print no Python traceback, and name the variable or option (every word of its
``expect``). The account state (tests/aws_state.py) is read once before and once after each playbook's batch of
cases, which run two at a time; only when a batch changed something are its cases run again one by one, each
between two reads, to name the case that changed AWS. One reliability figure per playbook (area ``bad_input``).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from aws_state import cluster_state, diff_state
from conftest import ROOT, VENV_BIN, cluster_inventory, lab_client, make_certificate, reliability_record

CORPUS = yaml.safe_load((Path(__file__).parent / "bad_inputs.yml").read_text(encoding="utf-8"))
CASES = CORPUS["cases"]
TARGETS = sorted({case.get("playbook") or "modules" for case in CASES})
WORKERS = 2
# These playbooks take the cluster's run lock (hpcops.aws_hpc.run_lock) right after their input checks: a case that
# the checks let through by mistake would hold it while another case runs, so they run one at a time.
SEQUENTIAL = ("playbooks/pool.yml", "playbooks/bake.yml")


def _fill(value, cluster):
    """``value`` with @cluster@ (the test cluster's name) and @certificate@ (an ACM certificate it imported)."""
    if isinstance(value, str):
        return value.replace("@cluster@", cluster["name"]).replace("@certificate@", cluster["certificate_arn"])
    if isinstance(value, dict):
        return {k: _fill(v, cluster) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, cluster) for v in value]
    return value


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, lab_env):
    """A cluster of its own whose compute group exists (max size 4, no instances), as after site.yml."""
    name = f"bi{uuid.uuid4().hex[:8]}"
    inventory = cluster_inventory(tmp_path_factory.mktemp("inventory"), name)
    # every case stops in the input checks, before any play that needs the cluster's hosts: a static inventory
    # (localhost only) spares each run the hpc_ec2 source's AWS calls
    (inventory / "hpc_ec2.yml").unlink()
    (inventory / "hosts.yml").write_text(
        "---\nall:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    ec2 = lab_client(lab_env, "ec2")
    image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["Windows_Server-2016-*"]}])
    group = f"hpc-{name}-computenode"
    ec2.create_launch_template(LaunchTemplateName=group, LaunchTemplateData={
        "ImageId": image["Images"][0]["ImageId"], "InstanceType": "c5.xlarge"})
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    lab_client(lab_env, "autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=group, MinSize=0, MaxSize=4, DesiredCapacity=0, VPCZoneIdentifier=subnet,
        LaunchTemplate={"LaunchTemplateName": group, "Version": "$Default"},
        Tags=[{"Key": "hpc:cluster", "Value": name, "PropagateAtLaunch": True}])
    # The portal's inputs a user makes (seed 001): a good efadmin secret, two bad ones, an imported certificate.
    secrets = lab_client(lab_env, "secretsmanager")
    for suffix, value in (("efadmin", json.dumps({"efadminPassword": "Lab-portal-2026"})),
                          ("efadmin-weak", json.dumps({"efadminPassword": "password"})),
                          ("efadmin-text", "not json at all")):
        secrets.create_secret(Name=f"{name}/{suffix}", SecretString=value)
    cert, key = make_certificate(tmp_path_factory.mktemp("tls"))
    certificate = lab_client(lab_env, "acm").import_certificate(Certificate=cert.read_bytes(),
                                                                PrivateKey=key.read_bytes())["CertificateArn"]
    yield {"name": name, "inventory": str(inventory), "certificate_arn": certificate}
    for suffix in ("efadmin", "efadmin-weak", "efadmin-text"):
        secrets.delete_secret(SecretId=f"{name}/{suffix}", ForceDeleteWithoutRecovery=True)
    lab_client(lab_env, "acm").delete_certificate(CertificateArn=certificate)


def _command(case, cluster):
    if "module" in case:
        args = json.dumps(_fill(case.get("args") or {}, cluster))
        return [str(VENV_BIN / "ansible"), "localhost", "-m", case["module"], "-a", args]
    extra = {**CORPUS["base"].get(case["playbook"], {}), **(case.get("extra") or {})}
    return [str(VENV_BIN / "ansible-playbook"), case["playbook"], "-i", cluster["inventory"],
            "-e", json.dumps(_fill(extra, cluster))]


def _run(case, cluster, env):
    done = subprocess.run(_command(case, cluster), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    return {"id": case["id"], "rc": done.returncode, "output": done.stdout}


def _problems(case, result):
    """What is wrong with a case's run (empty when it was refused as it should be)."""
    output = result["output"]
    found = []
    if result["rc"] == 0:
        found.append("rc 0: the input was accepted")
    if "Traceback (most recent call last)" in output:
        found.append("a traceback was printed")
    missing = [word for word in case["expect"] if str(word).lower() not in output.lower()]
    if missing:
        found.append(f"the message does not name {missing}")
    return found


def _state(lab_env, cluster):
    # The test cluster's resources (tagged hpc:cluster or named for it, and what lies in its VPC): every case names
    # this cluster, and other test files change the account at the same time (make integration runs two workers).
    return cluster_state(lab_env, cluster["name"])


@pytest.mark.parametrize("target", TARGETS)
def test_bad_inputs_are_refused_before_any_change(target, cluster, lab_env, ansible_env):
    cases = [case for case in CASES if (case.get("playbook") or "modules") == target]
    before = _state(lab_env, cluster)
    with ThreadPoolExecutor(max_workers=1 if target in SEQUENTIAL else WORKERS) as pool:
        results = list(pool.map(lambda case: _run(case, cluster, ansible_env), cases))
    changes = diff_state(before, _state(lab_env, cluster))
    changed_by = {}
    if changes:  # run the batch again one case at a time to name the case that changed AWS
        for case in cases:
            start = _state(lab_env, cluster)
            _run(case, cluster, ansible_env)
            diff = diff_state(start, _state(lab_env, cluster))
            if diff:
                changed_by[case["id"]] = diff
    failures = {case["id"]: _problems(case, result) for case, result in zip(cases, results, strict=True)}
    failures = {key: value for key, value in failures.items() if value}
    refused = sum(1 for result in results if result["rc"] != 0)
    ok = not failures and not changes
    reliability_record(
        "bad_input", target, clean="rc 0 for valid input; every bad input refused, account unchanged",
        observed=f"{refused}/{len(cases)} refused, {len(changed_by) or (1 if changes else 0)} changes",
        ok=ok, cases=len(cases), refused=refused, failures=sorted(failures), changed_by=sorted(changed_by))
    report = {key: (value, next(r["output"][-1500:] for r in results if r["id"] == key))
              for key, value in failures.items()}
    assert not failures, json.dumps(report, indent=1)
    assert not changes, f"AWS changed: {json.dumps(changes, default=str)[:3000]} (cases: {sorted(changed_by)})"


def test_the_corpus_is_large_and_covers_every_entry_point():
    assert len(CASES) >= 40
    assert len({case["id"] for case in CASES}) == len(CASES)
    assert set(TARGETS) == {"site.yml", "playbooks/pool.yml", "playbooks/autogrow.yml", "playbooks/bake.yml",
                            "playbooks/portal.yml", "modules"}
    assert all(case.get("expect") for case in CASES)
