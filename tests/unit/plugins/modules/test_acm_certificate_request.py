"""hpcops.aws_hpc.acm_certificate_request against moto in-process (ACM, Route 53): no network.

moto fills a requested certificate's validation records at once and reads it ISSUED once
``moto.settings.ACM_VALIDATION_WAIT`` (60 s) has passed since the request; the wait tests set that to 0.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.modules import acm_certificate_request as module

DOMAIN = "portal.example.com"


def run(capsys, **args):
    with patch_module_args(dict(region="us-east-1", **args)), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def cert(**over):
    args = dict(name="unit-portal", domain_name=DOMAIN, tags={"hpc:cluster": "unit"})
    args.update(over)
    return args


@pytest.fixture
def moto_acm(moto_credentials, monkeypatch):
    import boto3
    from moto import mock_aws

    moto_credentials.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    with mock_aws():
        yield boto3.client("acm", region_name="us-east-1")


@pytest.fixture
def zone(moto_acm):
    import boto3

    route53 = boto3.client("route53", region_name="us-east-1")
    zone_id = route53.create_hosted_zone(Name="example.com", CallerReference="unit")["HostedZone"]["Id"]
    return route53, zone_id.split("/")[-1]


def arns(acm):
    return [item["CertificateArn"] for item in acm.list_certificates()["CertificateSummaryList"]]


def cnames(route53, zone_id):
    return {item["Name"]: item["ResourceRecords"][0]["Value"]
            for item in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if item["Type"] == "CNAME"}


def test_check_request_rerun(moto_acm, capsys):
    check = run(capsys, _ansible_check_mode=True, **cert())
    assert check["changed"] is True and check["created"] is True, check
    assert check["certificate_arn"] is None
    assert arns(moto_acm) == []

    created = run(capsys, **cert(subject_alternative_names=["hpc.example.com"]))
    assert created["changed"] is True and created["created"] is True, created
    arn = created["certificate_arn"]
    assert created["status"] == "PENDING_VALIDATION"
    assert {record["name"].split(".", 1)[1] for record in created["validation_records"]} == {
        "portal.example.com.", "hpc.example.com."}
    assert all(record["type"] == "CNAME" for record in created["validation_records"])
    tags = moto_acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    assert sorted(tags, key=lambda tag: tag["Key"]) == [
        {"Key": "Name", "Value": "unit-portal"}, {"Key": "hpc:cluster", "Value": "unit"}]
    described = moto_acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["Type"] == "AMAZON_ISSUED"
    assert {option["ValidationMethod"] for option in described["DomainValidationOptions"]} == {"DNS"}

    again = run(capsys, **cert(subject_alternative_names=["hpc.example.com"]))
    assert again["changed"] is False and again["created"] is False, again
    assert again["certificate_arn"] == arn
    assert again["validation_records"] == created["validation_records"]
    assert arns(moto_acm) == [arn]

    check_again = run(capsys, _ansible_check_mode=True, **cert())
    assert check_again["changed"] is False and check_again["certificate_arn"] == arn


def test_request_uses_a_token_from_name_and_domain(moto_acm, capsys, monkeypatch):
    calls = []
    real_client = module.client_from_module

    def client_from_module(mod, service):
        client = real_client(mod, service)
        if service == "acm":
            real_request = client.request_certificate

            def request_certificate(**kwargs):
                calls.append(kwargs)
                return real_request(**kwargs)

            client.request_certificate = request_certificate
        return client

    monkeypatch.setattr(module, "client_from_module", client_from_module)
    run(capsys, **cert())
    assert calls[0]["ValidationMethod"] == "DNS"
    assert calls[0]["IdempotencyToken"] == module.idempotency_token("unit-portal", DOMAIN)
    assert "SubjectAlternativeNames" not in calls[0]


def test_other_names_and_domains_are_not_reused(moto_acm, capsys):
    mine = run(capsys, **cert())["certificate_arn"]
    other = run(capsys, **cert(name="other-portal"))
    assert other["created"] is True and other["certificate_arn"] != mine
    www = run(capsys, **cert(domain_name="www.example.com"))
    assert www["created"] is True and www["certificate_arn"] not in (mine, other["certificate_arn"])


def test_tags_change_and_names_refused(moto_acm, capsys):
    arn = run(capsys, **cert())["certificate_arn"]
    check = run(capsys, _ansible_check_mode=True, **cert(tags={"hpc:cluster": "unit", "team": "cfd"}))
    assert check["changed"] is True
    assert {"Key": "team", "Value": "cfd"} not in moto_acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]
    tagged = run(capsys, **cert(tags={"hpc:cluster": "unit", "team": "cfd"}))
    assert tagged["changed"] is True and tagged["created"] is False, tagged
    assert {"Key": "team", "Value": "cfd"} in moto_acm.list_tags_for_certificate(CertificateArn=arn)["Tags"]

    renamed = run(capsys, **cert(subject_alternative_names=["hpc.example.com"]))
    assert renamed["failed"] is True
    assert renamed["msg"].startswith("subject_alternative_names: ")
    assert "ACM cannot change the names of a certificate" in renamed["msg"]
    assert arns(moto_acm) == [arn]


def test_validation_records_upserted_into_the_zone(moto_acm, zone, capsys):
    route53, zone_id = zone
    check = run(capsys, _ansible_check_mode=True, **cert(validation_zone_id=zone_id))
    assert check["changed"] is True and cnames(route53, zone_id) == {}

    created = run(capsys, **cert(validation_zone_id=zone_id))
    assert created["changed"] is True, created
    (record,) = created["validation_records"]
    assert cnames(route53, zone_id) == {record["name"]: record["value"]}

    again = run(capsys, **cert(validation_zone_id=f"/hostedzone/{zone_id}"))
    assert again["changed"] is False, again

    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "UPSERT", "ResourceRecordSet": {"Name": record["name"], "Type": "CNAME", "TTL": 60,
                                                  "ResourceRecords": [{"Value": "_stale.acm-validations.aws."}]}}]})
    check_fix = run(capsys, _ansible_check_mode=True, **cert(validation_zone_id=zone_id))
    assert check_fix["changed"] is True
    assert cnames(route53, zone_id)[record["name"]] == "_stale.acm-validations.aws."
    fixed = run(capsys, **cert(validation_zone_id=zone_id))
    assert fixed["changed"] is True and fixed["created"] is False, fixed
    assert cnames(route53, zone_id) == {record["name"]: record["value"]}


def test_records_are_polled_until_published(moto_acm, capsys, monkeypatch):
    original = module.CertificateRequest.describe
    hidden = iter([True, True, False])

    def describe(self, arn):
        found = original(self, arn)
        if next(hidden, False):
            for option in found["DomainValidationOptions"]:
                option.pop("ResourceRecord", None)
        return found

    monkeypatch.setattr(module.CertificateRequest, "describe", describe)
    result = run(capsys, **cert())
    assert result["created"] is True and len(result["validation_records"]) == 1, result


def test_records_never_published_fails_asking_for_a_rerun(moto_acm, capsys, monkeypatch):
    original = module.CertificateRequest.describe

    def describe(self, arn):
        found = original(self, arn)
        for option in found["DomainValidationOptions"]:
            option.pop("ResourceRecord", None)
        return found

    monkeypatch.setattr(module.CertificateRequest, "describe", describe)
    monkeypatch.setattr(module, "RECORD_WAIT_SECONDS", 0)
    result = run(capsys, **cert())
    assert result["failed"] is True
    assert "has not published the DNS validation records" in result["msg"] and "run the task again" in result["msg"]
    assert result["certificate_arn"].startswith("arn:aws:acm:")


def test_wait_until_issued(moto_acm, capsys, monkeypatch):
    from moto import settings

    timed_out = run(capsys, **cert(wait=True, wait_timeout=0))
    assert timed_out["failed"] is True
    assert "to be ISSUED; it is PENDING_VALIDATION" in timed_out["msg"]
    monkeypatch.setattr(settings, "ACM_VALIDATION_WAIT", 0)
    issued = run(capsys, **cert(wait=True))
    assert issued["status"] == "ISSUED" and issued["changed"] is False, issued


def test_wait_fails_on_a_failed_certificate(moto_acm, capsys, monkeypatch):
    original = module.CertificateRequest.describe

    def describe(self, arn):
        found = original(self, arn)
        found.update(Status="FAILED", FailureReason="CAA_ERROR")
        return found

    monkeypatch.setattr(module.CertificateRequest, "describe", describe)
    result = run(capsys, **cert(wait=True))
    assert result["failed"] is True
    assert "is FAILED: CAA_ERROR" in result["msg"]


def test_absent_deletes_only_requested_certificates(moto_acm, capsys):
    from moto.acm.models import acm_backends

    arn = run(capsys, **cert())["certificate_arn"]
    other = run(capsys, **cert(name="other-portal"))["certificate_arn"]
    imported = run(capsys, **cert(name="imported"))["certificate_arn"]
    acm_backends["123456789012"]["us-east-1"]._certificates[imported].type = "IMPORTED"

    check = run(capsys, _ansible_check_mode=True, **cert(state="absent"))
    assert check["changed"] is True and check["deleted"] == [arn]
    assert arn in arns(moto_acm)
    first = run(capsys, **cert(state="absent"))
    assert first["changed"] is True and first["deleted"] == [arn], first
    assert sorted(arns(moto_acm)) == sorted([other, imported])
    second = run(capsys, **cert(state="absent"))
    assert second["changed"] is False and second["deleted"] == [], second
    kept = run(capsys, **cert(name="imported", state="absent"))
    assert kept["changed"] is False and imported in arns(moto_acm)


def test_token_of_a_deleted_certificate_fails_clearly(moto_acm, capsys, monkeypatch):
    real_client = module.client_from_module

    def client_from_module(mod, service):
        client = real_client(mod, service)
        if service == "acm":
            client.request_certificate = lambda **kwargs: {
                "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"}
        return client

    monkeypatch.setattr(module, "client_from_module", client_from_module)
    result = run(capsys, **cert())
    assert result["failed"] is True
    assert "which no longer exists" in result["msg"]
