#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: hpc_pool
short_description: Keep the compute node pool fresh - warm pool and rolling replacement, one step at a time
version_added: 0.1.0
description:
  - Manages the pool of pre-deployed compute nodes of one cluster's compute Auto Scaling group
    (C(hpc-<cluster>-computenode) by default) and replaces every node whose AMI is not the launch template's
    current AMI (the image of its default version, which C(playbooks/bake.yml) sets) by rolling replacement.
  - With O(state=planned) it only returns the plan (also in check mode, which never changes anything).
  - With O(state=present) it carries out B(one step) of the plan and returns what the scheduler must do next;
    C(playbooks/pool.yml) repeats the step, draining in the scheduler (Slurm C(scontrol update state=drain), HPC Pack
    take offline) between steps, until RV(done).
  - One step - sets the warm pool (O(warm_pool_size), instances kept C(Stopped)); points the group at the launch
    template's default version; marks the next batch C(hpc:pool-state=draining) (at most O(batch_size) nodes in
    flight, never fewer serving nodes than O(min_healthy_percent) of the desired capacity, idle nodes first);
    terminates draining nodes the scheduler reports idle or drained, or whose drain began more than O(drain_timeout)
    seconds ago, first tagging them C(replacing); terminates outdated stopped warm-pool instances at once. The group
    launches the replacements, so the module itself never launches an instance.
  - Progress lives in instance tags (C(hpc:pool-state), C(hpc:pool-run), C(hpc:pool-drain-since)); a run killed
    halfway and run again continues where it stopped, without orphaned or duplicate instances.
author: hpcops developers (@hpcops)
options:
  cluster:
    description: The cluster; the group and launch template default to C(hpc-<cluster>-computenode).
    type: str
    required: true
  group_name:
    description: The Auto Scaling group, when not C(hpc-<cluster>-computenode).
    type: str
  launch_template_name:
    description: The launch template whose default version's AMI is current; defaults to the group's template.
    type: str
  state:
    description:
      - V(planned) returns the plan and changes nothing; V(present) carries out one step.
    type: str
    choices: [planned, present]
    default: present
  warm_pool_size:
    description:
      - Stopped instances to keep in the group's warm pool (ready in about a minute). Unset leaves the warm pool
        as it is; V(0) removes it.
    type: int
  min_healthy_percent:
    description: Serving nodes that must remain during the replacement, in percent of the desired capacity.
    type: int
    default: 90
  batch_size:
    description:
      - Nodes draining or being replaced at once, at least V(1).
      - A batch size larger than the group's max size is refused before any change, naming both numbers.
    type: int
    default: 1
  drain_timeout:
    description: Seconds after which a draining node still busy is terminated anyway.
    type: int
    default: 3600
  scheduler_nodes:
    description:
      - The scheduler's node states, name to state (V(busy), V(idle), V(draining), V(drained), V(down)) or to a dict
        with a C(state) key, as the adapters in C(plugins/module_utils/_sched.py) return them. A node missing here
        counts as unknown to the scheduler (it serves no jobs) and is not waited for.
    type: dict
    default: {}
  sinfo_json:
    description:
      - The output of C(sinfo --json) on the Slurm head node; its node states are read with the Slurm adapter and
        take precedence over O(scheduler_nodes).
    type: str
  node_name_tag:
    description:
      - Instance tag that holds the node's name in the scheduler. Without it, the short private DNS name is used.
    type: str
    default: hpc:node-name
  run_id:
    description:
      - Identifies the replacement run in the C(hpc:pool-run) tag; defaults to C(to-<current AMI id>), so a rerun of
        the same replacement continues it.
    type: str
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    details:
      - Returns the plan of the next step; changes nothing.
  diff_mode:
    support: full
    details:
      - Shows the pool state of the nodes the step changes, before and after.
  idempotent:
    support: full
    details:
      - When every node runs the current AMI and the warm pool has its size, a run reports no change.
"""

EXAMPLES = r"""
- name: Show the replacement plan
  hpcops.aws_hpc.hpc_pool:
    cluster: prod
    state: planned
  register: _plan

