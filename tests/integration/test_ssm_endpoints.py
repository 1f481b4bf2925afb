"""aws_foundation_ssm_endpoints against the AWS endpoint of the run (AWS_ENDPOINT_URL, see
tests/conftest.py), each scenario with a cluster name and secrets prefix of its own.

- Created VPC, through the shared layer of playbooks/site.yml (role aws_foundation): the interface
  endpoints of ssm, ssmmessages and ec2messages exist in the cluster subnets behind the group
  hpc-<cluster>-endpoints, which admits TCP 443 from the VPC's CIDR and nothing else; a rerun and a
  check-mode run change nothing; playbooks/teardown.yml removes the endpoints and the group, and a
  second teardown changes nothing. A check-mode run on an empty account creates nothing.
- The default (false) creates neither endpoints nor the group: tests/integration/test_site_gates.py checks
  it on its cluster, which runs the shared layer anyway.
- Existing subnets (aws_foundation_create_vpc=false): a VPC without enableDnsHostnames is refused,
  naming the variable, before any change; then the endpoints go into the first subnet of each zone,
  the group admits every CIDR of the VPC, an endpoint the VPC already had is used as it is and
  survives the teardown, which keeps the VPC and subnets. A deleted endpoint that AWS still lists
  stops the next run with a message naming the variable instead of being taken for the endpoint.

Every run uses a playbook with only the shared layer (the endpoints are its concern, and the tiers
would only add minutes; tests/integration/test_site.py runs the whole site).
"""

from __future__ import annotations

import uuid

import pytest
from conftest import cluster_inventory, lab_client, play_recap

REGION = "us-east-1"
SERVICES = {f"com.amazonaws.{REGION}.{name}" for name in ("ssm", "ssmmessages", "ec2messages")}
TEARDOWN_ALL = '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}'
# The shared layer alone, with the module defaults of playbooks/site.yml.
FOUNDATION_PLAYBOOK = """---
- name: Shared AWS layer only
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/hpcops.aws_hpc.aws:
      region: "{{ hpc_aws_region }}"
      endpoint_url: "{{ hpc_aws_endpoint_url | default(omit, true) }}"
  roles:
    - role: hpcops.aws_hpc.aws_foundation
"""


def _ec2(lab_env):
    return lab_client(lab_env, "ec2")


def _inventory(directory, name, extra=""):
    """An inventory copy of the lab's whose hpc_ec2 source, cluster name and secrets prefix are `name`."""
    cluster_inventory(directory, name, source=f"regions: [{REGION}]\ncluster: {name}\n", extra=extra)
    (directory / "foundation.yml").write_text(FOUNDATION_PLAYBOOK)
    return {"name": name, "inventory": str(directory), "foundation": str(directory / "foundation.yml")}


def _vpcs(ec2, name):
    return ec2.describe_vpcs(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["Vpcs"]


def _endpoints(ec2, vpc_id, live_only=True):
    found = ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["VpcEndpoints"]
    return [e for e in found if not live_only or e["State"] not in ("deleting", "deleted")]


def _endpoint_group(ec2, name, vpc_id):
    return ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": [f"hpc-{name}-endpoints"]},
        ]
    )["SecurityGroups"]


def _cluster_groups(ec2, name):
    return ec2.describe_security_groups(Filters=[{"Name": "tag:hpc:cluster", "Values": [name]}])["SecurityGroups"]


def _tags(resource):
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def _changed(result):
    recap = play_recap(result.stdout)
    assert recap, result.stdout[-3000:]
    return {host: counts["changed"] for host, counts in recap.items() if counts["changed"]}


def _assert_ok(result):
    assert result.returncode == 0, result.stdout[-5000:]


def _ingress(group):
    """(protocol, from, to, cidr) of every ingress rule of a security group."""
    rules = set()
    for perm in group["IpPermissions"]:
        for cidr in perm.get("IpRanges", []):
            rules.add((perm["IpProtocol"], perm.get("FromPort"), perm.get("ToPort"), cidr["CidrIp"]))
        assert not perm.get("Ipv6Ranges") and not perm.get("UserIdGroupPairs") and not perm.get("PrefixListIds"), perm
    return rules


