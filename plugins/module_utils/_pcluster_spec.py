# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The cluster description of the pcluster_cluster module: its checks and its rendering (private: not a public API).

- ``validate_spec``: checks the module's ``spec`` option (the parallelcluster role gathers its variables
  into it) before anything talks to AWS; every message names the option at fault, for example
  ``spec.queues[0].compute_resources[0].max_count``. The role maps these names to its variables.
- ``render``: turns that description into a ParallelCluster 3 cluster configuration (a dict that dumps to
  the YAML ``pcluster`` reads).

No I/O here. What a change of the rendered configuration takes on a running cluster is in
``_pcluster_policy.py``; the known instance families are in ``_pcluster_instances.py``.
"""

from __future__ import annotations

import copy
import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_instances import instance_type_problem
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG, ROLE_TAG

OS_CHOICES = ("alinux2", "alinux2023", "ubuntu2204", "ubuntu2404", "rhel8", "rhel9", "rocky8", "rocky9")
CAPACITY_TYPES = ("ONDEMAND", "SPOT", "CAPACITY_BLOCK")
QUEUE_UPDATE_STRATEGIES = ("", "COMPUTE_FLEET_STOP", "DRAIN", "TERMINATE")
STORAGE_TYPES = ("Ebs", "Efs", "FsxLustre")
# The hpc:role tag value of a ParallelCluster cluster (the teardown finds the clusters by it).
PCLUSTER_ROLE = "pcluster"

_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,24}$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,24}$")
_CLUSTER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,59}$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SCRIPT_URL = re.compile(r"^(s3|https)://\S+$")


class SpecError(ValueError):
    """The cluster description is wrong; ``errors`` holds one message per problem."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = list(errors)


def is_int(value):
    """A whole number (a bool is not one)."""
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- validation
def _scripts_problems(scripts, where):
    errors = []
    if scripts is None:
        return errors
    if not isinstance(scripts, list):
        return [f"{where} must be a list of {{script, args}} items"]
    for index, item in enumerate(scripts):
        name = f"{where}[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("script"), str):
            errors.append(f"{name} must have a 'script' (an s3:// or https:// URL)")
            continue
        if not _SCRIPT_URL.match(item["script"]):
            errors.append(f"{name}.script must be an s3:// or https:// URL, got '{item['script']}'")
        if not isinstance(item.get("args", []), list):
            errors.append(f"{name}.args must be a list of strings")
    return errors


def _cluster_problems(spec):
    errors = []
    name = spec.get("cluster_name")
    if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
        errors.append(f"spec.cluster_name must be 1-60 letters, digits and '-', starting with a letter; got '{name}'")
    if not spec.get("region"):
        errors.append("spec.region is empty: set it")
    if spec.get("os") not in OS_CHOICES:
        errors.append(f"spec.os must be one of {', '.join(OS_CHOICES)}; got '{spec.get('os')}'")
    ami = spec.get("custom_ami") or ""
    if ami and not _AMI.match(ami):
        errors.append(f"spec.custom_ami must be an AMI id (ami-0123456789abcdef0); got '{ami}'")
    if not isinstance(spec.get("imds_secured", True), bool):
        errors.append("spec.imds_secured must be true or false")
    return errors


def _default_subnets(spec, errors):
    """The default subnets (spec.subnet_ids) as a list; their problems go to ``errors``."""
    subnets = spec.get("subnet_ids") or []
    if not isinstance(subnets, list):
        errors.append("spec.subnet_ids must be a list of subnet ids")
        return []
    for subnet in subnets:
        if not isinstance(subnet, str) or not _SUBNET.match(subnet):
            errors.append(f"spec.subnet_ids: '{subnet}' is not a subnet id (subnet-0123456789abcdef0)")
    return subnets


