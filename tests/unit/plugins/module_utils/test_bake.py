"""Unit tests of plugins/module_utils/_bake.py: input hash, skip decision, retention, launch templates."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _bake

BASE = {
    "image": "computenode",
    "role": "computenode",
    "template_files": {"template/hpcpack.pkr.hcl": "aa", "scripts/windows/sysprep.ps1": "bb"},
    "variables": {"instance_type": "m5.large", "hpc_role": "computenode"},
    "payload_etags": {"s3://b/hpcpack.zip": "etag1"},
    "source_ami": "ami-source1",
}


def ami(image_id, date, *, name="computenode", digest="h1", state="available", cluster=None, snapshots=("snap-1",)):
    tags = [{"Key": "hpc:image", "Value": name}, {"Key": "hpc:input-hash", "Value": digest}]
    if cluster:
        tags.append({"Key": "hpc:cluster", "Value": cluster})
    return {
        "ImageId": image_id,
        "CreationDate": date,
        "State": state,
        "Tags": tags,
        "BlockDeviceMappings": [{"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": s}} for s in snapshots],
    }


def test_input_hash_is_stable_and_order_independent():
    digest = _bake.input_hash(**BASE)
    assert len(digest) == 64
    reordered = {
        **BASE,
        "template_files": dict(reversed(list(BASE["template_files"].items()))),
        "variables": dict(reversed(list(BASE["variables"].items()))),
    }
    assert _bake.input_hash(**reordered) == digest


@pytest.mark.parametrize(
    "change",
    [
        {"template_files": {"template/hpcpack.pkr.hcl": "changed", "scripts/windows/sysprep.ps1": "bb"}},
        {"template_files": {"template/hpcpack.pkr.hcl": "aa"}},
        {"variables": {"instance_type": "m5.xlarge", "hpc_role": "computenode"}},
        {"payload_etags": {"s3://b/hpcpack.zip": "etag2"}},
        {"payload_etags": {}},
        {"source_ami": "ami-source2"},
        {"image": "headnode"},
        {"role": "headnode"},
    ],
)
def test_input_hash_changes_with_every_input(change):
    assert _bake.input_hash(**dict(BASE, **change)) != _bake.input_hash(**BASE)


@pytest.mark.parametrize(
    ("images", "cluster", "expected"),
    [
        ([ami("ami-1", "2024-01-01T00:00:00.000Z")], None, "ami-1"),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z"), ami("ami-2", "2024-02-01T00:00:00.000Z")], None, "ami-2"),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z", digest="other")], None, None),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z", name="headnode")], None, None),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z", state="pending")], None, None),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z", cluster="prod")], None, None),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z", cluster="prod")], "prod", "ami-1"),
        ([ami("ami-1", "2024-01-01T00:00:00.000Z")], "prod", None),
    ],
)
def test_find_by_hash(images, cluster, expected):
    found = _bake.find_by_hash(images, "computenode", "h1", cluster)
    assert (found or {}).get("ImageId") == expected


def test_decide():
    images = [ami("ami-1", "2024-01-01T00:00:00.000Z")]
    assert _bake.decide("computenode", "h1", images, source_ami="ami-s")["action"] == "skip"
    assert _bake.decide("computenode", "h1", images, source_ami="ami-s")["image_id"] == "ami-1"
    assert _bake.decide("computenode", "h2", images, source_ami="ami-s")["action"] == "build"
    # No source AMI: always a build, so that Packer runs and reports the filter error itself.
    no_source = _bake.decide("computenode", "h1", images, source_ami=None)
    assert no_source["action"] == "build"
    assert "Packer" in no_source["reason"]


def test_image_references():
    refs = _bake.image_references(
        [{"name": "hpc-p-computenode", "version": "3", "image_id": "ami-1", "why": "default"},
         {"name": "hpc-p-computenode", "version": "3", "image_id": "ami-1", "why": "default"},
         {"name": "hpc-p-headnode", "version": "1", "image_id": None, "why": "latest"}],
        [{"instance_id": "i-1", "image_id": "ami-2", "state": "running"},
         {"instance_id": "i-2", "image_id": "ami-3", "state": "terminated"},
         {"instance_id": "i-3", "image_id": "ami-4", "state": "stopped"}],
    )
    assert refs == {
        "ami-1": ["launch template hpc-p-computenode version 3 (default)"],
        "ami-2": ["instance i-1 (running)"],
        "ami-4": ["instance i-3 (stopped)"],
    }


IMAGES = [
    ami("ami-1", "2024-01-01T00:00:00.000Z"),
    ami("ami-2", "2024-02-01T00:00:00.000Z"),
    ami("ami-3", "2024-03-01T00:00:00.000Z"),
    ami("ami-4", "2024-04-01T00:00:00.000Z"),
]


@pytest.mark.parametrize(
    ("keep", "references", "protect", "kept", "retired", "protected"),
    [
        (3, {}, (), ["ami-4", "ami-3", "ami-2"], ["ami-1"], []),
        (1, {}, (), ["ami-4"], ["ami-3", "ami-2", "ami-1"], []),
        (5, {}, (), ["ami-4", "ami-3", "ami-2", "ami-1"], [], []),
        # A referenced AMI survives however old it is.
        (1, {"ami-1": ["instance i-1 (running)"]}, (), ["ami-4", "ami-1"], ["ami-3", "ami-2"], ["ami-1"]),
        (1, {"ami-2": ["launch template t version 2 (auto scaling group g)"]}, ("ami-3",),
         ["ami-4", "ami-3", "ami-2"], ["ami-1"], ["ami-3", "ami-2"]),
    ],
)
def test_retention_plan(keep, references, protect, kept, retired, protected):  # noqa: PLR0917
    plan = _bake.retention_plan(IMAGES, keep, references, protect)
    assert plan["keep"] == kept
    assert plan["retire"] == retired
    assert [p["image_id"] for p in plan["protected"]] == protected
    assert set(plan["retire"]).isdisjoint(references)


def test_retention_ignores_images_that_are_not_available():
    images = [*IMAGES, ami("ami-0", "2023-01-01T00:00:00.000Z", state="pending"),
              ami("ami-9", "2025-01-01T00:00:00.000Z", state="failed")]
    plan = _bake.retention_plan(images, 1, {})
    assert "ami-0" not in plan["retire"] and "ami-9" not in plan["retire"]
    assert plan["keep"] == ["ami-4"]


@pytest.mark.parametrize("keep", [0, -1, True, "2", None])
def test_retention_plan_rejects_bad_keep(keep):
    with pytest.raises(ValueError, match="keep must be"):
        _bake.retention_plan(IMAGES, keep, {})


def test_snapshot_ids():
    image = ami("ami-1", "2024-01-01T00:00:00.000Z", snapshots=("snap-a", "snap-b"))
    image["BlockDeviceMappings"].append({"DeviceName": "xvdca", "VirtualName": "ephemeral0"})
    assert _bake.snapshot_ids(image) == ["snap-a", "snap-b"]


@pytest.mark.parametrize(
    ("default", "action"),
    [
        (None, "absent"),
        ({"VersionNumber": 2, "LaunchTemplateData": {"ImageId": "ami-new"}}, "none"),
        ({"VersionNumber": 2, "LaunchTemplateData": {"ImageId": "ami-old"}}, "update"),
        ({"VersionNumber": 1, "LaunchTemplateData": {}}, "update"),
    ],
)
def test_launch_template_change(default, action):
    change = _bake.launch_template_change("hpc-p-computenode", default, "ami-new")
    assert change["action"] == action
    if action == "update":
        assert change["source_version"] == default["VersionNumber"]
        assert change["previous_image_id"] == default["LaunchTemplateData"].get("ImageId")


def test_manifest():
    plan = [
        {"name": "sqlserver", "role": "sqlserver", "action": "skip", "image_id": "ami-s", "input_hash": "h1",
         "source_ami": "ami-src"},
        {"name": "computenode", "role": "computenode", "action": "build", "image_id": None, "input_hash": "h2",
         "source_ami": "ami-src"},
    ]
    result = _bake.manifest(cluster="p", bake_date="2024-05-01", plan=plan, builds={"computenode": "ami-c"},
                            publish={"retired": [{"image_id": "ami-old"}], "launch_templates": []})
    assert result["built"] == [{"image": "computenode", "role": "computenode", "input_hash": "h2",
                                "source_ami": "ami-src", "image_id": "ami-c"}]
    assert [e["image_id"] for e in result["skipped"]] == ["ami-s"]
    assert result["retired"] == [{"image_id": "ami-old"}]
    assert result["failed"] == []
