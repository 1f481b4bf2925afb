# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security checks of a Windows host's Ansible connection (private: no compatibility promise).

Pure: takes the connection plugin's resolved options, returns the problems and the facts, so the
rules are unit-tested directly. Used by the ``win_hpc_connection_check`` action.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

WINRM = ("winrm", "ansible.builtin.winrm")
PSRP = ("psrp", "ansible.builtin.psrp")
SSM = ("aws_ssm", "amazon.aws.aws_ssm", "community.aws.aws_ssm")
ALLOWED = WINRM + PSRP + SSM


def plugin_name(ansible_name=None, load_name=None, transport=None):
    """The connection plugin's name as users write it (C(amazon.aws.aws_ssm), C(ansible.builtin.psrp)).

    The plugin loader sets ``ansible_name`` to the resolved FQCN; ``_load_name`` is a Python module
    path for collection plugins (``ansible_collections.amazon.aws.plugins.connection.aws_ssm``) and a
    short name for others, so it is only the fallback, as is ``transport``.
    """
    for name in (ansible_name, load_name, transport):
        if name:
            text = str(name)
            prefix = "ansible_collections."
            if text.startswith(prefix) and ".plugins.connection." in text:
                collection, _sep, short = text[len(prefix):].partition(".plugins.connection.")
                return "%s.%s" % (collection, short)
            return text
    return ""


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def winrm_effective(options):
    """Scheme and transports the winrm plugin will use (its own defaulting rules)."""
    port = options.get("port")
    scheme = options.get("scheme") or ("http" if port is not None and int(port) == 5985 else "https")
    transports = _as_list(options.get("transport"))
    if not transports:
        user = options.get("remote_user") or ""
        transports = ["kerberos"] if "@" in user else (["ssl"] if scheme == "https" else ["plaintext"])
    validation = str(options.get("server_cert_validation") or "validate").lower()
    return scheme, transports, validation


def psrp_effective(options):
    port = options.get("port")
    protocol = options.get("protocol")
    if protocol is None:
        protocol = "http" if port is not None and int(port) == 5985 else "https"
    auth = str(options.get("auth") or "negotiate").lower()
    validation = "ignore" if str(options.get("cert_validation") or "").lower() == "ignore" else "validate"
    return protocol, [auth], validation


def check_connection(connection, options, allow_ntlm=False, allow_unvalidated_certificate=False):
    """Return (problems, facts). Problems are sentences naming the setting and the fix."""
    problems = []
    facts = {"connection": connection}
    if connection not in ALLOWED:
        problems.append(
            "connection '%s' is not supported for Windows hosts: use winrm (HTTPS), psrp (HTTPS) or amazon.aws.aws_ssm"
            % connection
        )
        return problems, facts
    if connection in SSM:
        facts.update(scheme="ssm", transports=["aws_ssm"], certificate_validation="aws")
        return problems, facts
    if connection in WINRM:
        scheme, transports, validation = winrm_effective(options)
        var_scheme, var_transport, var_validation = (
            "ansible_winrm_scheme",
            "ansible_winrm_transport",
            "ansible_winrm_server_cert_validation",
        )
    else:
        scheme, transports, validation = psrp_effective(options)
        var_scheme, var_transport, var_validation = (
            "ansible_psrp_protocol",
            "ansible_psrp_auth",
            "ansible_psrp_cert_validation",
        )
    facts.update(scheme=scheme, transports=transports, certificate_validation=validation)
    if scheme != "https":
        problems.append(
            "%s is '%s': plain HTTP is refused, set %s=https (port 5986)" % (var_scheme, scheme, var_scheme)
        )
    basic = [t for t in transports if t.lower() in ("basic", "ssl", "plaintext")]
    if basic:
        problems.append(
            "%s resolves to %s: Basic authentication is refused (pywinrm's 'ssl' and 'plaintext' are Basic); "
            "set %s=kerberos" % (var_transport, ", ".join(basic), var_transport)
        )
    ntlm = [t for t in transports if t.lower() in ("ntlm", "credssp")]
    if connection in PSRP and transports == ["negotiate"]:
        facts["kerberos_preferred"] = True
    elif ntlm and not allow_ntlm:
        problems.append(
            "%s is %s: Kerberos is required (set %s=kerberos), or allow NTLM explicitly with the role's "
            "*_connection_allow_ntlm variable" % (var_transport, ", ".join(ntlm), var_transport)
        )
    if validation == "ignore" and not allow_unvalidated_certificate:
        problems.append(
            "%s is 'ignore': the WinRM certificate must be validated (set %s to the CA bundle that issued the "
            "listener's certificate), or allow it explicitly with the role's "
            "*_connection_allow_unvalidated_certificate "
            "variable"
            % (var_validation, "ansible_winrm_ca_trust_path" if connection in WINRM else "ansible_psrp_ca_cert")
        )
    return problems, facts