def _head_node_problems(spec, default_subnets, subnets_pending):
    errors = []
    head = spec.get("head_node") or {}
    problem = instance_type_problem(head.get("instance_type"))
    if problem:
        errors.append(f"spec.head_node.instance_type '{head.get('instance_type')}' {problem}")
    head_subnet = head.get("subnet_id") or ""
    if head_subnet and not _SUBNET.match(head_subnet):
        errors.append(f"spec.head_node.subnet_id '{head_subnet}' is not a subnet id")
    if not head_subnet and not default_subnets and not subnets_pending:
        errors.append("the head node has no subnet: set spec.head_node.subnet_id or spec.subnet_ids")
    errors += _scripts_problems(head.get("on_node_configured"), "spec.head_node.on_node_configured")
    errors += _scripts_problems(spec.get("compute_on_node_configured"), "spec.compute_on_node_configured")
    return errors


def _slurm_problems(spec):
    errors = []
    idle = spec.get("scaledown_idletime")
    if not is_int(idle) or idle < 1:
        errors.append(
            f"spec.scaledown_idletime must be a whole number of minutes of at least 1; got {idle!r} "
            "(0 would stop idle dynamic nodes at once and make every job wait for a new instance)"
        )
    strategy = spec.get("queue_update_strategy") or ""
    if strategy not in QUEUE_UPDATE_STRATEGIES:
        errors.append(
            "spec.queue_update_strategy must be empty or one of "
            f"{', '.join(s for s in QUEUE_UPDATE_STRATEGIES if s)}; got '{strategy}'"
        )
    return errors


def _resource_problems(res, rwhere, qname, seen):
    if not isinstance(res, dict):
        return [f"{rwhere} must be a dict with name, instance_type, min_count, max_count"]
    errors = []
    rname = res.get("name")
    if not isinstance(rname, str) or not _RESOURCE_NAME.match(rname):
        errors.append(f"{rwhere}.name must be 1-25 letters, digits and '-', starting with a letter; got '{rname}'")
    elif rname in seen:
        errors.append(f"{rwhere}.name '{rname}' is used twice in queue '{qname}'")
    seen.add(rname)
    types = res.get("instance_types") or ([res["instance_type"]] if res.get("instance_type") else [])
    if not types:
        errors.append(f"{rwhere}.instance_type is missing")
    for itype in types:
        problem = instance_type_problem(itype)
        if problem:
            errors.append(f"{rwhere}.instance_type '{itype}' {problem}")
    low, high = res.get("min_count", 0), res.get("max_count", 10)
    if not is_int(low) or low < 0:
        errors.append(f"{rwhere}.min_count must be a whole number of at least 0; got {low!r}")
    if not is_int(high) or high < 1:
        errors.append(f"{rwhere}.max_count must be a whole number of at least 1; got {high!r}")
    if is_int(low) and is_int(high) and high < low:
        errors.append(f"{rwhere}.max_count ({high}) is less than its min_count ({low})")
    return errors


def _queue_subnet_problems(queue, where, label, default_subnets, subnets_pending):
    if "subnet_ids" not in queue:
        if not default_subnets and not subnets_pending:
            return [f"{label} has no subnets: set {where}.subnet_ids or spec.subnet_ids"]
        return []
    subnets = queue.get("subnet_ids")
    if not isinstance(subnets, list) or not subnets:
        return [
            f"{label}.subnet_ids is empty: a queue needs at least one subnet "
            "(give subnet ids, or drop the key to use spec.subnet_ids)"
        ]
    return [
        f"{label}.subnet_ids: '{subnet}' is not a subnet id"
        for subnet in subnets
        if not isinstance(subnet, str) or not _SUBNET.match(subnet)
    ]