# --- the created VPC, through the shared layer ------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, lab_env):
    name = f"ep{uuid.uuid4().hex[:8]}"
    return _inventory(tmp_path_factory.mktemp("inventory"), name, "aws_foundation_ssm_endpoints: true\n")


def test_check_mode_on_an_empty_account_creates_nothing(run_playbook, cluster, lab_env):
    result = run_playbook(cluster["foundation"], "-i", cluster["inventory"], "--check")
    _assert_ok(result)
    assert _vpcs(_ec2(lab_env), cluster["name"]) == []


def test_site_creates_the_endpoints(run_playbook, cluster, lab_env):
    _assert_ok(run_playbook(cluster["foundation"], "-i", cluster["inventory"]))
    ec2 = _ec2(lab_env)
    [vpc] = _vpcs(ec2, cluster["name"])
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == len(subnets) == 2
    [group] = _endpoint_group(ec2, cluster["name"], vpc["VpcId"])

    endpoints = _endpoints(ec2, vpc["VpcId"])
    assert {e["ServiceName"] for e in endpoints} == SERVICES
    assert len(endpoints) == 3
    for endpoint in endpoints:
        assert endpoint["VpcEndpointType"] == "Interface"
        assert sorted(endpoint["SubnetIds"]) == sorted(s["SubnetId"] for s in subnets)
        assert [g["GroupId"] for g in endpoint["Groups"]] == [group["GroupId"]]
        assert endpoint["PrivateDnsEnabled"] is True
        service = endpoint["ServiceName"].rsplit(".", 1)[1]
        assert _tags(endpoint) == {"hpc:cluster": cluster["name"], "Name": f"hpc-{cluster['name']}-{service}"}

    # HTTPS from the VPC's CIDR and nothing else.
    assert _ingress(group) == {("tcp", 443, 443, vpc["CidrBlock"])}
    assert vpc["CidrBlock"] == "10.42.0.0/16"
    assert _tags(group) == {"hpc:cluster": cluster["name"], "Name": f"hpc-{cluster['name']}-endpoints"}
    cluster["endpoint_ids"] = sorted(e["VpcEndpointId"] for e in endpoints)
    cluster["vpc_id"] = vpc["VpcId"]


def test_rerun_and_check_mode_change_nothing(run_playbook, cluster, lab_env):
    again = run_playbook(cluster["foundation"], "-i", cluster["inventory"])
    _assert_ok(again)
    assert _changed(again) == {}
    check = run_playbook(cluster["foundation"], "-i", cluster["inventory"], "--check")
    _assert_ok(check)
    assert _changed(check) == {}
    ec2 = _ec2(lab_env)
    assert sorted(e["VpcEndpointId"] for e in _endpoints(ec2, cluster["vpc_id"])) == cluster["endpoint_ids"]


def test_teardown_removes_the_endpoints_and_their_group(run_playbook, cluster, lab_env):
    args = ("playbooks/teardown.yml", "-i", cluster["inventory"], "-e", TEARDOWN_ALL)
    first = run_playbook(*args)
    _assert_ok(first)
    ec2 = _ec2(lab_env)
    assert _vpcs(ec2, cluster["name"]) == []
    assert _endpoints(ec2, cluster["vpc_id"]) == []
    # The endpoints are gone before their group and the subnets: the group went with the VPC.
    assert _endpoint_group(ec2, cluster["name"], cluster["vpc_id"]) == []
    second = run_playbook(*args)
    _assert_ok(second)
    assert _changed(second) == {}


# --- existing subnets -------------------------------------------------------------------------------


@pytest.fixture
def existing_network(lab_env):
    """A VPC of the network's owner: two CIDRs, three subnets (two in the first zone), enableDnsHostnames
    off (the API's default), and an ssm interface endpoint of its own."""
    ec2 = _ec2(lab_env)
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])[:2]
    vpc_id = ec2.create_vpc(CidrBlock="10.61.0.0/16")["Vpc"]["VpcId"]
    ec2.associate_vpc_cidr_block(VpcId=vpc_id, CidrBlock="10.62.0.0/16")
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for cidr, zone in (("10.61.0.0/24", zones[0]), ("10.61.1.0/24", zones[1]), ("10.62.0.0/24", zones[0]))
    ]
    owner_group = ec2.create_security_group(GroupName="owner-endpoints", Description="owner", VpcId=vpc_id)["GroupId"]
    owner_endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id,
        VpcEndpointType="Interface",
        ServiceName=f"com.amazonaws.{REGION}.ssm",
        SubnetIds=subnets[:2],
        SecurityGroupIds=[owner_group],
    )["VpcEndpoint"]["VpcEndpointId"]
    yield {"vpc_id": vpc_id, "subnets": subnets, "owner_endpoint": owner_endpoint, "ec2": ec2}
    for endpoint in _endpoints(ec2, vpc_id):
        ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint["VpcEndpointId"]])
    ec2.delete_security_group(GroupId=owner_group)
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    ec2.delete_vpc(VpcId=vpc_id)