- name: One replacement step, with the Slurm node states read before
  hpcops.aws_hpc.hpc_pool:
    cluster: prod
    warm_pool_size: 8
    batch_size: 2
    min_healthy_percent: 75
    drain_timeout: 1800
    scheduler_nodes: "{{ _slurm_nodes }}"
  register: _step

- name: Drain what the step marked
  ansible.builtin.command:
    argv: [scontrol, update, "nodename={{ item }}", state=drain, reason=pool-replacement]
  loop: "{{ _step.drain_nodes }}"
  delegate_to: "{{ groups['pcluster_head'][0] }}"
  changed_when: true
"""

RETURN = r"""
plan:
  description: The plan of this step (instance ids), as C(plugins/module_utils/_pool.py) computed it.
  returned: always
  type: dict
  sample: {"drain": ["i-0a"], "terminate": [], "terminate_stopped": [], "waiting": [], "outdated": ["i-0a", "i-0b"],
           "current": ["i-0c"], "serving": 3, "required_serving": 2, "in_flight": 0, "done": false, "notes": []}
drain_nodes:
  description: Scheduler names of the nodes this step marked draining; drain them in the scheduler.
  returned: always
  type: list
  elements: str
  sample: [compute-dy-c5large-1]
waiting_nodes:
  description: Scheduler names of draining nodes still busy (their jobs run on; terminated once idle or timed out).
  returned: always
  type: list
  elements: str
terminated:
  description: Instance ids terminated by this step (the group replaces them).
  returned: always
  type: list
  elements: str
done:
  description: Whether every node of the pool runs the current AMI.
  returned: always
  type: bool
target_image:
  description: The launch template's current AMI.
  returned: always
  type: str
  sample: ami-0123456789abcdef0
group_name:
  description: The Auto Scaling group.
  returned: always
  type: str
  sample: hpc-prod-computenode
run_id:
  description: The replacement run (the C(hpc:pool-run) tag of the nodes it marks); O(run_id) or C(to-<current AMI id>).
  returned: always
  type: str
  sample: to-ami-0123456789abcdef0
nodes:
  description: The pool's instances with their image, whether they serve, the scheduler state and pool state.
  returned: always
  type: list
  elements: dict
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _pool, _sched, _tags
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    AWSCallError,
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)

LIVE_STATES = ("pending", "running", "stopping", "stopped")
BATCH = 1000  # EC2 takes at most 1,000 instance ids per call


def tag_dict(tags):
    return {tag["Key"]: tag["Value"] for tag in tags or []}


