# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``pcluster`` command line runner of the pcluster_cluster module (private: not a public API).

:class:`PclusterCLI` runs ``pcluster`` (aws-parallelcluster 3) with the module's connection options in its
environment - region, profile, endpoint URL and explicit keys, never on its command line - and parses its JSON
answer. An answer that is not JSON raises :class:`PclusterError` with the command, exit code, stdout and stderr.
:class:`PclusterError` is also the one failure of the module's manager: a message plus the result keys to
report with it.
"""

from __future__ import annotations

import json
import os

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import ModuleFailure

NOT_FOUND = "does not exist"
# pcluster is boto3: it reads botocore's retry settings from its environment. Throttled and 5xx calls
# are retried in the standard mode (botocore/retries/standard.py), at most 10 attempts a call, unless
# the user's environment sets its own.
RETRY_ENVIRONMENT = {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "10"}


class PclusterError(ModuleFailure):
    """The module fails: ``msg`` and the extra result keys (``fail_kwargs()`` is what ``fail_json`` takes)."""


def format_messages(messages):
    """ParallelCluster's validation messages as one line: ``[LEVEL] Type: message; ...``."""
    return "; ".join(f"[{m.get('level', '?')}] {m.get('type', '?')}: {m.get('message', '')}" for m in messages or [])


def retry_environment(base=None):
    """botocore's retry mode and attempts for ``pcluster``: :data:`RETRY_ENVIRONMENT`, less the variables
    ``base`` (the controller's environment) already sets."""
    base = os.environ if base is None else base
    return {name: value for name, value in RETRY_ENVIRONMENT.items() if not base.get(name)}


def environment(params):
    """The environment ``pcluster`` gets from the module's connection options."""
    env = {}
    if params.get("region"):
        env["AWS_DEFAULT_REGION"] = params["region"]
        env["AWS_REGION"] = params["region"]
    if params.get("endpoint_url"):
        env["AWS_ENDPOINT_URL"] = params["endpoint_url"]
    if params.get("profile"):
        env["AWS_PROFILE"] = params["profile"]
    if params.get("access_key"):
        env["AWS_ACCESS_KEY_ID"] = params["access_key"]
        env["AWS_SECRET_ACCESS_KEY"] = params["secret_key"]
    if params.get("session_token"):
        env["AWS_SESSION_TOKEN"] = params["session_token"]
    return env


def find_pcluster(module, path):
    """The pcluster executable of the ``pcluster_path`` option: a path, or a name looked up on PATH."""
    if os.path.sep in path:
        if not os.access(path, os.X_OK):
            raise PclusterError(f"pcluster_path {path} is not an executable file")
        return path
    found = module.get_bin_path(path)
    if not found:
        raise PclusterError(
            f"Cannot find the pcluster command '{path}' on PATH: install aws-parallelcluster "
            "(pip install aws-parallelcluster) or set pcluster_path"
        )
    return found


def parse_answer(argv, rc, out, err):
    """pcluster's JSON answer as a dict (a list becomes ``{"items": [...]}``, no output ``{}``).

    Output that is not JSON, or a failure (exit code not 0) without an answer, raises :class:`PclusterError`
    with the command, exit code, stdout and stderr.
    """
    text = (out or "").strip()
    details = {"command": " ".join(argv), "rc": rc, "stdout": out or "", "stderr": err or ""}
    try:
        data = json.loads(text) if text else {}
    except ValueError as exc:
        raise PclusterError(
            f"pcluster {argv[1]} answered with output that is not JSON (exit {rc}): {text[:500]}", **details
        ) from exc
    if not isinstance(data, dict):
        data = {"items": data}
    if rc != 0 and not data:
        raise PclusterError(f"pcluster {argv[1]} failed (exit {rc}): {(err or out or '').strip()}", **details)
    return data


class PclusterCLI:
    """Runs the pcluster CLI and parses its JSON answers."""

    def __init__(self, module):
        self.module = module
        self.path = find_pcluster(module, module.params["pcluster_path"])
        self.env = {**retry_environment(), **environment(module.params)}
        self.calls = []

    def run(self, *args):
        """Run ``pcluster <args>``; return (rc, parsed JSON answer)."""
        argv = [self.path, *args]
        if self.module.params.get("region"):
            argv += ["--region", self.module.params["region"]]
        self.calls.append(" ".join(args[:1]))
        rc, out, err = self.module.run_command(argv, environ_update=self.env)
        return rc, parse_answer(argv, rc, out, err)

    def describe(self, name):
        """The describe-cluster answer, or None when the cluster does not exist."""
        rc, data = self.run("describe-cluster", "--cluster-name", name)
        if rc != 0:
            if NOT_FOUND in data.get("message", ""):
                return None
            raise PclusterError(f"pcluster describe-cluster {name} failed: {data.get('message', data)}")
        return data

    def validation_args(self):
        """The --suppress-validators and --validation-failure-level arguments of the module's options."""
        args = []
        suppress = self.module.params["suppress_validators"]
        if suppress:
            args += ["--suppress-validators", *suppress]
        args += ["--validation-failure-level", self.module.params["validation_failure_level"]]
        return args
