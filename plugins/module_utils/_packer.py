# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the packer_build module (private: not a public API).

Packer's ``-machine-readable`` output is one event per line,
``timestamp,target,type,data...``: commas inside the data are written as ``%!(PACKER_COMMA)``
and newlines as a literal backslash-n. This module turns those lines into progress steps,
artifacts (region -> AMI id per build) and errors, builds the command lines and renders the
variables file. It does no I/O; the module runs the processes.
"""

from __future__ import annotations

import json
import re

COMMA = "%!(PACKER_COMMA)"
SECRET_NAME = re.compile(r"(password|passwd|secret|token|credential|private_key|access_key)", re.IGNORECASE)
_UI_STEP = re.compile(r"^==> (?P<build>[^:\s]+): (?P<text>.*)$")
_VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_AMI_ID = re.compile(r"^(?P<region>[a-z]{2}(-[a-z]+)+-\d):(?P<ami>ami-[0-9a-f]+)$")
# Errors worth running a failed build again for: AWS throttling codes (the AWS SDK for Go's
# aws/request/retryer.go throttleCodes, botocore's retries/standard.py _THROTTLED_ERROR_CODES) and
# 5xx answers (both SDKs retry 500/502/503/504). Packer prints them as ``Code: message`` and
# ``status code: 503``. Nothing else is retried: a template, credential or quota error fails at once.
THROTTLE_CODES = (
    "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "RequestThrottled",
    "RequestLimitExceeded", "EC2ThrottledException", "TooManyRequestsException", "SlowDown",
    "BandwidthLimitExceeded", "PriorRequestNotComplete", "ProvisionedThroughputExceededException",
    "ServiceUnavailable", "ServiceUnavailableException", "Unavailable", "InternalError", "InternalFailure",
    "RequestTimeout", "RequestTimeoutException",
)
_RETRYABLE_CODE = re.compile(r"(?<![\w.])(?P<code>" + "|".join(THROTTLE_CODES) + r"):")
_RETRYABLE_STATUS = re.compile(r"status code: (?P<status>50[0234])\b")


class PackerError(ValueError):
    """A value given to the helpers cannot be turned into Packer input; the message says which."""


def decode(field):
    """Undo Packer's machine-readable escaping of one data field."""
    return field.replace(COMMA, ",").replace("\\n", "\n").replace("\\r", "\r")


def parse_line(line):
    """One machine-readable line as a dict (timestamp, target, type, data), None for other lines."""
    text = line.rstrip("\r\n")
    parts = text.split(",")
    if len(parts) < 3 or not parts[0].isdigit():
        return None
    return {
        "timestamp": int(parts[0]),
        "target": parts[1],
        "type": parts[2],
        "data": [decode(p) for p in parts[3:]],
    }


def parse_artifact_id(artifact_id):
    """``us-east-1:ami-1,eu-west-1:ami-2`` -> {region: ami}; ids of other kinds are ignored."""
    amis = {}
    for item in (artifact_id or "").split(","):
        match = _AMI_ID.match(item.strip())
        if match:
            amis[match["region"]] = match["ami"]
    return amis


def ui_step(text):
    """``==> amazon-ebs.image: Creating AMI x`` -> ('amazon-ebs.image', 'Creating AMI x'), else None."""
    first = text.split("\n", 1)[0]
    match = _UI_STEP.match(first)
    if not match:
        return None
    return match["build"], match["text"].strip()