class PoolManager:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.group_name = params["group_name"] or _tags.compute_group_name(params["cluster"])
        self.asg = client_from_module(module, "autoscaling")
        self.ec2 = client_from_module(module, "ec2")
        self.changed = False
        self.diff = {"before": {}, "after": {}}

    def call(self, what, method, **kwargs):
        """One AWS call through the shared path (``_aws.aws_call``); its failure names the group."""
        return aws_call("%s for Auto Scaling group %s" % (what, self.group_name), method, **kwargs)

    def group(self):
        groups = self.call("describe the group", self.asg.describe_auto_scaling_groups,
                           AutoScalingGroupNames=[self.group_name])
        found = groups.get("AutoScalingGroups") or []
        if not found:
            raise ModuleFailure("Auto Scaling group %s not found (run the site playbook first)" % self.group_name)
        return found[0]

    def template(self, group):
        spec = group.get("LaunchTemplate") or (group.get("MixedInstancesPolicy") or {}).get(
            "LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
        name = self.module.params["launch_template_name"] or spec.get("LaunchTemplateName")
        if not name:
            raise ModuleFailure("Auto Scaling group %s has no launch template" % self.group_name)
        versions = self.call("read the default version of launch template %s" % name,
                             self.ec2.describe_launch_template_versions, LaunchTemplateName=name,
                             Versions=["$Default"])
        version = (versions.get("LaunchTemplateVersions") or [{}])[0]
        return name, spec, version

    def warm_pool(self):
        return self.call("describe the warm pool", self.asg.describe_warm_pool, AutoScalingGroupName=self.group_name)

    def instances(self, ids):
        found = {}
        ids = sorted(ids)
        for start in range(0, len(ids), BATCH):
            reservations = paginate("describe the instances for Auto Scaling group %s" % self.group_name, self.ec2,
                                    "describe_instances", "Reservations", InstanceIds=ids[start:start + BATCH])
            for reservation in reservations:
                for instance in reservation.get("Instances", []):
                    found[instance["InstanceId"]] = instance
        return found

    def scheduler_states(self):
        sched = dict(self.module.params["scheduler_nodes"] or {})
        if self.module.params["sinfo_json"]:
            try:
                sched.update(_sched.slurm_nodes(self.module.params["sinfo_json"]))
            except _sched.SchedulerError as exc:
                raise ModuleFailure("Cannot read the Slurm node states for %s: %s" % (self.group_name, exc)) from exc
        return sched

    def nodes(self, group, warm):
        lifecycle = {item["InstanceId"]: item.get("LifecycleState", "") for item in group.get("Instances", [])}
        for item in warm.get("Instances", []) or []:
            lifecycle.setdefault(item["InstanceId"], item.get("LifecycleState", "Warmed:Stopped"))
        details = self.instances(lifecycle)
        sched = self.scheduler_states()
        name_tag = self.module.params["node_name_tag"]
        nodes = []
        for instance_id, state in sorted(lifecycle.items()):
            instance = details.get(instance_id)
            if not instance or instance.get("State", {}).get("Name") not in LIVE_STATES:
                continue
            tags = tag_dict(instance.get("Tags"))
            name = tags.get(name_tag) or (instance.get("PrivateDnsName") or instance_id).split(".")[0]
            sched_state = sched.get(name, _pool.SCHED_UNKNOWN)
            if isinstance(sched_state, dict):
                sched_state = sched_state.get("state", _pool.SCHED_UNKNOWN)
            serving = state == "InService" and instance["State"]["Name"] == "running"
            nodes.append(_pool.PoolNode(instance_id, instance.get("ImageId"), serving, tags=tags, sched=sched_state,
                                        name=name))
        return nodes

    def ensure_warm_pool(self, warm, check):
        size = self.module.params["warm_pool_size"]
        if size is None:
            return
        config = warm.get("WarmPoolConfiguration")
        if size == 0:
            if config:
                self.record("warm_pool", config.get("MinSize"), 0)
                if not check:
                    self.call("delete the warm pool", self.asg.delete_warm_pool,
                              AutoScalingGroupName=self.group_name, ForceDelete=True)
            return
        if config and config.get("MinSize") == size and config.get("PoolState") == "Stopped":
            return
        self.record("warm_pool", (config or {}).get("MinSize"), size)
        if not check:
            self.call("set the warm pool", self.asg.put_warm_pool, AutoScalingGroupName=self.group_name,
                      MinSize=size, PoolState="Stopped")

    def ensure_template_version(self, group, name, spec, version, check):
        wanted = str(version.get("VersionNumber"))
        if not spec or str(spec.get("Version")) in (wanted, "$Default"):
            return
        self.record("launch_template_version", spec.get("Version"), wanted)
        if not check:
            self.call("point the group at launch template %s version %s" % (name, wanted),
                      self.asg.update_auto_scaling_group, AutoScalingGroupName=self.group_name,
                      LaunchTemplate={"LaunchTemplateName": name, "Version": wanted})

    def record(self, key, before, after):
        self.changed = True
        self.diff["before"][key] = before
        self.diff["after"][key] = after

    def tag(self, ids, tags):
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            self.call("tag %s" % ", ".join(batch), self.ec2.create_tags, Resources=batch,
                      Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])

    def terminate(self, instance_id, in_group):
        if in_group:
            try:
                self.call("terminate %s" % instance_id, self.asg.terminate_instance_in_auto_scaling_group,
                          InstanceId=instance_id, ShouldDecrementDesiredCapacity=False)
                return
            except AWSCallError as exc:
                # no longer in the group (a resumed run): terminate it in EC2
                if "not part of" not in exc.message and exc.code != "ValidationError":
                    raise
        self.call("terminate %s" % instance_id, self.ec2.terminate_instances, InstanceIds=[instance_id])

    def run(self):
        params = self.module.params
        check = self.module.check_mode or params["state"] == "planned"
        group = self.group()
        too_big = _pool.batch_size_error(params["batch_size"], group.get("MaxSize"), self.group_name)
        if too_big:
            raise ModuleFailure(too_big)
        name, spec, version = self.template(group)
        target = (version.get("LaunchTemplateData") or {}).get("ImageId")
        warm = self.warm_pool()
        nodes = self.nodes(group, warm)
        now = time.time()
        try:
            plan = _pool.plan(nodes, target, int(group.get("DesiredCapacity", 0)), now,
                              min_healthy_percent=params["min_healthy_percent"], batch_size=params["batch_size"],
                              drain_timeout=params["drain_timeout"])
        except _pool.PoolError as exc:
            raise ModuleFailure("Cannot plan the replacement of %s: %s" % (self.group_name, exc)) from exc
        run_id = params["run_id"] or "to-%s" % target
        by_id = {node.instance_id: node for node in nodes}
        in_group = {item["InstanceId"] for item in group.get("Instances", [])}
        self.ensure_warm_pool(warm, check)
        self.ensure_template_version(group, name, spec, version, check)
        terminated = []
        for instance_id in plan.terminate + plan.terminate_stopped:
            self.record(instance_id, by_id[instance_id].pool_state or "outdated", "terminated")
            if check:
                continue
            if by_id[instance_id].pool_state != _pool.REPLACING:
                self.tag([instance_id], _pool.replacing_tags(run_id))
            self.terminate(instance_id, instance_id in in_group)
            terminated.append(instance_id)
        drain_nodes = []
        if plan.drain:
            for instance_id in plan.drain:
                self.record(instance_id, "outdated", _pool.DRAINING)
                drain_nodes.append(by_id[instance_id].name)
            if not check:
                self.tag(plan.drain, _pool.drain_tags(run_id, now))
        # nodes already draining (a resumed run) are drained again in the scheduler: draining is idempotent
        for instance_id in plan.waiting:
            drain_nodes.append(by_id[instance_id].name)
        result = {
            "changed": self.changed,
            "plan": plan.as_dict(),
            "drain_nodes": sorted(set(drain_nodes)),
            "waiting_nodes": sorted(by_id[i].name for i in plan.waiting),
            "terminated": terminated,
            "done": plan.done,
            "target_image": target,
            "group_name": self.group_name,
            "run_id": run_id,
            "nodes": [{"instance_id": n.instance_id, "image_id": n.image_id, "serving": n.serving, "name": n.name,
                       "scheduler_state": n.sched, "pool_state": n.pool_state} for n in nodes],
        }
        if self.module._diff:
            result["diff"] = self.diff
        return result


def main():
    argument_spec = dict(
        cluster=dict(type="str", required=True),
        group_name=dict(type="str"),
        launch_template_name=dict(type="str"),
        state=dict(type="str", choices=["planned", "present"], default="present"),
        warm_pool_size=dict(type="int"),
        min_healthy_percent=dict(type="int", default=90),
        batch_size=dict(type="int", default=1),
        drain_timeout=dict(type="int", default=3600),
        scheduler_nodes=dict(type="dict", default={}),
        sinfo_json=dict(type="str"),
        node_name_tag=dict(type="str", default=_tags.NODE_NAME_TAG),
        run_id=dict(type="str"),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    if module.params["warm_pool_size"] is not None and module.params["warm_pool_size"] < 0:
        module.fail_json(msg="warm_pool_size must be 0 or more, got %d" % module.params["warm_pool_size"])
    run_module(module, PoolManager(module).run)


if __name__ == "__main__":
    main()
