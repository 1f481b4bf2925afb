"""hpcops.aws_hpc.portal_check run by ansible-playbook against the embedded lab endpoint.

Each test makes its own efadmin secret (uuid name) with boto3 and deletes it afterwards; certificate domains are
uuid names no ACM certificate of the lab covers. The password is never in anything ansible-playbook prints.
"""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab

GOOD_PASSWORD = "Portal-it-" + uuid.uuid4().hex[:8] + "7!"
# letters only: no digit, no special character
BAD_PASSWORD = "portalpolicy" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))


def _json_results(output):
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "{")
    data = json.JSONDecoder().raw_decode("\n".join(lines[start:]))[0]
    return [task["hosts"]["localhost"] for play in data["plays"] for task in play["tasks"]]


@pytest.fixture(scope="module")
def secrets(lab_env):
    return lab_client(lab_env, "secretsmanager")


@pytest.fixture
def make_secret(secrets):
    """Create a secret holding ``{"efadminPassword": password}``; returns its name. All are deleted afterwards."""
    made = []

    def _make(password):
        name = f"hpcops-it/portal-{uuid.uuid4().hex[:12]}"
        secrets.create_secret(Name=name, SecretString=json.dumps({"efadminPassword": password}))
        made.append(name)
        return name

    yield _make
    for name in made:
        secrets.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


@pytest.fixture
def portal_check(run_playbook, tmp_path):
    """Run portal_check once with ``args``; returns (its result, everything ansible-playbook printed)."""

    def _run(**args):
        args.setdefault("certificate", {"domain": f"p{uuid.uuid4().hex[:10]}.hpcops-it.example", "request": True})
        path = tmp_path / f"play-{uuid.uuid4().hex[:8]}.yml"
        task = {"name": "portal_check", "hpcops.aws_hpc.portal_check": args, "ignore_errors": True}
        path.write_text(json.dumps([{"name": "portal", "hosts": "localhost", "gather_facts": False,
                                     "tasks": [task]}]))
        proc = run_playbook(str(path), extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
        (result,) = _json_results(proc.stdout)
        return result, proc.stdout

    return _run


def test_a_good_secret_passes(make_secret, secrets, portal_check):
    name = make_secret(GOOD_PASSWORD)
    result, output = portal_check(efadmin_secret_id=name)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["efadmin_secret_arn"] == secrets.describe_secret(SecretId=name)["ARN"]
    assert result["certificate_action"] == "request" and result["certificate_arn"] == ""
    assert result["problems"] == []
    assert GOOD_PASSWORD not in output


def test_a_password_against_the_policy_is_named_not_shown(make_secret, portal_check):
    name = make_secret(BAD_PASSWORD)
    result, output = portal_check(efadmin_secret_id=name)
    assert result["failed"] is True
    assert [line.split(":", 1)[0] for line in result["problems"]] == ["portal_efadmin_secret_key"]
    assert "lacks a digit and a special character" in result["msg"]
    assert BAD_PASSWORD not in output


def test_a_missing_secret_names_portal_efadmin_secret_id(portal_check):
    name = f"hpcops-it/portal-missing-{uuid.uuid4().hex[:12]}"
    result, output = portal_check(efadmin_secret_id=name)
    assert result["failed"] is True
    (problem,) = result["problems"]
    assert problem.startswith(f"portal_efadmin_secret_id: the secret {name} does not exist")
    assert problem in result["msg"].splitlines()
    assert "ResourceNotFoundException" in output


def test_an_fsx_size_fsx_refuses_names_portal_fsx_storage_capacity(make_secret, portal_check):
    result, output = portal_check(efadmin_secret_id=make_secret(GOOD_PASSWORD),
                                  fsx={"storage_capacity": 1000, "deployment_type": "SCRATCH_2"})
    assert result["failed"] is True
    assert result["problems"] == ["portal_fsx_storage_capacity: 1000 GiB is not a size FSx for Lustre accepts: "
                                  "SCRATCH_2 SSD takes 1200, 2400 or a multiple of 2400 GiB"]
    assert GOOD_PASSWORD not in output


def test_a_domain_without_a_certificate_names_portal_certificate_domain(make_secret, portal_check):
    domain = f"p{uuid.uuid4().hex[:10]}.hpcops-it.example"
    result, output = portal_check(efadmin_secret_id=make_secret(GOOD_PASSWORD), certificate={"domain": domain})
    assert result["failed"] is True
    (problem,) = result["problems"]
    assert problem.startswith(f"portal_certificate_domain: no ACM certificate for domain {domain} is ISSUED")
    assert GOOD_PASSWORD not in output
