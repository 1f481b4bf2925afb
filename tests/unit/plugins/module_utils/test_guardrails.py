"""What the guardrails report calls a finding, on answers shaped as AWS documents them.

Shapes: DescribeSecurityGroups ``IpPermissions``
(https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_IpPermission.html), DescribeInstances
``MetadataOptions`` (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceMetadataOptionsResponse.html),
ListAccessKeys ``AccessKeyMetadata`` (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKeyMetadata.html)
and DescribeVolumes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Volume.html).
"""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _guardrails as g


def rule(protocol, low=None, high=None, cidrs=(), cidrs6=()):
    permission = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": c, "Description": "x"} for c in cidrs],
                  "Ipv6Ranges": [{"CidrIpv6": c} for c in cidrs6], "PrefixListIds": [], "UserIdGroupPairs": []}
    if low is not None:
        permission.update(FromPort=low, ToPort=high)
    return permission


def group(*permissions, group_id="sg-0123456789abcdef0", name="web"):
    return {"GroupId": group_id, "GroupName": name, "VpcId": "vpc-0a1b2c3d", "OwnerId": "123456789012",
            "Description": "d", "IpPermissions": list(permissions),
            "IpPermissionsEgress": [rule("-1", cidrs=["0.0.0.0/0"])]}


# --------------------------------------------------------------------------- checks and options
def test_selected_checks_keep_the_canonical_order_once():
    assert g.selected_checks(None) == list(g.CHECKS)
    assert g.selected_checks(["unencrypted_volumes", "access_keys", "access_keys"]) == [
        "access_keys", "unencrypted_volumes"]
    assert g.selected_checks([]) == []


@pytest.mark.parametrize("ports, error", [
    ([22, 3389], None),
    ([0, 65535], None),
    ([], "management_ports must name at least one port"),
    ([22, 70000, -1], "management_ports must be ports from 0 to 65535, got 70000, -1"),
])
def test_ports_error(ports, error):
    assert g.ports_error(ports) == error


# --------------------------------------------------------------------------- port coverage
@pytest.mark.parametrize("permission, reached", [
    (rule("tcp", 3389, 3389), [3389]),
    (rule("tcp", 22, 22), [22]),
    (rule("tcp", 0, 65535), [22, 3389, 5985, 5986]),
    (rule("tcp", 5985, 5986), [5985, 5986]),
    (rule("tcp", 23, 3388), []),
    (rule("tcp", 3390, 5984), []),
    (rule("6", 20, 25), [22]),                     # protocol numbers as well as names
    (rule("udp", 3389, 3389), [3389]),
    (rule("17", 3000, 4000), [3389]),
    (rule("-1"), [22, 3389, 5985, 5986]),          # every protocol: no ports in the answer
    (rule("-1", -1, -1), [22, 3389, 5985, 5986]),
    (rule("icmp", 8, -1), []),                     # ICMP type 8, not port 8
    (rule("icmp", -1, -1), []),
    (rule("icmpv6", 22, 22), []),
    (rule("50"), []),                              # ESP carries no ports
    (rule("TCP", 22, 22), [22]),
])
def test_ports_reached(permission, reached):
    assert g.ports_reached(permission, g.MANAGEMENT_PORTS) == reached


def test_ports_reached_uses_the_given_ports():
    assert g.ports_reached(rule("tcp", 2000, 3000), [22, 2222, 2222]) == [2222]


def test_internet_sources_are_only_the_whole_internet():
    permission = rule("tcp", 22, 22, cidrs=["10.0.0.0/8", "0.0.0.0/0", "0.0.0.0/1"], cidrs6=["::/0", "2001:db8::/32"])
    assert g.internet_sources(permission) == ["0.0.0.0/0", "::/0"]
    assert g.internet_sources({"IpProtocol": "tcp"}) == []