def _queue_problems(queue, where, seen, default_subnets, subnets_pending):
    if not isinstance(queue, dict):
        return [f"{where} must be a dict with name, compute_resources and (optionally) subnet_ids"]
    errors = []
    qname = queue.get("name")
    label = f"{where} ({qname})" if qname else where
    if not isinstance(qname, str) or not _QUEUE_NAME.match(qname):
        errors.append(
            f"{where}.name must be 1-25 lowercase letters, digits and '-', starting with a letter; got '{qname}'"
        )
    elif qname in seen:
        errors.append(f"{where}.name '{qname}' is used by another queue")
    seen.add(qname)
    if queue.get("capacity_type", "ONDEMAND") not in CAPACITY_TYPES:
        errors.append(f"{label}.capacity_type must be one of {', '.join(CAPACITY_TYPES)}")
    errors += _queue_subnet_problems(queue, where, label, default_subnets, subnets_pending)
    errors += _scripts_problems(queue.get("on_node_configured"), f"{where}.on_node_configured")
    resources = queue.get("compute_resources")
    if not isinstance(resources, list) or not resources:
        return [*errors, f"{label}.compute_resources must list at least one compute resource"]
    seen_resources = set()
    for ri, res in enumerate(resources):
        errors += _resource_problems(res, f"{where}.compute_resources[{ri}]", qname, seen_resources)
    return errors


def _queues_problems(spec, default_subnets, subnets_pending):
    queues = spec.get("queues")
    if not isinstance(queues, list) or not queues:
        return ["spec.queues must list at least one Slurm queue"]
    errors = []
    seen = set()
    for qi, queue in enumerate(queues):
        errors += _queue_problems(queue, f"spec.queues[{qi}]", seen, default_subnets, subnets_pending)
    return errors


def _storage_problems(spec):
    errors = []
    seen = set()
    for si, storage in enumerate(spec.get("shared_storage") or []):
        where = f"spec.shared_storage[{si}]"
        if not isinstance(storage, dict):
            errors.append(f"{where} must be a dict with name, type and mount_dir")
            continue
        if storage.get("type") not in STORAGE_TYPES:
            errors.append(f"{where}.type must be one of {', '.join(STORAGE_TYPES)}; got '{storage.get('type')}'")
        sname = storage.get("name")
        if not isinstance(sname, str) or not _RESOURCE_NAME.match(sname):
            errors.append(f"{where}.name must be 1-25 letters, digits and '-', starting with a letter; got '{sname}'")
        elif sname in seen:
            errors.append(f"{where}.name '{sname}' is used twice")
        seen.add(sname)
        mount = storage.get("mount_dir")
        if not isinstance(mount, str) or not mount.startswith("/"):
            errors.append(f"{where}.mount_dir must be an absolute path; got '{mount}'")
        if not isinstance(storage.get("settings", {}), dict):
            errors.append(f"{where}.settings must be a dict of {storage.get('type')}Settings keys")
    return errors


def validate_spec(spec, subnets_pending=False):
    """Check a cluster description; return a list of messages (empty when it is fine).

    ``subnets_pending`` says the default subnets (``spec.subnet_ids``) are not known yet because a later
    play creates them (the foundation); then only queues that explicitly have no subnets are refused.
    """
    errors = _cluster_problems(spec)
    default_subnets = _default_subnets(spec, errors)
    errors += _head_node_problems(spec, default_subnets, subnets_pending)
    errors += _slurm_problems(spec)
    errors += _queues_problems(spec, default_subnets, subnets_pending)
    errors += _storage_problems(spec)
    if not isinstance(spec.get("tags") or {}, dict):
        errors.append("spec.tags must be a dict")
    return errors


# ---------------------------------------------------------------- rendering
def _actions(scripts):
    if not scripts:
        return None
    sequence = []
    for item in scripts:
        entry = {"Script": item["script"]}
        if item.get("args"):
            entry["Args"] = [str(a) for a in item["args"]]
        sequence.append(entry)
    return {"OnNodeConfigured": {"Sequence": sequence}}


def _iam(policies):
    return {"AdditionalIamPolicies": [{"Policy": p} for p in policies]}


