"""The SQL Server login, database users and error messages of win_hpc_sqlserver, planned from the probe's state.

The states are what the collection's probe scripts return (plugins/plugin_utils/sql/probe_hpc_login.sql,
probe_hpc_user.sql, list_error_messages.sql): catalog-view column names, ints for bits.
"""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack as hp
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_sql as hp_sql

LOGIN = {"username": "hpcsql", "password": "secret", "update_password": "always"}
DBS = [{"name": n} for n in hp.HPC_DATABASES]
ONLINE = [{"name": n, "state_desc": "ONLINE"} for n in hp.HPC_DATABASES]


def _login(**row):
    return dict({"name": "hpcsql", "type_desc": "SQL_LOGIN", "is_disabled": 0, "password_matches": 1}, **row)


@pytest.mark.parametrize(
    ("row", "options", "expected"),
    [
        (None, {}, [("create", None)]),
        ([], {}, [("create", None)]),
        (_login(), {}, []),
        ([_login()], {}, []),  # ConvertTo-Json may keep a one-row array
        (_login(password_matches=0), {}, [("update", ["password"])]),
        (_login(is_disabled=1), {}, [("update", ["enable"])]),
        (_login(password_matches=0, is_disabled=1), {}, [("update", ["password", "enable"])]),
        (_login(password_matches=0), {"update_password": "on_create"}, []),
    ],
)
def test_plan_hpc_login(row, options, expected):
    plan = hp.Plan()
    hp_sql.plan_hpc_login(plan, dict(LOGIN, **options), {"hpc_login": row})
    assert [(c["action"], c.get("fixes")) for c in plan.changes] == expected
    assert all(c["step"] == "hpc_login" and c["object"] == "hpcsql" for c in plan.changes)
    assert "secret" not in repr(plan.changes) + repr(plan.before) + repr(plan.after)


def test_plan_hpc_login_on_create_warns_when_the_password_differs():
    plan = hp.Plan()
    hp_sql.plan_hpc_login(plan, dict(LOGIN, update_password="on_create"), {"hpc_login": _login(password_matches=0)})
    assert plan.changes == []
    assert plan.after["hpc_login"]["password_current"] is False
    assert "hpcsql" in plan.warnings[0] and "on_create" in plan.warnings[0]


@pytest.mark.parametrize("kind", ["WINDOWS_LOGIN", "WINDOWS_GROUP", "CERTIFICATE_MAPPED_LOGIN"])
def test_plan_hpc_login_refuses_a_login_that_is_not_a_sql_login(kind):
    with pytest.raises(hp.HpcPlanError, match=rf"hpc_login.username hpcsql is a {kind} .*SQL login"):
        hp_sql.plan_hpc_login(hp.Plan(), LOGIN, {"hpc_login": _login(type_desc=kind, password_matches=None)})


def test_plan_hpc_login_is_skipped_without_hpc_login():
    plan = hp.Plan()
    hp_sql.plan_hpc_login(plan, None, {"hpc_login": None})
    assert plan.changes == [] and "hpc_login" not in plan.before


@pytest.mark.parametrize(
    ("rows", "state"),
    [
        ([], "absent"),
        (None, "absent"),
        ([{"user_name": "hpcsql", "mapped": 0, "db_owner": 1}], "orphaned"),
        ([{"user_name": "hpcsql", "mapped": 1, "db_owner": 0}], "user"),
        ([{"user_name": "hpcsql", "mapped": 1, "db_owner": 1}], "db_owner"),
        # The login owns the database: it is dbo there, and dbo is db_owner.
        ([{"user_name": "dbo", "mapped": 1, "db_owner": 1}], "db_owner"),
        # An orphaned user named like the login next to the user the login is mapped to: the mapped one counts.
        (
            [{"user_name": "hpcsql", "mapped": 0, "db_owner": 0}, {"user_name": "hpc", "mapped": 1, "db_owner": 1}],
            "db_owner",
        ),
    ],
)
def test_user_state(rows, state):
    assert hp_sql._user_state(rows) == state


