#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: acm_certificate_request
short_description: Request an ACM certificate validated by DNS, and optionally put its validation records in Route 53
version_added: 0.1.0
description:
  - Makes sure an AWS Certificate Manager (ACM) certificate for O(domain_name), tagged C(Name=)O(name), exists
    (or does not).
  - Why this module exists - M(community.aws.acm_certificate) imports certificates only; neither amazon.aws nor
    community.aws requests one from ACM.
  - The certificate is found among every certificate C(ListCertificates) lists (every key type, statuses
    C(PENDING_VALIDATION) and C(ISSUED)) whose domain is O(domain_name) and whose C(Name) tag is O(name); the
    newest C(ISSUED) one is reused, else the newest C(PENDING_VALIDATION) one.
  - When none exists, one is requested (C(RequestCertificate), validation method C(DNS), with an
    C(IdempotencyToken) derived from O(name) and O(domain_name) so that a rerun within the hour gets the same
    certificate) with the tags O(tags) and C(Name).
  - ACM issues the certificate once the DNS validation records it asks for (C(CNAME)) resolve. With
    O(validation_zone_id) the module UPSERTs them into that Route 53 hosted zone (only those missing or
    different); without it, it returns them (RV(validation_records)) for you to create.
  - The names of a certificate cannot change. A reused certificate whose names are not O(domain_name) plus
    O(subject_alternative_names) fails naming O(subject_alternative_names).
  - V(absent) deletes the certificates tagged C(Name=)O(name) for O(domain_name) that ACM issued (type
    C(AMAZON_ISSUED)), whatever their status; imported certificates are never deleted. The validation records
    are left in the zone (ACM gives the same record to every certificate of a name in the account).
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
author: hpcops developers (@hpcops)
options:
  domain_name:
    description:
      - The certificate's domain (for example V(portal.example.com) or V(*.example.com)).
    type: str
    required: true
  subject_alternative_names:
    description:
      - Other names of the certificate, besides O(domain_name).
      - When omitted, a reused certificate's names are not compared.
    type: list
    elements: str
  name:
    description:
      - The C(Name) tag of the certificate; with O(domain_name) it finds the certificate.
    type: str
    required: true
  tags:
    description:
      - Tags of the certificate besides C(Name). Missing or different ones are set on a reused certificate;
        other tags are left as they are.
    type: dict
    default: {}
  validation_zone_id:
    description:
      - A Route 53 hosted zone id (V(Z0123456789ABCDEFGHIJ) or V(/hostedzone/Z0123456789ABCDEFGHIJ)) that the
        validation records are UPSERTed into. Empty means the module only returns them.
    type: str
    default: ""
  wait:
    description:
      - Wait until the certificate is C(ISSUED). Fails when it becomes C(FAILED), C(VALIDATION_TIMED_OUT) or
        otherwise unusable, or when O(wait_timeout) passes.
    type: bool
    default: false
  wait_timeout:
    description:
      - How many seconds to wait at most.
    type: int
    default: 600
  state:
    description:
      - V(present) makes sure the certificate exists (requested when none does); V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - ACM publishes a new certificate's validation records a few seconds after the request; the module polls
    C(DescribeCertificate) for up to 30 seconds and fails, asking for a rerun, when they are still missing.
  - The lab's moto 5.2 fills the validation records at once, reads a requested certificate as C(ISSUED) about
    60 seconds after the request (whether or not the records exist), and keeps the idempotency token for an hour
    with the same tags only.
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: none
  idempotent:
    support: full
seealso:
  - module: community.aws.acm_certificate
  - module: community.aws.acm_certificate_info
  - module: amazon.aws.route53
"""

EXAMPLES = r"""
- name: The portal's certificate, validated through the cluster's public zone
  hpcops.aws_hpc.acm_certificate_request:
    name: prod-portal
    domain_name: portal.example.com
    validation_zone_id: Z0123456789ABCDEFGHIJ
    tags:
      hpc:cluster: prod
    wait: true
  register: _cert

- name: Request it and hand the validation records to whoever runs the DNS
  hpcops.aws_hpc.acm_certificate_request:
    name: prod-portal
    domain_name: portal.example.com
    subject_alternative_names: [hpc.example.com]
  register: _cert

- name: Show them
  ansible.builtin.debug:
    msg: "{{ _cert.validation_records }}"

- name: Delete it
  hpcops.aws_hpc.acm_certificate_request:
    name: prod-portal
    domain_name: portal.example.com
    state: absent
"""

RETURN = r"""
certificate_arn:
  description:
    - The certificate's ARN. V(null) when it does not exist (absent), or would only be requested in check mode.
    - With O(state=absent), the ARN of the certificate deleted (the first, when several were).
  returned: always
  type: str
  sample: arn:aws:acm:us-east-1:123456789012:certificate/0f2bfbd7-2b5d-4402-8d36-5cd90ba3f04d
status:
  description: The certificate's status (C(PENDING_VALIDATION), C(ISSUED)...); V(null) when there is none.
  returned: always
  type: str
  sample: PENDING_VALIDATION
