# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Network, credentials, members and node roles of win_hpc_cluster, planned from its probe (private: no
compatibility promise)."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import (
    HpcPlanError,
    Plan,
    account_kind,
    as_list,
    enum_flags,
    enum_name,
    same_account,
)

# Values Set-HpcNode -Role accepts: "None, ComputeNode, BrokerNode, WorkstationNode" (MicrosoftDocs/
# windows-powershell-docs, docset/winserver2012r2-ps/hpc/Set-HpcNode.md). None means no role at all, so a
# role set is made of the other three; HeadNode, which Get-HpcNode reports on the head node, is not one of
# them and is never sent back.
SETTABLE_NODE_ROLES = ("ComputeNode", "BrokerNode", "WorkstationNode")

# How long the cluster may take to answer right after setup. Microsoft's own DSC resources
# (Azure/hpcpack-template, SharedResources/Src/InstallPrimaryHeadNode/xHpcPack/DSCResources):
# - MSFT_xHpcWaitForCluster: Get-HpcClusterRegistry, RetryCount 30, RetryIntervalSec 20;
# - MSFT_xHpcClusterInit: Set-HpcNetwork "if($retry++ -ge 20)", Set-HpcClusterProperty "if($retry++ -ge 30)",
#   each waiting [Math]::Ceiling($retry/10) * 10 seconds (10 s, then 20 s after ten retries, then 30 s).
# ``retries`` counts the attempts after the first; Invoke-HpcRetry (_common.ps1) applies these as data.
RETRY_DEFAULTS = {
    "cluster_ready": {"retries": 30, "delay_seconds": 20, "increase_every": 0},
    "network": {"retries": 20, "delay_seconds": 10, "increase_every": 10},
    "cluster_property": {"retries": 30, "delay_seconds": 10, "increase_every": 10},
}


def retry_settings(retries=None):
    """Per-call retry settings for Invoke-HpcRetry: Microsoft's defaults, or O(retries) for every call."""
    settings = {name: dict(values) for name, values in RETRY_DEFAULTS.items()}
    retries = retries or {}
    for values in settings.values():
        if retries.get("count") is not None:
            if int(retries["count"]) < 0:
                raise HpcPlanError("retries.count must be 0 or more, not %s" % retries["count"])
            values["retries"] = int(retries["count"])
        if retries.get("delay_seconds") is not None:
            if int(retries["delay_seconds"]) < 0:
                raise HpcPlanError("retries.delay_seconds must be 0 or more, not %s" % retries["delay_seconds"])
            values["delay_seconds"] = int(retries["delay_seconds"])
            values["increase_every"] = 0
    return settings


def plan_cluster(options, probe):  # noqa: PLR0912 - one branch per seed step reads best
    plan = Plan()
    if not probe.get("installed"):
        raise HpcPlanError(
            "HPC Pack is not installed on this head node (no HpcScheduler service); run win_hpc_headnode first"
        )
    network = options.get("network")
    if network:
        interfaces = [i for i in as_list(probe.get("interfaces")) if i]
        names = [str(i.get("Name")) for i in interfaces]
        wanted_if = network.get("enterprise_interface")
        if wanted_if is None:
            if not names:
                raise HpcPlanError(
                    "Network topology %s: Get-HpcNetworkInterface returned no interface" % network["topology"]
                )
            wanted_if = names[0]
        elif wanted_if not in names:
            raise HpcPlanError(
                "Network topology %s: interface '%s' not found (the head node has %s)"
                % (network["topology"], wanted_if, ", ".join(names) or "none")
            )
        current = probe.get("network") or {}
        before = {
            "topology": enum_name(current.get("Topology")) or None,
            "enterprise": current.get("EnterpriseAdapter"),
        }
        after = {"topology": network["topology"], "enterprise": wanted_if}
        plan.before["network"], plan.after["network"] = before, after
        if (before["topology"] or "").lower() != network["topology"].lower() or before["enterprise"] != wanted_if:
            plan.add(
                "network",
                network["topology"],
                "set",
                enterprise_interface=wanted_if,
                enterprise_firewall=network.get("enterprise_firewall"),
            )
    for key, step in (("job_credential", "job_credential"), ("install_credential", "install_credential")):
        cred = options.get(key)
        if not cred:
            continue
        current = (probe.get(key) or {}).get("UserName")
        plan.before[key] = current
        plan.after[key] = cred["username"]
        changed = str(current or "").lower() != cred["username"].lower() or cred.get("update_password") == "always"
        if key == "job_credential":
            changed = plan_job_credential_owner(plan, cred, probe, changed)
        if changed:
            plan.add(step, cred["username"], "set")
    members = options.get("members") or []
    if members:
        existing = {}
        for m in as_list(probe.get("members")):
            existing.setdefault(str(m.get("Name", "")).lower(), set()).update(
                r.lower() for r in enum_flags(m.get("Role"))
            )
        plan.before["members"] = {m["name"]: sorted(existing.get(m["name"].lower(), [])) for m in members}
        plan.after["members"] = {}
        for m in members:
            roles = existing.get(m["name"].lower(), set())
            plan.after["members"][m["name"]] = sorted(roles | {m["role"].lower()})
            if m["role"].lower() not in roles:
                plan.add("member", m["name"], "add", role=m["role"])
    node = options.get("node")
    if node:
        plan_node_roles(plan, node, probe)
    return plan


