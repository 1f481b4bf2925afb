# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure planning logic of the HPC Pack Windows modules (private: no compatibility promise).

Every Windows-facing module of the collection works in three steps:

1. one read-only PowerShell script (the probe) reports the host's state, with the property names of
   the cmdlets it read (``Get-Disk``, ``Get-Acl``, ``sys.databases``, ``Get-HpcNode``, ...);
2. the functions here turn that state and the module options into a plan: the list of changes,
   each naming its step and object, plus the ``before``/``after`` of diff mode;
3. one PowerShell script (the apply) performs exactly the planned changes; it is never sent in
   check mode, and never sent at all when the plan is empty.

No I/O here, so every decision is unit-tested directly (tests/unit/plugins/module_utils).

This file holds what every planner shares - the plan, its error, the HPC Pack versions and databases, setup's
exit codes and the account checks. The planners of each module live next to it:

- ``_hpcpack_storage``: the SQL data volume and folder (win_hpc_sqlserver);
- ``_hpcpack_sql``: databases, logins, users and error messages (win_hpc_sqlserver);
- ``_hpcpack_headnode``: certificate, setup and its switches (win_hpc_headnode);
- ``_hpcpack_cluster``: network, credentials, members, node roles and retries (win_hpc_cluster);
- ``_hpcpack_computenode``: join and scale-in (win_hpc_computenode);
- ``_hpcpack_domain``: domain membership (win_hpc_domain_membership).
"""

from __future__ import annotations

HPC_DATABASES = ("HPCManagement", "HPCScheduler", "HPCReporting", "HPCDiagnostics", "HPCMonitoring")

# HPC Pack versions the collection installs, by the major part of setup.exe's file version - the way Microsoft's
# own head node script tells them apart (Azure/cyclecloud-hpcpack at f3e792ab906f4889d56bc6310925687f2ef0eca6,
# specs/default/chef/site-cookbooks/hpcpack/files/InstallHPCHeadNode.ps1: FileVersionInfo.GetVersionInfo(setup),
# "FileVersionRaw -lt '5.3'" is not supported, "FileMajorPart -eq 6" adds the HA databases). 5 is HPC Pack 2016
# (Update 3 is 5.3.6435, Azure/hpcpack CHANGELOG.md), 6 is HPC Pack 2019 (6.0.7150, Azure/hpcpack-template
# MSFT_xHpcHeadNodeInstall). The version is a variable, not only read from setup.exe: the SQL Server tier creates
# the databases on another host before the head node's setup.exe can be read; the head node probe cross-checks it.
HPCPACK_VERSIONS = ("2016", "2019")
SETUP_MAJOR_VERSIONS = {5: "2016", 6: "2019"}

# HPC Pack 2019 keeps two more databases: "if($hpcVersion.FileMajorPart -eq 6)" Microsoft's script adds
# -HAStorageDbConStr/-HAWitnessDbConStr (InstallHPCHeadNode.ps1 above; Azure/hpcpack-template at dea762e0,
# MSFT_xHpcHeadNodeInstall.psm1), and Microsoft's SQL Server configuration creates HPCHAStorage and HPCHAWitness
# next to the five (Azure/hpcpack-template, SharedResources/Src/ConfigSQLServer/ConfigSQLServer.ps1; the
# Databases default of ConfigDBPermissions.ps1 lists all seven).
HA_DATABASES = ("HPCHAStorage", "HPCHAWitness")

SETUP_SUCCESS = 0
SETUP_REBOOT_REQUIRED = 3010


class HpcPlanError(Exception):
    """A desired state that cannot be reached; the message names the object and the cause."""


def as_list(value):
    """ConvertTo-Json turns a one-element array into a scalar and an empty one into null."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def enum_flags(value):
    """Normalise an enum flags value as ConvertTo-Json writes it ("A, B", a list, or an int)."""
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    parts = value if isinstance(value, (list, tuple)) else str(value if value is not None else "").split(",")
    return frozenset(p.strip().lower() for p in parts if str(p).strip())


def enum_name(value):
    """The name of an enum value as ConvertTo-Json writes it (a string, or a dict with String/Value)."""
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    return str(value if value is not None else "")


