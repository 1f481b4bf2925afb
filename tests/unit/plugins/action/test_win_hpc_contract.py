"""Contract tests of the HPC Pack action plugins against a scripted Windows host.

Each module is driven the way the task executor drives it; what crosses the connection is checked
(which script, which parameters, which secrets, how many round trips), and the host answers with
fixtures shaped like the cmdlets' output (tests/unit/fixtures/hpcpack/).
"""

from __future__ import annotations

import json

import pytest
from scripted_host import (
    ClusterHost,
    ComputeNodeHost,
    DomainHost,
    HeadNodeHost,
    HostError,
    SqlServerHost,
    fixture,
    run_action,
    runas,
)

from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_cluster import ActionModule as ClusterAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_computenode import ActionModule as ComputeAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_domain_membership import ActionModule as DomainAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_headnode import ActionModule as HeadAction
from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_sqlserver import ActionModule as SqlAction
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HPC_DATABASES
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_sql import HPC_ERROR_MESSAGES

SQL_PASSWORD = "Sql-Secret.9f2Kq~Lx"
CERT_PASSWORD = "Cert-Secret.7Hs2~pQ"
SERVICE_PASSWORD = "Svc-Secret.3Jd8~zR"
SECRETS = (SQL_PASSWORD, CERT_PASSWORD, SERVICE_PASSWORD)
# What the headnode role sets on its setup and cluster tasks: runas as the domain service account, its SSM password.
AS_SERVICE = runas("HPC\\hpcservice", SERVICE_PASSWORD)

SQL_ARGS = {
    "volume": {"drive_letter": "D"},
    "hpc_login": {"username": "hpcsql", "password": SQL_PASSWORD},
}
HEAD_ARGS = {
    "certificate": {"password": CERT_PASSWORD},
    "install": {
        "cluster_name": "headnode.hpc.internal",
        "sql_server": "mssql.hpc.internal",
        "sql_username": "hpcsql",
        "sql_password": SQL_PASSWORD,
    },
}
CLUSTER_ARGS = {
    "network": {"topology": "Enterprise"},
    "job_credential": {"username": "HPC\\hpcservice", "password": SERVICE_PASSWORD},
    "install_credential": {"username": "HPC\\hpcservice", "password": SERVICE_PASSWORD},
    "members": [{"name": "HPC\\HPC Admins", "role": "Administrator"}],
    "node": {"roles": ["BrokerNode"], "state": "online"},
}
COMPUTE_ARGS = {"headnode": "headnode.hpc.internal", "pfx_password": CERT_PASSWORD}
DOMAIN_ARGS = {"domain": "hpc.example.com", "username": "HPC\\joiner", "password": SERVICE_PASSWORD}


def no_secret(*things):
    text = json.dumps(things, default=str)
    for secret in SECRETS:
        assert secret not in text


# ------------------------------------------------------------------------------ sqlserver


def test_sqlserver_first_run_creates_then_second_run_changes_nothing():
    host = SqlServerHost(fixture("sqlserver_fresh"))
    first = run_action(SqlAction, SQL_ARGS, host)
    assert first["changed"] is True, first
    assert first["round_trips"] == 2
    assert first["databases"] == {name: "create" for name in HPC_DATABASES}
    assert first["restarted"] is True
    steps = [c["step"] for c in first["changes"]]
    assert steps[:4] == ["volume", "volume", "folder", "folder_acl"]
    assert "initialize_and_format" in [c["action"] for c in first["changes"]]
    assert host.restarts == 1
    assert host.state["sql"]["sa_disabled"] is True
    # The SQL login HPC Pack connects with, its db_owner user in every HPC database, HPC Pack's error messages.
    login = host.state["sql"]["logins"]["hpcsql"]
    assert login["type_desc"] == "SQL_LOGIN" and login["password"] == SQL_PASSWORD and not login["is_disabled"]
    for name in HPC_DATABASES:
        assert host.state["sql"]["db_users"][name] == [{"name": "hpcsql", "sid": login["sid"], "roles": ["db_owner"]}]
    assert [s["user"] for s in host.user_statements] == ["created"] * 5
    assert set(host.state["sql"]["messages"]) == {m[0] for m in HPC_ERROR_MESSAGES}
    steps_in_order = [c["step"] for c in first["changes"]]
    assert steps_in_order.index("database") < steps_in_order.index("hpc_login") < steps_in_order.index("hpc_user")
    # The password reaches the host only as a secret, for the probe (PWDCOMPARE) and the apply (CREATE LOGIN).
    assert [c["secret_names"] for c in host.calls] == [["hpc_password"], ["hpc_password"]]

    calls_before = host.round_trips
    second = run_action(SqlAction, SQL_ARGS, host)
    assert second["changed"] is False, second["changes"]
    assert second["round_trips"] == 1
    assert host.round_trips - calls_before == 1
    assert host.mutating_calls() == ["sqlserver_apply"]
    assert host.restarts == 1
    no_secret(first, second, host.calls)