validation_records:
  description: The DNS records ACM validates the certificate with, each once.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The record name.
      type: str
      sample: _d930b28be6c5927595552b219965053e.portal.example.com.
    type:
      description: The record type.
      type: str
      sample: CNAME
    value:
      description: The record value.
      type: str
      sample: _c9edd76ee4a0e2a74388032f3861cc50.ykybfrwcxw.acm-validations.aws.
created:
  description: Whether this run requested the certificate (or would, in check mode).
  returned: always
  type: bool
deleted:
  description: The ARNs deleted (or that would be, in check mode) with O(state=absent).
  returned: when O(state=absent)
  type: list
  elements: str
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._acm import (
    ALL_STATUSES,
    BROKEN_STATUSES,
    REUSE_STATUSES,
    certificate_names,
    choose,
    idempotency_token,
    record_matches,
    same_domain,
    tag_dict,
    tags_to_set,
    upsert_changes,
    validation_records,
    wanted_names,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._portal_cert import ACM_KEY_TYPES

RECORD_POLL_SECONDS = 2
RECORD_WAIT_SECONDS = 30
WAIT_POLL_SECONDS = 10
NOT_FOUND = ("ResourceNotFoundException",)


class CertificateRequest:
    """Finds, requests, validates and deletes the certificate tagged Name=O(name) for O(domain_name)."""

    def __init__(self, module, acm):
        self.module = module
        self.params = module.params
        self.acm = acm
        self.label = f"ACM certificate {self.params['name']} for {self.params['domain_name']}"
        self._route53 = None

    @property
    def route53(self):
        if self._route53 is None:
            self._route53 = client_from_module(self.module, "route53")
        return self._route53

    def wanted_tags(self):
        return {**{key: str(value) for key, value in (self.params["tags"] or {}).items()}, "Name": self.params["name"]}

    def find(self, statuses):
        """Certificate summaries for the domain tagged Name=O(name), each with its ``Tags`` (a dict)."""
        # ListCertificates lists RSA_2048 certificates only unless Includes.keyTypes names the others (AWS
        # Certificate Manager API Reference, ListCertificates,
        # https://docs.aws.amazon.com/acm/latest/APIReference/API_ListCertificates.html).
        summaries = paginate(f"list ACM certificates to find the {self.label}", self.acm, "list_certificates",
                             "CertificateSummaryList", CertificateStatuses=list(statuses),
                             Includes={"keyTypes": list(ACM_KEY_TYPES)})
        found = []
        for summary in summaries:
            if not same_domain(summary, self.params["domain_name"]):
                continue
            arn = summary["CertificateArn"]
            tags = aws_call(f"read the tags of ACM certificate {arn}", self.acm.list_tags_for_certificate,
                            CertificateArn=arn, ignore=NOT_FOUND, default=None)
            if tags is not None and tag_dict(tags.get("Tags")).get("Name") == self.params["name"]:
                found.append({**summary, "Tags": tag_dict(tags.get("Tags"))})
        return found

    def describe(self, arn):
        return aws_call(f"describe the {self.label} ({arn})", self.acm.describe_certificate,
                        CertificateArn=arn)["Certificate"]

    def described_with_records(self, arn):
        """DescribeCertificate, polled briefly until every DNS validation record is published (pending only)."""
        deadline = time.monotonic() + RECORD_WAIT_SECONDS
        while True:
            cert = self.describe(arn)
            records, missing = validation_records(cert)
            if not missing or cert.get("Status") != "PENDING_VALIDATION":
                return cert, records
            if time.monotonic() >= deadline:
                raise ModuleFailure(f"ACM has not published the DNS validation records of the {self.label} ({arn}) "
                                    f"after {RECORD_WAIT_SECONDS} s ({missing} missing); run the task again",
                                    certificate_arn=arn, status=cert.get("Status"), validation_records=records)
            time.sleep(RECORD_POLL_SECONDS)

    def records_to_upsert(self, records):
        """The validation records the zone O(validation_zone_id) lacks or holds with another value."""
        zone = self.params["validation_zone_id"]
        missing = []
        for record in records:
            answer = aws_call(f"read record {record['name']} of Route 53 hosted zone {zone}",
                              self.route53.list_resource_record_sets, HostedZoneId=zone,
                              StartRecordName=record["name"], StartRecordType=record["type"], MaxItems="1")
            sets = answer.get("ResourceRecordSets") or []
            if not record_matches(record, sets[0] if sets else None):
                missing.append(record)
        return missing

    def upsert(self, records):
        """UPSERT the missing validation records into the zone; returns whether any was (or would be) changed."""
        if not self.params["validation_zone_id"] or not records:
            return False
        missing = self.records_to_upsert(records)
        if missing and not self.module.check_mode:
            zone = self.params["validation_zone_id"]
            aws_call(f"put the DNS validation records of the {self.label} into Route 53 hosted zone {zone}",
                     self.route53.change_resource_record_sets, HostedZoneId=zone, ChangeBatch=upsert_changes(missing))
        return bool(missing)

    def wait_issued(self, cert):
        deadline = time.monotonic() + self.params["wait_timeout"]
        arn = cert["CertificateArn"]
        while cert.get("Status") != "ISSUED":
            if cert.get("Status") in BROKEN_STATUSES:
                reason = cert.get("FailureReason") or ""
                raise ModuleFailure(f"The {self.label} ({arn}) is {cert.get('Status')}: {reason}".rstrip(": "),
                                    certificate_arn=arn, status=cert.get("Status"))
            if time.monotonic() >= deadline:
                raise ModuleFailure(f"Timed out after {self.params['wait_timeout']} s waiting for the {self.label} "
                                    f"({arn}) to be ISSUED; it is {cert.get('Status')}", certificate_arn=arn,
                                    status=cert.get("Status"), validation_records=validation_records(cert)[0])
            time.sleep(WAIT_POLL_SECONDS)
            cert = self.describe(arn)
        return cert

    def request(self):
        params = self.params
        alternative = wanted_names(params["domain_name"], params["subject_alternative_names"])[1:]
        kwargs = {"DomainName": params["domain_name"], "ValidationMethod": "DNS",
                  "IdempotencyToken": idempotency_token(params["name"], params["domain_name"]),
                  "Tags": [{"Key": key, "Value": value} for key, value in sorted(self.wanted_tags().items())]}
        if alternative:
            kwargs["SubjectAlternativeNames"] = [params["domain_name"], *alternative]
        arn = aws_call(f"request the {self.label}", self.acm.request_certificate, **kwargs)["CertificateArn"]
        known = aws_call(f"describe the {self.label} ({arn})", self.acm.describe_certificate, CertificateArn=arn,
                         ignore=NOT_FOUND, default=None)
        if known is None:
            raise ModuleFailure(f"ACM answered the request for the {self.label} with certificate {arn}, which no "
                                "longer exists (a certificate requested with the same IdempotencyToken less than an "
                                "hour ago was deleted); run the task again after that hour", certificate_arn=arn)
        return arn

    def check_names(self, cert):
        if self.params["subject_alternative_names"] is None:
            return
        wanted = wanted_names(self.params["domain_name"], self.params["subject_alternative_names"])
        have = certificate_names(cert)
        if sorted(have) != sorted(wanted):
            raise ModuleFailure(
                f"subject_alternative_names: the {self.label} ({cert['CertificateArn']}) covers {', '.join(have)}, "
                f"not {', '.join(wanted)}; ACM cannot change the names of a certificate (delete it with "
                "state=absent, or use another name)", certificate_arn=cert["CertificateArn"])

    def present(self):
        found = choose(self.find(REUSE_STATUSES))
        if found is None and self.module.check_mode:
            return {"changed": True, "created": True, "certificate_arn": None, "status": None,
                    "validation_records": []}
        changed = created = False
        if found is None:
            arn, changed, created = self.request(), True, True
        else:
            arn = found["CertificateArn"]
            new_tags = tags_to_set(found["Tags"], self.wanted_tags())
            if new_tags and not self.module.check_mode:
                aws_call(f"tag the {self.label} ({arn})", self.acm.add_tags_to_certificate, CertificateArn=arn,
                         Tags=new_tags)
            changed = bool(new_tags)
        cert, records = self.described_with_records(arn)
        if not created:
            self.check_names(cert)
        changed = self.upsert(records) or changed
        if self.params["wait"] and not self.module.check_mode:
            cert = self.wait_issued(cert)
        return {"changed": changed, "created": created, "certificate_arn": arn, "status": cert.get("Status"),
                "validation_records": records}

    def absent(self):
        doomed = []
        for summary in self.find(ALL_STATUSES):
            arn = summary["CertificateArn"]
            cert = aws_call(f"describe the {self.label} ({arn})", self.acm.describe_certificate, CertificateArn=arn,
                            ignore=NOT_FOUND, default={}).get("Certificate")
            if cert and cert.get("Type") == "AMAZON_ISSUED":
                doomed.append(arn)
        if not self.module.check_mode:
            for arn in doomed:
                aws_call(f"delete the {self.label} ({arn})", self.acm.delete_certificate, CertificateArn=arn,
                         ignore=NOT_FOUND)
        return {"changed": bool(doomed), "created": False, "certificate_arn": doomed[0] if doomed else None,
                "status": None, "validation_records": [], "deleted": doomed}

    def run(self):
        return self.present() if self.params["state"] == "present" else self.absent()


def main():
    argument_spec = dict(
        domain_name=dict(type="str", required=True),
        subject_alternative_names=dict(type="list", elements="str"),
        name=dict(type="str", required=True),
        tags=dict(type="dict", default={}),
        validation_zone_id=dict(type="str", default=""),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=600),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    acm = client_from_module(module, "acm")
    run_module(module, CertificateRequest(module, acm).run)


if __name__ == "__main__":
    main()
