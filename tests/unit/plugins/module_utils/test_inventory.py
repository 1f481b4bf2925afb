"""Unit tests of the pure inventory logic (plugins/module_utils/_inventory.py); no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _inventory as inv

STATES = {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}


def instance(**overrides):
    base = {
        "InstanceId": "i-0abc",
        "ImageId": "ami-1",
        "InstanceType": "c5.large",
        "LaunchTime": "2024-05-01T12:00:00.000Z",
        "State": {"Name": "running"},
        "Placement": {"AvailabilityZone": "eu-west-1a"},
        "PrivateIpAddress": "10.0.0.5",
        "PrivateDnsName": "ip-10-0-0-5.eu-west-1.compute.internal",
        "Tags": [{"Key": "Name", "Value": "Node-A"}, {"Key": "hpc:role", "Value": "computenode"}],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


# ------------------------------------------------------------------ filters

@pytest.mark.parametrize(
    ("filters", "cluster", "expected"),
    [
        (None, None, [STATES]),
        ({}, "alpha", [STATES, {"Name": "tag:hpc:cluster", "Values": ["alpha"]}]),
        ({"instance-state-name": "running"}, None, [{"Name": "instance-state-name", "Values": ["running"]}]),
        ({"instance-type": ["c5.large", "c5n.18xlarge"]}, None,
         [STATES, {"Name": "instance-type", "Values": ["c5.large", "c5n.18xlarge"]}]),
        ({"tag:hpc:cluster": "alpha"}, "alpha", [STATES, {"Name": "tag:hpc:cluster", "Values": ["alpha"]}]),
        ({"ebs-optimized": True, "ami-launch-index": 0}, None,
         [{"Name": "ami-launch-index", "Values": ["0"]}, {"Name": "ebs-optimized", "Values": ["true"]}, STATES]),
    ],
)
def test_build_filters(filters, cluster, expected):
    assert inv.build_filters(filters, cluster) == expected


@pytest.mark.parametrize(
    ("filters", "cluster", "option", "fragment"),
    [
        (["instance-type"], None, "filters", "must be a dictionary"),
        ({"": "x"}, None, "filters", "non-empty strings"),
        ({"instance-type": []}, None, "filters", "has no values"),
        ({"instance-type": {"a": 1}}, None, "filters", "must be a string, number or list"),
        ({"tag:hpc:cluster": "beta"}, "alpha", "cluster", "conflicts with"),
        ({}, ["alpha"], "cluster", "must be a string"),
    ],
)
def test_build_filters_rejects(filters, cluster, option, fragment):
    with pytest.raises(inv.InventoryOptionError) as err:
        inv.build_filters(filters, cluster)
    assert err.value.option == option
    assert str(err.value).startswith(f"option {option}: ")
    assert fragment in str(err.value)


# ------------------------------------------------------------------ option validation

@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, inv.DEFAULT_HOSTNAMES),
        (["tag:Name", "instance-id"], ("tag:Name", "instance-id")),
        (["private-ip-address", "dns-name", "public-dns-name", "ip-address"],
         ("private-ip-address", "dns-name", "public-dns-name", "ip-address")),
    ],
)
def test_validate_hostnames(value, expected):
    assert inv.validate_hostnames(value) == expected


@pytest.mark.parametrize(("value", "fragment"), [
    ([], "non-empty list"), ("tag:Name", "non-empty list"), (["tag:"], "names no tag key"),
    (["hostname"], "unknown entry 'hostname'"), ([5], "must be strings"),
])
def test_validate_hostnames_rejects(value, fragment):
    with pytest.raises(inv.InventoryOptionError, match="option hostnames: ") as err:
        inv.validate_hostnames(value)
    assert fragment in str(err.value)


@pytest.mark.parametrize(("value", "expected"), [
    (None, ("private_ip_address",)),
    ([], ()),
    ("public_ip_address", ("public_ip_address",)),
    (["public_ip_address", "private_dns_name"], ("public_ip_address", "private_dns_name")),
])
def test_validate_ansible_host(value, expected):
    assert inv.validate_ansible_host(value) == expected


@pytest.mark.parametrize("value", [["public_ip"], {"a": 1}, ["PRIVATE_IP_ADDRESS"]])
def test_validate_ansible_host_rejects(value):
    with pytest.raises(inv.InventoryOptionError, match="option ansible_host: "):
        inv.validate_ansible_host(value)


@pytest.mark.parametrize(("regions", "default", "expected"), [
    ([], "eu-west-1", ["eu-west-1"]),
    (None, "us-east-1", ["us-east-1"]),
    (["eu-west-1", "us-east-1", "eu-west-1"], None, ["eu-west-1", "us-east-1"]),
])
def test_validate_regions(regions, default, expected):
    result = inv.validate_regions(regions, default)
    assert result == expected
    assert all(r.__class__ is str for r in result)  # exactly str: no template-trust tag subclass


@pytest.mark.parametrize(("regions", "default", "fragment"), [
    ([], None, "no default region"),
    (["eu west 1"], None, "invalid region name"),
    ("eu-west-1", None, "must be a list"),
])
def test_validate_regions_rejects(regions, default, fragment):
    with pytest.raises(inv.InventoryOptionError, match="option regions: ") as err:
        inv.validate_regions(regions, default)
    assert fragment in str(err.value)


def test_validate_regions_drops_str_subclasses():
    class Tagged(str):
        pass

    assert inv.validate_regions([Tagged("eu-west-1")])[0].__class__ is str


def test_options_fingerprint_is_stable_and_sensitive():
    a = inv.options_fingerprint(regions=["a"], filters=[{"Name": "x", "Values": ["1"]}])
    assert a == inv.options_fingerprint(filters=[{"Name": "x", "Values": ["1"]}], regions=["a"])
    assert a != inv.options_fingerprint(regions=["b"], filters=[{"Name": "x", "Values": ["1"]}])


# ------------------------------------------------------------------ records

@pytest.mark.parametrize(("value", "expected"), [
    ("2024-05-01T12:00:00.000Z", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00+00:00"),
    ("2024-05-01T14:00:00+0200", "2024-05-01T12:00:00+00:00"),
    (datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC), "2024-05-01T12:00:00+00:00"),
    (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00+00:00"),
    (datetime(2024, 5, 1, 12, 0), "2024-05-01T12:00:00+00:00"),
    ("yesterday", "yesterday"),
    (None, None),
    ("", None),
])
def test_iso_timestamp(value, expected):
    assert inv.iso_timestamp(value) == expected


@pytest.mark.parametrize(("name", "expected"), [
    ("computenode", "computenode"), ("Head-Node", "Head_Node"), ("a b:c", "a_b_c"), ("1st", "_1st"),
    ("", "_"), ("näme", "n_me"),
])
def test_sanitize_group_name(name, expected):
    assert inv.sanitize_group_name(name) == expected


@pytest.mark.parametrize(("platform", "expected"), [
    (None, "linux"), ("windows", "windows"), ("Windows", "windows"), ("Linux/UNIX", "linux"), ("", "linux"),
])
def test_platform_of(platform, expected):
    assert inv.platform_of(instance(Platform=platform)) == expected


@pytest.mark.parametrize(("tags", "platform", "expected"), [
    ({"hpc:role": "sqlserver"}, "windows", ["sqlserver", "windows"]),
    ({"hpc:role": "headnode"}, "windows", ["headnode", "windows"]),
    ({"hpc:role": "computenode"}, "windows", ["computenode", "windows"]),
    ({"hpc:role": "pcluster"}, "linux", ["pcluster", "linux"]),
    ({"hpc:role": "login-node"}, "linux", ["login_node", "linux"]),
    ({"hpc:Role": "headnode"}, "linux", ["linux"]),
    ({}, "linux", ["linux"]),
])
def test_host_groups(tags, platform, expected):
    assert inv.host_groups(tags, platform) == expected


@pytest.mark.parametrize(("prefs", "overrides", "expected"), [
    (("tag:Name", "instance-id"), {}, "Node-A"),
    (("tag:Missing", "private-dns-name"), {}, "ip-10-0-0-5.eu-west-1.compute.internal"),
    (("dns-name", "private-ip-address"), {}, "10.0.0.5"),
    (("public-dns-name",), {"PublicDnsName": "ec2-1.compute.amazonaws.com"}, "ec2-1.compute.amazonaws.com"),
    (("ip-address", "public-ip-address"), {"PublicIpAddress": "54.1.2.3"}, "54.1.2.3"),
    (("tag:Name",), {"Tags": [{"Key": "Name", "Value": ""}]}, "i-0abc"),
    (("tag:name",), {}, "i-0abc"),  # tag keys are case-sensitive
    (("private-ip-address",), {"PrivateIpAddress": None}, "i-0abc"),
])
def test_preferred_hostname(prefs, overrides, expected):
    item = instance(**overrides)
    assert inv.preferred_hostname(item, inv.tags_dict(item), prefs) == expected


@pytest.mark.parametrize(("sources", "overrides", "expected"), [
    (("private_ip_address",), {}, "10.0.0.5"),
    (("public_ip_address", "private_ip_address"), {}, "10.0.0.5"),
    (("public_ip_address", "private_ip_address"), {"PublicIpAddress": "54.1.2.3"}, "54.1.2.3"),
    (("private_dns_name",), {}, "ip-10-0-0-5.eu-west-1.compute.internal"),
    (("instance_id",), {}, "i-0abc"),
    (("public_dns_name",), {}, None),
    ((), {}, None),
])
def test_ansible_host_of(sources, overrides, expected):
    assert inv.ansible_host_of(instance(**overrides), sources) == expected


def test_host_record_lean():
    tags = [{"Key": "Name", "Value": "SQL-01"}, {"Key": "hpc:role", "Value": "sqlserver"},
            {"Key": "CostCenter", "Value": "HPC-Ops"}]
    item = instance(Platform="windows", Tags=tags)
    record = inv.host_record(item, "eu-west-1")
    assert record == {
        "name": "SQL-01",
        "groups": ["sqlserver", "windows"],
        "vars": {
            "ec2_instance_id": "i-0abc",
            "ec2_image_id": "ami-1",
            "ec2_instance_type": "c5.large",
            "ec2_launch_time": "2024-05-01T12:00:00+00:00",
            "ec2_state": "running",
            "ec2_tags": {"Name": "SQL-01", "hpc:role": "sqlserver", "CostCenter": "HPC-Ops"},
            "ec2_region": "eu-west-1",
            "ec2_availability_zone": "eu-west-1a",
            "ec2_private_ip_address": "10.0.0.5",
            "ec2_platform": "windows",
            "ansible_host": "10.0.0.5",
        },
    }
    for forbidden in ("ansible_connection", "ansible_port", "ansible_shell_type", "ansible_user"):
        assert forbidden not in record["vars"]


def test_host_record_without_address_sets_no_ansible_host():
    record = inv.host_record(instance(PrivateIpAddress=None), "eu-west-1")
    assert "ansible_host" not in record["vars"]
    assert record["vars"]["ec2_private_ip_address"] is None


def test_host_record_full_adds_snake_case_attributes():
    item = instance(VpcId="vpc-1", EbsOptimized=False,
                    NetworkInterfaces=[{"NetworkInterfaceId": "eni-1", "Tags": [{"Key": "K", "Value": "V"}],
                                        "Attachment": {"AttachTime": datetime(2024, 5, 1, tzinfo=UTC)}}],
                    LaunchTime=datetime(2024, 5, 1, 12, tzinfo=UTC))
    hostvars = inv.host_record(item, "eu-west-1", hostvars_level="full")["vars"]
    assert hostvars["ec2_vpc_id"] == "vpc-1"
    assert hostvars["ec2_ebs_optimized"] is False
    assert hostvars["ec2_launch_time"] == "2024-05-01T12:00:00+00:00"
    assert hostvars["ec2_network_interfaces"] == [{
        "network_interface_id": "eni-1", "tags": [{"Key": "K", "Value": "V"}],
        "attachment": {"attach_time": "2024-05-01T00:00:00+00:00"}}]
    assert hostvars["ec2_state"] == "running"  # the lean value wins over the raw State dict
    assert "ec2_tags" in hostvars and "ec2_Tags" not in hostvars


@pytest.mark.parametrize(("name", "expected"), [
    ("PrivateIpAddress", "private_ip_address"), ("EbsOptimized", "ebs_optimized"), ("VpcId", "vpc_id"),
    ("IamInstanceProfile", "iam_instance_profile"), ("CpuOptions", "cpu_options"),
    ("AmiLaunchIndex", "ami_launch_index"),
])
def test_camel_to_snake(name, expected):
    assert inv.camel_to_snake(name) == expected


def test_unique_hostnames_falls_back_to_instance_ids_for_every_claimant():
    def rec(name, iid):
        return {"name": name, "groups": ["linux"], "vars": {"ec2_instance_id": iid}}

    records = [rec("node", "i-2"), rec("other", "i-3"), rec("node", "i-1"), rec("i-9", "i-9")]
    names = [r["name"] for r in inv.unique_hostnames(records)]
    assert names == ["i-1", "i-2", "i-9", "other"]
    # the same result whatever order the API returned them in
    again = [rec("node", "i-1"), rec("i-9", "i-9"), rec("node", "i-2"), rec("other", "i-3")]
    assert [r["name"] for r in inv.unique_hostnames(again)] == names


def test_build_records_over_regions():
    by_region = {
        "eu-west-1": [instance(InstanceId="i-1", Tags=[{"Key": "Name", "Value": "dup"}])],
        "us-east-1": [instance(InstanceId="i-2", Tags=[{"Key": "Name", "Value": "dup"}]),
                      instance(InstanceId="i-3", Tags=[{"Key": "Name", "Value": "solo"}])],
    }
    records = inv.build_records(by_region, hostnames=("tag:Name",))
    assert [(r["name"], r["vars"]["ec2_region"]) for r in records] == [
        ("i-1", "eu-west-1"), ("i-2", "us-east-1"), ("solo", "us-east-1")]


def test_instances_of_flattens_pages():
    pages = [{"Reservations": [{"Instances": [{"InstanceId": "a"}, {"InstanceId": "b"}]}]},
             {"Reservations": []}, {}, {"Reservations": [{"Instances": [{"InstanceId": "c"}]}, {}]}]
    assert [i["InstanceId"] for i in inv.instances_of(pages)] == ["a", "b", "c"]


# ------------------------------------------------------------------ cache payload

def test_cache_payload_round_trip():
    records = [{"name": "n", "groups": ["linux"], "vars": {"ec2_instance_id": "i-1"}}]
    payload = inv.cache_payload(records, "fp")
    assert payload == {"format": inv.CACHE_FORMAT, "fingerprint": "fp", "hosts": records}
    assert inv.records_from_cache(payload, "fp") == records


@pytest.mark.parametrize("payload", [
    None, [], {"format": inv.CACHE_FORMAT + 1, "fingerprint": "fp", "hosts": []},
    {"format": inv.CACHE_FORMAT, "fingerprint": "other", "hosts": []},
    {"format": inv.CACHE_FORMAT, "fingerprint": "fp", "hosts": {}},
    {"Reservations": []},
])
def test_records_from_cache_rejects_unusable_payloads(payload):
    assert inv.records_from_cache(payload, "fp") is None