def test_plan_hpc_users_one_change_per_database_that_needs_one():
    users = {
        "HPCManagement": [{"user_name": "hpcsql", "mapped": 1, "db_owner": 1}],
        "hpcscheduler": [{"user_name": "hpcsql", "mapped": 0, "db_owner": 1}],  # names compare case-insensitively
        "HPCReporting": [{"user_name": "hpcsql", "mapped": 1, "db_owner": 0}],
        "HPCDiagnostics": [],
    }
    databases = [r for r in ONLINE if r["name"] != "HPCMonitoring"]  # HPCMonitoring is created by this run
    plan = hp.Plan()
    hp_sql.plan_hpc_users(plan, LOGIN, DBS, {"users": users, "databases": databases})
    assert [(c["object"], c["action"], c["decide"]) for c in plan.changes] == [
        ("HPCScheduler", "map_orphaned_user", "controller"),
        ("HPCReporting", "grant_db_owner", "controller"),
        ("HPCDiagnostics", "create_user", "controller"),
        ("HPCMonitoring", "create_or_map", "host"),
    ]
    assert all(c["user"] == "hpcsql" for c in plan.changes)
    assert plan.before["hpc_users"] == {
        "HPCManagement": "db_owner",
        "HPCScheduler": "orphaned",
        "HPCReporting": "user",
        "HPCDiagnostics": "absent",
        "HPCMonitoring": "absent",
    }
    assert set(plan.after["hpc_users"].values()) == {"db_owner"}


def test_plan_hpc_users_nothing_when_every_database_has_its_db_owner_user():
    users = {n: [{"user_name": "hpcsql", "mapped": 1, "db_owner": 1}] for n in hp.HPC_DATABASES}
    plan = hp.Plan()
    hp_sql.plan_hpc_users(plan, LOGIN, DBS, {"users": users, "databases": ONLINE})
    assert plan.changes == []


def _messages(pairs):
    return [{"message_id": n, "severity": s, "text": t} for n, s, t in pairs]


def test_plan_error_messages_sends_only_missing_and_different_ones():
    present = list(hp_sql.HPC_ERROR_MESSAGES[2:])
    present[0] = (present[0][0], 10, present[0][2])  # other severity
    present.append((50010, 16, "another application's message"))
    plan = hp.Plan()
    hp_sql.plan_error_messages(plan, True, {"error_messages": _messages(present)})
    (change,) = plan.changes
    assert (change["step"], change["action"]) == ("error_messages", "define")
    wanted = hp_sql.HPC_ERROR_MESSAGES[:3]
    assert change["messages"] == [{"msgnum": n, "severity": s, "text": t} for n, s, t in wanted]
    assert plan.before["error_messages"]["missing"] == [m[0] for m in wanted[:2]]
    assert plan.before["error_messages"]["different"] == [wanted[2][0]]


def test_plan_error_messages_nothing_when_all_are_defined_or_when_off():
    plan = hp.Plan()
    hp_sql.plan_error_messages(plan, True, {"error_messages": _messages(hp_sql.HPC_ERROR_MESSAGES)})
    assert plan.changes == []
    assert plan.before["error_messages"] == {"defined": len(hp_sql.HPC_ERROR_MESSAGES), "missing": [], "different": []}
    off = hp.Plan()
    hp_sql.plan_error_messages(off, False, {"error_messages": []})
    assert off.changes == [] and off.before == {}


def test_hpc_error_messages_are_valid_sp_addmessage_arguments():
    numbers = [m[0] for m in hp_sql.HPC_ERROR_MESSAGES]
    assert len(numbers) == len(set(numbers)) == 23  # the reference deployment's DefineErrorMessages.sql
    for number, severity, text in hp_sql.HPC_ERROR_MESSAGES:
        # sp_addmessage: user-defined msgnum from 50001, severity 1-25, msgtext nvarchar(255).
        assert number > 50000 and 1 <= severity <= 25 and 0 < len(text) <= 255


def test_plan_sqlserver_orders_login_users_and_messages_after_the_databases():
    probe = {
        "volume": {},
        "folder": {"exists": True, "rules": []},
        "sql": {"reachable": True, "integrated_only": 0, "login_mode_configured": 2, "databases": []},
    }
    options = {
        "server": "localhost",
        "data_path": "D:\\SQL",
        "data_path_identity": "NT SERVICE\\MSSQLSERVER",
        "login_mode": "mixed",
        "hpc_login": LOGIN,
        "error_messages": True,
        "sa_disabled": None,
    }
    steps = [c["step"] for c in hp_sql.plan_sqlserver(options, probe).changes]
    assert steps == ["folder_acl"] + ["database"] * 5 + ["hpc_login"] + ["hpc_user"] * 5 + ["error_messages"]