# --------------------------------------------------------------------------- open management ports
def test_open_port_findings_one_per_rule_and_internet_cidr():
    groups = [
        group(rule("tcp", 3389, 3389, cidrs=["0.0.0.0/0"], cidrs6=["::/0"]),
              rule("tcp", 443, 443, cidrs=["0.0.0.0/0"]),
              rule("tcp", 22, 22, cidrs=["203.0.113.0/24"]),
              rule("icmp", 8, -1, cidrs=["0.0.0.0/0"])),
        group(rule("-1", cidrs=["0.0.0.0/0"]), group_id="sg-0fedcba9876543210", name="wide open"),
        group(rule("tcp", 22, 22, cidrs=["10.0.0.0/16"]), group_id="sg-1", name="internal"),
        {"GroupId": "sg-2", "GroupName": "empty"},
    ]
    found = g.open_port_findings(groups)
    assert found == [
        {"group_id": "sg-0123456789abcdef0", "group_name": "web", "vpc_id": "vpc-0a1b2c3d", "protocol": "tcp",
         "from_port": 3389, "to_port": 3389, "cidr": "0.0.0.0/0", "ports": [3389]},
        {"group_id": "sg-0123456789abcdef0", "group_name": "web", "vpc_id": "vpc-0a1b2c3d", "protocol": "tcp",
         "from_port": 3389, "to_port": 3389, "cidr": "::/0", "ports": [3389]},
        {"group_id": "sg-0fedcba9876543210", "group_name": "wide open", "vpc_id": "vpc-0a1b2c3d", "protocol": "-1",
         "from_port": None, "to_port": None, "cidr": "0.0.0.0/0", "ports": [22, 3389, 5985, 5986]},
    ]


def test_egress_rules_are_not_findings():
    assert g.open_port_findings([group()]) == []


def test_open_port_findings_with_other_ports():
    groups = [group(rule("tcp", 2222, 2222, cidrs=["0.0.0.0/0"]), rule("tcp", 22, 22, cidrs=["0.0.0.0/0"]))]
    assert [f["ports"] for f in g.open_port_findings(groups, [2222])] == [[2222]]


# --------------------------------------------------------------------------- access keys
def test_access_key_findings_are_the_active_keys():
    created = datetime.datetime(2024, 5, 1, 9, 12, tzinfo=datetime.UTC)
    keys = [
        {"UserName": "ci-deploy", "AccessKeyId": "AKIAEXAMPLEACTIVE", "Status": "Active", "CreateDate": created},
        {"UserName": "ci-deploy", "AccessKeyId": "AKIAEXAMPLEOLD", "Status": "Inactive", "CreateDate": created},
        {"UserName": "alice", "AccessKeyId": "AKIAEXAMPLEALICE", "Status": "Active",
         "CreateDate": "2023-01-02T03:04:05Z"},
    ]
    assert g.access_key_findings(keys) == [
        {"user_name": "ci-deploy", "access_key_id": "AKIAEXAMPLEACTIVE", "create_date": "2024-05-01T09:12:00+00:00"},
        {"user_name": "alice", "access_key_id": "AKIAEXAMPLEALICE", "create_date": "2023-01-02T03:04:05Z"},
    ]
    assert g.access_key_findings([]) == []


# --------------------------------------------------------------------------- instances
def instance(instance_id, tokens="required", state="running", name=None, metadata=True):
    found = {"InstanceId": instance_id, "State": {"Code": 16, "Name": state}, "Tags": []}
    if name:
        found["Tags"].append({"Key": "Name", "Value": name})
    if metadata:
        found["MetadataOptions"] = {"State": "applied", "HttpTokens": tokens, "HttpPutResponseHopLimit": 1,
                                    "HttpEndpoint": "enabled", "HttpProtocolIpv6": "disabled",
                                    "InstanceMetadataTags": "disabled"}
    return found


def test_imdsv1_findings():
    instances = [
        instance("i-1", "optional", name="hpc-prod-cn-001"),
        instance("i-2", "required"),
        instance("i-3", "optional", state="terminated"),
        instance("i-4", "optional", state="stopped"),
        instance("i-5", metadata=False),
    ]
    assert g.imdsv1_findings(instances) == [
        {"instance_id": "i-1", "name": "hpc-prod-cn-001", "state": "running", "http_tokens": "optional",
         "http_endpoint": "enabled"},
        {"instance_id": "i-4", "name": "", "state": "stopped", "http_tokens": "optional", "http_endpoint": "enabled"},
        {"instance_id": "i-5", "name": "", "state": "running", "http_tokens": "", "http_endpoint": ""},
    ]


