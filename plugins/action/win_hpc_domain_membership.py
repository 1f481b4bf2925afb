# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_domain_membership (documentation in plugins/modules/)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_domain import plan_domain_membership
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._hpc_action import HpcWindowsAction


class ActionModule(HpcWindowsAction):
    SPEC = specs.DOMAIN_MEMBERSHIP

    def converge(self, runner, args, check_mode):
        args = dict(args)
        args["netbios_domain"] = args.get("netbios_domain") or args["domain"].split(".")[0].upper()
        probe = runner.run("domain_probe", {"domain": args["domain"]})
        plan = plan_domain_membership(args, probe)
        outcome = {"plan": plan, "reboot_required": False}
        if not plan.changed or check_mode:
            outcome["reboot_required"] = bool(plan.steps("domain_join"))
            return outcome
        secrets = {"password": args["password"]} if plan.steps("domain_join") else None
        applied = runner.run(
            "domain_apply", {"changes": plan.changes, "username": args["username"]}, secrets=secrets, mutating=True
        )
        outcome["reboot_required"] = bool(applied.get("reboot_required"))
        return outcome
