"""A no-op run of each Windows role costs at most 3 PowerShell round trips per host.

The module sequence is read from the roles' own task files (following import_tasks), so a task added
to a role is counted. Each hpcops.aws_hpc.win_* module runs against a scripted host that is already
converged, as the account the task's become settings name (rendered from the role's files, role_render.py);
tasks that only run after a change (reboots, the re-run after a reboot) are skipped, as their `when` says;
win_hpc_connection_check runs on the controller and must cost nothing.
"""

from __future__ import annotations

import importlib

import pytest
from role_render import RoleRenderer, module_of, role_tasks
from scripted_host import ClusterHost, ComputeNodeHost, DomainHost, HeadNodeHost, SqlServerHost, fixture, run_action

MAX_ROUND_TRIPS = 3
AFTER_CHANGE = ("reboot_required",)
# The inventory and SSM parameters the roles are rendered with: the service account's bare SSM user name is
# qualified with the domain (HPC\hpcservice), the account the scripted hosts know.
INVENTORY = {"headnode_domain": "hpc.example.com", "computenode_domain": "hpc.example.com"}
SSM = {
    "/service-account/username": "hpcservice",
    "/service-account/password": "p4ss-word",
    "/sql-server/service-account/username": "u",
    "/sql-server/service-account/password": "p4ss-word",
    "/certificate/hpc/password": "p4ss-word",
}


def converged_hosts():
    sql = SqlServerHost(fixture("sqlserver_fresh"))
    run_action(
        importlib.import_module("ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_sqlserver").ActionModule,
        {"volume": {"drive_letter": "D"}, "hpc_login": {"username": "u", "password": "p4ss-word"}},
        sql,
    )
    head = HeadNodeHost(fixture("headnode_fresh"))
    head.state.update(
        service={"Name": "HpcScheduler"},
        certificate={
            "pfx": {
                "Exists": True,
                "PasswordValid": True,
                "HasPrivateKey": True,
                "Subject": "CN=HPC Pack 2016 Communication",
                "Thumbprint": "AA",
                "DaysLeft": 900,
                "Sha256": "S",
            }
        },
        publish={"Exists": True, "Sha256": "S"},
    )
    head.my_store["AA"] = True  # converged: setup took the certificate from Cert:\LocalMachine\My
    cluster = ClusterHost(fixture("cluster_installed"))
    cluster.state.update(
        network={"Topology": "Enterprise", "EnterpriseAdapter": "Ethernet"},
        job_credential={"UserName": "HPC\\hpcservice", "CachedBy": "HPC\\hpcservice"},
        install_credential={"UserName": "HPC\\hpcservice"},
        node={"NetBiosName": "HN", "NodeRole": ["HeadNode", "BrokerNode"], "NodeState": "Online"},
    )
    compute = ComputeNodeHost(fixture("computenode_fresh"))
    share = compute.state["certificates"]["share"]
    compute.state.update(
        certificates={"local": dict(share), "share": share, "share_error": None},
        root={"InRoot": True},
        service={"Name": "HpcNodeManager"},
        node={
            "NetBiosName": "CN",
            "NodeState": "Online",
            "NodeHealth": "OK",
            "Template": "Default ComputeNode Template",
        },
    )
    domain = DomainHost(fixture("domain_workgroup"))
    domain.state.update(PartOfDomain=True, Domain="hpc.example.com", Administrators=["HPC\\EC2AMAZ-CN07$"])
    return {
        "win_hpc_sqlserver": sql,
        "win_hpc_headnode": head,
        "win_hpc_cluster": cluster,
        "win_hpc_computenode": compute,
        "win_hpc_domain_membership": domain,
    }


ARGS = {
    "win_hpc_sqlserver": {"volume": {"drive_letter": "D"}, "hpc_login": {"username": "u", "password": "p4ss-word"}},
    "win_hpc_headnode": {
        "certificate": {"password": "p4ss-word"},
        "install": {"cluster_name": "hn", "sql_server": "sql", "sql_username": "u", "sql_password": "p4ss-word"},
    },
    "win_hpc_cluster": {
        "network": {"topology": "Enterprise"},
        "job_credential": {"username": "HPC\\hpcservice", "password": "p4ss-word"},
        "install_credential": {"username": "HPC\\hpcservice", "password": "p4ss-word"},
        "node": {"roles": ["BrokerNode"], "state": "online"},
    },
    "win_hpc_computenode": {"headnode": "hn", "pfx_password": "p4ss-word"},
    "win_hpc_domain_membership": {"domain": "hpc.example.com", "username": "u", "password": "p4ss-word"},
}


@pytest.mark.parametrize("role", ["sqlserver", "headnode", "computenode"])
def test_noop_role_run_costs_at_most_three_round_trips(role):
    hosts = converged_hosts()
    renderer = RoleRenderer(role, INVENTORY, SSM)
    total = 0
    counted = []
    for task in role_tasks(role):
        module = module_of(task)
        when = task.get("when")
        conditions = when if isinstance(when, list) else [when] if when else []
        if any(marker in str(c) for c in conditions for marker in AFTER_CHANGE):
            continue  # only after a change: never part of a no-op run
        if module.startswith("ansible.builtin."):
            assert module in ("ansible.builtin.assert", "ansible.builtin.import_tasks"), module
            continue
        short = module.rsplit(".", 1)[-1]
        assert module.startswith("hpcops.aws_hpc.win_hpc_"), f"{role}: {module} would cost a round trip unaccounted for"
        if short == "win_hpc_connection_check":
            continue  # controller only
        action = importlib.import_module(f"ansible_collections.hpcops.aws_hpc.plugins.action.{short}").ActionModule
        host = hosts[short]
        before = host.round_trips
        result = run_action(action, ARGS[short], host, become=renderer.become_plugin(task))
        assert result.get("failed") is not True, result
        assert result["changed"] is False, (short, result["changes"])
        total += host.round_trips - before
        counted.append(short)
    assert counted, role
    assert total <= MAX_ROUND_TRIPS, (role, counted, total)
