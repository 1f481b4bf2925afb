"""playbooks/teardown.yml beyond the tiers and the shared layer: baked images, ParallelCluster
clusters and the checks of its switches, against the lab endpoint (AWS_ENDPOINT_URL, see
tests/conftest.py), each run from the checkout with a cluster name of its own.

- Baked images: AMIs made the way Packer's amazon-ebs builder makes them (an instance, CreateImage,
  then the image and its snapshots tagged) carrying the tags roles/ami_bakery gives them
  (plugins/module_utils/_bake.py names them): one for this cluster, one for another cluster, one
  baked without a cluster (any cluster may launch it), one untagged. With teardown_delete_images
  only this cluster's AMI and its snapshots go, plus a snapshot tagged for this cluster that its AMI
  left behind; a tagged snapshot that another AMI still uses stays. The default keeps them all and
  says how to delete them. A rerun changes nothing.
- ParallelCluster: see the stand-in note on test_pcluster_stand_in_deleted_before_the_tiers. With
  teardown_delete_pcluster=false a cluster is kept and nothing needs pcluster; a missing pcluster
  with a cluster to delete stops the play before the tiers.
- KMS: the waiting period reaches amazon.aws.kms_key (a check-mode run: see its test).
- A bad switch or waiting period stops the play before any change, naming the variable.
"""

from __future__ import annotations

import json
import uuid

import pytest
from conftest import ROOT, cluster_inventory, lab_client, play_recap

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import (
    CLUSTER_TAG,
    DATE_TAG,
    HASH_TAG,
    IMAGE_TAG,
    ROLE_TAG,
    SOURCE_TAG,
)

PCLUSTER = ROOT / ".venv-pcluster" / "bin" / "pcluster"
NO_PCLUSTER = "/nonexistent/pcluster"
# The image the lab group_vars let the pcluster-linux bake start from (moto lists it among amazon's).
SOURCE_AMI_NAME = "amzn2-ami-ecs-gpu-hvm-*-x86_64-ebs"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, lab_env):
    """A cluster of its own: an inventory copy whose hpc_ec2 source and variables name it."""
    name = f"td{uuid.uuid4().hex[:8]}"
    inventory = cluster_inventory(tmp_path_factory.mktemp("inventory"), name)
    return {"name": name, "other": f"to{uuid.uuid4().hex[:8]}", "inventory": str(inventory), "env": lab_env}


def _client(cluster, service):
    return lab_client(cluster["env"], service)