def plan_job_credential_owner(plan, cred, probe, changed):
    """Whose credential cache holds the job credential: True when it has to be set (again).

    "The cmdlet stores these credentials in the credential cache of the user who ran the cmdlet"
    (MicrosoftDocs/windows-powershell-docs, docset/winserver2012r2-ps/hpc/Set-HpcJobCredential.md), so it is set
    by the account whose jobs it is for - the service account, as the reference deployment runs it - and set again
    when another account ran it before (the probe reports who did, CachedBy). Run as another account, the task
    fails only when the credential has to be set.
    """
    identity = probe.get("identity")
    kind = account_kind(identity)
    if kind is None:
        return changed
    cached_by = (probe.get("job_credential") or {}).get("CachedBy")
    plan.before["job_credential_cached_by"] = cached_by
    changed = changed or not cached_by or not same_account(cached_by, cred["username"])
    if changed and (kind != "domain" or not same_account(identity.get("Name"), cred["username"])):
        raise HpcPlanError(
            "job_credential %s: Set-HpcJobCredential stores the credential in the cache of the user who runs it, and "
            "this task runs as %s; run it as %s with become: true, become_method: ansible.builtin.runas and "
            "become_user %s (the headnode role's variable headnode_service_account)"
            % (cred["username"], identity.get("Name"), cred["username"], cred["username"])
        )
    plan.after["job_credential_cached_by"] = identity.get("Name") if changed else cached_by
    return changed


def _role_names(value):
    """NodeRole as the probe reports it (a list, or "A, B" as ConvertTo-Json writes a flags enum)."""
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    return [p.strip() for r in as_list(value) for p in str(r).split(",") if p.strip()]


def plan_node_roles(plan, node, probe):
    """Roles and state of the head node as an HPC node.

    Set-HpcNode -Role replaces the node's roles with the documented values it is given (SETTABLE_NODE_ROLES)
    and works only on an offline node (Set-HpcNode.md). So when a role is missing the plan sends the
    documented roles the node has plus the missing ones, HeadNode and anything undocumented left out, and
    wraps the change in Set-HpcNodeState Offline / Online; nothing is taken offline when no role changes.
    """
    current = probe.get("node") or {}
    if not current.get("NetBiosName"):
        raise HpcPlanError("Head node %s is not listed by Get-HpcNode" % (probe.get("computer_name") or "(this host)"))
    name = current.get("NetBiosName")
    canonical = {r.lower(): r for r in SETTABLE_NODE_ROLES}
    wanted = []
    for role in node.get("roles") or []:
        if str(role).lower() not in canonical:
            raise HpcPlanError(
                "node.roles: %s is not a role Set-HpcNode -Role accepts (%s)" % (role, ", ".join(SETTABLE_NODE_ROLES))
            )
        if canonical[str(role).lower()] not in wanted:
            wanted.append(canonical[str(role).lower()])
    reported = _role_names(current.get("NodeRole"))
    have = {r.lower() for r in reported}
    settable = [canonical[r.lower()] for r in reported if r.lower() in canonical]
    missing = [r for r in wanted if r.lower() not in have]
    state = enum_name(current.get("NodeState"))
    wanted_state = (node.get("state") or "").lower() or None
    final_state = wanted_state or state.lower()
    plan.before["node"] = {"roles": sorted(reported), "state": state}
    plan.after["node"] = {
        "roles": sorted(reported + missing),
        "state": wanted_state or state,
        "offline_for_role_change": bool(missing) and state.lower() != "offline",
    }
    if missing:
        roles = settable + [r for r in missing if r not in settable]
        if state.lower() != "offline":
            plan.add("node_state", name, "offline", reason="Set-HpcNode -Role needs the node offline")
            then = "comes back online" if final_state == "online" else "stays offline"
            plan.warnings.append(
                "Head node %s goes offline (running jobs drain first) while its roles change to %s, then %s"
                % (name, ", ".join(roles), then)
            )
        plan.add("node_role", name, "set", roles=roles)
        if final_state == "online":
            plan.add("node_state", name, "online")
        return
    if wanted_state and state.lower() != wanted_state:
        plan.add("node_state", name, wanted_state)
