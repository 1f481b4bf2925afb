# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Certificate checks of the portal tier (private: not a public API).

Pure functions, no I/O, as in ``_portal``: which certificate input is set and well formed, whether a PEM file's
text holds the block it should (the text is never echoed), and which ACM certificate serves a domain.
"""

from __future__ import annotations

import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._portal import truthy, unknown_keys

# --- certificate ---------------------------------------------------------------------------------------------
CERTIFICATE_KEYS = ("arn", "domain", "request", "file", "key_file", "chain_file")
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# ACM ListCertificates returns RSA_2048 certificates only unless Includes.keyTypes names others (AWS Certificate
# Manager API Reference, ListCertificates, https://docs.aws.amazon.com/acm/latest/APIReference/API_ListCertificates.html)
ACM_KEY_TYPES = ("RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1", "EC_secp384r1", "EC_secp521r1")


def dns_name(value):
    """Whether ``value`` is a DNS host name of at least two labels (no wildcard)."""
    if not isinstance(value, str) or not value or len(value.rstrip(".")) > 253:
        return False
    labels = value.rstrip(".").lower().split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


def certificate_problems(certificate):
    """Exactly one of arn / domain / file, each well formed; the files themselves are read by the module."""
    cert = certificate or {}
    problems = unknown_keys("certificate", cert, CERTIFICATE_KEYS)
    chosen = [name for name in ("arn", "domain", "file") if cert.get(name)]
    if len(chosen) != 1:
        named = ", ".join(f"portal_certificate_{name}" for name in chosen) or "none"
        problems.append("portal_certificate_arn: set exactly one of portal_certificate_arn (an existing ACM "
                        "certificate), portal_certificate_domain (find or request one) and portal_certificate_file "
                        f"(import); set: {named}")
    if cert.get("arn") and not (isinstance(cert["arn"], str) and _ACM_ARN.match(cert["arn"])):
        problems.append(f"portal_certificate_arn: {cert['arn']!r} is not an ACM certificate ARN "
                        "(arn:aws:acm:<region>:<account>:certificate/<id>)")
    if cert.get("domain") and not dns_name(cert["domain"]):
        problems.append(f"portal_certificate_domain: {cert['domain']!r} is not a DNS name (labels of letters, "
                        "digits and -, at least two)")
    if truthy(cert.get("request", False)) and not cert.get("domain"):
        problems.append("portal_certificate_request: requesting a certificate needs portal_certificate_domain")
    if cert.get("file") and not cert.get("key_file"):
        problems.append("portal_certificate_key_file: importing portal_certificate_file needs its private key file")
    for name in ("key_file", "chain_file"):
        if cert.get(name) and not cert.get("file"):
            problems.append(f"portal_certificate_{name}: is set but portal_certificate_file is not")
    return problems


def pem_problems(variable, text, kind):
    """Whether a file's text holds a PEM block of ``kind`` (CERTIFICATE, PRIVATE KEY); the text is never echoed."""
    pattern = r"-----BEGIN [A-Z ]*PRIVATE KEY-----" if kind == "PRIVATE KEY" else f"-----BEGIN {kind}-----"
    if not isinstance(text, str) or not re.search(pattern, text):
        return [f"{variable}: the file holds no PEM {kind} block (-----BEGIN {kind}-----)"]
    return []


def covers(name, domain):
    """Whether a certificate name (``portal.example.com`` or ``*.example.com``) covers ``domain``."""
    name, domain = (name or "").lower().rstrip("."), (domain or "").lower().rstrip(".")
    if name == domain:
        return True
    return name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:]


def certificate_names(summary):
    others = summary.get("SubjectAlternativeNameSummaries") or summary.get("SubjectAlternativeNames") or []
    return [summary.get("DomainName"), *others]


def _when(summary):
    for key in ("IssuedAt", "ImportedAt", "CreatedAt", "NotBefore"):
        value = summary.get(key)
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return 0.0


def pick_certificate(summaries, domain, request=False, region=""):
    """From ACM certificate summaries (with ``Status``), what to do for ``domain``.

    Returns ``{"action", "arn", "pending_arn", "problems"}``: the newest ISSUED certificate covering the
    domain (action ``existing``); else with ``request`` a certificate to request (action ``request``; a
    PENDING_VALIDATION one already requested is ``pending_arn``); else a problem naming portal_certificate_domain.
    """
    matching = [item for item in summaries or [] if any(covers(name, domain) for name in certificate_names(item))]
    issued = sorted((item for item in matching if item.get("Status") == "ISSUED"), key=_when, reverse=True)
    pending = sorted((item for item in matching if item.get("Status") == "PENDING_VALIDATION"), key=_when,
                     reverse=True)
    result = {"action": "request", "arn": "", "pending_arn": pending[0]["CertificateArn"] if pending else "",
              "problems": []}
    if issued:
        result.update(action="existing", arn=issued[0]["CertificateArn"], pending_arn="")
    elif not truthy(request):
        where = f" in {region}" if region else ""
        waiting = f" (certificate {result['pending_arn']} is still PENDING_VALIDATION)" if pending else ""
        result["problems"] = [f"portal_certificate_domain: no ACM certificate for domain {domain} is ISSUED{where}"
                              f"{waiting}; request or import one, or set portal_certificate_request: true"]
    return result