def _snapshots_of(image):
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def _bake_like(ec2, image, role, cluster=None, tagged=True):
    """An AMI made as Packer's amazon-ebs builder makes one, tagged as roles/ami_bakery tags it."""
    name_filter = [{"Name": "name", "Values": [SOURCE_AMI_NAME]}]
    source = ec2.describe_images(Owners=["amazon"], Filters=name_filter)["Images"][0]
    instance = ec2.run_instances(ImageId=source["ImageId"], MinCount=1, MaxCount=1, InstanceType="t3.micro")
    instance_id = instance["Instances"][0]["InstanceId"]
    name = f"hpc-{cluster + '-' if cluster else ''}{image}-{uuid.uuid4().hex[:8]}"
    image_id = ec2.create_image(InstanceId=instance_id, Name=name)["ImageId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    snapshots = _snapshots_of(ec2.describe_images(ImageIds=[image_id])["Images"][0])
    assert snapshots, "moto's CreateImage made no snapshot: the test cannot show the snapshots go"
    if tagged:
        # build.yml's tags, plus what the Packer templates add (Name, hpc:source-ami); AMI and snapshots alike.
        tags = {
            IMAGE_TAG: image,
            ROLE_TAG: role,
            HASH_TAG: uuid.uuid4().hex * 2,
            DATE_TAG: "2025-01-31",
            "Name": name,
            SOURCE_TAG: source["ImageId"],
        }
        if cluster:
            tags[CLUSTER_TAG] = cluster
        ec2.create_tags(Resources=[image_id, *snapshots], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return {"image_id": image_id, "snapshots": snapshots}


def _existing_images(ec2, image_ids):
    return {i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]} & set(image_ids)


def _existing_snapshots(ec2, snapshot_ids):
    found = ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"] for s in found} & set(snapshot_ids)


@pytest.fixture(scope="module")
def images(cluster):
    """The account's images and snapshots before any teardown, keyed by what they stand for."""
    ec2 = _client(cluster, "ec2")
    made = {
        "ours": _bake_like(ec2, "computenode", "computenode", cluster=cluster["name"]),
        "other_cluster": _bake_like(ec2, "computenode", "computenode", cluster=cluster["other"]),
        "every_cluster": _bake_like(ec2, "pcluster-linux", "pcluster"),
        "untagged": _bake_like(ec2, "untagged", "none", tagged=False),
    }
    tags = [{"Key": IMAGE_TAG, "Value": "headnode"}, {"Key": CLUSTER_TAG, "Value": cluster["name"]}]
    # A snapshot of this cluster's bake whose AMI is gone (a bake or teardown that stopped half way).
    # (moto's RegisterImage ignores the snapshot it is given, so both cases use CreateImage or a volume.)
    volume = ec2.create_volume(AvailabilityZone=f"{cluster['env']['AWS_REGION']}a", Size=8)["VolumeId"]
    orphan = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.create_tags(Resources=[orphan], Tags=tags)
    # An AMI made by hand (not tagged) whose snapshot carries this cluster's tags: the snapshot stays.
    made["by_hand"] = _bake_like(ec2, "by-hand", "none", tagged=False)
    ec2.create_tags(Resources=made["by_hand"]["snapshots"], Tags=tags)
    ec2.delete_volume(VolumeId=volume)
    yield {"images": made, "orphan_snapshot": orphan}
    # Leave nothing behind in a shared lab.
    for image_id in _existing_images(ec2, [i["image_id"] for i in made.values()]):
        ec2.deregister_image(ImageId=image_id)
    for snapshot in _existing_snapshots(ec2, [orphan, *(s for i in made.values() for s in i["snapshots"])]):
        ec2.delete_snapshot(SnapshotId=snapshot)


def _stand_in_stack(cfn, name, cluster, version="3.16.1", image_build=False):
    """A CloudFormation stack shaped as ParallelCluster 3 leaves a cluster (see the test below)."""
    tags = {"hpc:cluster": cluster, "hpc:role": "pcluster", "parallelcluster:version": version}
    if image_build:
        tags["parallelcluster:image_id"] = name
    else:
        tags["parallelcluster:cluster-name"] = name
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": {"Scheduler": {"Type": "String"}},
        "Resources": {"StandIn": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
    cfn.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "Scheduler", "ParameterValue": "slurm"}],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    return name


def _stacks(cfn):
    return {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}


@pytest.fixture(scope="module")
def stand_ins(cluster):
    cfn = _client(cluster, "cloudformation")
    made = {
        "ours": _stand_in_stack(cfn, cluster["name"], cluster["name"]),
        "other_cluster": _stand_in_stack(cfn, cluster["other"], cluster["other"]),
        # `pcluster build-image` stacks carry parallelcluster:image_id; list-clusters leaves them out.
        "image_build": _stand_in_stack(cfn, f"{cluster['name']}-image", cluster["name"], image_build=True),
    }
    yield made
    for name in set(made.values()) & _stacks(cfn):
        cfn.delete_stack(StackName=name)


@pytest.fixture(scope="module")
def account(images, stand_ins):
    """What the account holds before the teardowns: the images above and the ParallelCluster stand-ins."""
    return {**images, "stacks": stand_ins}


def _said(result):
    """The output with every run of white space made one space: the YAML callback wraps long lines."""
    return " ".join(result.stdout.split())


def _teardown(run_playbook, cluster, *extra):
    """Run the teardown; each of ``extra`` is an -e value, or an option when it starts with '-'."""
    args = ["playbooks/teardown.yml", "-i", cluster["inventory"]]
    for item in extra:
        args += [item] if item.startswith("-") else ["-e", item]
    return run_playbook(*args)


