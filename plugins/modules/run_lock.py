#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: run_lock
short_description: Take or release a run lock kept as an SSM parameter, so two runs never change one cluster at once
version_added: 0.1.0
description:
  - Keeps a lock as an SSM Parameter Store C(String) parameter O(name) whose value is JSON - the owner (a run id),
    the controller's host name and C(ansible-playbook) process id, when the lock was taken and when its lease ends.
  - O(state=present) takes the lock. It is created with C(Overwrite=false), which SSM makes atomic - of two runs
    creating it at once, one gets C(ParameterAlreadyExists) - so only one run holds it.
  - A lock held by another run is taken over, with a warning naming the old holder, when its lease has ended,
    when its holder ran on this same controller host and its C(ansible-playbook) process is gone (a run killed or
    failed on this host), or with O(break_lock=true). The takeover deletes the parameter only when its value is
    still the one read, then creates it again with C(Overwrite=false).
  - Otherwise the module waits up to O(wait_timeout) seconds for the lock, looking every 2 seconds, then fails,
    naming the lock, its holder's host, process and run id, when it started and when its lease ends, and how to
    break it.
  - Taking a lock this O(owner) already holds renews its lease (the parameter is rewritten, the result says
    RV(action=renewed) and C(changed=false)).
  - O(state=absent) releases the lock - only when O(owner) holds it; another run's lock is left as it is, with a
    warning.
  - The process is the outermost C(ansible-playbook) or C(ansible-runner) process above the module (the run
    itself); when there is none, only the lease frees the lock.
author: hpcops developers (@hpcops)
options:
  name:
    description:
      - The SSM parameter of the lock, for example V(/hpc/prod/locks/site).
    type: str
    required: true
  state:
    description:
      - V(present) takes (or renews) the lock; V(absent) releases it.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - The run id of the holder. The playbooks make one per run (the AWX job id in AWX).
    type: str
    required: true
  lease:
    description:
      - Seconds the lock is held before another run may take it over, from when it is taken or renewed. Set it
        above the longest run, as a run that is still going past its lease can lose its lock.
    type: int
    default: 7200
  wait_timeout:
    description:
      - Seconds to wait for a lock held by another live run. V(0) fails at once.
    type: int
    default: 0
  break_lock:
    description:
      - Take the lock even when another run holds it (after checking that run is gone).
    type: bool
    default: false
notes:
  - B(AWX) - a job runs in a container of its own (another host name), so a lock left by a killed job is freed
    only when its lease ends. Once AWX shows the job as ended, relaunch with O(break_lock=true) (the playbooks'
    C(hpc_lock_break=true)) to go on at once.
  - A run that fails leaves its lock. A later run on the same controller host takes it over at once (the process
    is gone); elsewhere the lease decides.
  - The lock is bookkeeping - the playbooks report its tasks as not changed, so a second run of a converged
    cluster stays at C(changed=0).
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)); the message names the lock.
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Taking a lock this owner holds renews its lease and reports no change; releasing a lock that is not held
        changes nothing.
seealso:
  - module: hpcops.aws_hpc.ssm_secret
"""

EXAMPLES = r"""
- name: Take the cluster's lock (fail at once when another run holds it)
  hpcops.aws_hpc.run_lock:
    name: /hpc/prod/locks/site
    owner: "{{ awx_job_id | default(lookup('ansible.builtin.pipe', 'date +%s%N')) }}"
    lease: 7200
  register: _lock

- name: Take the bakery's lock, waiting up to 30 minutes for another bake
  hpcops.aws_hpc.run_lock:
    name: /hpc/prod/locks/bake
    owner: "{{ _run_id }}"
    wait_timeout: 1800

- name: Release the lock at the end of the run
  hpcops.aws_hpc.run_lock:
    name: /hpc/prod/locks/site
    owner: "{{ _run_id }}"
    state: absent
"""

RETURN = r"""
name:
  description: The SSM parameter of the lock.
  returned: always
  type: str
  sample: /hpc/prod/locks/site
action:
  description:
    - What the task did (in check mode - would do) - V(acquired), V(renewed) (this owner held it), V(taken_over)
      (a stale or broken lock replaced), V(released), or V(none) (O(state=absent) and this owner does not hold it).
  returned: always
  type: str
  sample: acquired
holder:
  description:
    - The lock's value after the task - C(owner), C(host), C(pid), C(pid_start), C(started) and C(expires) (epoch
      seconds); for V(released) the lock that was released; null when there is no lock.
  returned: always
  type: dict
  sample: {"owner": "20260101T120000Z-1234", "host": "awx-job-42", "pid": 812, "pid_start": 12345,
           "started": 1767268800, "expires": 1767276000}
previous:
  description: The holder whose lock was taken over (RV(action=taken_over)), else null.
  returned: always
  type: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _lock
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import client_from_module, run_module

# SSM parameter names: letters, digits and .-_/ , a path starting with / (AWS Systems Manager User Guide,
# "Requirements and constraints for parameter names")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_/")


def check_options(module):
    params = module.params
    name = params["name"]
    if not name.startswith("/") or not set(name) <= _NAME_CHARS or len(name) > 1011:
        module.fail_json(msg="name must be an SSM parameter path of letters, digits and . - _ / starting with /, "
                             "got %r" % name)
    if not params["owner"].strip():
        module.fail_json(msg="owner must be a run id, got an empty string")
    for option in ("lease", "wait_timeout"):
        if params[option] < (1 if option == "lease" else 0):
            module.fail_json(msg="%s must be %s seconds, got %d" % (
                option, "1 or more" if option == "lease" else "0 or more", params[option]))


def ensure(module, lock):
    params = module.params
    if params["state"] == "present":
        done = lock.acquire(params["wait_timeout"], params["break_lock"], module.check_mode)
        changed = done["action"] != "renewed"
    else:
        released, holder = lock.release(module.check_mode)
        done = {"action": "released" if released else "none", "holder": holder if released else None,
                "previous": None}
        changed = released
    for warning in lock.warnings:
        module.warn(warning)
    return {"changed": changed, "name": lock.name, **done}


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        owner=dict(type="str", required=True),
        lease=dict(type="int", default=7200),
        wait_timeout=dict(type="int", default=0),
        break_lock=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    check_options(module)
    params = module.params
    lock = _lock.Lock(client_from_module(module, "ssm"), params["name"], params["owner"], params["lease"],
                      pid=_lock.controller_pid())
    run_module(module, lambda: ensure(module, lock))


if __name__ == "__main__":
    main()
