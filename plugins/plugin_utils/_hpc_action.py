# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Base of the HPC Pack Windows action plugins (private: no compatibility promise).

Each action plugin: validates the task against the module stub's argument spec, runs one read-only
probe script, plans in pure Python (module_utils/_hpcpack*.py), and - unless the plan is empty or the
task runs in check mode - one apply script that performs exactly the planned changes. Results carry
``changed``, ``changes`` (step, object, action), ``diff`` in diff mode, and never a secret.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import HpcPlanError
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import PowerShellError, ScriptRunner, scrub

display = Display()


def collect_secrets(value, spec):
    """Every value of a no_log option in ``value`` (validated task args) following ``spec``."""
    found = []
    if not isinstance(value, dict):
        return found
    for name, option in spec.items():
        item = value.get(name)
        if item is None:
            continue
        if option.get("no_log"):
            found.append(str(item))
        sub = option.get("options")
        if sub:
            for element in item if isinstance(item, list) else [item]:
                found.extend(collect_secrets(element, sub))
    return found


class HpcWindowsAction(ActionBase):
    """Probe -> plan -> apply over the host's connection; subclasses implement :meth:`converge`."""

    TRANSFERS_FILES = False
    SPEC = None  # one of module_utils._hpcpack_specs.*

    _supports_check_mode = True
    _supports_async = False

    def _runner(self, task_vars, secrets):
        def execute(module_name, module_args):
            return self._execute_module(module_name=module_name, module_args=module_args, task_vars=task_vars)

        return ScriptRunner(execute, secrets=secrets, log=display.vvv)

    def run(self, tmp=None, task_vars=None):
        result = super(HpcWindowsAction, self).run(tmp, task_vars)
        del tmp
        spec = dict(self.SPEC)
        argument_spec = spec.pop("argument_spec")
        validation, args = self.validate_argument_spec(argument_spec=argument_spec, **spec)
        args = validation.validated_parameters
        secrets = collect_secrets(args, argument_spec)
        runner = self._runner(task_vars or {}, secrets)
        try:
            outcome = self.converge(runner, args, bool(self._task.check_mode))
        except (HpcPlanError, PowerShellError) as exc:
            result.update(failed=True, changed=False, msg=scrub(str(exc), secrets))
            result["round_trips"] = runner.round_trips
            return result
        plan = outcome.pop("plan", None)
        result["changed"] = bool(outcome.pop("changed", plan.changed if plan is not None else False))
        if plan is not None:
            result["changes"] = plan.summary()
            if plan.warnings:
                for warning in plan.warnings:
                    display.warning(scrub(warning, secrets))
            if self._task.diff:
                result["diff"] = {"before": plan.before, "after": plan.after}
        result.update(outcome)
        result["round_trips"] = runner.round_trips
        return scrub(result, secrets)

    def converge(self, runner, args, check_mode):
        """Return a dict with at least ``plan``; may add ``changed`` and module-specific keys."""
        raise NotImplementedError