OTHERS = ("other_cluster", "every_cluster", "untagged", "by_hand")


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ("teardown_delete_images=maybe", "teardown_delete_images"),
        ('{"teardown_delete_pcluster": 2}', "teardown_delete_pcluster"),
        ("teardown_delete_bucket=sure", "teardown_delete_bucket"),
        ("teardown_kms_pending_days=5", "teardown_kms_pending_days"),
        ("teardown_kms_pending_days=31", "teardown_kms_pending_days"),
        ("teardown_kms_pending_days=week", "teardown_kms_pending_days"),
        ('{"teardown_kms_pending_days": 3}', "teardown_kms_pending_days"),
    ],
)
def test_bad_switch_stops_before_any_change(run_playbook, cluster, account, extra, variable):
    # The bad value comes last: a later -e wins.
    result = _teardown(run_playbook, cluster, "teardown_delete_images=true", extra)
    assert result.returncode != 0, result.stdout[-3000:]
    assert f"{variable} must be" in _said(result), result.stdout[-3000:]
    assert "Remove the ParallelCluster clusters" not in result.stdout, "a task after the checks ran"
    ours = account["images"]["ours"]["image_id"]
    assert _existing_images(_client(cluster, "ec2"), [ours]) == {ours}
    assert account["stacks"]["ours"] in _stacks(_client(cluster, "cloudformation"))


def test_default_keeps_images_and_pcluster_off_needs_no_pcluster(run_playbook, cluster, account):
    """teardown_delete_pcluster=false with a cluster present, and no pcluster installed: nothing needs it."""
    result = _teardown(
        run_playbook, cluster, "teardown_delete_pcluster=false", f"parallelcluster_pcluster_path={NO_PCLUSTER}"
    )
    assert result.returncode == 0, result.stdout[-5000:]
    ec2 = _client(cluster, "ec2")
    every = [i["image_id"] for i in account["images"].values()]
    assert _existing_images(ec2, every) == set(every)
    assert _existing_snapshots(ec2, [account["orphan_snapshot"]]) == {account["orphan_snapshot"]}
    assert account["stacks"]["ours"] in _stacks(_client(cluster, "cloudformation"))
    out = _said(result)
    assert f"Kept 1 baked AMIs tagged hpc:cluster={cluster['name']} ({account['images']['ours']['image_id']})" in out
    assert "teardown_delete_images=true deregisters them" in out
    assert f"Kept ParallelCluster clusters {cluster['name']}: teardown_delete_pcluster=true deletes them" in out


def test_missing_pcluster_fails_before_the_tiers(run_playbook, cluster, account):
    result = _teardown(run_playbook, cluster, f"parallelcluster_pcluster_path={NO_PCLUSTER}")
    assert result.returncode != 0, result.stdout[-3000:]
    assert f"pcluster_path {NO_PCLUSTER} is not an executable file" in _said(result), result.stdout[-3000:]
    assert "Remove each tier" not in result.stdout
    assert account["stacks"]["ours"] in _stacks(_client(cluster, "cloudformation"))


@pytest.mark.skipif(not PCLUSTER.exists(), reason=f"needs the lab's pcluster ({PCLUSTER}, made by `make lab-up`)")
def test_pcluster_stand_in_deleted_before_the_tiers(run_playbook, cluster, account):
    """ParallelCluster cannot create a cluster against moto, so this cluster is a stand-in: a CloudFormation
    stack of the shape ParallelCluster 3 leaves, not a real cluster. It mirrors ParallelCluster 3.16.1
    (github.com/aws/aws-parallelcluster, cli/src/pcluster): the stack is named after the cluster and
    carries the configuration's Tags (hpc:cluster and hpc:role=pcluster, which the parallelcluster role
    adds, plugins/module_utils/_pcluster_spec.py) plus parallelcluster:cluster-name and parallelcluster:version
    (models/cluster.py, Cluster._add_tags), and the Scheduler parameter; `pcluster list-clusters` lists the
    top-level stacks tagged parallelcluster:version without parallelcluster:image_id (aws/cfn.py,
    CfnClient.list_pcluster_stacks). The real pcluster of the lab then describes and deletes it.

    moto deletes a stack at once, so pcluster's delete-cluster, reading the stack back after deleting it,
    answers "does not exist" and pcluster_cluster reports no change; on AWS the stack is DELETE_IN_PROGRESS
    and the module waits. The test therefore checks the end state and the order, not the changed flag.
    """
    result = _teardown(run_playbook, cluster)
    assert result.returncode == 0, result.stdout[-5000:]
    stacks = _stacks(_client(cluster, "cloudformation"))
    standins = account["stacks"]
    assert standins["ours"] not in stacks
    assert standins["other_cluster"] in stacks, "another cluster's ParallelCluster stack was deleted"
    assert standins["image_build"] in stacks, "an image build stack was taken for a cluster"
    out = _said(result)
    deleting = out.index(f"(item={standins['ours']} (CREATE_COMPLETE, ParallelCluster 3.16.1))")
    assert deleting < out.index("TASK [Remove each tier, compute nodes first]"), "the tiers went before the cluster"
    assert f"ParallelCluster clusters deleted: {standins['ours']}." in out


