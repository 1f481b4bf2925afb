"""Connection security rules (plugins/module_utils/_winconn.py)."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._winconn import check_connection

GOOD_WINRM = {"port": 5986, "scheme": "https", "transport": ["kerberos"], "server_cert_validation": "validate"}


@pytest.mark.parametrize(
    ("connection", "options", "fragment"),
    [
        ("winrm", dict(GOOD_WINRM, scheme="http"), "plain HTTP is refused"),
        ("winrm", dict(GOOD_WINRM, scheme=None, port=5985), "plain HTTP is refused"),
        ("winrm", dict(GOOD_WINRM, transport=["basic"]), "Basic authentication is refused"),
        ("winrm", dict(GOOD_WINRM, transport=None, remote_user="Administrator"), "ssl"),
        ("winrm", dict(GOOD_WINRM, transport=["ntlm"]), "Kerberos is required"),
        ("winrm", dict(GOOD_WINRM, server_cert_validation="ignore"), "must be validated"),
        ("psrp", {"protocol": "http"}, "plain HTTP"),
        ("psrp", {"auth": "basic"}, "Basic"),
        ("ssh", {}, "not supported"),
    ],
)
def test_refused(connection, options, fragment):
    problems, _facts = check_connection(connection, options)
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize(
    ("connection", "options"),
    [
        ("winrm", GOOD_WINRM),
        ("ansible.builtin.winrm", dict(GOOD_WINRM, transport=None, remote_user="admin@HPC.EXAMPLE.COM")),
        ("psrp", {"auth": "kerberos", "port": 5986}),
        ("psrp", {}),
        ("amazon.aws.aws_ssm", {}),
    ],
)
def test_accepted(connection, options):
    assert check_connection(connection, options) == ([], check_connection(connection, options)[1])


def test_explicit_allowances():
    problems, _facts = check_connection(
        "winrm",
        dict(GOOD_WINRM, transport=["ntlm"], server_cert_validation="ignore"),
        allow_ntlm=True,
        allow_unvalidated_certificate=True,
    )
    assert problems == []
