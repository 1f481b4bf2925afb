# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Databases, login, users and error messages of win_hpc_sqlserver, planned from its probe (private: no
compatibility promise)."""

from __future__ import annotations

import ntpath

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import (
    HpcPlanError,
    Plan,
    as_list,
    enum_name,
    hpc_databases,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_storage import plan_folder, plan_volume

# Sizes and growth of seed 000's CreateHpcDatabase.sql, used for every HPC database.
DEFAULT_DATABASE_SIZES = {
    "data_size_mb": 1024,
    "data_growth": "50%",
    "log_size_mb": 128,
    "log_growth": "50%",
}

LOGIN_MODES = {"windows": 1, "mixed": 2}

# HPC Pack's own error messages, which its stored procedures raise and which only a sysadmin (or serveradmin) may
# add with sp_addmessage (learn.microsoft.com sql/relational-databases/system-stored-procedures/
# sp-addmessage-transact-sql): the (msgnum, severity, text) of DefineErrorMessages.sql as the reference deployment
# runs it in its SQL Server step (arjanvanbekkum/HPC at c5895f5d895683773d16a143eb996d5e9552efaa,
# DefineErrorMessages.sql, run by setuphpcdatabase.ps1), in us_english, numbers as written there (60001-60017,
# 600018, 600019, 60020, 600021-600023).
HPC_ERROR_MESSAGES = (
    (60001, 16, "Another change is in progress"),
    (60002, 16, "An instance in the change has been modified by another change."),
    (60003, 16, "Unsupported instance state transition"),
    (60004, 16, "Cannot change root status"),
    (60005, 16, "Cannot update instance value unless change is editable or discovering."),
    (60006, 16, "An instance member cannot be updated unless the change is editable or discovering."),
    (60007, 16, "The state of one or more instances in the change is not consistent with the state of the change."),
    (60008, 16, "Unsupported change state transition."),
    (60009, 16, "Null value passed to a parameter that cannot be null."),
    (60010, 16, "The change has been updated by another user."),
    (60011, 16, "Access to the change is denied"),
    (60012, 16, "You do not have permission to update setting values for the instance %s in the change."),
    (60013, 16, "Only an administrator or the owner can change the owner the instance %s."),
    (60014, 16, "Only an administrator can create a root instance"),
    (60015, 16, "You do not have permission to update reference members on an instance %s in the change."),
    (60016, 16, "You do not have permission to update the permissions for an instance %s in the change."),
    (60017, 16, "The specified user is not registered with the store."),
    (600018, 16, "Instance permissions cannot be updated unless the change is editable or discovering."),
    (600019, 16, "The specified user does not exist in the store."),
    (
        60020,
        16,
        "Another change has locked the instances this change is trying to update. Wait "
        "until the existing change has completed or been cancelled before retrying the action.",
    ),
    (600021, 16, "The change cannot be reverted because the previous instance state has been archived."),
    (600022, 16, "The change updates instances that are not in the list of instances referenced by the change."),
    (600023, 16, "The change cannot be committed unless all actions have been committed."),
)


def database_files(data_path, name):
    return ntpath.join(data_path, name + ".mdf"), ntpath.join(data_path, name + ".ldf")


def normalise_databases(databases, version="2016"):
    """Options -> list of database specs with the seed's sizes filled in (empty: the version's HPC databases)."""
    if not databases:
        databases = [{"name": n} for n in hpc_databases(version)]
    result = []
    seen = set()
    for db in databases:
        spec = dict(DEFAULT_DATABASE_SIZES)
        spec.update({k: v for k, v in db.items() if v is not None})
        key = spec["name"].lower()
        if key in seen:
            raise HpcPlanError("Database %s is listed twice in databases" % spec["name"])
        seen.add(key)
        result.append(spec)
    return result


def plan_databases(plan, databases, data_path, state, data_path_ready):
    """Create, or ATTACH when the files exist: a database whose files exist is never created anew.

    ``data_path_ready`` is false when the data volume or folder is only made ready by this run's apply
    (for example a reattached EBS volume still offline); the file check then happens on the host right
    before the statement (``decide: host``), with the same rule.
    """
    present = {}
    for row in as_list(state.get("databases")):
        present[str(row.get("name", "")).lower()] = enum_name(row.get("state_desc"))
    files = {str(k).lower(): bool(v) for k, v in (state.get("files") or {}).items()}
    before = {}
    after = {}
    for db in databases:
        name = db["name"]
        data_file, log_file = database_files(data_path, name)
        before[name] = present.get(name.lower(), "absent")
        if name.lower() in present:
            after[name] = present[name.lower()]
            continue
        entry = dict(db, data_file=data_file, log_file=log_file)
        if not data_path_ready:
            plan.add("database", name, "create_or_attach", decide="host", **entry)
            after[name] = "ONLINE"
            continue
        mdf = files.get(data_file.lower(), False)
        ldf = files.get(log_file.lower(), False)
        if mdf:
            action = "attach" if ldf else "attach_rebuild_log"
            plan.add("database", name, action, decide="controller", **entry)
        elif ldf:
            raise HpcPlanError(
                "Failed to create database %s: its log file %s exists without the data file %s; "
                "refusing to create the database anew over existing files (restore %s or remove the stale log)"
                % (name, log_file, data_file, data_file)
            )
        else:
            plan.add("database", name, "create", decide="controller", **entry)
        after[name] = "ONLINE"
    plan.before["databases"] = before
    plan.after["databases"] = after


def plan_login_mode(plan, login_mode, state, restart):
    """Registry LoginMode (configured) vs SERVERPROPERTY (effective): restart only on a change."""
    if not login_mode:
        return
    wanted = LOGIN_MODES[login_mode]
    configured = state.get("login_mode_configured")
    integrated_only = state.get("integrated_only")
    effective = None if integrated_only is None else (1 if int(integrated_only) == 1 else 2)
    names = {1: "windows", 2: "mixed", None: "unknown"}
    plan.before["login_mode"] = {
        "configured": names.get(configured, str(configured)),
        "effective": names.get(effective),
    }
    plan.after["login_mode"] = {"configured": login_mode, "effective": login_mode if restart else names.get(effective)}
    if configured != wanted:
        plan.add("login_mode", "SQL Server %s" % state.get("instance", ""), "set", login_mode=wanted)
    if restart and (configured != wanted or effective != wanted):
        plan.add(
            "service_restart",
            state.get("service_name") or "MSSQLSERVER",
            "restart",
            agent=state.get("agent_name") or "SQLSERVERAGENT",
        )


def plan_hpc_login(plan, hpc_login, state):
    """The SQL login HPC Pack connects with ("Integrated Security=False;User ID=...;Password=...").

    What the reference deployment's AddDbUserForHpc*.sql do at server level - CREATE LOGIN ... WITH PASSWORD,
    CHECK_EXPIRATION = OFF when it does not exist - plus, on later runs, the password of O(hpc_login.password)
    (with update_password=always, compared with PWDCOMPARE on the host) and an enabled login. A Windows login of
    that name cannot be used: the head node connects with a user name and password.
    """
    if not hpc_login:
        return
    name = hpc_login["username"]
    login = state.get("hpc_login") or None
    if isinstance(login, list):
        login = login[0] if login else None
    exists = bool(login)
    password_current = None if not exists else bool(login.get("password_matches"))
    enabled = None if not exists else not bool(login.get("is_disabled"))
    plan.before["hpc_login"] = {
        "name": name,
        "exists": exists,
        "password_current": password_current,
        "enabled": enabled,
    }
    plan.after["hpc_login"] = {"name": name, "exists": True, "password_current": True, "enabled": True}
    if not exists:
        plan.add("hpc_login", name, "create")
        return
    kind = enum_name(login.get("type_desc"))
    if kind.upper() != "SQL_LOGIN":
        raise HpcPlanError(
            "hpc_login.username %s is a %s on the SQL Server, not a SQL login: HPC Pack's connection strings log in "
            "with a user name and password (Integrated Security=False), so choose a name that is free or a SQL "
            "login" % (name, kind or "login of another type")
        )
    fixes = []
    if not password_current:
        if hpc_login.get("update_password", "always") == "always":
            fixes.append("password")
        else:
            plan.after["hpc_login"]["password_current"] = False
            plan.warnings.append(
                "The SQL login %s has another password than hpc_login.password; it is left as it is "
                "(update_password=on_create), and the head node's connection strings fail until they agree" % name
            )
    if not enabled:
        fixes.append("enable")
    if fixes:
        plan.add("hpc_login", name, "update", fixes=fixes)


def _user_state(rows):
    """absent | orphaned (named like the login, another sid) | user (mapped, not db_owner) | db_owner."""
    rows = as_list(rows)
    mapped = [r for r in rows if int(r.get("mapped") or 0) == 1]
    if mapped:
        return "db_owner" if any(int(r.get("db_owner") or 0) == 1 for r in mapped) else "user"
    return "orphaned" if rows else "absent"


USER_ACTIONS = {"absent": "create_user", "orphaned": "map_orphaned_user", "user": "grant_db_owner"}


def plan_hpc_users(plan, hpc_login, databases, state):
    """A db_owner user of the login in every HPC database, only where it is missing.

    The reference deployment runs AddDbUserForHpcSetupUser.sql and AddDbUserForHpcService.sql per database
    (create user, ALTER USER ... WITH LOGIN, the db_datareader/db_datawriter/db_ddladmin/db_owner roles and
    GRANT ALTER/EXECUTE/VIEW DEFINITION, all contained in db_owner); the collection's hpc_database_user.sql does
    the same idempotently. A database that is not online yet (created or attached by this run) is decided on
    the host, by the same script: an attached database may bring an orphaned user, which is mapped, not created.
    """
    if not hpc_login:
        return
    name = hpc_login["username"]
    users = {str(k).lower(): v for k, v in (state.get("users") or {}).items()}
    online = {
        str(r.get("name", "")).lower()
        for r in as_list(state.get("databases"))
        if enum_name(r.get("state_desc")) == "ONLINE"
    }
    before = {}
    for db in databases:
        key = db["name"].lower()
        if key not in online:
            before[db["name"]] = "absent"
            plan.add("hpc_user", db["name"], "create_or_map", user=name, decide="host")
            continue
        current = _user_state(users.get(key))
        before[db["name"]] = current
        if current != "db_owner":
            plan.add("hpc_user", db["name"], USER_ACTIONS[current], user=name, decide="controller")
    plan.before["hpc_users"] = before
    plan.after["hpc_users"] = {db["name"]: "db_owner" for db in databases}


def plan_error_messages(plan, wanted, state):
    """HPC Pack's DefineErrorMessages.sql, in the SQL Server step where the module runs as sysadmin.

    sp_addmessage needs sysadmin or serveradmin; the login HPC Pack setup connects with is db_owner only. Only
    messages that are missing or differ (severity or text) are sent; the reference script drops and adds every
    message on every run.
    """
    if not wanted:
        return
    present = {}
    for row in as_list(state.get("error_messages")):
        present[int(row.get("message_id"))] = (int(row.get("severity") or 0), str(row.get("text") or ""))
    missing = [m for m in HPC_ERROR_MESSAGES if m[0] not in present]
    different = [m for m in HPC_ERROR_MESSAGES if m[0] in present and present[m[0]] != (m[1], m[2])]
    plan.before["error_messages"] = {
        "defined": len(HPC_ERROR_MESSAGES) - len(missing) - len(different),
        "missing": [m[0] for m in missing],
        "different": [m[0] for m in different],
    }
    plan.after["error_messages"] = {"defined": len(HPC_ERROR_MESSAGES), "missing": [], "different": []}
    todo = sorted(missing + different)
    if todo:
        plan.add(
            "error_messages",
            "HPC Pack error messages",
            "define",
            messages=[{"msgnum": n, "severity": s, "text": text} for n, s, text in todo],
        )


def plan_sa(plan, sa_disabled, state):
    if sa_disabled is None:
        return
    current = state.get("sa_disabled")
    plan.before["sa_disabled"] = bool(current)
    plan.after["sa_disabled"] = bool(sa_disabled)
    if bool(current) != bool(sa_disabled):
        plan.add("sa_login", "sa", "disable" if sa_disabled else "enable")


def plan_sqlserver(options, probe):
    """The whole win_hpc_sqlserver plan from its options and its probe's state."""
    plan = Plan()
    databases = normalise_databases(options.get("databases"))
    sql = probe.get("sql") or {}
    plan_volume(plan, options.get("volume"), probe.get("volume") or {})
    plan_folder(plan, options["data_path"], options["data_path_identity"], probe.get("folder") or {})
    if not sql.get("reachable"):
        raise HpcPlanError(
            "Failed to connect to SQL Server %s on the host: %s" % (options["server"], sql.get("error") or "no answer")
        )
    data_path_ready = not plan.steps("volume") and not plan.steps("folder")
    plan_login_mode(plan, options.get("login_mode"), sql, options.get("restart_service", True))
    plan_databases(plan, databases, options["data_path"], sql, data_path_ready)
    plan_hpc_login(plan, options.get("hpc_login"), sql)
    plan_hpc_users(plan, options.get("hpc_login"), databases, sql)
    plan_error_messages(plan, options.get("error_messages", True), sql)
    plan_sa(plan, options.get("sa_disabled"), sql)
    return plan