def _head_node(spec, default_subnets):
    head = spec.get("head_node") or {}
    head_node = {
        "InstanceType": head["instance_type"],
        "Networking": {"SubnetId": head.get("subnet_id") or (default_subnets[0] if default_subnets else "")},
    }
    if head.get("security_group_ids"):
        head_node["Networking"]["AdditionalSecurityGroups"] = list(head["security_group_ids"])
    if head.get("key_name") or head.get("ssh_allowed_ips"):
        ssh = {}
        if head.get("key_name"):
            ssh["KeyName"] = head["key_name"]
        if head.get("ssh_allowed_ips"):
            ssh["AllowedIps"] = head["ssh_allowed_ips"]
        head_node["Ssh"] = ssh
    if head.get("root_volume_size"):
        head_node["LocalStorage"] = {"RootVolume": {"Size": int(head["root_volume_size"]), "Encrypted": True}}
    head_node["Imds"] = {"Secured": bool(spec.get("imds_secured", True))}
    policies = spec.get("additional_iam_policies") or []
    if policies:
        head_node["Iam"] = _iam(policies)
    head_actions = _actions(head.get("on_node_configured"))
    if head_actions:
        head_node["CustomActions"] = head_actions
    return head_node


def _compute_resource(res):
    types = res.get("instance_types") or [res["instance_type"]]
    # Always the Instances list: ParallelCluster refuses ComputeResource/InstanceType in a queue with
    # several subnets (SingleInstanceTypeSubnetValidator).
    entry = {"Name": res["name"], "Instances": [{"InstanceType": t} for t in types]}
    entry["MinCount"] = res.get("min_count", 0)
    entry["MaxCount"] = res.get("max_count", 10)
    if res.get("disable_simultaneous_multithreading"):
        entry["DisableSimultaneousMultithreading"] = True
    return entry


def _queue(spec, queue, default_subnets):
    head = spec.get("head_node") or {}
    rendered = {"Name": queue["name"], "CapacityType": queue.get("capacity_type", "ONDEMAND")}
    rendered["ComputeResources"] = [_compute_resource(res) for res in queue["compute_resources"]]
    networking = {"SubnetIds": list(queue["subnet_ids"]) if "subnet_ids" in queue else default_subnets}
    if queue.get("security_group_ids") or head.get("security_group_ids"):
        networking["AdditionalSecurityGroups"] = list(queue.get("security_group_ids") or head["security_group_ids"])
    rendered["Networking"] = networking
    actions = _actions(
        queue["on_node_configured"] if "on_node_configured" in queue else spec.get("compute_on_node_configured")
    )
    if actions:
        rendered["CustomActions"] = actions
    policies = spec.get("additional_iam_policies") or []
    if policies:
        rendered["Iam"] = _iam(policies)
    return rendered


def _shared_storage(spec):
    storage = []
    for item in spec.get("shared_storage") or []:
        entry = {"Name": item["name"], "StorageType": item["type"], "MountDir": item["mount_dir"]}
        if item.get("settings"):
            entry[f"{item['type']}Settings"] = copy.deepcopy(item["settings"])
        storage.append(entry)
    return storage


def _tags(spec):
    tags = dict(spec.get("tags") or {})
    tags.setdefault(CLUSTER_TAG, spec["cluster_name"])
    tags.setdefault(ROLE_TAG, PCLUSTER_ROLE)
    return [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]


def render(spec, subnets_pending=False):
    """The ParallelCluster 3 configuration for a cluster description (raises SpecError when invalid)."""
    errors = validate_spec(spec, subnets_pending=subnets_pending)
    if errors:
        raise SpecError(errors)
    default_subnets = list(spec.get("subnet_ids") or [])
    image = {"Os": spec["os"]}
    if spec.get("custom_ami"):
        image["CustomAmi"] = spec["custom_ami"]
    slurm_settings = {"ScaledownIdletime": spec["scaledown_idletime"]}
    if spec.get("queue_update_strategy"):
        slurm_settings["QueueUpdateStrategy"] = spec["queue_update_strategy"]
    config = {
        "Region": spec["region"],
        "Image": image,
        "Imds": {"ImdsSupport": "v2.0"},
        "HeadNode": _head_node(spec, default_subnets),
        "Scheduling": {
            "Scheduler": "slurm",
            "SlurmSettings": slurm_settings,
            "SlurmQueues": [_queue(spec, queue, default_subnets) for queue in spec["queues"]],
        },
    }
    storage = _shared_storage(spec)
    if storage:
        config["SharedStorage"] = storage
    config["Tags"] = _tags(spec)
    return config
