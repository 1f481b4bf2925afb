#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: packer_build
short_description: Run Packer builds and return the AMIs they made
version_added: 0.1.0
description:
  - Runs C(packer build -machine-readable) on a template (a C(.pkr.hcl) file or a directory of them) and returns
    the AMI ids per region from Packer's artifacts.
  - Several builds (O(builds)) run as parallel Packer processes in one module call, at most O(max_parallel) at a
    time; every build runs to its end even when another fails.
  - Variables are written to a temporary C(.pkrvars.hcl) file passed with C(-var-file), never put on the command
    line; values of variables whose names look secret (C(password), C(secret), C(token), ...) are masked in the
    log and the result.
  - "Progress shows live in the playbook output (and as job events in AWX) when the task runs on the
    controller: the collection's action plugin passes O(progress_file) and shows each line, prefixed with the
    build's label (C(packer[sqlserver] ==> amazon-ebs.windows: Creating temporary keypair...)), as Packer
    writes it. It also goes to the Ansible log (C(module.log): the journal or syslog of the controller, and the
    file named by C(ANSIBLE_LOG_PATH) on the controller side) and, when O(log_path) is set, to that file line
    by line. The result carries every step of every build."
  - A failed build fails the module with Packer's own error message, the build and the step that failed.
  - In check mode the module runs C(packer validate) with the same variables instead of building.
  - Packer's update check (checkpoint) is switched off with C(CHECKPOINT_DISABLE=1).
