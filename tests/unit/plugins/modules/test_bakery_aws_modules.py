"""hpc_ami_info, ssm_secret and bake_plan against stubbed boto3 clients (botocore's Stubber): no network.

The modules share one AWS error path (module_utils/_aws.py): a failure carries the AWS error code, message and
request id (``error``, ``response_metadata``) under a message that says what was being done. hpc_ami_info is an
``_info`` module: no match is an empty result with the reason, never a failure.
"""

from __future__ import annotations

import json

import boto3
import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.stub import ANY, Stubber

from ansible_collections.hpcops.aws_hpc.plugins.modules import bake_plan, hpc_ami_info, ssm_secret

REGION = "us-east-1"
REQUEST_ID = "0a1b2c3d-req"


@pytest.fixture
def clients(monkeypatch):
    """{service: (client, stubber)}; every module's client_from_module returns these clients."""
    made = {}

    def client_for(service):
        if service not in made:
            client = boto3.client(service, region_name=REGION, aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
            made[service] = (client, Stubber(client))
            made[service][1].activate()
        return made[service]

    for module in (hpc_ami_info, ssm_secret, bake_plan):
        monkeypatch.setattr(module, "client_from_module", lambda _module, service: client_for(service)[0])
    yield client_for
    for _client, stubber in made.values():
        stubber.assert_no_pending_responses()


def run(module, capsys, **args):
    with patch_module_args(dict(region=REGION, **args)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def client_error(stubber, operation, code, message, status=400):
    stubber.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=status,
                             response_meta={"RequestId": REQUEST_ID})


# ---------------------------------------------------------------- hpc_ami_info
def test_ami_info_returns_empty_with_the_reason_when_nothing_matches(clients, capsys):
    ec2 = clients("ec2")[1]
    ec2.add_response("describe_images", {"Images": []}, {"Owners": ["self"], "Filters": ANY})
    ec2.add_response("describe_images", {"Images": []}, {"Owners": ["amazon"], "Filters": ANY})
    result = run(hpc_ami_info, capsys, role="sqlserver", name_filter="Windows_Server-2099-*")
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["found"] is False
    assert result["image_id"] == "" and result["name"] == "" and result["source"] == "" and result["tags"] == {}
    assert result["reason"] == (
        "No AMI found for role sqlserver in us-east-1. Tried: no baked AMI tagged hpc:role=sqlserver "
        "(and hpc:image) owned by this account; image_id not given; name filter 'Windows_Server-2099-*' "
        "owned by amazon matched nothing in us-east-1. "
        "Set image_id or name_filter, or bake an image with playbooks/bake.yml."
    )


def test_ami_info_found(clients, capsys):
    tags = [{"Key": "hpc:role", "Value": "sqlserver"}, {"Key": "hpc:image", "Value": "sqlserver"}]
    image = {"ImageId": "ami-1", "Name": "hpc-sqlserver-1", "State": "available",
             "CreationDate": "2024-01-01T00:00:00.000Z", "Tags": tags}
    clients("ec2")[1].add_response("describe_images", {"Images": [image]}, {"Owners": ["self"], "Filters": ANY})
    result = run(hpc_ami_info, capsys, role="sqlserver")
    assert result["found"] is True and result["reason"] == "", result
    assert result["image_id"] == "ami-1" and result["source"] == "baked"


def test_ami_info_aws_failure_carries_code_message_and_request_id(clients, capsys):
    client_error(clients("ec2")[1], "describe_images", "UnauthorizedOperation", "You are not authorized", 403)
    result = run(hpc_ami_info, capsys, role="headnode")
    assert result["failed"] is True
    assert result["msg"] == ("Failed to look up baked AMIs for role headnode in us-east-1: UnauthorizedOperation: "
                             f"You are not authorized (request id {REQUEST_ID})")
    assert result["error"] == {"code": "UnauthorizedOperation", "message": "You are not authorized"}
    assert result["response_metadata"]["request_id"] == REQUEST_ID
    assert result["response_metadata"]["http_status_code"] == 403


def test_ami_info_missing_image_id_still_fails_naming_it(clients, capsys):
    client_error(clients("ec2")[1], "describe_images", "InvalidAMIID.NotFound", "The image id does not exist")
    result = run(hpc_ami_info, capsys, role="headnode", prefer_baked=False, image_id="ami-0badc0ffee0000000")
    assert result["failed"] is True
    assert result["msg"] == ("image_id ami-0badc0ffee0000000 given for role headnode does not exist in us-east-1 "
                             "(or is not visible to this account).")


# ---------------------------------------------------------------- ssm_secret
NAME = "/hpc/test/password"


def test_ssm_secret_aws_failure_names_the_parameter(clients, capsys):
    client_error(clients("ssm")[1], "describe_parameters", "AccessDeniedException", "not allowed")
    result = run(ssm_secret, capsys, name=NAME, key_id="alias/hpc")
    assert result["failed"] is True
    assert result["msg"] == f"Failed to read SSM parameter {NAME}: AccessDeniedException: not allowed " \
                            f"(request id {REQUEST_ID})"
    assert result["error"]["code"] == "AccessDeniedException"
    assert result["response_metadata"]["request_id"] == REQUEST_ID


def test_ssm_secret_never_shows_the_value_in_an_aws_error(clients, capsys):
    """Re-encryption reads the value; an AWS error echoing it is masked (the module's no_log_values)."""
    ssm, kms = clients("ssm")[1], clients("kms")[1]
    meta = {"Name": NAME, "Type": "SecureString", "KeyId": "alias/old", "Version": 1,
            "ARN": f"arn:aws:ssm:{REGION}:123456789012:parameter{NAME}"}
    ssm.add_response("describe_parameters", {"Parameters": [meta]})
    ssm.add_response("list_tags_for_resource", {"TagList": []})
    for alias, key in (("alias/old", "old"), ("alias/new", "new")):
        kms.add_response("describe_key", {"KeyMetadata": {"KeyId": key, "Arn": f"arn:aws:kms:{REGION}:1:key/{key}"}},
                         {"KeyId": alias})
    ssm.add_response("get_parameter", {"Parameter": {"Name": NAME, "Value": "Very-s3cret-value"}},
                     {"Name": NAME, "WithDecryption": True})
    client_error(ssm, "put_parameter", "ValidationException", "value Very-s3cret-value is not accepted")
    result = run(ssm_secret, capsys, name=NAME, key_id="alias/new")
    assert result["failed"] is True
    assert result["msg"].startswith(f"Failed to re-encrypt with KMS key alias/new SSM parameter {NAME}: "
                                    "ValidationException: value ")
    assert "Very-s3cret-value" not in json.dumps(result)


def test_ssm_secret_purge_tags_defaults_to_true(clients, capsys):
    ssm = clients("ssm")[1]
    meta = {"Name": NAME, "Type": "SecureString", "KeyId": "alias/hpc", "Version": 1,
            "ARN": f"arn:aws:ssm:{REGION}:123456789012:parameter{NAME}"}
    ssm.add_response("describe_parameters", {"Parameters": [meta]})
    ssm.add_response("list_tags_for_resource", {"TagList": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]})
    result = run(ssm_secret, capsys, name=NAME, key_id="alias/hpc", tags={"a": "1"}, _ansible_check_mode=True)
    assert result["changed"] is True, result
    assert not result.get("failed")


# ---------------------------------------------------------------- bake_plan
def test_bake_plan_missing_payload_names_it(clients, capsys, tmp_path):
    template = tmp_path / "image.pkr.hcl"
    template.write_text("# template\n")
    clients("ec2")[1].add_response("describe_images", {"Images": []}, {"Owners": ["self"], "Filters": ANY})
    client_error(clients("s3")[1], "head_object", "404", "Not Found", 404)
    result = run(bake_plan, capsys, images=[{
        "name": "sqlserver", "role": "sqlserver", "template": str(template),
        "source_ami_filter": {"name": "Windows_Server-*"}, "payloads": [{"bucket": "b", "key": "hpc/setup.zip"}],
    }])
    assert result["failed"] is True
    assert result["msg"] == ("Failed to read payload s3://b/hpc/setup.zip of image sqlserver (upload it or remove it "
                             f"from the image's payloads): 404: Not Found (request id {REQUEST_ID})")
    assert result["error"]["code"] == "404"
