"""The real pcluster dry run on the configuration the parallelcluster role renders, against the lab endpoint.

pcluster (aws-parallelcluster, in .venv-pcluster or on PATH) runs ParallelCluster's own validators against
moto; three validators need EC2 calls moto cannot answer and are suppressed (docs/parallelcluster.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import render

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "pcluster"
MOTO_GAPS = [
    "type:HeadNodeLaunchTemplateValidator",
    "type:KeyPairValidator",
    "type:ComputeResourceLaunchTemplateValidator",
]


def pcluster_path() -> str:
    candidate = ROOT / ".venv-pcluster" / "bin" / "pcluster"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("pcluster")
    if not found:
        pytest.fail("pcluster is not installed: make setup-test installs it into .venv-pcluster")
    return found


@pytest.fixture(scope="module")
def lab_network(lab_env):
    session = boto3.session.Session(
        region_name=lab_env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=lab_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=lab_env["AWS_SECRET_ACCESS_KEY"],
    )
    ec2 = session.client("ec2", endpoint_url=lab_env["AWS_ENDPOINT_URL"])
    subnets = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    images = ec2.describe_images(
        Owners=["amazon"], Filters=[{"Name": "name", "Values": ["al2023-ami-2023.*-kernel-6.1-x86_64"]}]
    )
    assert images["Images"], "moto lists no Amazon Linux 2023 image"
    return {"subnets": [s["SubnetId"] for s in subnets[:2]], "ami": images["Images"][0]["ImageId"]}


def dry_run(config: dict, lab_env: dict, tmp_path: Path) -> tuple[int, dict]:
    path = tmp_path / "cluster-config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(lab_env)
    result = subprocess.run(
        [
            pcluster_path(),
            "create-cluster",
            "--dryrun",
            "true",
            "--cluster-name",
            config["Tags"][0]["Value"],
            "--cluster-configuration",
            str(path),
            "--region",
            lab_env.get("AWS_REGION", "us-east-1"),
            "--suppress-validators",
            *MOTO_GAPS,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


def lab_spec(lab_network, case="minimal"):
    spec = yaml.safe_load((FIXTURES / f"{case}.spec.yml").read_text())
    spec.update(
        region="us-east-1",
        custom_ami=lab_network["ami"],
        subnet_ids=lab_network["subnets"][:1],
        additional_iam_policies=[],
    )
    spec["head_node"].pop("subnet_id", None)
    return spec


def test_rendered_config_passes_the_real_dry_run(lab_env, lab_network, tmp_path):
    _rc, answer = dry_run(render(lab_spec(lab_network)), lab_env, tmp_path)
    assert "Request would have succeeded" in answer["message"], answer
    assert not [m for m in answer.get("validationMessages", []) if m["level"] == "ERROR"]


def test_multi_subnet_queue_passes(lab_env, lab_network, tmp_path):
    spec = lab_spec(lab_network)
    spec["subnet_ids"] = lab_network["subnets"]
    _rc, answer = dry_run(render(spec), lab_env, tmp_path)
    assert "Request would have succeeded" in answer["message"], answer


def test_pcluster_reports_its_own_errors(lab_env, lab_network, tmp_path):
    config = render(lab_spec(lab_network))
    config["HeadNode"]["Iam"] = {"AdditionalIamPolicies": [{"Policy": "arn:aws:iam::aws:policy/NoSuchPolicyHpcops"}]}
    rc, answer = dry_run(config, lab_env, tmp_path)
    assert rc != 0
    errors = answer.get("configurationValidationErrors", [])
    assert any(e["type"] == "AdditionalIamPolicyValidator" and e["level"] == "ERROR" for e in errors), answer
