# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Domain membership of win_hpc_domain_membership, planned from its probe (private: no compatibility promise)."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HpcPlanError, Plan, as_list


def computer_account(netbios_domain, computer_name):
    return "%s\\%s$" % (netbios_domain, computer_name)


def plan_domain_membership(options, probe):
    plan = Plan()
    joined = bool(probe.get("PartOfDomain"))
    current = str(probe.get("Domain") or "")
    plan.before["domain"] = current if joined else None
    plan.after["domain"] = options["domain"]
    if joined and current.lower() != options["domain"].lower():
        raise HpcPlanError(
            "Host %s is a member of domain %s, not %s; refusing to move it between domains"
            % (probe.get("ComputerName"), current, options["domain"])
        )
    pending = bool(probe.get("PendingJoin"))
    if not joined and not pending:
        plan.add("domain_join", options["domain"], "join", ou_path=options.get("ou_path"))
    if options.get("computer_account_admin"):
        member = computer_account(options["netbios_domain"], probe.get("ComputerName") or "")
        members = [str(m).lower() for m in as_list(probe.get("Administrators"))]
        plan.before["administrators_has_computer_account"] = member.lower() in members
        plan.after["administrators_has_computer_account"] = joined or member.lower() in members
        if member.lower() not in members:
            if joined:
                plan.add("local_admin", member, "add")
            else:
                # The account resolves only once the join is effective (after the reboot); the next
                # run adds it. The role runs the module again after the reboot.
                plan.warnings.append(
                    "%s is added to the local Administrators group on the run after the domain join reboot" % member
                )
    return plan