class BuildOutput:
    """Accumulates the events of one ``packer build -machine-readable`` run."""

    def __init__(self):
        self.steps = []  # [{"build": ..., "step": ..., "time": ...}]
        self.current = {}  # build -> last step seen
        self.artifacts = {}  # build -> {index: {key: value}}
        self.errors = {}  # build -> message (Packer's own text)
        self.ui_errors = []
        self.error_count = None
        self.messages = []

    def feed(self, line):
        """Consume one output line; returns the progress text worth logging, or None."""
        event = parse_line(line)
        if event is None:
            text = line.rstrip("\r\n")
            if text:
                self.messages.append(text)
            return text or None
        kind, data, target = event["type"], event["data"], event["target"]
        if kind == "ui" and len(data) >= 2:
            level, text = data[0], data[1]
            if level == "error":
                self.ui_errors.append(text)
            step = ui_step(text)
            if step and level in ("say", "error"):
                build, step_text = step
                if level == "say":
                    self.current[build] = step_text
                    self.steps.append({"build": build, "step": step_text, "time": event["timestamp"]})
            self.messages.append(text)
            return text
        if kind == "artifact" and len(data) >= 2:
            index, key = data[0], data[1]
            value = ",".join(data[2:])
            self.artifacts.setdefault(target, {}).setdefault(index, {})[key] = value
            return None
        if kind == "error" and data:
            self.errors[target or ""] = ",".join(data)
            return None
        if kind == "error-count" and data:
            try:
                self.error_count = int(data[0])
            except ValueError:
                self.error_count = None
        return None

    def amis(self):
        """{build: {region: ami}} from the artifacts of the run."""
        result = {}
        for build, artifacts in self.artifacts.items():
            for index in sorted(artifacts):
                found = parse_artifact_id(artifacts[index].get("id", ""))
                if found:
                    result.setdefault(build, {}).update(found)
        return result

    def failed_step(self, build):
        return self.current.get(build)

    def failure(self):
        """The first failed build, its step and Packer's own message: (build, step, message)."""
        if self.errors:
            build = sorted(self.errors)[0]
            return build, self.failed_step(build), self.errors[build]
        for text in self.ui_errors:
            cleaned = text.strip()
            if cleaned and not cleaned.startswith("==> Some builds"):
                return None, None, cleaned
        return None, None, None


def failure_message(name, template, returncode, output, stderr=""):
    """A clear one-paragraph message for a failed build, quoting Packer's own error text."""
    build, step, message = output.failure()
    if message is None:
        tail = [m for m in output.messages if m.strip()][-5:]
        message = (stderr or "").strip() or "\n".join(tail) or "no error text"
    where = f" in build {build}" if build else ""
    at = f" at step '{step}'" if step else ""
    return f"Packer build of image {name} ({template}) failed (exit {returncode}){where}{at}: {message}"


def retryable_error(text):
    """The AWS throttling code or 5xx status in a failed build's error text (``RequestLimitExceeded``,
    ``HTTP 503``), or None when the failure is of another kind and must not be retried."""
    match = _RETRYABLE_CODE.search(text or "")
    if match:
        return match["code"]
    match = _RETRYABLE_STATUS.search(text or "")
    return f"HTTP {match['status']}" if match else None


def validate_message(name, template, returncode, text):
    return f"packer validate of image {name} ({template}) failed (exit {returncode}): {text.strip() or 'no output'}"


def build_argv(packer, command, template, *, var_files=None, only=None, force=False):
    """The argv of ``packer build`` or ``packer validate``."""
    if command not in ("build", "validate"):
        raise PackerError(f"command must be build or validate, got {command!r}")
    argv = [packer, command]
    if command == "build":
        argv += ["-machine-readable", "-color=false"]
        if force:
            argv.append("-force")
    for var_file in var_files or []:
        argv.append(f"-var-file={var_file}")
    if only:
        argv.append("-only=" + ",".join(only))
    argv.append(template)
    return argv


def _hcl_string(text):
    # A JSON string is an HCL string once template sequences are escaped.
    return json.dumps(text).replace("${", "$${").replace("%{", "%%{")


def hcl_value(value):
    """Render a Python value as an HCL2 expression (strings, numbers, bools, lists, maps)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        return _hcl_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_hcl_string(str(k))} = {hcl_value(v)}" for k, v in sorted(value.items()))
        return "{ " + items + " }" if items else "{}"
    raise PackerError(f"cannot pass a value of type {type(value).__name__} to Packer")


def render_var_file(variables):
    """The text of a ``.pkrvars.hcl`` file setting ``variables``."""
    lines = ["# Written by hpcops.aws_hpc.packer_build; removed after the run."]
    for name in sorted(variables or {}):
        if not _VARIABLE_NAME.match(name):
            raise PackerError(f"'{name}' is not a valid Packer variable name")
        lines.append(f"{name} = {hcl_value(variables[name])}")
    return "\n".join(lines) + "\n"


def secret_values(variables):
    """Values of the variables whose names look secret (the module adds them to its ``no_log_values``)."""
    found = []
    for name, value in (variables or {}).items():
        if SECRET_NAME.search(name) and isinstance(value, str) and value:
            found.append(value)
    return found
