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
    from EC2/Auto Scaling, decides with the autogrow policy (C(plugins/module_utils/_autogrow.py), the same code as
    the long-running service and the simulator) and acts.
  - The policy scales out by the queue's unmet demand at once, starting stopped pool instances first (about a
    minute) and launching fresh ones for the rest. With the running jobs known (from O(squeue_json) or
    O(running_jobs)) and O(forecast=true), the demand is what the scheduler can start now over O(max_nodes) nodes
    (first come, first served with backfill, time limits as runtime estimates); nodes held idle for a wide job that
    must wait for running work are stopped and started again one boot (and O(interval_s)) before its expected
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
  - Throttling is retried by botocore's adaptive retry mode of the collection's client factory.
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
  interval_s:
    description:
      - Seconds until the next step (the loop's pause or the AWX schedule); nodes for a reserved start are started
        this much earlier.
    type: float
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
  warm_boot_s:
    description: Seconds from starting a stopped pool instance to a serving node.
    type: float
    default: 60
  cold_boot_s:
    description: Seconds from launching a fresh instance to a serving node; a running node unknown to the scheduler
      for less than this long counts as starting.
    type: float
    default: 600
  idle_timeout:
    description: Seconds idle before a node is stopped; unset derives it from the restart cost.
    type: float
  billing_min_s:
    description: Minimum billed seconds per start (60 for Linux and Windows on EC2 since 2021).
    type: float
    default: 60
  end_of_hour:
    description:
      - Stop idle nodes only in the last O(hour_window_s) of a billed hour (the reference deployment's rule;
        hourly billing).
    type: bool
    default: false
  hour_window_s:
    description: The end-of-hour window.
    type: float
    default: 300
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.actiongroup_aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    support: full
    details:
      - Returns the decision; changes nothing.
  diff_mode:
    support: full
    details:
      - Shows the nodes in service before and after.
  idempotent:
    support: partial
    details:
      - A step reports no change when the policy decides nothing; time passing can make an idle node due.
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
queue:
  description:
    - The queue summary (pending nodes and jobs, unsatisfiable jobs) and its C(forecast) (C(now_nodes), the
      reservation's C(reserve_at)/C(reserve_nodes), C(freeing_nodes); C(reserve_at) is null when no running job
      has an expected end; the forecast is null without running jobs or with O(forecast=false)).
  returned: always
  type: dict
nodes:
  description: The nodes as the policy saw them (instance id, name, policy state).
  returned: always
  type: list
  elements: dict
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _sched
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    AWS_ERRORS,
    client_from_module,
    error_cause,
)

IDLE_TAG = _autogrow.IDLE_TAG
BATCH = 1000