def test_delete_images_only_this_clusters_then_rerun_changes_nothing(run_playbook, cluster, account):
    # The ParallelCluster stand-in is the test above's (skipped without the lab's pcluster).
    switches = ("teardown_delete_images=true", "teardown_delete_pcluster=false")
    result = _teardown(run_playbook, cluster, *switches)
    assert result.returncode == 0, result.stdout[-5000:]
    ec2 = _client(cluster, "ec2")
    images = account["images"]
    ours = images["ours"]
    kept = [images[k]["image_id"] for k in OTHERS]
    assert _existing_images(ec2, [ours["image_id"], *kept]) == set(kept)
    assert _existing_snapshots(ec2, [*ours["snapshots"], account["orphan_snapshot"]]) == set()
    kept_snapshots = [s for k in OTHERS for s in images[k]["snapshots"]]
    assert _existing_snapshots(ec2, kept_snapshots) == set(kept_snapshots)
    out = _said(result)
    assert f"Baked AMIs deregistered: {ours['image_id']}; snapshots deleted: " in out
    assert account["orphan_snapshot"] in out

    again = _teardown(run_playbook, cluster, *switches)
    assert again.returncode == 0, again.stdout[-5000:]
    assert play_recap(again.stdout)["localhost"]["changed"] == 0
    assert "Baked AMIs deregistered: none; snapshots deleted: none." in _said(again)


@pytest.fixture
def kms_key(cluster):
    """The cluster's KMS key under the alias aws_foundation gives it (alias/hpc-<cluster>)."""
    kms = _client(cluster, "kms")
    key_id = kms.create_key(Description=f"stand-in key of {cluster['name']}")["KeyMetadata"]["KeyId"]
    alias = f"alias/hpc-{cluster['name']}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    yield {"key_id": key_id, "alias": alias}
    kms.delete_alias(AliasName=alias)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


def test_kms_key_deletion_gets_the_waiting_period(run_playbook, cluster, kms_key):
    """teardown_delete_secrets=true (teardown_delete_kms_key defaults to true) schedules the key's deletion with
    teardown_kms_pending_days. moto 5.2.5 answers 500 to ScheduleKeyDeletion with the key ARN amazon.aws.kms_key
    sends (the lab keeps the key, inventories/lab/group_vars/all.yml), so this is a check-mode run: it shows the
    waiting period reaching amazon.aws.kms_key and that the key would change, and changes nothing.
    """
    result = _teardown(
        run_playbook,
        cluster,
        "teardown_delete_secrets=true",
        "teardown_delete_kms_key=true",
        "teardown_kms_pending_days=21",
        "teardown_delete_pcluster=false",
        "--check",
        "-vvv",
    )
    assert result.returncode == 0, result.stdout[-5000:]
    task = result.stdout.split("Schedule the deletion of the KMS key", 1)[1].split("TASK [", 1)[0]
    assert "changed: [localhost]" in task, task
    assert "pending_window: 21" in task, task
    assert f"alias: {kms_key['alias']}" in task, task
    out = _said(result)
    assert "Check mode: nothing was changed" in out
    assert f"KMS key {kms_key['alias']} scheduled for deletion in 21 days" in out
    key = _client(cluster, "kms").describe_key(KeyId=kms_key["alias"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled", "check mode changed the key"
