# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_computenode (documentation: plugins/modules/win_hpc_computenode.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import setup_result
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_computenode import plan_computenode
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._hpc_action import HpcWindowsAction


class ActionModule(HpcWindowsAction):
    SPEC = specs.COMPUTENODE

    def converge(self, runner, args, check_mode):
        args = dict(args)
        args["share"] = args.get("share") or "\\\\%s\\REMINST\\Certificates" % args["headnode"]
        args["certificate_files"] = [args["public_certificate"], args["pfx_file"]]
        common = {
            "state": args["state"],
            "headnode": args["headnode"],
            "share": args["share"],
            "certificate_dir": args["certificate_dir"],
            "certificate_files": args["certificate_files"],
            "public_certificate": args["public_certificate"],
            "pfx_file": args["pfx_file"],
            "setup_path": args["setup_path"],
            "template": args["template"],
        }
        probe = runner.run("computenode_probe", common)
        plan = plan_computenode(args, probe)
        outcome = {"plan": plan, "reboot_required": False}
        if not plan.changed or check_mode:
            return outcome
        params = dict(
            common, changes=plan.changes, setup_timeout=args["setup_timeout"], register_timeout=args["register_timeout"]
        )
        secrets = {"pfx_password": args["pfx_password"]} if plan.steps("install") else None
        applied = runner.run("computenode_apply", params, secrets=secrets, mutating=True)
        result = applied.get("install")
        if result:
            outcome["setup_exit_code"] = result.get("ExitCode")
            outcome["setup_log"] = result.get("LogPath")
            outcome.update(setup_result(result.get("ExitCode"), result.get("LogPath"), "compute node"))
        if applied.get("forced"):
            outcome["forced_offline"] = True
        return outcome
