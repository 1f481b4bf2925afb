# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ACM certificate requests with DNS validation (private: not a public API).

Pure functions, no I/O, for ``acm_certificate_request``: the idempotency token of a request, which of the
certificates tagged with the module's Name is reused, the DNS validation records ACM asks for, and the Route 53
change batch that puts them into a hosted zone.
"""

from __future__ import annotations

import hashlib

# The statuses of a certificate the module reuses (present) and every status it may delete (absent)
# (AWS Certificate Manager API Reference, CertificateDetail Status,
# https://docs.aws.amazon.com/acm/latest/APIReference/API_CertificateDetail.html).
REUSE_STATUSES = ("PENDING_VALIDATION", "ISSUED")
ALL_STATUSES = ("PENDING_VALIDATION", "ISSUED", "INACTIVE", "EXPIRED", "VALIDATION_TIMED_OUT", "REVOKED", "FAILED")
# A requested certificate that reaches one of these is never issued: waiting for it fails.
BROKEN_STATUSES = ("FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "INACTIVE", "EXPIRED")
VALIDATION_TTL = 300


def idempotency_token(name, domain):
    """The IdempotencyToken of RequestCertificate for ``name`` and ``domain``: 32 hex characters.

    ACM accepts 1 to 32 word characters (pattern ``\\w+``); calls with the same token within one hour give one
    certificate (AWS Certificate Manager API Reference, RequestCertificate, IdempotencyToken,
    https://docs.aws.amazon.com/acm/latest/APIReference/API_RequestCertificate.html). A token derived from the
    Name tag and the domain makes a run that died after the request (before it could tag or report) and is rerun
    within the hour get the same certificate back instead of a second one.
    """
    text = f"{name}\n{(domain or '').lower().rstrip('.')}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def fqdn(value):
    """A DNS name compared the way Route 53 and ACM print it: lower case with one trailing dot."""
    return (value or "").strip().lower().rstrip(".") + "."


def wanted_names(domain, alternative_names):
    """The names of the certificate: the domain first, then the other names, sorted, without repeats."""
    first = (domain or "").lower().rstrip(".")
    others = sorted({(name or "").lower().rstrip(".") for name in alternative_names or []} - {first, ""})
    return [first, *others]


def certificate_names(certificate):
    """The names a described certificate covers (its domain and SubjectAlternativeNames)."""
    return wanted_names(certificate.get("DomainName"), certificate.get("SubjectAlternativeNames") or [])


def same_domain(summary, domain):
    return (summary.get("DomainName") or "").lower().rstrip(".") == (domain or "").lower().rstrip(".")


def _when(summary):
    for key in ("CreatedAt", "IssuedAt", "NotBefore"):
        value = summary.get(key)
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def choose(summaries):
    """The certificate to reuse among those tagged with the module's Name for the domain: the newest ISSUED one,
    else the newest PENDING_VALIDATION one, else ``None``."""
    for status in ("ISSUED", "PENDING_VALIDATION"):
        matching = sorted((item for item in summaries if item.get("Status") == status), key=_when, reverse=True)
        if matching:
            return matching[0]
    return None


def validation_records(certificate):
    """The DNS validation records of a described certificate, and how many names have none yet.

    Returns ``(records, missing)``: ``records`` is ``[{"name", "type", "value"}]`` sorted, each once (a domain
    and its wildcard, ``example.com`` and ``*.example.com``, share one record: AWS Certificate Manager User
    Guide, "DNS validation", https://docs.aws.amazon.com/acm/latest/userguide/dns-validation.html); ``missing``
    counts DNS-validated names whose ResourceRecord ACM has not published yet (it can take a few seconds after
    RequestCertificate).
    """
    records, missing = {}, 0
    for option in certificate.get("DomainValidationOptions") or []:
        if option.get("ValidationMethod", "DNS") != "DNS":
            continue
        record = option.get("ResourceRecord") or {}
        if not record.get("Name") or not record.get("Value"):
            missing += 1
            continue
        item = {"name": fqdn(record["Name"]), "type": record.get("Type") or "CNAME", "value": fqdn(record["Value"])}
        records[(item["name"], item["type"])] = item
    return [records[key] for key in sorted(records)], missing


def record_matches(record, record_set):
    """Whether a Route 53 record set (from ListResourceRecordSets) already is the validation ``record``."""
    if not record_set or fqdn(record_set.get("Name")) != record["name"] or record_set.get("Type") != record["type"]:
        return False
    values = [fqdn(item.get("Value")) for item in record_set.get("ResourceRecords") or []]
    return values == [record["value"]]


def upsert_changes(records):
    """The Route 53 ``ChangeBatch`` that UPSERTs ``records`` (``[{"name", "type", "value"}]``)."""
    return {
        "Comment": "ACM DNS validation (hpcops.aws_hpc.acm_certificate_request)",
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": record["name"], "Type": record["type"], "TTL": VALIDATION_TTL,
            "ResourceRecords": [{"Value": record["value"]}]}} for record in records],
    }


def tags_to_set(current, wanted):
    """The tags of ``wanted`` that ``current`` lacks or has with another value, as ACM's ``[{Key, Value}]``."""
    return [{"Key": key, "Value": str(value)} for key, value in sorted(wanted.items())
            if (current or {}).get(key) != str(value)]


def tag_dict(tag_list):
    return {item["Key"]: item.get("Value", "") for item in tag_list or []}
