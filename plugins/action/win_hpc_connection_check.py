# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.win_hpc_connection_check: runs on the controller only, no round trip."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._winconn import check_connection, plugin_name

OPTIONS = (
    "port",
    "scheme",
    "transport",
    "server_cert_validation",
    "remote_user",
    "protocol",
    "auth",
    "cert_validation",
    "ca_cert",
    "ca_trust_path",
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        validation, args = self.validate_argument_spec(**specs.CONNECTION_CHECK)
        args = validation.validated_parameters
        connection = plugin_name(
            getattr(self._connection, "ansible_name", None),
            getattr(self._connection, "_load_name", None),
            self._connection.transport,
        )
        options = {}
        for name in OPTIONS:
            try:
                options[name] = self._connection.get_option(name)
            except KeyError:
                continue
        problems, facts = check_connection(
            connection, options, args["allow_ntlm"], args["allow_unvalidated_certificate"]
        )
        result.update(changed=False, connection=facts)
        if problems:
            result.update(
                failed=True,
                problems=problems,
                msg="Connection to %s refused: %s"
                % (task_vars.get("inventory_hostname") if task_vars else "the host", "; ".join(problems)),
            )
        return result
