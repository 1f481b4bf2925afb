"""The lean DescribeInstances parser against botocore's own parser, on stored XML bodies; no network.

describe_instances.xml was captured from the embedded endpoint (moto): a Windows SQL Server host, a
running and a stopped Linux node, tags in mixed case and an empty tag value.
describe_instances_aws.xml follows AWS's documented response (trailing-slash namespace, requestId,
nextToken, indentation, nested privateIpAddress elements that must not leak into the instance).
"""

from __future__ import annotations

from pathlib import Path

import botocore.parsers
import botocore.session
import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _inventory as inv
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _inventory_parser as lean_parser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
BODIES = ["describe_instances.xml", "describe_instances_aws.xml"]
LEAN_KEYS = ("InstanceId", "ImageId", "InstanceType", "LaunchTime", "Platform", "PrivateIpAddress",
             "PublicIpAddress", "PrivateDnsName", "PublicDnsName", "VpcId", "SubnetId", "Tags")


@pytest.fixture(scope="module")
def ec2_model():
    return botocore.session.get_session().get_service_model("ec2")


def response(body: bytes, status: int = 200) -> dict:
    return {"body": body, "headers": {"Content-Type": "text/xml", "X-Amzn-RequestId": "r-1"},
            "status_code": status, "context": {}}


def standard_parse(model, body, status=200, operation="DescribeInstances"):
    shape = model.operation_model(operation).output_shape
    return botocore.parsers.create_parser("ec2").parse(response(body, status), shape)


def project(instance: dict) -> dict:
    """The fields of a standard-parsed instance that the lean parser keeps, in the lean form."""
    result = {k: instance[k] for k in LEAN_KEYS if k in instance}
    if "LaunchTime" in result:
        result["LaunchTime"] = inv.iso_timestamp(result["LaunchTime"])
    if "State" in instance:
        result["State"] = {k: v for k, v in instance["State"].items() if k == "Name"}
    if "Placement" in instance:
        result["Placement"] = {k: v for k, v in instance["Placement"].items() if k == "AvailabilityZone"}
    return result


def lean_form(instance: dict) -> dict:
    result = dict(instance)
    if "LaunchTime" in result:
        result["LaunchTime"] = inv.iso_timestamp(result["LaunchTime"])
    return result