def test_existing_subnets(tmp_path, run_playbook, existing_network):
    ec2, vpc_id, subnets = existing_network["ec2"], existing_network["vpc_id"], existing_network["subnets"]
    name = f"ex{uuid.uuid4().hex[:8]}"
    cluster = _inventory(
        tmp_path,
        name,
        "aws_foundation_ssm_endpoints: true\naws_foundation_create_vpc: false\n"
        f"aws_foundation_subnet_ids: [{', '.join(subnets)}]\n",
    )

    refused = run_playbook(cluster["foundation"], "-i", cluster["inventory"])
    assert refused.returncode != 0
    assert "aws_foundation_ssm_endpoints is true, but the VPC" in refused.stdout, refused.stdout[-3000:]
    assert "enableDnsHostnames=False" in refused.stdout, refused.stdout[-3000:]
    # Refused before any change: not even the cluster's other security groups exist.
    assert _cluster_groups(ec2, name) == []
    assert {e["VpcEndpointId"] for e in _endpoints(ec2, vpc_id)} == {existing_network["owner_endpoint"]}

    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    _assert_ok(run_playbook(cluster["foundation"], "-i", cluster["inventory"]))
    [group] = _endpoint_group(ec2, name, vpc_id)
    assert _ingress(group) == {("tcp", 443, 443, "10.61.0.0/16"), ("tcp", 443, 443, "10.62.0.0/16")}
    endpoints = {e["ServiceName"]: e for e in _endpoints(ec2, vpc_id)}
    assert set(endpoints) == SERVICES
    owner = endpoints.pop(f"com.amazonaws.{REGION}.ssm")
    assert owner["VpcEndpointId"] == existing_network["owner_endpoint"]
    assert _tags(owner) == {}, "the owner's endpoint was tagged as the cluster's"
    for endpoint in endpoints.values():
        # One interface per zone: the first given subnet of each (AWS refuses two in one zone).
        assert sorted(endpoint["SubnetIds"]) == sorted(subnets[:2])
        assert [g["GroupId"] for g in endpoint["Groups"]] == [group["GroupId"]]
        assert _tags(endpoint)["hpc:cluster"] == name

    again = run_playbook(cluster["foundation"], "-i", cluster["inventory"])
    _assert_ok(again)
    assert _changed(again) == {}

    _assert_ok(run_playbook("playbooks/teardown.yml", "-i", cluster["inventory"], "-e", TEARDOWN_ALL))
    assert {e["VpcEndpointId"] for e in _endpoints(ec2, vpc_id)} == {existing_network["owner_endpoint"]}
    assert _endpoint_group(ec2, name, vpc_id) == []
    assert len(ec2.describe_subnets(SubnetIds=subnets)["Subnets"]) == 3

    # moto, like AWS for a while, still lists the deleted endpoints: the next run says so, before any
    # change, instead of letting amazon.aws.ec2_vpc_endpoint take a deleted endpoint for the live one.
    assert {e["State"] for e in _endpoints(ec2, vpc_id, live_only=False)} == {"available", "deleted"}
    stale = run_playbook(cluster["foundation"], "-i", cluster["inventory"])
    assert stale.returncode != 0
    assert "aws_foundation_ssm_endpoints: the VPC" in stale.stdout, stale.stdout[-3000:]
    assert "would take it for the endpoint and create none" in stale.stdout
    assert _cluster_groups(ec2, name) == []
    _assert_ok(run_playbook("playbooks/teardown.yml", "-i", cluster["inventory"], "-e", TEARDOWN_ALL))
