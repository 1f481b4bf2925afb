"""hpcops.aws_hpc.acm_certificate_request run by ansible-playbook against the embedded lab endpoint.

Every test works on a Name of its own (uuid) and a Route 53 hosted zone of its own, and removes what it created.
The lab's moto fills the validation records at once and reads a requested certificate as ISSUED about 60 s after
the request: the wait test waits that long.
"""

from __future__ import annotations

import uuid

import pytest
from conftest import lab_client

pytestmark = pytest.mark.lab


@pytest.fixture
def aws(lab_env):
    return {service: lab_client(lab_env, service) for service in ("acm", "route53")}


@pytest.fixture
def name(aws):
    """A Name tag of the test's own; its certificates are deleted afterwards."""
    value = f"it-{uuid.uuid4().hex[:10]}"
    yield value
    for arn in certificates(aws, value):
        aws["acm"].delete_certificate(CertificateArn=arn)


@pytest.fixture
def zone(aws, name):
    """A hosted zone <name>.example.com; its records and itself are deleted afterwards."""
    route53 = aws["route53"]
    domain = f"{name}.example.com"
    zone_id = route53.create_hosted_zone(Name=domain, CallerReference=name)["HostedZone"]["Id"].split("/")[-1]
    yield {"id": zone_id, "domain": domain}
    changes = [{"Action": "DELETE", "ResourceRecordSet": item}
               for item in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
               if item["Type"] == "CNAME"]
    if changes:
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    route53.delete_hosted_zone(Id=zone_id)


def certificates(aws, name):
    found = []
    for item in aws["acm"].list_certificates()["CertificateSummaryList"]:
        tags = aws["acm"].list_tags_for_certificate(CertificateArn=item["CertificateArn"])["Tags"]
        if {"Key": "Name", "Value": name} in tags:
            found.append(item["CertificateArn"])
    return found


def cnames(aws, zone_id):
    return {item["Name"]: item["ResourceRecords"][0]["Value"]
            for item in aws["route53"].list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
            if item["Type"] == "CNAME"}


def acm_task(**args):
    return {"name": "acm_certificate_request", "hpcops.aws_hpc.acm_certificate_request": args,
            "ignore_errors": True}


def test_acm_certificate_request_lifecycle(run_tasks, aws, name, zone):
    args = {"name": name, "domain_name": f"portal.{zone['domain']}",
            "subject_alternative_names": [f"hpc.{zone['domain']}"], "validation_zone_id": zone["id"],
            "tags": {"hpc:cluster": name}}
    (check,) = run_tasks([acm_task(**args)], "--check")
    assert check["changed"] is True and check["created"] is True, check
    assert check["certificate_arn"] is None
    assert certificates(aws, name) == [] and cnames(aws, zone["id"]) == {}

    (created,) = run_tasks([acm_task(**args)])
    assert created["changed"] is True and created["created"] is True, created
    arn = created["certificate_arn"]
    assert created["status"] == "PENDING_VALIDATION"
    assert len(created["validation_records"]) == 2
    assert certificates(aws, name) == [arn]
    assert cnames(aws, zone["id"]) == {record["name"]: record["value"] for record in created["validation_records"]}

    (again,) = run_tasks([acm_task(**args)])
    assert again["changed"] is False and again["created"] is False, again
    assert again["certificate_arn"] == arn

    (tagged,) = run_tasks([acm_task(**{**args, "tags": {"hpc:cluster": name, "team": "cfd"}})])
    assert tagged["changed"] is True and tagged["certificate_arn"] == arn, tagged
    assert {"Key": "team", "Value": "cfd"} in aws["acm"].list_tags_for_certificate(CertificateArn=arn)["Tags"]

    (renamed,) = run_tasks([acm_task(**{**args, "subject_alternative_names": []})])
    assert renamed.get("failed") is True, renamed
    assert "subject_alternative_names" in renamed["msg"] and "cannot change the names" in renamed["msg"]

    gone = {"name": name, "domain_name": args["domain_name"], "state": "absent"}
    (first,) = run_tasks([acm_task(**gone)])
    assert first["changed"] is True and first["deleted"] == [arn], first
    (second,) = run_tasks([acm_task(**gone)])
    assert second["changed"] is False, second
    assert certificates(aws, name) == []


def test_records_returned_without_a_zone_and_wait_until_issued(run_tasks, aws, name):
    args = {"name": name, "domain_name": f"{name}.example.org"}
    (created,) = run_tasks([acm_task(**args)])
    assert created["created"] is True, created
    (record,) = created["validation_records"]
    assert record["type"] == "CNAME" and record["name"].endswith(f".{name}.example.org.")

    (waited,) = run_tasks([acm_task(**args, wait=True, wait_timeout=180)])
    assert waited["changed"] is False, waited
    assert waited["status"] == "ISSUED" and waited["certificate_arn"] == created["certificate_arn"]