class Plan:
    """Changes of one module run, in order, with the before/after of diff mode."""

    def __init__(self):
        self.changes = []
        self.before = {}
        self.after = {}
        self.warnings = []

    def add(self, step, obj, action, **detail):
        change = {"step": step, "object": obj, "action": action}
        change.update(detail)
        self.changes.append(change)
        return change

    def steps(self, step):
        return [c for c in self.changes if c["step"] == step]

    @property
    def changed(self):
        return bool(self.changes)

    def summary(self):
        """Changes without any value that could be secret (only step, object, action and plain details)."""
        return [dict(c) for c in self.changes]


def hpc_databases(version="2016"):
    """The databases HPC Pack ``version`` connects to: the five, plus HPCHAStorage and HPCHAWitness for 2019."""
    if str(version) not in HPCPACK_VERSIONS:
        raise HpcPlanError("HPC Pack version %s is not supported (%s)" % (version, ", ".join(HPCPACK_VERSIONS)))
    return HPC_DATABASES + (HA_DATABASES if str(version) == "2019" else ())


def setup_needed(plan, probe, setup_path, role):
    """Whether HPC Pack ``role`` setup has to run: its service is missing (the probe's ``service``); fails when it
    has to and the probe found no setup.exe at ``setup_path``."""
    installed = bool((probe.get("service") or {}).get("Name"))
    plan.before["installed"] = installed
    plan.after["installed"] = True
    if not installed and not probe.get("setup_exists"):
        raise HpcPlanError("HPC Pack %s setup not found at %s" % (role, setup_path))
    return not installed


def setup_result(exit_code, log_path, role):
    """Map HPC Pack setup's exit code: 0 done, 3010 done + reboot, anything else fails with the log path."""
    if exit_code == SETUP_SUCCESS:
        return {"reboot_required": False}
    if exit_code == SETUP_REBOOT_REQUIRED:
        return {"reboot_required": True}
    raise HpcPlanError(
        "HPC Pack %s setup failed with exit code %s; see the setup log %s on the host"
        % (role, exit_code, log_path or "(no log found under C:\\Windows\\Temp)")
    )


_LOCAL_AUTHORITIES = ("nt authority", "builtin", "nt service", "iis apppool", "window manager", "font driver host")


def account_kind(identity):
    """``domain``, ``local``, ``system`` or None (unknown) for the identity a probe ran as.

    ``identity`` is what the probes report from ``[Security.Principal.WindowsIdentity]::GetCurrent()``: Name
    (``DOMAIN\\user``), IsSystem, and the host's ComputerName; an account whose domain part is the computer name is
    a local account.
    """
    if not identity or not identity.get("Name"):
        return None
    if identity.get("IsSystem"):
        return "system"
    domain = str(identity["Name"]).split("\\", 1)[0].lower() if "\\" in str(identity["Name"]) else ""
    if not domain or domain == str(identity.get("ComputerName") or "").lower() or domain in _LOCAL_AUTHORITIES:
        return "local"
    return "domain"


def same_account(name, other):
    """DOMAIN\\user and user@dns.domain name the same account when the user parts match (and the NetBIOS domains, when
    both are written that way)."""

    def parts(value):
        value = str(value or "").strip().lower()
        if "\\" in value:
            domain, user = value.split("\\", 1)
            return user, domain
        if "@" in value:
            return value.split("@", 1)[0], None
        return value, None

    user_a, domain_a = parts(name)
    user_b, domain_b = parts(other)
    return user_a == user_b and (domain_a is None or domain_b is None or domain_a == domain_b)


def require_domain_admin(identity, what, variable):
    """Fail unless the task runs as a domain account that is an (elevated) local administrator."""
    kind = account_kind(identity)
    if kind is None:
        return
    admin = bool(identity.get("IsAdministrator"))
    if kind == "domain" and admin:
        return
    why = {
        "system": "the local SYSTEM account",
        "local": "a local account",
        "domain": "a domain account without local administrator rights",
    }[kind]
    raise HpcPlanError(
        "%s must run as a domain account that is a local administrator, not as %s (%s): run the task with "
        "become: true, become_method: ansible.builtin.runas and become_user set to the domain service account "
        "(DOMAIN\\name), "
        "which is the role variable %s" % (what, identity.get("Name"), why, variable)
    )
