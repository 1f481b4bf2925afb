#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: hpc_autogrow
short_description: One autogrow reconcile step - start or stop compute nodes from the scheduler's queue
version_added: 0.1.0
description:
  - Reads the scheduler's pending jobs and node states (output gathered by a previous task on the scheduler's head
    host, see O(squeue_json), O(sinfo_json), O(pending_jobs), O(scheduler_nodes)), the cluster's compute instances
    from EC2/Auto Scaling, decides with the autogrow policy (C(plugins/module_utils/_autogrow.py)) and acts, through
    the autogrow actuator C(plugins/module_utils/_fleet.py) - the same code as the long-running service.
  - The policy scales out by the queue's unmet demand at once, starting stopped pool instances first (about a
    minute) and launching fresh ones for the rest. With the running jobs known (from O(squeue_json) or
    O(running_jobs)) and O(forecast=true), the demand is what the scheduler can start now over O(max_nodes) nodes
    (first come, first served with backfill, time limits as runtime estimates); nodes held idle for a wide job that
    must wait for running work are stopped and started again one boot (and O(interval)) before its expected
    start. It stops idle nodes the queue does not need once idle for the idle window (by default the cost of a
    restart, at least the 60 s billing minimum), never a node with running work, never below O(min_nodes).
  - O(pool_mode=tagged) - the pool is the instances tagged C(hpc:cluster=<cluster>) and C(hpc:role=computenode);
    nodes are started and stopped with EC2 StartInstances/StopInstances in batches of at most 1,000 ids, fresh
    nodes launched from the launch template C(hpc-<cluster>-computenode).
  - O(pool_mode=warm_pool) - the pool is the Auto Scaling group C(hpc-<cluster>-computenode) and its warm pool;
    growing raises the desired capacity (the group takes warm-pool instances first), stopping terminates the chosen
    instances in the group with the desired capacity decremented (with the warm pool's reuse-on-scale-in, they go
    back to the warm pool stopped).
  - Idle-since times are kept in the C(hpc:idle-since) instance tag, so successive steps (and runs) share them.
  - The policy also sizes the pool of stopped instances. A stopped instance saves a cold boot over a warm start,
    in billed time and in wait, O(cold_boot_time) - O(warm_boot_time) seconds of each, and costs its EBS volumes,
    O(pool_ebs_ratio) node-seconds per second, so it is worth keeping for
    2 x (O(cold_boot_time) - O(warm_boot_time)) / O(pool_ebs_ratio) seconds (about 5.8 hours with the defaults). A
    stopped instance stopped that long ago (EC2's C(StateTransitionReason) gives the time) is terminated, oldest
    first, never one the step starts; one whose stop time is unknown is kept. Outside an Auto Scaling group it goes
    through EC2 TerminateInstances (batches of 1,000 ids); an C(InService) member of the compute group goes through
    the group with the desired capacity decremented; instances in the group's warm pool are kept (the group keeps
    the warm pool's size, see M(hpcops.aws_hpc.hpc_pool)'s O(hpcops.aws_hpc.hpc_pool#module:warm_pool_size)).
  - Throttling is retried by botocore's adaptive retry mode of the collection's client factory.
  - One step at a time per cluster - this module, AWX schedules and the autogrow service may overlap. A step
    (not in check mode) with something to do takes the SSM parameter lock C(/hpc/<cluster>/locks/autogrow) (see
    M(hpcops.aws_hpc.run_lock)), reads the instances and decides again under it, acts, and releases it, so two
    steps never stop the same node twice nor start more than O(max_nodes). A step that cannot take it within
    O(lock_wait) seconds acts on nothing, warns and says why in the decision's reasons. A holder whose process is
    gone on this host, or that took it 300 seconds ago, is taken over. A step with nothing to do does not use the
    lock. The caller needs C(ssm:GetParameter), C(ssm:PutParameter) and C(ssm:DeleteParameter) on that parameter.
author: hpcops developers (@hpcops)
options:
  cluster:
    description: The cluster (tag C(hpc:cluster)); names the group and launch template C(hpc-<cluster>-computenode).
    type: str
    required: true
  pool_mode:
    description: How nodes are started and stopped; see the description.
    type: str
    choices: [tagged, warm_pool]
    default: tagged
  squeue_json:
    description: Output of C(squeue --json) on the Slurm head node.
    type: str
  sinfo_json:
    description: Output of C(sinfo --json) on the Slurm head node.
    type: str
  pending_jobs:
    description:
      - Pending jobs from another adapter (HPC Pack), each with C(nodes) and/or C(cores); added to O(squeue_json)'s.
    type: list
    elements: dict
    default: []
  running_jobs:
    description:
      - Running jobs from another adapter, each with C(nodes) and/or C(cores) and its expected C(end) (epoch
        seconds, null when unknown); added to O(squeue_json)'s. Given (even empty), the queue is forecast.
    type: list
    elements: dict
  forecast:
    description:
      - Plan the queue from the running jobs' expected ends (see the description); V(false) counts every pending
        node as wanted now.
    type: bool
    default: true
  interval:
    description:
      - Seconds until the next step (the loop's pause or the AWX schedule); nodes for a reserved start are started
        this much earlier.
    type: int
    default: 0
  scheduler_nodes:
    description:
      - Node name to state (V(busy), V(idle), V(draining), V(drained), V(down)) or to a dict with C(state) and an
        optional C(idle_since) (epoch seconds), from another adapter; O(sinfo_json) takes precedence.
    type: dict
    default: {}
  node_name_tag:
    description: Instance tag holding the node's name in the scheduler (else the short private DNS name).
    type: str
    default: hpc:node-name
  lock_wait:
    description:
      - Seconds to wait for the cluster's autogrow lock while another step holds it (see the description); then the
        step acts on nothing.
    type: int
    default: 30
    version_added: 0.1.0
  min_nodes:
    description: Nodes always in service.
    type: int
    default: 0
  max_nodes:
    description: Most nodes in service.
    type: int
    required: true
  cores_per_node:
    description: Cores of one node, to turn a job's cores into nodes.
    type: int
    default: 1
  warm_boot_time:
    description: Seconds from starting a stopped pool instance to a serving node.
    type: int
    default: 60
  cold_boot_time:
    description: Seconds from launching a fresh instance to a serving node; a running node unknown to the scheduler
      for less than this long counts as starting.
    type: int
    default: 600
  idle_timeout:
    description: Seconds idle before a node is stopped; unset derives it from the restart cost.
    type: int
  billing_minimum:
    description: Minimum billed seconds per start (60 for Linux and Windows on EC2 since 2021).
    type: int
    default: 60
  end_of_hour:
    description:
      - Stop idle nodes only in the last O(hour_window) seconds of a billed hour (the reference deployment's rule;
        hourly billing).
    type: bool
    default: false
  hour_window:
    description: The end-of-hour window in seconds.
    type: int
    default: 300
  pool_ebs_ratio:
    description:
      - What one stopped instance's EBS volumes cost per hour over the instance's own price per hour; sizes the pool
        of stopped instances (see the description). The default is 40 GiB x USD 0.08 per GB-month (gp3) / 730 hours /
        USD 0.085 per hour (c5.large On-Demand), in us-east-1.
      - V(0) keeps stopped instances for ever (no trim). Must be 0 or more.
    type: float
    default: 0.0516
    version_added: 0.1.0
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    details:
      - Returns the decision; changes nothing.
  diff_mode:
    support: full
    details:
      - Shows the nodes in service and the stopped pool instances before and after.
  idempotent:
    support: partial
    details:
      - A step reports no change when the policy decides nothing; time passing can make an idle node or a stopped
        instance due.
"""

EXAMPLES = r"""
- name: Read the queue
  ansible.builtin.command:
    argv: [squeue, --json]
  register: _squeue
  changed_when: false
  delegate_to: "{{ groups['pcluster_head'][0] }}"

- name: Read the nodes
  ansible.builtin.command:
    argv: [sinfo, --json]
  register: _sinfo
  changed_when: false
  delegate_to: "{{ groups['pcluster_head'][0] }}"

- name: One reconcile step
  hpcops.aws_hpc.hpc_autogrow:
    cluster: prod
    max_nodes: 64
    squeue_json: "{{ _squeue.stdout }}"
    sinfo_json: "{{ _sinfo.stdout }}"
  register: _autogrow

- name: Resume the started nodes in Slurm
  ansible.builtin.command:
    argv: [scontrol, update, "nodename={{ item }}", state=resume]
  loop: "{{ _autogrow.started_nodes }}"
  delegate_to: "{{ groups['pcluster_head'][0] }}"
  changed_when: true
"""

RETURN = r"""
decision:
  description: The policy's decision (instance ids to start and stop, how many to launch, the reasons).
  returned: always
  type: dict
  sample: {"start": ["i-0a"], "launch": 0, "stop": [], "recheck_at": null, "demand": 1, "in_service": 0,
           "reasons": ["grow: 1 pending nodes, 0 idle, 0 starting -> start 1 warm, launch 0"]}
started_nodes:
  description: Scheduler names of the nodes started (resume them in the scheduler).
  returned: always
  type: list
  elements: str
stopped_nodes:
  description: Scheduler names of the nodes stopped (mark them down in the scheduler).
  returned: always
  type: list
  elements: str
launched:
  description: Instance ids launched fresh.
  returned: always
  type: list
  elements: str
terminated:
  description:
    - Instance ids of the stopped instances terminated, stopped for C(policy.pool_keep_time) or longer (in check mode,
      those that would be). The reasons in RV(decision) say why a due instance was kept.
  returned: always
  type: list
  elements: str
  sample: ["i-0b"]
recheck_at:
  description:
    - When the next step has something to do (epoch seconds) - an idle node's stop falls due, a reservation's nodes
      must start, or a stopped instance reaches its keep time; null when nothing is pending.
  returned: always
  type: float
queue:
  description:
    - The queue summary (pending nodes and jobs, unsatisfiable jobs) and its C(forecast) (C(now_nodes), the
      reservation's C(reserve_at)/C(reserve_nodes), C(freeing_nodes); C(reserve_at) is null when no running job
      has an expected end; the forecast is null without running jobs or with O(forecast=false)).
  returned: always
  type: dict
policy:
  description:
    - The policy's settings (the options O(min_nodes) to O(forecast), with C(use_warm_pool), and O(pool_ebs_ratio))
      and what they give, in seconds - the C(idle_window) and C(pool_keep_time), how long a stopped instance is kept
      (null - for ever - with O(pool_ebs_ratio=0)).
  returned: always
  type: dict
  sample: {"min_nodes": 0, "max_nodes": 4, "cores_per_node": 1, "warm_boot_time": 60, "cold_boot_time": 600,
           "idle_timeout": null, "billing_minimum": 60, "end_of_hour": false, "hour_window": 300, "interval": 0,
           "forecast": true, "use_warm_pool": true, "idle_window": 60, "pool_ebs_ratio": 0.0516,
           "pool_keep_time": 20930.23}
nodes:
  description: The nodes as the policy saw them (instance id, name, policy state).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _fleet, _sched, _tags
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import client_from_module, run_module

DEFAULTS = _autogrow.DEFAULTS
# the policy's settings: each option has the name and default of the Config field
POLICY_OPTIONS = dict(
    min_nodes=dict(type="int", default=DEFAULTS["min_nodes"]),
    max_nodes=dict(type="int", required=True),
    cores_per_node=dict(type="int", default=DEFAULTS["cores_per_node"]),
    warm_boot_time=dict(type="int", default=DEFAULTS["warm_boot_time"]),
    cold_boot_time=dict(type="int", default=DEFAULTS["cold_boot_time"]),
    idle_timeout=dict(type="int"),
    billing_minimum=dict(type="int", default=DEFAULTS["billing_minimum"]),
    end_of_hour=dict(type="bool", default=DEFAULTS["end_of_hour"]),
    hour_window=dict(type="int", default=DEFAULTS["hour_window"]),
    interval=dict(type="int", default=DEFAULTS["interval"]),
    forecast=dict(type="bool", default=DEFAULTS["forecast"]),
)
# the pool's size: not a policy setting of _autogrow.Config, its default is the actuator's
POOL_OPTIONS = dict(
    pool_ebs_ratio=dict(type="float", default=_fleet.POOL_EBS_RATIO),
)


def policy(module):
    """The policy's :class:`Config` from the options (O(pool_ebs_ratio) checked too); its errors name the option."""
    try:
        _fleet.ebs_ratio(module.params["pool_ebs_ratio"])
        return _autogrow.Config(**{name: module.params[name] for name in POLICY_OPTIONS})
    except _autogrow.PolicyError as exc:
        module.fail_json(msg="Invalid autogrow settings for cluster %s: %s" % (module.params["cluster"], exc))
    return None  # pragma: no cover - fail_json exits


def scheduler(module):
    """Pending jobs, running jobs (``None``: no forecast) and node states from the options."""
    params = module.params
    jobs = list(params["pending_jobs"] or [])
    running = None if params["running_jobs"] is None else list(params["running_jobs"])
    nodes = dict(params["scheduler_nodes"] or {})
    try:  # given by the user (or another adapter): a wrong one is bad input, never a scheduler to skip
        jobs = _sched.check_jobs(jobs, "pending_jobs")
        running = None if running is None else _sched.check_jobs(running, "running_jobs")
        _sched.check_nodes(nodes, "scheduler_nodes")
    except _sched.SchedulerError as exc:
        module.fail_json(msg="Invalid scheduler input for cluster %s: %s" % (params["cluster"], exc))
    try:
        if params["squeue_json"]:
            jobs.extend(_sched.slurm_pending_jobs(params["squeue_json"]))
            running = (running or []) + _sched.slurm_running_jobs(params["squeue_json"])
        if params["sinfo_json"]:
            nodes.update(_sched.slurm_nodes(params["sinfo_json"]))
    except _sched.SchedulerError as exc:
        module.fail_json(msg="Cannot read the scheduler of cluster %s: %s" % (params["cluster"], exc))
    return jobs, running, nodes


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        pool_mode=dict(type="str", choices=list(_fleet.POOL_MODES), default="tagged"),
        squeue_json=dict(type="str"),
        sinfo_json=dict(type="str"),
        pending_jobs=dict(type="list", elements="dict", default=[]),
        running_jobs=dict(type="list", elements="dict"),
        scheduler_nodes=dict(type="dict", default={}),
        node_name_tag=dict(type="str", default=_tags.NODE_NAME_TAG),
        lock_wait=dict(type="int", default=_fleet.STEP_LOCK_WAIT),
        **POLICY_OPTIONS,
        **POOL_OPTIONS,
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    config = policy(module)
    jobs, running, nodes = scheduler(module)
    ec2 = client_from_module(module, "ec2")
    # warm_pool mode acts through the group; either mode checks the group of a stopped instance it terminates
    asg = client_from_module(module, "autoscaling")

    def body():
        done = _fleet.step(ec2, asg, params["cluster"], config, jobs=jobs, running=running, scheduler_nodes=nodes,
                           pool_mode=params["pool_mode"], node_name_tag=params["node_name_tag"],
                           apply=not module.check_mode, pool_ebs_ratio=params["pool_ebs_ratio"],
                           ssm=None if module.check_mode else client_from_module(module, "ssm"),
                           lock_wait=params["lock_wait"])
        if done.skipped:
            module.warn("Autogrow step of cluster %s not acted: %s" % (params["cluster"], done.skipped))
        return done.result(diff=module._diff)

    run_module(module, body)


if __name__ == "__main__":
    main()