def test_sqlserver_reattached_volume_is_never_formatted_and_databases_are_attached():
    host = SqlServerHost(fixture("sqlserver_reattached"))
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["changed"] is True
    actions = [(c["step"], c["action"]) for c in result["changes"]]
    assert ("volume", "initialize_and_format") not in actions
    assert ("volume", "online") in actions and ("volume", "assign_letter") in actions
    # The data folder is on the volume that is still offline at probe time: the host decides, with the same rule.
    assert all(c["action"] == "create_or_attach" for c in result["changes"] if c["step"] == "database")
    assert [s["mode"] for s in host.sql_statements].count("create") == 0
    assert result["databases"]["HPCManagement"] == "attach"
    assert result["databases"]["HPCMonitoring"] == "attach_rebuild_log"  # only its .mdf survived
    # The attached databases bring their users with the previous instance's sid: mapped to the new login
    # (ALTER USER ... WITH LOGIN), never created a second time.
    assert {c["action"] for c in result["changes"] if c["step"] == "hpc_user"} == {"create_or_map"}
    assert [s["user"] for s in host.user_statements] == ["remapped"] * 5
    sid = host.state["sql"]["logins"]["hpcsql"]["sid"]
    assert all(host.state["sql"]["db_users"][name][0]["sid"] == sid for name in HPC_DATABASES)
    again = run_action(SqlAction, SQL_ARGS, host)
    assert again["changed"] is False, again["changes"]


def test_sqlserver_files_on_a_mounted_volume_are_attached_never_created():
    state = fixture("sqlserver_reattached")
    host = SqlServerHost(state)
    # The volume is already mounted as D: with the files (an instance that rebooted).
    disk = host.state["volume"]["disks"][1]
    disk.update(IsOffline=False, IsReadOnly=False, DriveLetters=["D"])
    host.state["volume"]["volumes"].append({"DriveLetter": "D", "FileSystem": "NTFS"})
    host._refresh_visible()
    check = run_action(SqlAction, SQL_ARGS, host, check_mode=True, diff=True)
    planned = {c["object"]: c["action"] for c in check["changes"] if c["step"] == "database"}
    assert planned == {
        "HPCManagement": "attach",
        "HPCScheduler": "attach",
        "HPCReporting": "attach",
        "HPCDiagnostics": "attach",
        "HPCMonitoring": "attach_rebuild_log",
    }
    assert check["diff"]["before"]["databases"]["HPCManagement"] == "absent"
    assert host.mutating_calls() == []
    result = run_action(SqlAction, SQL_ARGS, host)
    assert sorted(result["databases"].values()) == ["attach"] * 4 + ["attach_rebuild_log"]
    assert all(s["mode"] != "create" for s in host.sql_statements)


