"""The portal_check module with arguments injected as Ansible does, against moto in-process (Secrets Manager, ACM).

A good secret and certificate pass and return the secret's ARN and the certificate to use; every bad input is one
line of one failure naming the role variable; the password never appears in the result; AWS refusing the secret
(not found, access denied) is a problem naming portal_efadmin_secret_id and the secret; check mode reads the same.
"""

from __future__ import annotations

import datetime
import json
import re

import boto3
import botocore.exceptions
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from conftest import ROOT
from moto import mock_aws

from ansible_collections.hpcops.aws_hpc.plugins.modules import portal_check

REGION = "us-east-1"
PASSWORD = "Efadm1n!Pass"
SECRET = "unit/efadminPassword"


def run(capsys, **args):
    base = dict(region=REGION, efadmin_secret_id=SECRET, certificate={"file": "", "domain": "portal.example.com",
                                                                      "request": True})
    base.update(args)
    with patch_module_args(base), pytest.raises(SystemExit):
        portal_check.main()
    out = capsys.readouterr().out
    assert PASSWORD not in out
    return json.loads(out)


def self_signed(name):
    """A self-signed certificate for ``name`` and its key, as PEM bytes."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@pytest.fixture
def aws(moto_credentials):
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name=REGION)
        arn = secrets.create_secret(Name=SECRET, SecretString=json.dumps({"efadminPassword": PASSWORD}))["ARN"]
        yield {"secrets": secrets, "acm": boto3.client("acm", region_name=REGION), "arn": arn}


def test_good_inputs_pass_and_say_what_happens_to_the_certificate(aws, capsys):
    result = run(capsys)
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["efadmin_secret_arn"] == aws["arn"]
    assert result["certificate_action"] == "request"
    assert result["certificate_arn"] == ""
    assert result["problems"] == []


def test_an_imported_wildcard_certificate_is_found_for_the_domain(aws, capsys):
    cert, key = self_signed("*.example.com")
    arn = aws["acm"].import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    result = run(capsys, certificate={"domain": "portal.example.com"})
    assert result["certificate_action"] == "existing"
    assert result["certificate_arn"] == arn
    by_arn = run(capsys, certificate={"arn": arn})
    assert by_arn["certificate_action"] == "existing" and by_arn["certificate_arn"] == arn


def test_a_requested_certificate_still_pending_is_not_requested_again(aws, capsys):
    arn = aws["acm"].request_certificate(DomainName="portal.example.com", ValidationMethod="DNS")["CertificateArn"]
    result = run(capsys, certificate={"domain": "portal.example.com", "request": True})
    assert result["certificate_action"] == "request"
    assert result["certificate_pending_arn"] == arn
    refused = run(capsys, certificate={"domain": "portal.example.com"})
    assert refused["failed"] is True
    assert "portal_certificate_domain: no ACM certificate for domain portal.example.com" in refused["msg"]
    assert arn in refused["msg"]


def test_every_problem_is_one_line_of_one_failure(aws, capsys):
    aws["secrets"].put_secret_value(SecretId=SECRET, SecretString=json.dumps({"efadminPassword": "abcdefgh"}))
    result = run(capsys, fsx={"storage_capacity": 1000, "deployment_type": "SCRATCH_2"},
                 db={"min_capacity": 4, "max_capacity": 2}, certificate={"domain": "nothing.example.org"},
                 network={"subnet_ids": [], "alb_subnet_ids": ["subnet-0123abcd"], "alb_ingress_cidrs": ["10.0.0.1/8"]},
                 instance={"root_volume_size": 4})
    assert result["failed"] is True
    lines = result["msg"].splitlines()
    assert lines[0] == f"The portal's inputs have {len(result['problems'])} problems:"
    assert lines[1:] == result["problems"]
    variables = {line.split(":", 1)[0] for line in result["problems"]}
    assert variables == {"portal_efadmin_secret_key", "portal_fsx_storage_capacity", "portal_db_min_capacity",
                         "portal_certificate_domain", "portal_subnet_ids", "portal_alb_subnet_ids",
                         "portal_alb_ingress_cidrs", "portal_root_volume_size"}
    assert "abcdefgh" not in json.dumps(result)


def test_a_missing_secret_names_the_variable_and_the_secret(aws, capsys):
    result = run(capsys, efadmin_secret_id="unit/nothing-here")
    assert result["failed"] is True
    assert result["problems"][0].startswith("portal_efadmin_secret_id: the secret unit/nothing-here does not exist")
    assert "ResourceNotFoundException" in result["problems"][0]


def test_a_secret_without_the_key_or_json(aws, capsys):
    aws["secrets"].put_secret_value(SecretId=SECRET, SecretString=json.dumps({"password": PASSWORD}))
    result = run(capsys)
    assert result["problems"][0].startswith(f"portal_efadmin_secret_key: the secret {SECRET} has no key "
                                            "'efadminPassword' (its keys: password)")
    aws["secrets"].put_secret_value(SecretId=SECRET, SecretString=PASSWORD)
    result = run(capsys)
    assert result["problems"][0].startswith(f"portal_efadmin_secret_id: the SecretString of secret {SECRET} is not")
    aws["secrets"].put_secret_value(SecretId=SECRET, SecretBinary=PASSWORD.encode())
    result = run(capsys)
    assert "holds a SecretBinary" in result["problems"][0]


class DeniedSecrets:
    """A Secrets Manager client that refuses GetSecretValue as AWS does without the permission."""

    class Meta:
        region_name = REGION

    meta = Meta()

    def get_secret_value(self, **kwargs):
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                 "ResponseMetadata": {"RequestId": "r-1", "HTTPStatusCode": 400}}
        raise botocore.exceptions.ClientError(error, "GetSecretValue")


def test_access_denied_names_the_variable_and_the_secret(aws, capsys, monkeypatch):
    real = portal_check.client_from_module

    def denied(module, service):
        return DeniedSecrets() if service == "secretsmanager" else real(module, service)

    monkeypatch.setattr(portal_check, "client_from_module", denied)
    result = run(capsys)
    assert result["failed"] is True
    assert result["problems"] == [f"portal_efadmin_secret_id: the secret {SECRET} cannot be read with these "
                                  "credentials (secretsmanager:GetSecretValue, and kms:Decrypt on its key) in "
                                  "us-east-1: AccessDeniedException: not authorized"]


def test_certificate_files_to_import(aws, capsys, tmp_path):
    cert, key = self_signed("portal.example.com")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    good = run(capsys, certificate={"file": str(tmp_path / "cert.pem"), "key_file": str(tmp_path / "key.pem")})
    assert good["certificate_action"] == "import" and good["certificate_arn"] == ""
    swapped = run(capsys, certificate={"file": str(tmp_path / "key.pem"), "key_file": str(tmp_path / "cert.pem")})
    named = {line.split(":", 1)[0] for line in swapped["problems"]}
    assert named == {"portal_certificate_file", "portal_certificate_key_file"}
    assert "PRIVATE KEY-----\n" not in json.dumps(swapped) and "BEGIN CERTIFICATE-----\n" not in json.dumps(swapped)
    missing = run(capsys, certificate={"file": str(tmp_path / "none.pem"), "key_file": str(tmp_path / "key.pem")})
    assert missing["problems"][0].startswith("portal_certificate_file: cannot read ")


def test_a_certificate_arn_that_acm_does_not_have(aws, capsys):
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-1111-2222-3333-444444444444"
    result = run(capsys, certificate={"arn": arn})
    assert result["problems"] == [f"portal_certificate_arn: ACM has no certificate {arn} in us-east-1"]


def test_check_mode_reads_all_the_same(aws, capsys):
    result = run(capsys, _ansible_check_mode=True)
    assert result["changed"] is False and result["efadmin_secret_arn"] == aws["arn"]


def test_the_documentation_lists_the_options_and_returns():
    source = (ROOT / "plugins" / "modules" / "portal_check.py").read_text(encoding="utf-8")
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL).group(1))
    assert set(doc["options"]) == {"efadmin_secret_id", "efadmin_secret_key", "efadmin_user", "db", "efs", "fsx",
                                   "certificate", "network", "instance"}
    returned = yaml.safe_load(re.search(r'RETURN = r"""(.*?)"""', source, re.DOTALL).group(1))
    assert set(returned) == {"efadmin_secret_arn", "certificate_action", "certificate_arn",
                             "certificate_pending_arn", "problems"}
    assert yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.DOTALL).group(1))
