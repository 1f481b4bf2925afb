# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_cluster (documentation: plugins/modules/win_hpc_cluster.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_cluster import plan_cluster, retry_settings
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._hpc_action import HpcWindowsAction


class ActionModule(HpcWindowsAction):
    SPEC = specs.CLUSTER

    def converge(self, runner, args, check_mode):
        retry = retry_settings(args.get("retries"))
        probe = runner.run(
            "cluster_probe",
            {
                "network": bool(args.get("network")),
                "job_credential": bool(args.get("job_credential")),
                "install_credential": bool(args.get("install_credential")),
                "members": bool(args.get("members")),
                "node": bool(args.get("node")),
                "scheduler": args.get("scheduler"),
                "retry": retry,
            },
        )
        plan = plan_cluster(args, probe)
        outcome = {"plan": plan}
        if not plan.changed or check_mode:
            return outcome
        secrets = {}
        if plan.steps("job_credential"):
            secrets["job_password"] = args["job_credential"]["password"]
        if plan.steps("install_credential"):
            secrets["install_password"] = args["install_credential"]["password"]
        runner.run(
            "cluster_apply",
            {"changes": plan.changes, "scheduler": probe.get("scheduler") or args.get("scheduler"), "retry": retry},
            secrets=secrets or None,
            mutating=True,
        )
        return outcome