def test_sqlserver_log_file_without_data_file_fails_naming_the_database():
    host = SqlServerHost(fixture("sqlserver_reattached"))
    host.disk_files = {"D:\\SQL\\HPCScheduler.ldf"}
    disk = host.state["volume"]["disks"][1]
    disk.update(IsOffline=False, IsReadOnly=False, DriveLetters=["D"])
    host.state["volume"]["volumes"].append({"DriveLetter": "D", "FileSystem": "NTFS"})
    host.state["folder"] = {"exists": True, "rules": fixture("sqlserver_reattached")["_disk_acl"]}
    host._refresh_visible()
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["failed"] is True
    assert "database HPCScheduler" in result["msg"] and "HPCScheduler.ldf" in result["msg"]
    assert host.mutating_calls() == []


def test_sqlserver_restart_only_when_the_mode_changes():
    state = fixture("sqlserver_fresh")
    state["sql"].update(integrated_only=0, login_mode_configured=2)
    host = SqlServerHost(state)
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["changed"] is True
    assert result["restarted"] is False and host.restarts == 0
    assert not [c for c in result["changes"] if c["step"] in ("login_mode", "service_restart")]


def test_sqlserver_configured_but_not_effective_mode_restarts_without_rewriting():
    state = fixture("sqlserver_fresh")
    state["sql"].update(integrated_only=1, login_mode_configured=2)
    host = SqlServerHost(state)
    result = run_action(SqlAction, SQL_ARGS, host)
    steps = [c["step"] for c in result["changes"]]
    assert "login_mode" not in steps and "service_restart" in steps
    assert host.restarts == 1


def test_sqlserver_unreachable_instance_names_the_server_and_cause():
    state = fixture("sqlserver_fresh")
    state["sql"].update(reachable=False, error="A network-related or instance-specific error occurred")
    host = SqlServerHost(state)
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to connect to SQL Server localhost")
    assert "network-related" in result["msg"]


def test_sqlserver_orphaned_users_of_online_databases_are_planned_on_the_controller():
    # An instance whose databases are attached already (a rerun after the login was dropped, or attached by hand).
    state = fixture("sqlserver_reattached")
    host = SqlServerHost(state)
    run_action(SqlAction, dict(SQL_ARGS, hpc_login=None), host)
    assert host.state["sql"]["logins"] == {}
    check = run_action(SqlAction, SQL_ARGS, host, check_mode=True, diff=True)
    planned = {c["object"]: c["action"] for c in check["changes"] if c["step"] == "hpc_user"}
    assert planned == {name: "map_orphaned_user" for name in HPC_DATABASES}
    assert check["diff"]["before"]["hpc_users"] == {name: "orphaned" for name in HPC_DATABASES}
    assert check["diff"]["before"]["hpc_login"] == {
        "name": "hpcsql",
        "exists": False,
        "password_current": None,
        "enabled": None,
    }
    result = run_action(SqlAction, SQL_ARGS, host)
    assert [s["user"] for s in host.user_statements] == ["remapped"] * 5
    assert run_action(SqlAction, SQL_ARGS, host)["changed"] is False, result["changes"]


def test_sqlserver_login_password_is_reset_when_it_differs_and_kept_on_create_only():
    host = SqlServerHost(fixture("sqlserver_fresh"))
    run_action(SqlAction, SQL_ARGS, host)
    host.state["sql"]["logins"]["hpcsql"].update(password="an-old-password", is_disabled=True)
    kept = run_action(
        SqlAction, dict(SQL_ARGS, hpc_login=dict(SQL_ARGS["hpc_login"], update_password="on_create")), host
    )
    assert [(c["step"], c["action"], c["fixes"]) for c in kept["changes"]] == [("hpc_login", "update", ["enable"])]
    assert host.state["sql"]["logins"]["hpcsql"]["password"] == "an-old-password"
    reset = run_action(SqlAction, SQL_ARGS, host, diff=True)
    assert [(c["step"], c["fixes"]) for c in reset["changes"]] == [("hpc_login", ["password"])]
    assert reset["diff"]["before"]["hpc_login"]["password_current"] is False
    assert host.state["sql"]["logins"]["hpcsql"]["password"] == SQL_PASSWORD
    assert run_action(SqlAction, SQL_ARGS, host)["changed"] is False
    no_secret(kept, reset, host.calls)


