# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_sqlserver (documentation: plugins/modules/win_hpc_sqlserver.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HpcPlanError
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_sql import (
    database_files,
    normalise_databases,
    plan_sqlserver,
)
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._hpc_action import HpcWindowsAction
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import load_sql

GROWTH = re.compile(r"^[0-9]+(%|KB|MB|GB|TB)?$", re.IGNORECASE)
# Every T-SQL the probe and the apply run, from plugins/plugin_utils/sql/: the collection's own scripts, sent
# with each run (nothing is expected on the SQL Server image) and run with SqlClient parameters.
SQL_FILES = (
    "probe_server",
    "list_databases",
    "probe_hpc_login",
    "probe_hpc_user",
    "list_error_messages",
    "create_database",
    "set_login_mode",
    "hpc_login",
    "hpc_database_user",
    "define_error_message",
    "set_sa_login",
    "ping",
)


def service_names(instance):
    if instance.upper() == "MSSQLSERVER":
        return "MSSQLSERVER", "SQLSERVERAGENT"
    return "MSSQL$" + instance, "SQLAgent$" + instance


class ActionModule(HpcWindowsAction):
    SPEC = specs.SQLSERVER

    def converge(self, runner, args, check_mode):
        args = dict(args)
        args["databases"] = normalise_databases(args.get("databases"))
        for db in args["databases"]:
            for key in ("data_growth", "log_growth"):
                if not GROWTH.match(str(db[key])):
                    raise HpcPlanError(
                        "Database %s: %s '%s' must be a number with an optional %%, KB, MB, GB or TB suffix"
                        % (db["name"], key, db[key])
                    )
        service, agent = service_names(args["instance"])
        hpc = args.get("hpc_login")
        # The probe compares the login's password on the host (PWDCOMPARE): the password travels as a secret.
        secrets = {"hpc_password": hpc["password"]} if hpc else None
        sql = dict((name, load_sql(name)) for name in SQL_FILES)
        files = []
        for db in args["databases"]:
            files.extend(database_files(args["data_path"], db["name"]))
        probe = runner.run(
            "sqlserver_probe",
            {
                "server": args["server"],
                "instance": args["instance"],
                "service_name": service,
                "agent_name": agent,
                "volume": bool(args.get("volume")),
                "data_path": args["data_path"],
                "databases": [db["name"] for db in args["databases"]],
                "files": files,
                "hpc_login": hpc["username"] if hpc else None,
                "error_messages": bool(args.get("error_messages", True)),
                "sql": sql,
            },
            secrets=secrets,
        )
        plan = plan_sqlserver(args, probe)
        outcome = {
            "plan": plan,
            "databases": dict((c["object"], c["action"]) for c in plan.steps("database")),
            "restarted": False,
        }
        if not plan.changed or check_mode:
            return outcome
        if not plan.steps("hpc_login"):
            secrets = None
        applied = runner.run(
            "sqlserver_apply",
            {
                "server": args["server"],
                "sql_timeout": args["sql_timeout"],
                "changes": plan.changes,
                "sql": sql,
                "hpc_login": hpc["username"] if hpc else None,
                "reset_password": bool(hpc) and hpc.get("update_password", "always") == "always",
            },
            secrets=secrets,
            mutating=True,
        )
        outcome["databases"] = applied.get("databases") or {}
        outcome["restarted"] = bool(applied.get("restarted"))
        return outcome
