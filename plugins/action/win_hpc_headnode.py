# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_headnode (documentation: plugins/modules/win_hpc_headnode.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ntpath

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import setup_result
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_headnode import (
    DEFAULT_CATALOGS,
    connection_string_switches,
    install_share_certificates,
    plan_headnode,
    setup_skip_component,
)
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._hpc_action import HpcWindowsAction


class ActionModule(HpcWindowsAction):
    SPEC = specs.HEADNODE

    def converge(self, runner, args, check_mode):
        cert = args["certificate"]
        install = args["install"]
        version = args["hpcpack_version"]
        # Unset: the install share of the version's install folder; an empty string skips publishing.
        publish_dir = args.get("publish_certificate")
        publish_dir = install_share_certificates(version) if publish_dir is None else publish_dir
        publish_path = ntpath.join(publish_dir, ntpath.basename(cert["pfx_path"])) if publish_dir else None
        probe = runner.run(
            "headnode_probe",
            {
                "certificate": {k: cert.get(k) for k in ("source", "pfx_path", "src", "thumbprint")},
                "setup_path": install["setup_path"],
                "publish_path": publish_path,
            },
            secrets={"certificate_password": cert["password"]},
        )
        skip_component = setup_skip_component(install.get("skip_components"))
        plan = plan_headnode(dict(args, publish_certificate=publish_dir), probe)
        outcome = {
            "plan": plan,
            "reboot_required": False,
            "installed": bool(probe.get("service")),
            "hpcpack_version": version,
        }
        if not plan.changed or check_mode:
            return outcome
        catalogs = dict(DEFAULT_CATALOGS)
        catalogs.update(install.get("catalogs") or {})
        secrets = {"certificate_password": cert["password"], "sql_password": install["sql_password"]}
        applied = runner.run(
            "headnode_apply",
            {
                "changes": plan.changes,
                "certificate": {"pfx_path": cert["pfx_path"]},
                "install": {
                    "cluster_name": install["cluster_name"],
                    "sql_server": install["sql_server"],
                    "sql_username": install["sql_username"],
                    "connection_options": install.get("connection_options") or {},
                    "skip_component": skip_component,
                    "switches": [
                        {"name": switch, "catalog": catalogs[key]}
                        for switch, key in connection_string_switches(version)
                    ],
                    "setup_timeout": install["setup_timeout"],
                },
            },
            secrets=secrets,
            mutating=True,
        )
        result = applied.get("install")
        if result:
            outcome["setup_exit_code"] = result.get("ExitCode")
            outcome["setup_log"] = result.get("LogPath")
            outcome.update(setup_result(result.get("ExitCode"), result.get("LogPath"), "head node"))
            outcome["installed"] = True
        return outcome