def test_sqlserver_windows_login_of_that_name_fails_before_any_change():
    state = fixture("sqlserver_fresh")
    state["sql"]["logins"] = {
        "hpcsql": {"type_desc": "WINDOWS_LOGIN", "is_disabled": False, "password": None, "sid": "1"}
    }
    host = SqlServerHost(state)
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["failed"] is True
    assert "hpc_login.username hpcsql is a WINDOWS_LOGIN" in result["msg"] and "SQL login" in result["msg"]
    assert host.mutating_calls() == []


def test_sqlserver_error_messages_only_missing_or_different_ones_are_sent():
    state = fixture("sqlserver_fresh")
    number, severity, text = HPC_ERROR_MESSAGES[0]
    state["sql"]["messages"] = {m[0]: (m[1], m[2]) for m in HPC_ERROR_MESSAGES}
    state["sql"]["messages"][number] = (severity, text + " (changed by hand)")
    del state["sql"]["messages"][HPC_ERROR_MESSAGES[-1][0]]
    state["sql"]["messages"][50001] = (16, "a message of another application")
    host = SqlServerHost(state)
    result = run_action(SqlAction, SQL_ARGS, host, diff=True)
    sent = [c for c in result["changes"] if c["step"] == "error_messages"]
    assert [m["msgnum"] for m in sent[0]["messages"]] == [number, HPC_ERROR_MESSAGES[-1][0]]
    assert result["diff"]["before"]["error_messages"] == {
        "defined": len(HPC_ERROR_MESSAGES) - 2,
        "missing": [HPC_ERROR_MESSAGES[-1][0]],
        "different": [number],
    }
    assert host.state["sql"]["messages"][number] == (severity, text)
    assert host.state["sql"]["messages"][50001] == (16, "a message of another application")
    off = run_action(SqlAction, dict(SQL_ARGS, error_messages=False), SqlServerHost(fixture("sqlserver_fresh")))
    assert "error_messages" not in [c["step"] for c in off["changes"]]


def test_sqlserver_sql_is_the_collections_own_and_carries_no_value():
    host = SqlServerHost(fixture("sqlserver_fresh"))
    run_action(SqlAction, SQL_ARGS, host)
    for call in host.calls:
        for name, text in call["params"]["sql"].items():
            assert "hpcsql" not in text and SQL_PASSWORD not in text, name
    apply = host.calls[1]["params"]
    assert apply["hpc_login"] == "hpcsql" and apply["reset_password"] is True
    assert "user_scripts" not in apply and "scripts" not in host.calls[0]["params"]


def test_sqlserver_host_error_is_scrubbed_of_secrets():
    host = SqlServerHost(fixture("sqlserver_fresh"))

    def leaky_apply(params, secrets):
        raise __import__("scripted_host").HostError(
            "Failed to add HPC database user hpcsql to HPCManagement: Incorrect syntax near '{}'".format(
                secrets["hpc_password"]
            )
        )

    host.sqlserver_apply = leaky_apply
    result = run_action(SqlAction, SQL_ARGS, host)
    assert result["failed"] is True
    assert "HPCManagement" in result["msg"] and "********" in result["msg"]
    no_secret(result)


# ------------------------------------------------------------------------------- headnode


@pytest.mark.parametrize(("exit_code", "reboot"), [(0, False), (3010, True)])
def test_headnode_install_success_codes(exit_code, reboot):
    host = HeadNodeHost(fixture("headnode_fresh"), exit_code=exit_code)
    result = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert result["reboot_required"] is reboot
    assert result["setup_exit_code"] == exit_code
    assert [c["step"] for c in result["changes"]] == ["certificate", "install", "publish"]
    assert host.state["publish"]["Exists"] is True
    # New-SelfSignedCertificate made it in Cert:\LocalMachine\My; setup got it by thumbprint (-SSLThumbprint).
    assert host.setup_ssl_thumbprint == host.state["certificate"]["pfx"]["Thumbprint"]
    assert host.my_store[host.setup_ssl_thumbprint] is True
    second = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert second["changed"] is False and second["round_trips"] == 1
    assert second["reboot_required"] is False
    no_secret(result, second, host.calls)


