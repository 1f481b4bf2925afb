# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Controller-side runner of the collection's PowerShell scripts (private: no compatibility promise).

One call of :meth:`ScriptRunner.run` is one PowerShell round trip to the Windows host: the script is
sent as the ``script`` of ``ansible.windows.win_powershell`` over the host's own connection (winrm,
psrp or amazon.aws.aws_ssm; the task's ``become`` applies), its parameters travel as one JSON string
(``ParamsJson``) and, when there are any, the secrets as one more JSON string that
``win_powershell`` turns into a SecureString and keeps out of every log (``sensitive_parameters``).
Nothing is ever spliced into script text: the text is the same for every host and every run.

The script text is three fixed files around the body: ``_header.ps1`` (``param()`` block, JSON
decoding), ``_common.ps1`` (helpers) and ``_footer.ps1`` (JSON result), all in
``plugins/plugin_utils/powershell/``; T-SQL lives in ``plugins/plugin_utils/sql/`` and is passed to
the scripts as data, to be run with SqlClient parameters.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

POWERSHELL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powershell")
SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sql")
SCRIPT_MARKER = "# hpcops-script: "
MASK = "********"


class PowerShellError(Exception):
    """A script failed on the host; ``message`` names the step, the object and the cause."""

    def __init__(self, script, message, result=None):
        super(PowerShellError, self).__init__(message)
        self.script = script
        self.message = message
        self.result = result or {}


def _read(directory, name):
    with open(os.path.join(directory, name), "r", encoding="utf-8") as handle:
        return handle.read()


def load_sql(name):
    """The text of plugins/plugin_utils/sql/<name>.sql."""
    return _read(SQL_DIR, name + ".sql")


def compose(name):
    """The full text sent for script <name>: header, common helpers, body, footer (all fixed files)."""
    parts = [
        _read(POWERSHELL_DIR, "_header.ps1"),
        _read(POWERSHELL_DIR, "_common.ps1"),
        SCRIPT_MARKER + name + "\n" + _read(POWERSHELL_DIR, name + ".ps1"),
        _read(POWERSHELL_DIR, "_footer.ps1"),
    ]
    return "\n".join(parts)


def script_name(script_text):
    """Which body a composed script carries (used by logs and by the contract tests' scripted host)."""
    for line in script_text.splitlines():
        if line.startswith(SCRIPT_MARKER):
            return line[len(SCRIPT_MARKER) :].strip()
    return None


def scrub(value, secrets):
    """Replace every occurrence of a secret value in strings, recursively (defence in depth)."""
    secrets = [s for s in secrets if isinstance(s, str) and len(s) >= 3]
    if not secrets:
        return value
    if isinstance(value, dict):
        return dict((k, scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, MASK)
        return value
    return value


def _error_message(result):
    errors = result.get("error") or []
    for record in errors:
        if isinstance(record, dict):
            exc = record.get("exception") or {}
            text = exc.get("message") or record.get("output")
            if text:
                return str(text)
    return str(result.get("msg") or "the script failed without an error record")


class ScriptRunner:
    """Runs the collection's scripts through ``execute(module_name, module_args) -> result``.

    ``execute`` is the action plugin's ``_execute_module`` in production; the contract tests pass
    a scripted host that answers the way a Windows host does. ``calls`` records every round trip.
    """

    MODULE = "ansible.windows.win_powershell"

    def __init__(self, execute, secrets=None, log=None):
        self._execute = execute
        self._secrets = [s for s in (secrets or []) if s]
        self._log = log
        self.calls = []

    def run(self, name, params, secrets=None, mutating=False):
        """Run script <name> with ``params`` (JSON-serialisable) and ``secrets`` (dict of str)."""
        args = {
            "script": compose(name),
            "parameters": {"ParamsJson": json.dumps(params, sort_keys=True)},
            "error_action": "stop",
        }
        secret_values = [v for v in (secrets or {}).values() if v]
        if secrets:
            args["sensitive_parameters"] = [{"name": "SecretsJson", "value": json.dumps(secrets, sort_keys=True)}]
        if self._log:
            self._log(
                "hpcops.aws_hpc: running PowerShell %s (%s) with parameters %s"
                % (name, "apply" if mutating else "probe", ", ".join(sorted(params)))
            )
        self.calls.append({"script": name, "mutating": mutating})
        result = self._execute(self.MODULE, args) or {}
        all_secrets = self._secrets + secret_values
        payload = {}
        raw = result.get("result")
        if isinstance(raw, str) and raw.strip():
            try:
                payload = json.loads(raw)
            except ValueError:
                raise PowerShellError(
                    name, scrub("%s returned a result that is not JSON: %.200s" % (name, raw), all_secrets)
                ) from None
        elif isinstance(raw, dict) and raw:
            payload = raw
        if isinstance(payload, dict) and payload.get("failed"):
            raise PowerShellError(
                name, scrub(str(payload.get("msg") or _error_message(result)), all_secrets), scrub(payload, all_secrets)
            )
        if result.get("failed") or result.get("unreachable"):
            raise PowerShellError(
                name, scrub("%s failed on the host: %s" % (name, _error_message(result)), all_secrets)
            )
        if not isinstance(payload, dict):
            raise PowerShellError(name, "%s returned %s instead of a JSON object" % (name, type(payload).__name__))
        return scrub(payload, all_secrets)

    @property
    def round_trips(self):
        return len(self.calls)