@pytest.mark.parametrize("name", BODIES)
def test_lean_parser_matches_botocore(ec2_model, name):
    body = (FIXTURES / name).read_bytes()
    standard = standard_parse(ec2_model, body)
    lean = lean_parser.parse_describe_instances(body)

    assert len(lean["Reservations"]) == len(standard["Reservations"])
    for lean_res, std_res in zip(lean["Reservations"], standard["Reservations"], strict=True):
        assert [lean_form(i) for i in lean_res["Instances"]] == [project(i) for i in std_res["Instances"]]
    assert lean.get("NextToken") == standard.get("NextToken")
    if "RequestId" in standard["ResponseMetadata"]:
        assert lean["ResponseMetadata"]["RequestId"] == standard["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("name", BODIES)
def test_host_records_identical_from_either_parser(ec2_model, name):
    body = (FIXTURES / name).read_bytes()
    from_lean = inv.build_records({"r": inv.instances_of([lean_parser.parse_describe_instances(body)])})
    from_std = inv.build_records({"r": inv.instances_of([standard_parse(ec2_model, body)])})
    assert from_lean == from_std
    assert from_lean  # the fixtures are not empty


def test_moto_fixture_content():
    parsed = lean_parser.parse_describe_instances((FIXTURES / "describe_instances.xml").read_bytes())
    records = {r["vars"]["ec2_instance_id"]: r for r in inv.build_records({"us-east-1": inv.instances_of([parsed])})}
    sql = records["i-8fdb7ea2810d4b40d"]
    assert sql["name"] == "FixtureSQL01"
    assert sql["groups"] == ["sqlserver", "windows"]
    assert sql["vars"]["ec2_tags"] == {"Name": "FixtureSQL01", "hpc:cluster": "fixture", "hpc:role": "sqlserver",
                                       "CostCenter": "HPC-Ops", "EmptyTag": ""}
    stopped = records["i-ccf4adb6c50ee98a7"]
    assert stopped["vars"]["ec2_state"] == "stopped"
    assert stopped["groups"] == ["pcluster", "linux"]
    # two instances share the Name tag: both fall back to their ids
    assert stopped["name"] == "i-ccf4adb6c50ee98a7"


def test_aws_fixture_keeps_only_the_instance_level_fields():
    parsed = lean_parser.parse_describe_instances((FIXTURES / "describe_instances_aws.xml").read_bytes())
    (item,) = inv.instances_of([parsed])
    assert item["PrivateIpAddress"] == "192.168.1.88"
    assert "Platform" not in item
    assert parsed["NextToken"] == "eyJ2IjoiMiIsImMiOiJleGFtcGxlIn0="
    record = inv.host_record(item, "eu-west-1")
    assert record["groups"] == ["headnode", "linux"]
    assert record["vars"]["ec2_tags"]["hpc:Role"] == "Not-The-Role-Tag"


def test_empty_response():
    body = b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">' \
           b"<requestId>x</requestId><reservationSet/></DescribeInstancesResponse>"
    assert lean_parser.parse_describe_instances(body) == {"Reservations": [], "ResponseMetadata": {"RequestId": "x"}}


# ------------------------------------------------------------------ the botocore component

def test_factory_wraps_ec2_only():
    factory = lean_parser.LeanParserFactory()
    assert isinstance(factory.create_parser("ec2"), lean_parser.LeanDescribeInstancesParser)
    assert not isinstance(factory.create_parser("json"), lean_parser.LeanDescribeInstancesParser)


def test_lean_parser_adds_response_metadata(ec2_model):
    body = (FIXTURES / "describe_instances_aws.xml").read_bytes()
    parser = lean_parser.LeanParserFactory().create_parser("ec2")
    parsed = parser.parse(response(body), ec2_model.operation_model("DescribeInstances").output_shape)
    assert parsed["ResponseMetadata"] == {"RequestId": "8f7724cf-496f-496e-8fe3-example", "HTTPStatusCode": 200,
                                          "HTTPHeaders": {"content-type": "text/xml", "x-amzn-requestid": "r-1"}}


def test_errors_and_other_operations_go_to_botocore(ec2_model):
    parser = lean_parser.LeanParserFactory().create_parser("ec2")
    error = (b"<Response><Errors><Error><Code>AuthFailure</Code><Message>not authorized</Message></Error>"
             b"</Errors><RequestID>req-9</RequestID></Response>")
    shape = ec2_model.operation_model("DescribeInstances").output_shape
    parsed = parser.parse(response(error, 401), shape)
    assert parsed["Error"] == {"Code": "AuthFailure", "Message": "not authorized"}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"

    regions = (b'<DescribeRegionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
               b"<requestId>r</requestId><regionInfo><item><regionName>eu-west-1</regionName>"
               b"<regionEndpoint>ec2.eu-west-1.amazonaws.com</regionEndpoint></item></regionInfo>"
               b"</DescribeRegionsResponse>")
    parsed = parser.parse(response(regions), ec2_model.operation_model("DescribeRegions").output_shape)
    assert parsed["Regions"] == [{"RegionName": "eu-west-1", "Endpoint": "ec2.eu-west-1.amazonaws.com"}]


def test_malformed_body_is_reported_by_botocore(ec2_model):
    parser = lean_parser.LeanParserFactory().create_parser("ec2")
    shape = ec2_model.operation_model("DescribeInstances").output_shape
    with pytest.raises(botocore.parsers.ResponseParserError):
        parser.parse(response(b"<DescribeInstancesResponse><oops"), shape)