def test_headnode_setup_skips_rras_dhcp_wds_unless_told_otherwise():
    host = HeadNodeHost(fixture("headnode_fresh"))
    run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert host.skip_component == "rras,dhcp,wds"  # setup's spelling: -SkipComponent:rras,dhcp,wds
    host = HeadNodeHost(fixture("headnode_fresh"))
    args = dict(HEAD_ARGS, install=dict(HEAD_ARGS["install"], skip_components=[]))
    result = run_action(HeadAction, args, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    assert host.skip_component is None


def test_headnode_install_other_exit_code_fails_with_the_log_path():
    host = HeadNodeHost(fixture("headnode_fresh"), exit_code=1603)
    result = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert result["failed"] is True
    assert "exit code 1603" in result["msg"]
    assert "HpcSetupLog-20240101-101010.txt" in result["msg"]
    assert host.state["service"] is None
    no_secret(result, host.calls)


def test_headnode_skips_setup_when_hpcscheduler_exists():
    state = fixture("headnode_fresh")
    state["service"] = {"Name": "HpcScheduler", "Status": "Running"}
    host = HeadNodeHost(state, exit_code=1603)
    result = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert "install" not in [c["step"] for c in result["changes"]]
    assert result.get("failed") is not True


def test_headnode_ca_issued_certificate_from_the_store():
    state = fixture("headnode_fresh")
    state["certificate"]["store"] = {
        "Found": True,
        "HasPrivateKey": True,
        "Exportable": True,
        "Subject": "CN=headnode.hpc.internal",
    }
    host = HeadNodeHost(state)
    args = dict(HEAD_ARGS, certificate={"password": CERT_PASSWORD, "source": "thumbprint", "thumbprint": "ab cd 12"})
    result = run_action(HeadAction, args, host, check_mode=True, become=AS_SERVICE)
    cert = [c for c in result["changes"] if c["step"] == "certificate"]
    assert cert[0]["action"] == "export" and cert[0]["thumbprint"] == "ABCD12"


def test_headnode_imports_a_copied_ca_issued_pfx_into_the_machine_store_before_setup():
    state = fixture("headnode_fresh")
    state["certificate"]["source_pfx"] = {
        "Exists": True,
        "PasswordValid": True,
        "HasPrivateKey": True,
        "Subject": "CN=headnode.hpc.internal",
        "Thumbprint": "5E6F",
        "DaysLeft": 700,
    }
    host = HeadNodeHost(state)
    args = dict(HEAD_ARGS, certificate={"password": CERT_PASSWORD, "source": "pfx", "src": "C:\\ca\\hn.pfx"})
    result = run_action(HeadAction, args, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    steps = [c["step"] for c in result["changes"]]
    assert steps == ["certificate", "certificate_store", "install", "publish"]
    assert host.setup_ssl_thumbprint == "5E6F"
    again = run_action(HeadAction, args, host, become=AS_SERVICE)
    assert again["changed"] is False, again["changes"]
    no_secret(result, again, host.calls)


def test_headnode_setup_refuses_a_certificate_missing_from_the_machine_store():
    """The PFX is there but its certificate is not in Cert:\\LocalMachine\\My: without the import step, setup
    would get a thumbprint Microsoft's script checks for and rejects; with it, setup runs."""
    state = fixture("headnode_fresh")
    state["certificate"]["pfx"] = {
        "Exists": True,
        "Sha256": "S",
        "PasswordValid": True,
        "HasPrivateKey": True,
        "Subject": "CN=HPC Pack 2016 Communication",
        "Thumbprint": "7A8B",
        "DaysLeft": 900,
    }
    host = HeadNodeHost(state)
    check = run_action(HeadAction, HEAD_ARGS, host, check_mode=True, diff=True, become=AS_SERVICE)
    assert [c["step"] for c in check["changes"]][:2] == ["certificate_store", "install"]
    assert check["diff"]["before"]["certificate"]["in_my_store"] is False
    result = run_action(HeadAction, HEAD_ARGS, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    assert host.setup_ssl_thumbprint == "7A8B"
    # The scripted host fails setup when the thumbprint is not in the store, as the scripts do.
    bare = HeadNodeHost(fixture("headnode_fresh"))
    bare.state["certificate"]["pfx"] = dict(state["certificate"]["pfx"])
    with pytest.raises(HostError, match="not in the store"):
        bare.headnode_apply(
            {"changes": [{"step": "install", "ssl_thumbprint": "7A8B"}]},
            {"certificate_password": CERT_PASSWORD, "sql_password": SQL_PASSWORD},
        )


# -------------------------------------------------------------------------------- cluster


def test_cluster_first_run_then_noop():
    host = ClusterHost(fixture("cluster_installed"))
    first = run_action(ClusterAction, CLUSTER_ARGS, host, diff=True, become=AS_SERVICE)
    assert first["changed"] is True
    network = next(c for c in first["changes"] if c["step"] == "network")
    assert network["enterprise_interface"] == "Ethernet"  # the first interface, as seed 000
    assert first["diff"]["after"]["node"]["state"] == "online"
    assert host.state["node"]["NodeState"] == "Online"
    assert "BrokerNode" in host.state["node"]["NodeRole"]
    second = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert second["changed"] is False, second["changes"]
    assert second["round_trips"] == 1
    no_secret(first, second, host.calls)


def test_cluster_role_change_takes_an_online_head_node_offline_and_back():
    state = fixture("cluster_installed")
    state["node"]["NodeState"] = "Online"
    host = ClusterHost(state)
    check = run_action(ClusterAction, CLUSTER_ARGS, host, check_mode=True, diff=True, become=AS_SERVICE)
    node_steps = [(c["step"], c["action"]) for c in check["changes"] if c["step"] in ("node_state", "node_role")]
    assert node_steps == [("node_state", "offline"), ("node_role", "set"), ("node_state", "online")]
    assert check["diff"]["after"]["node"]["offline_for_role_change"] is True
    result = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    # Set-HpcNode -Role got the documented roles only, while the node was offline.
    assert host.role_changes == [["ComputeNode", "BrokerNode"]]
    assert host.state["node"]["NodeState"] == "Online"
    assert sorted(host.state["node"]["NodeRole"]) == ["BrokerNode", "ComputeNode", "HeadNode"]
    again = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert again["changed"] is False, again["changes"]


def test_cluster_waits_for_a_cluster_that_is_not_ready_yet():
    host = ClusterHost(fixture("cluster_installed"), not_ready=5)
    result = run_action(ClusterAction, CLUSTER_ARGS, host, become=AS_SERVICE)
    assert result.get("failed") is not True, result
    probe = host.calls[0]["params"]
    assert probe["retry"]["cluster_ready"] == {"retries": 30, "delay_seconds": 20, "increase_every": 0}
    apply = host.calls[1]["params"]
    assert apply["retry"]["network"]["retries"] == 20 and apply["scheduler"] == "EC2AMAZ-HN01"


def test_cluster_not_ready_after_the_retries_fails_naming_the_head_node():
    host = ClusterHost(fixture("cluster_installed"), not_ready=5)
    args = dict(CLUSTER_ARGS, retries={"count": 2, "delay_seconds": 1})
    result = run_action(ClusterAction, args, host, become=AS_SERVICE)
    assert result["failed"] is True
    assert "EC2AMAZ-HN01" in result["msg"] and "after 3 attempt(s)" in result["msg"]
    assert host.mutating_calls() == []


def test_cluster_scheduler_option_travels_to_every_script():
    host = ClusterHost(fixture("cluster_installed"))
    run_action(ClusterAction, dict(CLUSTER_ARGS, scheduler="headnode.hpc.internal"), host, become=AS_SERVICE)
    assert [c["params"]["scheduler"] for c in host.calls] == ["headnode.hpc.internal"] * 2


def test_cluster_unknown_interface_names_it():
    host = ClusterHost(fixture("cluster_installed"))
    args = dict(CLUSTER_ARGS, network={"topology": "Enterprise", "enterprise_interface": "Ethernet 9"})
    result = run_action(ClusterAction, args, host, become=AS_SERVICE)
    assert result["failed"] is True and "Ethernet 9" in result["msg"] and "Ethernet 2" in result["msg"]


# ---------------------------------------------------------------------------- computenode


def test_computenode_join_then_noop_then_scale_in():
    host = ComputeNodeHost(fixture("computenode_fresh"))
    first = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert first["changed"] is True, first
    assert [c["step"] for c in first["changes"]] == [
        "certificate_copy",
        "certificate_copy",
        "root_certificate",
        "install",
        "node_template",
        "node_state",
    ]
    assert host.state["node"]["NodeState"] == "Online"
    assert host.state["node"]["Template"] == "Default ComputeNode Template"
    second = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert second["changed"] is False, second["changes"]
    assert second["round_trips"] == 1
    gone = run_action(ComputeAction, dict(COMPUTE_ARGS, state="absent"), host)
    assert gone["changed"] is True and gone["changes"][0]["action"] == "drain_and_remove"
    again = run_action(ComputeAction, dict(COMPUTE_ARGS, state="absent"), host)
    assert again["changed"] is False
    no_secret(first, second, gone, host.calls)


def test_computenode_scale_in_counts_only_the_tasks_running_on_this_node():
    state = fixture("computenode_fresh")
    state.update(
        service={"Name": "HpcNodeManager"},
        node={"NetBiosName": "EC2AMAZ-CN07", "NodeState": "Online", "NodeHealth": "OK", "Template": "T"},
    )
    host = ComputeNodeHost(state)
    host.jobs = [
        {
            "tasks": [
                {"State": "Running", "AllocatedNodes": ["EC2AMAZ-CN07"]},
                {"State": "Running", "AllocatedNodes": ["EC2AMAZ-CN070"]},
            ]
        },
        {
            "tasks": [
                {"State": "Running", "AllocatedNodes": ["ec2amaz-cn07", "EC2AMAZ-CN08"]},
                {"State": "Queued", "AllocatedNodes": []},
            ]
        },
    ]
    result = run_action(ComputeAction, dict(COMPUTE_ARGS, state="absent"), host, check_mode=True)
    assert result.get("failed") is not True, result
    assert result["changes"][0]["running_tasks"] == 2


def test_computenode_online_in_another_template_is_refused_before_any_change():
    state = fixture("computenode_fresh")
    share = state["certificates"]["share"]
    state.update(
        certificates={"local": dict(share), "share": share, "share_error": None},
        root={"InRoot": True},
        service={"Name": "HpcNodeManager"},
        node={"NetBiosName": "EC2AMAZ-CN07", "NodeState": "Online", "NodeHealth": "OK", "Template": "GPU Nodes"},
    )
    host = ComputeNodeHost(state)
    result = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert result["failed"] is True
    assert "not in node template 'Default ComputeNode Template'" in result["msg"]
    assert host.mutating_calls() == []


def test_computenode_3010_reboot_then_finishes():
    host = ComputeNodeHost(fixture("computenode_fresh"), exit_code=3010)
    first = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert first["reboot_required"] is True
    host.reboot()
    host.exit_code = 0
    second = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert [c["step"] for c in second["changes"]] == ["node_template", "node_state"]
    assert run_action(ComputeAction, COMPUTE_ARGS, host)["changed"] is False


def test_computenode_unreachable_share_explains_the_double_hop():
    state = fixture("computenode_fresh")
    state["certificates"]["share"] = {
        name: {"Exists": False, "Sha256": None} for name in state["certificates"]["share"]
    }
    state["certificates"]["share_error"] = "Access is denied"
    host = ComputeNodeHost(state)
    result = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert result["failed"] is True
    assert "HpcHnPublicCert.cer" in result["msg"] and "Access is denied" in result["msg"]
    assert "runas" in result["msg"]


@pytest.mark.parametrize("exit_code", [1, 1603])
def test_computenode_other_exit_codes_fail(exit_code):
    host = ComputeNodeHost(fixture("computenode_fresh"), exit_code=exit_code)
    result = run_action(ComputeAction, COMPUTE_ARGS, host)
    assert result["failed"] is True and f"exit code {exit_code}" in result["msg"] and "log.txt" in result["msg"]


# --------------------------------------------------------------------------------- domain


def test_domain_join_reboot_then_computer_account_admin():
    host = DomainHost(fixture("domain_workgroup"))
    first = run_action(DomainAction, DOMAIN_ARGS, host)
    assert first["changed"] is True and first["reboot_required"] is True
    host.reboot()
    second = run_action(DomainAction, DOMAIN_ARGS, host)
    assert [c["object"] for c in second["changes"]] == ["HPC\\EC2AMAZ-CN07$"]
    third = run_action(DomainAction, DOMAIN_ARGS, host)
    assert third["changed"] is False and third["round_trips"] == 1
    no_secret(first, second, third, host.calls)


def test_domain_other_domain_is_refused():
    state = fixture("domain_workgroup")
    state.update(PartOfDomain=True, Domain="corp.example.com")
    result = run_action(DomainAction, DOMAIN_ARGS, DomainHost(state))
    assert result["failed"] is True and "corp.example.com" in result["msg"] and "hpc.example.com" in result["msg"]


# ------------------------------------------------------------------- across every module

ALL = [
    (SqlAction, SQL_ARGS, lambda: SqlServerHost(fixture("sqlserver_fresh"))),
    (HeadAction, HEAD_ARGS, lambda: HeadNodeHost(fixture("headnode_fresh"))),
    (ClusterAction, CLUSTER_ARGS, lambda: ClusterHost(fixture("cluster_installed"))),
    (ComputeAction, COMPUTE_ARGS, lambda: ComputeNodeHost(fixture("computenode_fresh"))),
    (
        ComputeAction,
        dict(COMPUTE_ARGS, state="absent"),
        lambda: ComputeNodeHost(
            dict(
                fixture("computenode_fresh"),
                service={"Name": "HpcNodeManager"},
                node={"NetBiosName": "EC2AMAZ-CN07", "NodeState": "Online", "NodeHealth": "OK", "Template": "T"},
            )
        ),
    ),
    (DomainAction, DOMAIN_ARGS, lambda: DomainHost(fixture("domain_workgroup"))),
]
# The roles' become settings: the head node's setup and cluster tasks run as the service account.
BECOME = {HeadAction: AS_SERVICE, ClusterAction: AS_SERVICE}


@pytest.mark.parametrize(("action", "args", "make_host"), ALL)
def test_check_mode_sends_no_mutating_script(action, args, make_host):
    host = make_host()
    before = json.dumps(host.state, sort_keys=True, default=str)
    result = run_action(action, args, host, check_mode=True, diff=True, become=BECOME.get(action))
    assert result.get("failed") is not True, result
    assert result["changed"] is True
    assert host.mutating_calls() == [] and host.check_mode_violations == []
    assert host.round_trips == 1
    assert json.dumps(host.state, sort_keys=True, default=str) == before
    assert "before" in result["diff"] and "after" in result["diff"]


@pytest.mark.parametrize(("action", "args", "make_host"), ALL)
def test_no_secret_in_results_parameters_or_log_lines(action, args, make_host, monkeypatch):
    from ansible.utils.display import Display

    lines = []
    monkeypatch.setattr(Display, "display", lambda self, msg, *a, **k: lines.append(msg))
    monkeypatch.setattr(Display(), "verbosity", 5)
    host = make_host()
    result = run_action(action, args, host, become=BECOME.get(action))
    for call in host.calls:
        # secrets only ever travel in sensitive_parameters, never in the JSON parameters
        assert all(secret not in json.dumps(call["params"]) for secret in SECRETS)
    no_secret(result, lines)
    assert any("hpcops.aws_hpc: running PowerShell" in line for line in lines)
