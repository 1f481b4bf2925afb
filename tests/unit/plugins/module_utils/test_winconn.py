"""Connection security rules (plugins/module_utils/_winconn.py)."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._winconn import check_connection, plugin_name

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


@pytest.mark.parametrize(
    ("ansible_name", "load_name", "transport", "expected"),
    [
        (
            "amazon.aws.aws_ssm",
            "ansible_collections.amazon.aws.plugins.connection.aws_ssm",
            "amazon.aws.aws_ssm",
            "amazon.aws.aws_ssm",
        ),
        (
            "ansible.builtin.winrm",
            "ansible_collections.ansible.builtin.plugins.connection.winrm",
            "winrm",
            "ansible.builtin.winrm",
        ),
        (None, "ansible_collections.amazon.aws.plugins.connection.aws_ssm", None, "amazon.aws.aws_ssm"),
        (None, "psrp", "psrp", "psrp"),
        (None, None, "winrm", "winrm"),
        (None, None, None, ""),
    ],
)
def test_plugin_name(ansible_name, load_name, transport, expected):
    assert plugin_name(ansible_name, load_name, transport) == expected


LOADER_SCRIPT = """
import io, json, sys
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader, init_plugin_loader
init_plugin_loader()
plugin = connection_loader.get(sys.argv[1], PlayContext(), io.StringIO())
print(json.dumps([getattr(plugin, "ansible_name", None), getattr(plugin, "_load_name", None), plugin.transport]))
"""


@pytest.mark.parametrize(
    "requested",
    ["amazon.aws.aws_ssm", "community.aws.aws_ssm", "ansible.builtin.winrm", "winrm", "ansible.builtin.psrp", "psrp"],
)
def test_every_supported_connection_plugin_is_recognised_as_loaded(requested):
    """The names Ansible's real plugin loader gives each supported connection plugin (however the
    inventory spells it) are accepted: the Session Manager way in of inventories/aws included. The
    loader runs in a process of its own, with Ansible's own collection search path."""
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    result = subprocess.run(
        [sys.executable, "-c", LOADER_SCRIPT, requested],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    ansible_name, load_name, transport = json.loads(result.stdout.strip().splitlines()[-1])
    name = plugin_name(ansible_name, load_name, transport)
    assert name in ("amazon.aws.aws_ssm", "ansible.builtin.winrm", "ansible.builtin.psrp"), (requested, name)
    problems, _facts = check_connection(
        name,
        {
            "scheme": "https",
            "transport": ["kerberos"],
            "server_cert_validation": "validate",
            "port": 5986,
            "protocol": "https",
            "auth": "kerberos",
            "cert_validation": True,
        },
        False,
        False,
    )
    assert not [p for p in problems if "not supported" in p], (name, problems)