author: hpcops developers (@hpcops)
options:
  template:
    description:
      - Path of the template, a C(.pkr.hcl) file or a directory of them. Relative paths are relative to
        O(working_dir).
      - Mutually exclusive with O(builds).
    type: path
  name:
    description:
      - Label of the build of O(template) in messages and in the result. Defaults to the template's name.
    type: str
  variables:
    description:
      - Packer variables of O(template).
    type: dict
    default: {}
  var_files:
    description:
      - Extra variable files (C(.pkrvars.hcl)) of O(template), applied before O(variables).
    type: list
    elements: path
    default: []
  only:
    description:
      - Run only these sources of O(template) (Packer's C(-only)), for example V(amazon-ebs.windows).
    type: list
    elements: str
    default: []
  builds:
    description:
      - Several builds to run in parallel. Mutually exclusive with O(template).
    type: list
    elements: dict
    suboptions:
      name:
        description: Label of the build in messages and in the result; unique.
        type: str
        required: true
      template:
        description: Path of the template, a file or a directory.
        type: path
        required: true
      variables:
        description: Packer variables of the build.
        type: dict
        default: {}
      var_files:
        description: Extra variable files of the build.
        type: list
        elements: path
        default: []
      only:
        description: Run only these sources of the template.
        type: list
        elements: str
        default: []
  max_parallel:
    description:
      - How many Packer processes run at the same time.
    type: int
    default: 4
  packer_path:
    description:
      - The Packer executable (a name looked up in C(PATH) or a path).
    type: str
    default: packer
  working_dir:
    description:
      - Directory Packer runs in. Defaults to the directory of each template.
    type: path
  build_timeout:
    description:
      - Seconds after which a build still running is stopped and fails.
      - Called C(timeout) before; renamed after the amazon.aws convention (C(*_timeout) in whole seconds).
    type: int
    default: 7200
  env:
    description:
      - Extra environment variables for Packer, for example C(AWS_PROFILE) or C(PACKER_PLUGIN_PATH).
    type: dict
    default: {}
  throttle_retries:
    description:
      - "How many times a build is run again when it failed on an AWS throttling error
        (C(RequestLimitExceeded), C(Throttling), C(SlowDown), ...) or a 5xx answer (C(status code: 503)) that
        Packer did not retry itself. Any other failure is never retried."
      - Packer deregisters the AMI of a failed build and removes its temporary resources, so a build run again
        does not leave a second AMI; the new run uses the same AMI name.
      - V(0) runs every build once.
    type: int
    default: 2
  throttle_retry_delay:
    description:
      - Seconds to wait before the first run again; doubled for each further one.
    type: int
    default: 10
  force:
    description:
      - Pass C(-force) (replace artifacts that already exist).
    type: bool
    default: false
  log_path:
    description:
      - File the progress of every build is appended to, one line per Packer message, prefixed with the time and
        the build's label (C(2024-05-01T02:00:00 packer[sqlserver] ==> ...)); secret values are masked as in
        O(progress_file). Useful to follow a long bake with C(tail -f).
      - The module fails at once when the file cannot be written to.
    type: path
  progress_file:
    description:
      - File each progress line is appended to and flushed at once, prefixed with the build's label
        (C(packer[<label>] <Packer's message>)); secret values are masked as in the result.
      - Set by the collection's action plugin when the task runs on the controller (the V(local) connection,
        including a task delegated to C(localhost)); it creates a temporary file, shows its new lines in the
        playbook output while the module runs and removes it afterwards. There is no need to set it by hand.
      - On other connections, in C(async) tasks and with C(become) to another user than the controller's (or
        root), the action plugin leaves it unset and the progress shows only in the log and in O(log_path).
    type: path
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
attributes:
  check_mode:
    support: full
    details:
      - Runs C(packer validate) only and reports C(changed) as a build would.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run builds new images; decide beforehand whether a build is needed (see M(hpcops.aws_hpc.bake_plan)).
notes:
  - Runs on the controller (or wherever the task is delegated); Packer must be installed there. Packer 1.6.6
    (Debian) has the amazon builders built in; Packer 1.10 and later need C(packer plugins install
    github.com/hashicorp/amazon) first.
seealso:
  - module: hpcops.aws_hpc.bake_plan
  - module: hpcops.aws_hpc.bake_publish
  - name: Packer machine-readable output
    description: The format of the output this module parses.
    link: https://developer.hashicorp.com/packer/docs/commands#machine-readable-output
"""

EXAMPLES = r"""
- name: Bake the SQL Server image
  hpcops.aws_hpc.packer_build:
    template: "{{ playbook_dir }}/../packer/sqlserver"
    variables:
      region: eu-central-1
      ami_name: hpc-sqlserver-20240501
      source_ami_name: Windows_Server-2016-English-Full-SQL_2017_Standard-*
    log_path: /var/log/hpc-bake.log
  register: _sqlserver_bake

- name: Show the new AMI
  ansible.builtin.debug:
    msg: "{{ _sqlserver_bake.amis['eu-central-1'] }}"

- name: Bake the head node and compute node images at the same time
  hpcops.aws_hpc.packer_build:
    builds:
      - name: headnode
        template: "{{ playbook_dir }}/../packer/hpcpack"
        variables: {hpc_role: headnode, ami_name: hpc-headnode-20240501}
      - name: computenode
        template: "{{ playbook_dir }}/../packer/hpcpack"
        variables: {hpc_role: computenode, ami_name: hpc-computenode-20240501}
    max_parallel: 2

- name: Only check that a template and its variables are valid
  hpcops.aws_hpc.packer_build:
    template: "{{ playbook_dir }}/../packer/pcluster-linux"
    var_files: ["{{ playbook_dir }}/../packer/lab.pkrvars.hcl"]
  check_mode: true
"""

RETURN = r"""
amis:
  description: Region to AMI id of every AMI made (of every build; with O(template), of that build).
  returned: success
  type: dict
  sample: {"eu-central-1": "ami-0123456789abcdef0"}
builds:
  description: One entry per build, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The label of the build.
      type: str
      sample: sqlserver
    template:
      description: The template path.
      type: str
    failed:
      description: Whether the build failed.
      type: bool
    msg:
      description: Packer's error for a failed build (with the Packer build and step), else empty.
      type: str
    rc:
      description: Packer's exit code.
      type: int
    duration:
      description: Wall time of the build in seconds.
      type: float
    artifacts:
      description: Per Packer build (C(amazon-ebs.<source>)), region to AMI id.
      type: dict
      sample: {"amazon-ebs.windows": {"eu-central-1": "ami-0123456789abcdef0"}}
    amis:
      description: Region to AMI id of the build.
      type: dict
    attempts:
      description: How many times Packer ran for the build (more than 1 when a throttled build was run again).
      type: int
      sample: 1
    retried_on:
      description: The throttling code or 5xx status of each failed run that was run again.
      type: list
      elements: str
      sample: ["RequestLimitExceeded"]
    steps:
      description: "The steps Packer reported (its C(==> build: step) lines), in order."
      type: list
      elements: dict
    command:
      description: The Packer command line (variables are in a temporary file, not on it).
      type: list
      elements: str
duration:
  description: Wall time of the module in seconds.
  returned: always
  type: float
"""

import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._packer import (
    BuildOutput,
    PackerError,
    build_argv,
    failure_message,
    render_var_file,
    retryable_error,
    secret_values,
    validate_message,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._process import stream_command
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._progress import ProgressWriter


class Runner:
    """Runs the Packer processes. Every line goes through one writer, which masks the module's
    ``no_log_values`` (the secret variables among them) once and writes ``progress_file`` and ``log_path``."""

    def __init__(self, module, packer, tmpdir):
        self.module = module
        self.packer = packer
        self.tmpdir = tmpdir
        self.params = module.params
        self.env = dict(os.environ)
        self.env.update({str(k): str(v) for k, v in (self.params["env"] or {}).items()})
        # No update check: Packer would otherwise call checkpoint-api.hashicorp.com.
        self.env["CHECKPOINT_DISABLE"] = "1"
        self.progress = ProgressWriter(self.params["progress_file"], secrets=module.no_log_values,
                                       log_path=self.params["log_path"])

    def log(self, name, text):
        for part in str(text).splitlines():
            if part.strip():
                line = self.progress.write(f"packer[{name}] {part}")
                self.module.log(f"packer_build {line}")

    def var_file(self, index, build):
        path = os.path.join(self.tmpdir, f"build{index}.pkrvars.hcl")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(render_var_file(build["variables"]))
        os.chmod(path, 0o600)
        return path

    def cwd(self, template):
        if self.params["working_dir"]:
            return self.params["working_dir"]
        return template if os.path.isdir(template) else os.path.dirname(template) or "."

    def run(self, index, build, command):
        """Run the build; run it again (at most O(throttle_retries) times) while it fails on throttling."""
        attempts, retried_on = 0, []
        while True:
            attempts += 1
            result = self.run_once(index, build, command)
            cause = retryable_error(result["msg"]) if result["failed"] and command == "build" else None
            if cause is None or attempts > self.params["throttle_retries"]:
                break
            retried_on.append(cause)
            delay = self.params["throttle_retry_delay"] * 2 ** (attempts - 1)
            self.log(build["name"], f"failed on {cause} (AWS throttling or a transient error): running the build "
                                    f"again in {delay} s (retry {attempts} of {self.params['throttle_retries']})")
            time.sleep(delay)
        result.update(attempts=attempts, retried_on=retried_on)
        return result

    def run_once(self, index, build, command):
        name, template = build["name"], build["template"]
        result = {"name": name, "template": template, "failed": False, "msg": "", "rc": None, "duration": 0.0,
                  "artifacts": {}, "amis": {}, "steps": []}
        try:
            var_files = [*build["var_files"], self.var_file(index, build)]
            argv = build_argv(self.packer, command, template, var_files=var_files, only=build["only"],
                              force=self.params["force"] and command == "build")
        except (PackerError, OSError) as exc:
            result.update(failed=True, msg=f"Cannot prepare the Packer run of image {name}: {exc}")
            return result
        result["command"] = argv
        started = time.monotonic()
        output = BuildOutput()
        self.log(name, f"running {' '.join(argv)}")

        def on_line(line):
            text = output.feed(line)
            if text:
                self.log(name, text)

        try:
            returncode = stream_command(argv, on_line, cwd=self.cwd(template), env=self.env,
                                        timeout=self.params["build_timeout"])
        except OSError as exc:
            result.update(failed=True, msg=f"Cannot run {self.packer} for image {name}: {exc}")
            return result
        result.update(duration=round(time.monotonic() - started, 3), rc=returncode, steps=output.steps)
        if command == "validate":
            if returncode != 0:
                message = validate_message(name, template, returncode, "\n".join(output.messages))
                result.update(failed=True, msg=message)
            return result
        self.outcome(result, output)
        self.log(name, "failed: " + result["msg"] if result["failed"] else f"done: {result['amis']}")
        return result

    def outcome(self, result, output):
        """The AMIs of a finished build, or why it failed."""
        name, template, returncode = result["name"], result["template"], result["rc"]
        result["artifacts"] = output.amis()
        for amis in result["artifacts"].values():
            result["amis"].update(amis)
        if returncode != 0:
            msg = failure_message(name, template, returncode, output)
            if result["duration"] >= self.params["build_timeout"]:
                msg = f"Packer build of image {name} ({template}) stopped after the build_timeout of " \
                      f"{self.params['build_timeout']} s. {msg}"
            result.update(failed=True, msg=msg)
        elif not result["amis"]:
            result.update(failed=True, msg=f"Packer build of image {name} ({template}) succeeded but reported no AMI")


def builds_of(module):
    """The builds to run: O(builds), or the one build of O(template)."""
    params = module.params
    if params["builds"]:
        builds = params["builds"]
    else:
        template = params["template"]
        builds = [{"name": params["name"] or os.path.basename(template.rstrip("/")), "template": template,
                   "variables": params["variables"], "var_files": params["var_files"], "only": params["only"]}]
    names = [b["name"] for b in builds]
    if len(set(names)) != len(names):
        module.fail_json(msg=f"The names of the builds must be unique, got {', '.join(names)}")
    return builds


def check_templates(module, builds):
    """Templates are absolute (unless O(working_dir) is set) and exist."""
    params = module.params
    for build in builds:
        if params["working_dir"] is None and not os.path.isabs(build["template"]):
            build["template"] = os.path.abspath(build["template"])
        if not os.path.exists(build["template"]):
            module.fail_json(msg=f"The template of image {build['name']} does not exist: {build['template']}")


def packer_executable(module):
    params = module.params
    packer = shutil.which(params["packer_path"]) if os.sep not in params["packer_path"] else params["packer_path"]
    if not packer or not os.access(packer, os.X_OK):
        module.fail_json(msg=f"Packer not found ({params['packer_path']}): install it, see docs/bakery.md")
    return packer


def check_log_path(module):
    """Fail at once when O(log_path) cannot be appended to (rather than in the middle of a bake)."""
    path = module.params["log_path"]
    if path:
        try:
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            module.fail_json(msg=f"Cannot write the log file {path} (log_path): {exc}")


def main():
    build_spec = dict(
        name=dict(type="str", required=True),
        template=dict(type="path", required=True),
        variables=dict(type="dict", default={}),
        var_files=dict(type="list", elements="path", default=[]),
        only=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleModule(
        argument_spec=dict(
            template=dict(type="path"),
            name=dict(type="str"),
            variables=dict(type="dict", default={}),
            var_files=dict(type="list", elements="path", default=[]),
            only=dict(type="list", elements="str", default=[]),
            builds=dict(type="list", elements="dict", options=build_spec),
            max_parallel=dict(type="int", default=4),
            packer_path=dict(type="str", default="packer"),
            working_dir=dict(type="path"),
            build_timeout=dict(type="int", default=7200),
            env=dict(type="dict", default={}),
            force=dict(type="bool", default=False),
            throttle_retries=dict(type="int", default=2),
            throttle_retry_delay=dict(type="int", default=10),
            log_path=dict(type="path"),
            progress_file=dict(type="path"),
        ),
        mutually_exclusive=[("template", "builds")],
        required_one_of=[("template", "builds")],
        supports_check_mode=True,
    )
    params = module.params
    started = time.monotonic()
    builds = builds_of(module)
    if params["max_parallel"] < 1 or params["build_timeout"] < 1:
        module.fail_json(msg="max_parallel and build_timeout must be at least 1")
    if params["throttle_retries"] < 0 or params["throttle_retry_delay"] < 0:
        module.fail_json(msg="throttle_retries and throttle_retry_delay must be 0 or more")
    packer = packer_executable(module)
    check_templates(module, builds)
    check_log_path(module)
    for build in builds:
        # The one list of values to mask: the writer masks the lines with it, Ansible the result and the log.
        module.no_log_values.update(secret_values(build["variables"]))

    tmpdir = tempfile.mkdtemp(prefix="hpcops-packer-")
    try:
        runner = Runner(module, packer, tmpdir)
        command = "validate" if module.check_mode else "build"
        with ThreadPoolExecutor(max_workers=min(params["max_parallel"], len(builds))) as pool:
            results = list(pool.map(lambda item: runner.run(item[0], item[1], command), enumerate(builds)))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    amis = {}
    for result in results:
        amis.update(result["amis"])
    outcome = dict(changed=True, builds=results, amis=amis, duration=round(time.monotonic() - started, 3))
    if runner.progress.log_error:
        module.warn(runner.progress.log_error)
    failed = [r for r in results if r["failed"]]
    if failed:
        module.fail_json(msg=" | ".join(r["msg"] for r in failed), **outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
