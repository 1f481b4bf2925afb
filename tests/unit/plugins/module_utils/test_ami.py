"""Unit tests of the hpc_ami_info logic: newest image, baked matching, order, messages (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _ami


def image(image_id, created="2024-01-01T00:00:00.000Z", name=None, state="available", tags=None, **extra):
    found = {"ImageId": image_id, "Name": name or image_id, "CreationDate": created, "State": state}
    if tags is not None:
        found["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    found.update(extra)
    return found


# ---------------------------------------------------------------- newest
@pytest.mark.parametrize(
    ("images", "expected"),
    [
        ([], None),
        ([image("ami-1")], "ami-1"),
        ([image("ami-1", "2024-01-01T00:00:00.000Z"), image("ami-2", "2024-02-01T00:00:00.000Z")], "ami-2"),
        ([image("ami-2", "2024-02-01T00:00:00.000Z"), image("ami-1", "2024-01-01T00:00:00.000Z")], "ami-2"),
        # not available images never win
        ([image("ami-1", "2024-01-01T00:00:00.000Z"), image("ami-2", "2025-01-01T00:00:00.000Z", state="pending")],
         "ami-1"),
        ([image("ami-1", state="failed")], None),
        # same second: the greatest name (published names carry their date)
        ([image("ami-a", name="Base-2017.10.13"), image("ami-b", name="Base-2017.09.13")], "ami-a"),
        # without milliseconds, or missing date: still ordered
        ([image("ami-1", "2024-03-01T00:00:00Z"), image("ami-2", "2024-02-01T00:00:00.000Z")], "ami-1"),
        ([image("ami-1", created=None), image("ami-2", "2000-01-01T00:00:00.000Z")], "ami-2"),
        # a time zone offset is honoured
        ([image("ami-1", "2024-01-01T10:00:00+02:00"), image("ami-2", "2024-01-01T09:00:00Z")], "ami-2"),
    ],
)
def test_newest(images, expected):
    chosen = _ami.newest(images)
    assert (chosen or {}).get("ImageId") == expected


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        ("2024-05-01T12:30:00.000Z", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("2024-05-01T12:30:00", datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        ("garbage", datetime(1970, 1, 1, tzinfo=UTC)),
        (None, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_creation_time(created, expected):
    assert _ami.creation_time({"CreationDate": created}) == expected


# ---------------------------------------------------------------- baked images
@pytest.mark.parametrize(
    ("tags", "role", "cluster", "expected"),
    [
        ({"hpc:role": "sqlserver", "hpc:image": "sql"}, "sqlserver", None, True),
        ({"hpc:role": "sqlserver"}, "sqlserver", None, False),  # no hpc:image: not a baked image
        ({"hpc:role": "headnode", "hpc:image": "hn"}, "sqlserver", None, False),
        ({"hpc:role": "sqlserver", "hpc:image": "sql"}, "sqlserver", "prod", True),  # no hpc:cluster: any cluster
        ({"hpc:role": "sqlserver", "hpc:image": "sql", "hpc:cluster": "prod"}, "sqlserver", "prod", True),
        ({"hpc:role": "sqlserver", "hpc:image": "sql", "hpc:cluster": "test"}, "sqlserver", "prod", False),
        ({"hpc:role": "sqlserver", "hpc:image": "sql", "hpc:cluster": "test"}, "sqlserver", None, True),
        ({"hpc:role": "SQLServer", "hpc:image": "sql"}, "sqlserver", None, False),  # tag values are exact
        ({}, "sqlserver", None, False),
    ],
)
def test_is_baked_for(tags, role, cluster, expected):
    assert _ami.is_baked_for(image("ami-1", tags=tags), role, cluster) is expected


def test_newest_baked_prefers_cluster_match_over_other_cluster():
    images = [
        image("ami-generic", "2024-01-01T00:00:00.000Z", tags={"hpc:role": "headnode", "hpc:image": "hn"}),
        image("ami-prod", "2024-02-01T00:00:00.000Z",
              tags={"hpc:role": "headnode", "hpc:image": "hn", "hpc:cluster": "prod"}),
        image("ami-test", "2024-03-01T00:00:00.000Z",
              tags={"hpc:role": "headnode", "hpc:image": "hn", "hpc:cluster": "test"}),
    ]
    assert _ami.newest_baked(images, "headnode", "prod")["ImageId"] == "ami-prod"
    assert _ami.newest_baked(images, "headnode", "test")["ImageId"] == "ami-test"
    assert _ami.newest_baked(images, "headnode", "other")["ImageId"] == "ami-generic"
    assert _ami.newest_baked(images, "headnode")["ImageId"] == "ami-test"
    assert _ami.newest_baked(images, "sqlserver") is None


def test_tag_dict_keeps_case():
    assert _ami.tag_dict(image("ami-1", tags={"Name": "X", "hpc:Role": "HeadNode"})) == {
        "Name": "X",
        "hpc:Role": "HeadNode",
    }
    assert _ami.tag_dict({"ImageId": "ami-1"}) == {}


def test_filters():
    assert _ami.baked_filters("sqlserver") == [
        {"Name": "tag:hpc:role", "Values": ["sqlserver"]},
        {"Name": "tag-key", "Values": ["hpc:image"]},
        {"Name": "state", "Values": ["available"]},
    ]
    assert _ami.name_filters("Windows_*") == [
        {"Name": "name", "Values": ["Windows_*"]},
        {"Name": "state", "Values": ["available"]},
    ]


# ---------------------------------------------------------------- order
@pytest.mark.parametrize(
    ("prefer_baked", "image_id", "name_filter", "expected"),
    [
        (True, None, None, ["baked"]),
        (True, "ami-1", None, ["baked", "image_id"]),
        (True, "ami-1", "W*", ["baked", "image_id", "name_filter"]),
        (True, None, "W*", ["baked", "name_filter"]),
        (False, "ami-1", "W*", ["image_id", "name_filter"]),
        (False, None, "W*", ["name_filter"]),
        (False, None, None, []),
        (True, "", "", ["baked"]),
    ],
)
def test_resolution_order(prefer_baked, image_id, name_filter, expected):
    assert _ami.resolution_order(prefer_baked, image_id, name_filter) == expected


# ---------------------------------------------------------------- results
@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"Platform": "windows"}, "windows"),
        ({"Platform": "Windows"}, "windows"),
        ({"PlatformDetails": "Windows with SQL Server Standard"}, "windows"),
        ({"PlatformDetails": "Linux/UNIX"}, "linux"),
        ({}, "linux"),
    ],
)
def test_image_platform(extra, expected):
    assert _ami.image_platform(image("ami-1", **extra)) == expected


def test_describe_image():
    found = image("ami-1", "2024-01-01T00:00:00.000Z", name="hpc-sqlserver-2024",
                  tags={"hpc:role": "sqlserver", "Name": "SQL"}, Platform="windows", OwnerId="123456789012",
                  Architecture="x86_64")
    assert _ami.describe_image(found, "baked") == {
        "image_id": "ami-1",
        "name": "hpc-sqlserver-2024",
        "creation_date": "2024-01-01T00:00:00.000Z",
        "source": "baked",
        "platform": "windows",
        "tags": {"hpc:role": "sqlserver", "Name": "SQL"},
        "owner_id": "123456789012",
        "architecture": "x86_64",
    }


# ---------------------------------------------------------------- failure messages
def test_failure_message_everything_tried():
    message = _ami.failure_message("sqlserver", "us-east-1", prefer_baked=True, image_id=None,
                                   name_filter="Windows_Server-2099-*", owners=["amazon"])
    assert message == (
        "No AMI found for role sqlserver in us-east-1. Tried: no baked AMI tagged hpc:role=sqlserver "
        "(and hpc:image) owned by this account; image_id not given; name filter 'Windows_Server-2099-*' "
        "owned by amazon matched nothing in us-east-1. "
        "Set image_id or name_filter, or bake an image with playbooks/bake.yml."
    )


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"prefer_baked": True, "image_id": None, "name_filter": None, "owners": ["amazon"], "cluster": "prod"},
         ["role headnode", "hpc:role=headnode", "hpc:cluster=prod or no hpc:cluster tag", "image_id not given",
          "name_filter not given", "playbooks/bake.yml"]),
        ({"prefer_baked": False, "image_id": None, "name_filter": "x-*", "owners": ["self", "amazon"]},
         ["baked AMIs not considered (prefer_baked=false)", "name filter 'x-*' owned by self, amazon",
          "matched nothing in eu-west-1"]),
        ({"prefer_baked": False, "image_id": None, "name_filter": "x-*", "owners": []},
         ["owned by any owner"]),
    ],
)
def test_failure_message_fragments(kwargs, fragments):
    message = _ami.failure_message("headnode", "eu-west-1", **kwargs)
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, "image_id ami-9 given for role pcluster does not exist in us-east-1"),
        ("pending", "image_id ami-9 given for role pcluster is not available in us-east-1 (state: pending)."),
    ],
)
def test_image_id_failure(state, expected):
    assert _ami.image_id_failure("pcluster", "ami-9", "us-east-1", state).startswith(expected)