class Autogrow:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.cluster = params["cluster"]
        self.name = "hpc-%s-computenode" % self.cluster
        self.ec2 = client_from_module(module, "ec2")
        self.asg = client_from_module(module, "autoscaling") if params["pool_mode"] == "warm_pool" else None

    def fail(self, what, exc):
        self.module.fail_json(msg="Failed to %s for the compute nodes of cluster %s: %s"
                              % (what, self.cluster, error_cause(exc)))

    def call(self, what, method, **kwargs):
        try:
            return method(**kwargs)
        except AWS_ERRORS as exc:
            self.fail(what, exc)
        return None  # pragma: no cover

    def config(self):
        params = self.module.params
        try:
            return _autogrow.Config(
                min_nodes=params["min_nodes"], max_nodes=params["max_nodes"], warm_boot_s=params["warm_boot_s"],
                cold_boot_s=params["cold_boot_s"], idle_timeout_s=params["idle_timeout"],
                billing_min_s=params["billing_min_s"], end_of_hour=params["end_of_hour"],
                hour_window_s=params["hour_window_s"], cores_per_node=params["cores_per_node"],
                use_forecast=params["forecast"], check_interval_s=params["interval_s"])
        except _autogrow.PolicyError as exc:
            message = str(exc)
            for setting, option in (("idle_timeout_s", "idle_timeout"), ("check_interval_s", "interval_s")):
                message = message.replace(setting, option)
            self.module.fail_json(msg="Invalid autogrow settings for cluster %s: %s" % (self.cluster, message))
        return None  # pragma: no cover

    def scheduler(self):
        params = self.module.params
        jobs = list(params["pending_jobs"] or [])
        running = None if params["running_jobs"] is None else list(params["running_jobs"])
        nodes = dict(params["scheduler_nodes"] or {})
        try:
            if params["squeue_json"]:
                jobs.extend(_sched.slurm_pending_jobs(params["squeue_json"]))
                running = (running or []) + _sched.slurm_running_jobs(params["squeue_json"])
            if params["sinfo_json"]:
                nodes.update(_sched.slurm_nodes(params["sinfo_json"]))
        except _sched.SchedulerError as exc:
            self.module.fail_json(msg="Cannot read the scheduler of cluster %s: %s" % (self.cluster, exc))
        return jobs, running, nodes

    def instances(self):
        filters = [{"Name": "tag:hpc:cluster", "Values": [self.cluster]},
                   {"Name": "tag:hpc:role", "Values": ["computenode"]},
                   {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
        found = []
        try:
            for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
                for reservation in page.get("Reservations", []):
                    found.extend(reservation.get("Instances", []))
        except AWS_ERRORS as exc:
            self.fail("describe the instances", exc)
        return sorted(found, key=lambda item: item["InstanceId"])

    def act(self, decision, names, in_service):
        launched = []
        if self.module.params["pool_mode"] == "warm_pool":
            grow = len(decision.start) + decision.launch
            if grow:
                self.call("raise the desired capacity of %s" % self.name, self.asg.set_desired_capacity,
                          AutoScalingGroupName=self.name, DesiredCapacity=in_service + grow, HonorCooldown=False)
            for instance_id in decision.stop:
                self.call("scale in %s" % instance_id, self.asg.terminate_instance_in_auto_scaling_group,
                          InstanceId=instance_id, ShouldDecrementDesiredCapacity=True)
            return launched
        for batch in _autogrow.batches(decision.start, BATCH):
            self.call("start %s" % ", ".join(batch), self.ec2.start_instances, InstanceIds=batch)
            self.call("tag %s" % ", ".join(batch), self.ec2.delete_tags, Resources=batch, Tags=[{"Key": IDLE_TAG}])
        for batch in _autogrow.batches(decision.stop, BATCH):
            self.call("stop %s" % ", ".join(batch), self.ec2.stop_instances, InstanceIds=batch)
            self.call("untag %s" % ", ".join(batch), self.ec2.delete_tags, Resources=batch, Tags=[{"Key": IDLE_TAG}])
        if decision.launch:
            tags = [{"Key": "hpc:cluster", "Value": self.cluster}, {"Key": "hpc:role", "Value": "computenode"}]
            result = self.call("launch %d nodes from launch template %s" % (decision.launch, self.name),
                               self.ec2.run_instances, MinCount=decision.launch, MaxCount=decision.launch,
                               LaunchTemplate={"LaunchTemplateName": self.name, "Version": "$Default"},
                               TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])
            launched = [item["InstanceId"] for item in result.get("Instances", [])]
        return launched

    def run(self):
        now = time.time()
        config = self.config()
        jobs, running, sched = self.scheduler()
        queue = _autogrow.summarize_queue(jobs, config.max_nodes, config.cores_per_node, now=now,
                                          running=running if config.use_forecast else None)
        instances = self.instances()
        nodes, names, tag_idle, untag = _autogrow.observe(instances, sched, now, config.cold_boot_s,
                                                          self.module.params["node_name_tag"])
        decision = _autogrow.decide(now, queue, nodes, config)
        check = self.module.check_mode
        if not check:
            for value in sorted(set(tag_idle.values())):
                ids = sorted(i for i, v in tag_idle.items() if v == value and i not in decision.stop)
                for batch in _autogrow.batches(ids, BATCH):
                    self.call("record idle time", self.ec2.create_tags, Resources=batch,
                              Tags=[{"Key": IDLE_TAG, "Value": value}])
            for batch in _autogrow.batches(untag, BATCH):
                self.call("clear idle time", self.ec2.delete_tags, Resources=batch, Tags=[{"Key": IDLE_TAG}])
        launched = [] if check else self.act(decision, names, decision.in_service)
        result = {
            "changed": decision.changed,
            "decision": decision.as_dict(),
            "started_nodes": sorted(names[i] for i in decision.start),
            "stopped_nodes": sorted(names[i] for i in decision.stop),
            "launched": launched,
            "queue": queue.as_dict(),
            "policy": config.as_dict(),
            "nodes": [{"instance_id": n.node_id, "name": names[n.node_id], "state": n.state} for n in nodes],
        }
        if self.module._diff:
            result["diff"] = {
                "before": {"in_service": decision.in_service},
                "after": {"in_service": decision.in_service + len(decision.start) + decision.launch
                          - len(decision.stop)},
            }
        self.module.exit_json(**result)


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        pool_mode=dict(type="str", choices=["tagged", "warm_pool"], default="tagged"),
        squeue_json=dict(type="str"),
        sinfo_json=dict(type="str"),
        pending_jobs=dict(type="list", elements="dict", default=[]),
        running_jobs=dict(type="list", elements="dict"),
        forecast=dict(type="bool", default=True),
        interval_s=dict(type="float", default=0),
        scheduler_nodes=dict(type="dict", default={}),
        node_name_tag=dict(type="str", default="hpc:node-name"),
        min_nodes=dict(type="int", default=0),
        max_nodes=dict(type="int", required=True),
        cores_per_node=dict(type="int", default=1),
        warm_boot_s=dict(type="float", default=60),
        cold_boot_s=dict(type="float", default=600),
        idle_timeout=dict(type="float"),
        billing_min_s=dict(type="float", default=60),
        end_of_hour=dict(type="bool", default=False),
        hour_window_s=dict(type="float", default=300),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    Autogrow(module).run()


if __name__ == "__main__":
    main()
