"""The AMI bakery (playbooks/bake.yml) with real Packer against the lab endpoint.

One module-scoped cluster walks through: check mode, a full bake, a rerun that builds nothing, the
launch template update, retention with a referenced AMI surviving, the manifest, and a failing
build that leaves nothing behind. Everything made is removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from conftest import ROOT, play_recap

pytestmark = pytest.mark.lab

IMAGES = ["sqlserver", "headnode", "computenode", "pcluster-linux"]
TIERS = ["sqlserver", "headnode", "computenode"]
PACKER = shutil.which("packer")
LAB_FILTERS = {
    "sqlserver": {"name": "Windows_Server-2016-English-Full-SQL_2017_Standard-*", "owners": ["amazon"]},
    "headnode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]},
    "computenode": {"name": "Windows_Server-2016-English-Full-Base-*", "owners": ["amazon"]},
    # moto lists no ParallelCluster AMI: an Amazon Linux 2 image stands in for it in the lab.
    "pcluster-linux": {"name": "amzn2-ami-ecs-gpu-hvm-*-x86_64-ebs", "owners": ["amazon"]},
}

if PACKER is None:
    pytest.skip("packer is not installed (bash lab/debian-deps.sh packer)", allow_module_level=True)


def tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


class Bakery:
    def __init__(self, tmp: Path, lab_env, run_playbook):
        self.cluster = "bk" + uuid.uuid4().hex[:8]
        self.tmp = tmp
        self.run_playbook = run_playbook
        kwargs = {"region_name": lab_env.get("AWS_REGION", "us-east-1"), "endpoint_url": lab_env["AWS_ENDPOINT_URL"],
                  "aws_access_key_id": lab_env["AWS_ACCESS_KEY_ID"],
                  "aws_secret_access_key": lab_env["AWS_SECRET_ACCESS_KEY"]}
        self.ec2 = boto3.client("ec2", **kwargs)
        self.manifest_path = tmp / "manifest.json"
        self.inventory = tmp / "inventory.yml"
        self.write_inventory()

    def write_inventory(self, **overrides):
        variables = {
            "hpc_aws_region": "us-east-1",
            "hpc_aws_endpoint_url": "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}",
            "hpc_cluster_name": self.cluster,
            "ami_bakery_packer_var_files": ["lab.pkrvars.hcl"],
            "ami_bakery_source_ami_filters": LAB_FILTERS,
            "ami_bakery_manifest_path": str(self.manifest_path),
            "ami_bakery_log_path": str(self.tmp / "packer.log"),
        }
        variables.update(overrides)
        host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        inventory = {"all": {"hosts": {"localhost": host}, "vars": variables}}
        self.inventory.write_text(json.dumps(inventory))

    def bake(self, *extra):
        return self.run_playbook("-i", str(self.inventory), "playbooks/bake.yml", *extra)

    def manifest(self):
        return json.loads(self.manifest_path.read_text())

    def images(self):
        flt = [{"Name": "tag:hpc:cluster", "Values": [self.cluster]}]
        return self.ec2.describe_images(Owners=["self"], Filters=flt)["Images"]

    def default_image(self, tier):
        version = self.ec2.describe_launch_template_versions(
            LaunchTemplateName=f"hpc-{self.cluster}-{tier}", Versions=["$Default"])["LaunchTemplateVersions"][0]
        return version["VersionNumber"], version["LaunchTemplateData"].get("ImageId")

    def cleanup(self):
        for image in self.images():
            self.ec2.deregister_image(ImageId=image["ImageId"])
            for bdm in image.get("BlockDeviceMappings", []):
                if bdm.get("Ebs", {}).get("SnapshotId"):
                    self.ec2.delete_snapshot(SnapshotId=bdm["Ebs"]["SnapshotId"])
        for tier in TIERS:
            with contextlib.suppress(self.ec2.exceptions.ClientError):
                self.ec2.delete_launch_template(LaunchTemplateName=f"hpc-{self.cluster}-{tier}")


@pytest.fixture(scope="module")
def bakery(tmp_path_factory, lab_env, run_playbook):
    bakery = Bakery(tmp_path_factory.mktemp("bake"), lab_env, run_playbook)
    base = bakery.ec2.describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["Windows_Server-2016-English-Full-Base-*"]}])["Images"][0]["ImageId"]
    for tier in TIERS:
        bakery.ec2.create_launch_template(LaunchTemplateName=f"hpc-{bakery.cluster}-{tier}",
                                          LaunchTemplateData={"ImageId": base, "InstanceType": "m5.large"})
    bakery.base_image = base
    yield bakery
    bakery.cleanup()


def _reads_required_plugins() -> bool:
    """Whether this Packer reads versions.pkr.hcl (1.7 and later), as roles/ami_bakery/tasks/build.yml decides."""
    out = subprocess.run([PACKER, "version"], capture_output=True, text=True, check=True,
                         env={"CHECKPOINT_DISABLE": "1"}).stdout
    release = tuple(int(p) for p in re.search(r"v?(\d+)\.(\d+)\.(\d+)", out).groups())
    return release >= (1, 7, 0)


def test_templates_are_formatted_and_valid(lab_env):
    whole = _reads_required_plugins()
    for template in ("sqlserver", "hpcpack", "pcluster-linux"):
        path = ROOT / "packer" / template
        fmt = subprocess.run([PACKER, "fmt", "-check", str(path)], capture_output=True, text=True, check=False)
        assert fmt.returncode == 0, f"packer fmt -check {template}: {fmt.stdout}{fmt.stderr}"
        target = template if whole else f"{template}/{template}.pkr.hcl"
        for extra in ([], ["-var-file=lab.pkrvars.hcl", f"-var=aws_endpoint={lab_env['AWS_ENDPOINT_URL']}"]):
            result = subprocess.run([PACKER, "validate", *extra, target], cwd=ROOT / "packer",
                                    capture_output=True, text=True, check=False, env={"CHECKPOINT_DISABLE": "1"})
            assert result.returncode == 0, f"packer validate {template} {extra}: {result.stdout}{result.stderr}"
    fmt = subprocess.run([PACKER, "fmt", "-check", str(ROOT / "packer" / "lab.pkrvars.hcl")], check=False)
    assert fmt.returncode == 0


def test_check_mode_changes_nothing(bakery):
    result = bakery.bake("--check")
    assert result.returncode == 0, result.stdout
    assert bakery.images() == []
    assert bakery.default_image("computenode")[1] == bakery.base_image


def test_full_bake_tags_and_launch_templates(bakery):
    result = bakery.bake()
    assert result.returncode == 0, result.stdout
    assert play_recap(result.stdout)["localhost"]["changed"] >= 1
    manifest = bakery.manifest()
    assert sorted(e["image"] for e in manifest["built"]) == sorted(IMAGES)
    assert manifest["skipped"] == [] and manifest["failed"] == []
    images = {tags(i)["hpc:image"]: i for i in bakery.images()}
    assert sorted(images) == sorted(IMAGES)
    for name, image in images.items():
        image_tags = tags(image)
        role = {"pcluster-linux": "pcluster"}.get(name, name)
        assert image_tags["hpc:role"] == role
        assert image_tags["hpc:cluster"] == bakery.cluster
        assert len(image_tags["hpc:input-hash"]) == 64
        assert image_tags["hpc:bake-date"] == manifest["bake_date"]
        assert image_tags["hpc:source-ami"].startswith("ami-")
        entry = next(e for e in manifest["built"] if e["image"] == name)
        assert entry["image_id"] == image["ImageId"]
        assert entry["input_hash"] == image_tags["hpc:input-hash"]
        snapshots = [b["Ebs"]["SnapshotId"] for b in image["BlockDeviceMappings"] if "Ebs" in b]
        assert snapshots
        for snapshot in bakery.ec2.describe_snapshots(SnapshotIds=snapshots)["Snapshots"]:
            for key in ("hpc:image", "hpc:role", "hpc:input-hash", "hpc:bake-date", "hpc:source-ami"):
                assert tags(snapshot)[key] == image_tags[key], (name, key)
    # ParallelCluster's CustomAmiTagValidator reads these two.
    assert tags(images["pcluster-linux"])["parallelcluster:version"] == "3.16.1"
    assert tags(images["pcluster-linux"])["parallelcluster:build_status"] == "available"
    for tier in TIERS:
        version, image_id = bakery.default_image(tier)
        assert version == 2
        assert image_id == images[tier]["ImageId"]
    assert (bakery.tmp / "packer.log").read_text().count("[computenode]") > 3


def test_rerun_with_unchanged_inputs_builds_nothing(bakery):
    log = bakery.tmp / "packer.log"
    before = log.stat().st_size
    result = bakery.bake()
    assert result.returncode == 0, result.stdout
    assert play_recap(result.stdout)["localhost"]["changed"] == 0, result.stdout
    assert log.stat().st_size == before, "a rerun with unchanged inputs must not run packer"
    manifest = bakery.manifest()
    assert manifest["built"] == []
    assert sorted(e["image"] for e in manifest["skipped"]) == sorted(IMAGES)


def test_retention_keeps_a_referenced_ami(bakery):
    first = next(i for i in bakery.images() if tags(i)["hpc:image"] == "computenode")["ImageId"]
    instance = bakery.ec2.run_instances(ImageId=first, MinCount=1, MaxCount=1, InstanceType="c5.large")
    instance_id = instance["Instances"][0]["InstanceId"]
    try:
        # A changed variable is a changed input: computenode is rebuilt, the others are skipped.
        bakery.write_inventory(ami_bakery_keep=1, ami_bakery_images=["computenode"],
                               ami_bakery_image_variables={"computenode": {"instance_type": "c5.2xlarge"}})
        result = bakery.bake()
        assert result.returncode == 0, result.stdout
        manifest = bakery.manifest()
        second = manifest["built"][0]["image_id"]
        assert second != first
        assert bakery.default_image("computenode")[1] == second
        assert manifest["retired"] == []
        assert manifest["protected"] == [
            {"image": "computenode", "image_id": first, "reasons": [f"instance {instance_id} (running)"]}]
        assert first in {i["ImageId"] for i in bakery.images()}
    finally:
        bakery.ec2.terminate_instances(InstanceIds=[instance_id])

    # Nothing references the first AMI any more: the next bake retires it with its snapshots.
    old = next(i for i in bakery.images() if i["ImageId"] == first)
    snapshots = [b["Ebs"]["SnapshotId"] for b in old["BlockDeviceMappings"] if "Ebs" in b]
    bakery.write_inventory(ami_bakery_keep=1, ami_bakery_images=["computenode"],
                           ami_bakery_image_variables={"computenode": {"instance_type": "c5.4xlarge"}})
    result = bakery.bake()
    assert result.returncode == 0, result.stdout
    manifest = bakery.manifest()
    retired = {e["image_id"] for e in manifest["retired"]}
    assert first in retired
    assert second in retired, "the previous default version is neither default nor latest any more"
    remaining = {i["ImageId"] for i in bakery.images() if tags(i)["hpc:image"] == "computenode"}
    assert remaining == {manifest["built"][0]["image_id"]}
    left = bakery.ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": snapshots}])["Snapshots"]
    assert left == []


def test_failing_build_leaves_nothing_half_done(bakery):
    before = {i["ImageId"] for i in bakery.images()}
    lt_before = bakery.default_image("sqlserver")
    filters = dict(LAB_FILTERS, sqlserver={"name": "No-Such-Image-*", "owners": ["amazon"]})
    bakery.write_inventory(ami_bakery_images=["sqlserver"], ami_bakery_source_ami_filters=filters)
    result = bakery.bake()
    assert result.returncode != 0
    # Packer's own message, with the image and the step.
    assert "No AMI was found matching filters" in result.stdout
    assert "Packer build of image sqlserver" in result.stdout
    assert {i["ImageId"] for i in bakery.images()} == before
    assert bakery.default_image("sqlserver") == lt_before
    manifest = bakery.manifest()
    assert manifest["failed"] == ["sqlserver"]
    assert "No AMI was found matching filters" in manifest["error"]
