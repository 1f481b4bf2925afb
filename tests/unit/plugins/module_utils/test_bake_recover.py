"""What a killed bake left (module_utils/_bake.leftovers): only this cluster's, never a complete AMI."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _bake

IMAGES = ["computenode", "pcluster-linux", "headnode"]


def instance(iid, name, *, state="running", key="packer_k1", group=("sg-1", "packer_g1"), bake=True):
    tags = [{"Key": "Name", "Value": name}] + ([{"Key": "hpc:bake", "Value": "true"}] if bake else [])
    return {"InstanceId": iid, "State": {"Name": state}, "KeyName": key, "Tags": tags,
            "SecurityGroups": [{"GroupId": group[0], "GroupName": group[1]}]}


def ami(aid, name, snapshot, tagged):
    tags = [{"Key": "Name", "Value": name}] + ([{"Key": "hpc:input-hash", "Value": "h"}] if tagged else [])
    return {"ImageId": aid, "Name": name, "Tags": tags,
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": snapshot}}]}


def test_pattern_is_this_clusters_images_only():
    pattern = _bake.ami_name_pattern("prod", IMAGES)
    assert pattern.match("hpc-prod-computenode-20261201-161103")
    assert pattern.match("hpc-prod-pcluster-linux-20261201-161103")
    assert not pattern.match("hpc-prod2-computenode-20261201-161103")
    assert not pattern.match("hpc-prod-x-computenode-20261201-161103")
    assert not pattern.match("hpc-prod-computenode-20261201-161103-copy")
    bare = _bake.ami_name_pattern("", IMAGES)
    assert bare.match("hpc-headnode-20261201-161103")
    assert not bare.match("hpc-prod-headnode-20261201-161103")


def test_a_bake_killed_while_packer_ran():
    instances = [
        instance("i-0a1", "packer hpc-prod-computenode-20261201-161103"),
        instance("i-0d2", "packer hpc-prod-headnode-20261101-101010", state="terminated", key="packer_k2",
                 group=("sg-2", "packer_g2")),
        instance("i-0c3", "packer hpc-test-computenode-20261201-161103", state="terminated", key="packer_k3",
                 group=("sg-3", "packer_g3")),
        instance("i-0f5", "hpc-prod-computenode", key="prod", group=("sg-9", "prod-compute"), bake=False),
    ]
    amis = [
        ami("ami-0aa", "hpc-prod-computenode-20261201-161103", "snap-half", tagged=False),
        ami("ami-0bb", "hpc-prod-headnode-20261101-101010", "snap-good", tagged=True),
        ami("ami-0c3", "hpc-test-computenode-20261201-161103", "snap-other", tagged=False),
    ]
    snapshots = [
        {"SnapshotId": "snap-half", "Description": "Created by CreateImage(i-0a1) for ami-0aa"},
        {"SnapshotId": "snap-good", "Description": "Created by CreateImage(i-0d2) for ami-0bb"},
        {"SnapshotId": "snap-other", "Description": "Created by CreateImage(i-0c3) for ami-0c3"},
        {"SnapshotId": "snap-lost", "Description": "Created by CreateImage(i-0d2) for ami-0b6"},
        {"SnapshotId": "snap-retired", "Description": "", "Tags": [
            {"Key": "hpc:cluster", "Value": "prod"}, {"Key": "hpc:image", "Value": "headnode"},
            {"Key": "Name", "Value": "hpc-prod-headnode-20260901-101010"}]},
        {"SnapshotId": "snap-theirs", "Description": "", "Tags": [
            {"Key": "hpc:cluster", "Value": "test"}, {"Key": "hpc:image", "Value": "headnode"},
            {"Key": "Name", "Value": "hpc-test-headnode-20260901-101010"}]},
    ]
    found = _bake.leftovers("prod", IMAGES, instances=instances, amis=amis, snapshots=snapshots,
                            key_pairs=["packer_k1", "packer_k3", "prod", "packer_lost"],
                            security_groups=["sg-1", "sg-2", "sg-lost"])
    assert found["instances"] == ["i-0a1"]
    assert found["images"] == ["ami-0aa"]  # never the tagged one, never another cluster's
    assert found["snapshots"] == ["snap-half", "snap-lost", "snap-retired"]
    # the builders' own, then the unlinked temporary ones (no other bake's builder is alive); packer_k3 is
    # another cluster's (terminated) builder's: it goes too only because nothing uses it any more
    assert "packer_k1" in found["key_pairs"] and "packer_lost" in found["key_pairs"]
    assert "prod" not in found["key_pairs"]
    assert set(found["security_groups"]) == {"sg-1", "sg-2", "sg-lost"}


def test_unlinked_temporary_things_stay_while_another_bake_runs():
    instances = [instance("i-0e4", "packer hpc-test-computenode-20261201-161103", key="packer_k9",
                          group=("sg-9", "packer_g9"))]
    found = _bake.leftovers("prod", IMAGES, instances=instances, amis=[], snapshots=[],
                            key_pairs=["packer_k9", "packer_lost"], security_groups=["sg-9", "sg-lost"])
    assert found == {"instances": [], "key_pairs": [], "security_groups": [], "images": [], "snapshots": []}


def test_a_clean_account_has_nothing_to_recover():
    instances = [instance("i-0d2", "packer hpc-prod-computenode-20261201-161103", state="terminated")]
    amis = [ami("ami-0bb", "hpc-prod-computenode-20261201-161103", "snap-good", tagged=True)]
    snapshots = [{"SnapshotId": "snap-good", "Description": "Created by CreateImage(i-0d2) for ami-0bb"}]
    found = _bake.leftovers("prod", IMAGES, instances=instances, amis=amis, snapshots=snapshots,
                            key_pairs=[], security_groups=[])
    assert not any(found.values())


def test_manifest_records_what_was_recovered():
    result = _bake.manifest(cluster="p", bake_date="2026-12-01", plan=[], builds={}, publish={},
                            recovered={"instances": ["i-1"], "images": [], "snapshots": ["snap-1"]})
    assert result["recovered"] == {"instances": ["i-1"], "snapshots": ["snap-1"]}
    assert _bake.manifest(cluster="p", bake_date="d", plan=[], builds={}, publish={})["recovered"] == {}


def test_unlinked_temporary_things_stay_while_another_packer_runs():
    """Another Packer user's live builder (no hpc:bake tag, a packer_ key pair) also keeps them."""
    instances = [instance("i-0e5", "packer something else", key="packer_k8", group=("sg-8", "packer_g8"), bake=False)]
    found = _bake.leftovers("prod", IMAGES, instances=instances, amis=[], snapshots=[],
                            key_pairs=["packer_k8", "packer_lost"], security_groups=["sg-8", "sg-lost"])
    assert not any(found.values())
