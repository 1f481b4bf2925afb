"""Pure logic of acm_certificate_request: token, choice, validation records, Route 53 change batch, tags."""

from __future__ import annotations

import datetime

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _acm


def test_idempotency_token_is_stable_short_and_per_name_and_domain():
    token = _acm.idempotency_token("prod-portal", "portal.example.com")
    assert len(token) == 32 and token.isalnum()
    assert token == _acm.idempotency_token("prod-portal", "Portal.Example.com.")
    assert token != _acm.idempotency_token("test-portal", "portal.example.com")
    assert token != _acm.idempotency_token("prod-portal", "hpc.example.com")


def test_wanted_names_and_certificate_names():
    assert _acm.wanted_names("Portal.example.com", ["b.example.com", "portal.example.com", "a.example.com."]) == [
        "portal.example.com", "a.example.com", "b.example.com"]
    assert _acm.wanted_names("portal.example.com", None) == ["portal.example.com"]
    cert = {"DomainName": "portal.example.com", "SubjectAlternativeNames": ["www.example.com", "portal.example.com"]}
    assert _acm.certificate_names(cert) == ["portal.example.com", "www.example.com"]


def test_choose_prefers_the_newest_issued_then_pending():
    day = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    old = {"CertificateArn": "old", "Status": "ISSUED", "CreatedAt": day}
    new = {"CertificateArn": "new", "Status": "ISSUED", "CreatedAt": day + datetime.timedelta(days=3)}
    pending = {"CertificateArn": "pending", "Status": "PENDING_VALIDATION", "CreatedAt": day + datetime.timedelta(9)}
    assert _acm.choose([old, pending, new])["CertificateArn"] == "new"
    assert _acm.choose([pending])["CertificateArn"] == "pending"
    assert _acm.choose([{"CertificateArn": "x", "Status": "FAILED"}]) is None
    assert _acm.choose([]) is None


def test_validation_records_are_unique_and_count_the_missing():
    record = {"Name": "_abc.Example.com.", "Type": "CNAME", "Value": "_def.acm-validations.aws."}
    cert = {"DomainValidationOptions": [
        {"DomainName": "example.com", "ValidationMethod": "DNS", "ResourceRecord": record},
        {"DomainName": "*.example.com", "ValidationMethod": "DNS", "ResourceRecord": dict(record)},
        {"DomainName": "hpc.example.org", "ValidationMethod": "DNS"},
        {"DomainName": "mail.example.net", "ValidationMethod": "EMAIL"},
    ]}
    records, missing = _acm.validation_records(cert)
    assert records == [{"name": "_abc.example.com.", "type": "CNAME", "value": "_def.acm-validations.aws."}]
    assert missing == 1
    assert _acm.validation_records({}) == ([], 0)


def test_record_matches_and_upsert_changes():
    record = {"name": "_abc.example.com.", "type": "CNAME", "value": "_def.acm-validations.aws."}
    same = {"Name": "_abc.example.com.", "Type": "CNAME", "ResourceRecords": [{"Value": "_DEF.acm-validations.aws"}]}
    assert _acm.record_matches(record, same)
    assert not _acm.record_matches(record, None)
    assert not _acm.record_matches(record, {**same, "Name": "_zzz.example.com."})
    assert not _acm.record_matches(record, {**same, "ResourceRecords": [{"Value": "_old.acm-validations.aws."}]})
    batch = _acm.upsert_changes([record])
    assert batch["Changes"] == [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": "_abc.example.com.", "Type": "CNAME", "TTL": 300,
        "ResourceRecords": [{"Value": "_def.acm-validations.aws."}]}}]


def test_tags_to_set_and_same_domain():
    assert _acm.tags_to_set({"Name": "a", "team": "cfd"}, {"Name": "a", "team": "cfd"}) == []
    assert _acm.tags_to_set({"Name": "a"}, {"Name": "a", "team": "cfd", "n": 1}) == [
        {"Key": "n", "Value": "1"}, {"Key": "team", "Value": "cfd"}]
    assert _acm.tag_dict([{"Key": "Name", "Value": "a"}]) == {"Name": "a"}
    assert _acm.same_domain({"DomainName": "Portal.example.com"}, "portal.example.com.")
    assert not _acm.same_domain({"DomainName": "www.example.com"}, "portal.example.com")