def test_live_instances_leave_out_terminated_ones():
    reservations = [{"ReservationId": "r-1", "Instances": [instance("i-1"), instance("i-2", state="terminated")]},
                    {"ReservationId": "r-2", "Instances": [instance("i-3", state="shutting-down")]},
                    {"ReservationId": "r-3"}]
    assert [i["InstanceId"] for i in g.live_instances(reservations)] == ["i-1", "i-3"]


# --------------------------------------------------------------------------- volumes
def volume(volume_id, encrypted=False, attached=(), cluster=None, size=8):
    found = {"VolumeId": volume_id, "Size": size, "State": "in-use" if attached else "available",
             "VolumeType": "gp3", "AvailabilityZone": "us-east-1a", "Encrypted": encrypted,
             "Attachments": [{"VolumeId": volume_id, "InstanceId": i, "Device": "/dev/sdf", "State": "attached"}
                             for i in attached]}
    if cluster:
        found["Tags"] = [{"Key": "hpc:cluster", "Value": cluster}]
    return found


def test_cluster_volumes_are_tagged_or_attached_to_its_instances_each_once():
    volumes = [
        volume("vol-tagged", cluster="prod"),
        volume("vol-attached", attached=["i-1"]),
        volume("vol-attached", attached=["i-1"]),        # found by both lookups
        volume("vol-other", attached=["i-9"], cluster="dev"),
        volume("vol-loose"),
    ]
    chosen = g.cluster_volumes(volumes, "prod", ["i-1", "i-2"])
    assert [v["VolumeId"] for v in chosen] == ["vol-tagged", "vol-attached"]


def test_volume_findings_are_the_unencrypted_volumes():
    volumes = [volume("vol-1", attached=["i-1"], size=100), volume("vol-2", encrypted=True, attached=["i-1"]),
               volume("vol-3"), volume("vol-1", attached=["i-1"], size=100)]
    assert g.volume_findings(volumes) == [
        {"volume_id": "vol-1", "instance_id": "i-1", "size": 100, "state": "in-use"},
        {"volume_id": "vol-3", "instance_id": "", "size": 8, "state": "available"},
    ]


# --------------------------------------------------------------------------- summary
def test_summary_names_each_check_with_its_findings():
    findings = {
        "access_keys": [{"user_name": "ci-deploy", "access_key_id": "AKIAEXAMPLEACTIVE", "create_date": ""}],
        "open_management_ports": g.open_port_findings([group(rule("tcp", 3389, 3389, cidrs=["0.0.0.0/0"]))]),
        "imdsv1_instances": [{"instance_id": "i-1", "name": "cn-1", "state": "running", "http_tokens": "optional",
                              "http_endpoint": "enabled"}],
        "unencrypted_volumes": [{"volume_id": "vol-1", "instance_id": "i-1", "size": 8, "state": "in-use"},
                                {"volume_id": "vol-2", "instance_id": "", "size": 8, "state": "available"}],
    }
    assert g.summary(findings) == (
        "Guardrails report: 5 findings. access_keys: 1 (ci-deploy AKIAEXAMPLEACTIVE). "
        "open_management_ports: 1 (sg-0123456789abcdef0 (web) tcp 3389 from 0.0.0.0/0). "
        "imdsv1_instances: 1 (i-1 (cn-1) HttpTokens=optional). "
        "unencrypted_volumes: 2 (vol-1 on i-1; vol-2)."
    )


def test_summary_lists_clean_checks_and_shortens_long_lists():
    volumes = [{"volume_id": f"vol-{n}", "instance_id": "", "size": 8, "state": "available"} for n in range(7)]
    message = g.summary({"access_keys": [], "unencrypted_volumes": volumes})
    assert message == ("Guardrails report: 7 findings. access_keys: 0. "
                       "unencrypted_volumes: 7 (vol-0; vol-1; vol-2; vol-3; vol-4; and 2 more).")
    assert g.summary({"imdsv1_instances": [{"instance_id": "i-1", "name": "", "state": "running",
                                            "http_tokens": "", "http_endpoint": ""}]}) == (
        "Guardrails report: 1 finding. imdsv1_instances: 1 (i-1 HttpTokens=unset).")
