# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure logic of the pcluster_cluster module and the parallelcluster role (private: not a public API).

- ``validate_spec``: checks the cluster description (the role's variables, gathered into one dict)
  before anything talks to AWS; every message names the role variable at fault.
- ``render``: turns that description into a ParallelCluster 3 cluster configuration (a dict that
  dumps to the YAML ``pcluster`` reads).
- ``config_changes`` / ``decide_update``: what differs between the running cluster's configuration
  and the wanted one, and what ParallelCluster needs to apply it: nothing, a live update, a stopped
  compute fleet, or a new cluster. The policies follow ParallelCluster's documented update policies
  (``UpdatePolicy`` in its config schema) for the settings this collection renders; for anything
  else the conservative answer is a stopped fleet, and ``pcluster update-cluster --dryrun`` has the
  last word.
- ``slurm_layout``: the partitions and nodes a Slurm cluster built from the same description has
  (the lab's stand-in cluster is rendered from it).

No I/O here: the module runs ``pcluster``, the role uploads scripts.
"""

from __future__ import annotations

import copy
import re

# ---------------------------------------------------------------- constants
OS_CHOICES = ("alinux2", "alinux2023", "ubuntu2204", "ubuntu2404", "rhel8", "rhel9", "rocky8", "rocky9")
CAPACITY_TYPES = ("ONDEMAND", "SPOT", "CAPACITY_BLOCK")
QUEUE_UPDATE_STRATEGIES = ("", "COMPUTE_FLEET_STOP", "DRAIN", "TERMINATE")
STORAGE_TYPES = ("Ebs", "Efs", "FsxLustre")

# EC2 instance families (the part before the dot). An instance type whose family is not listed, or
# whose size is not a known size, is refused before any AWS call; `pcluster`'s own validators then
# check the type against the region's offerings in the dry run.
INSTANCE_FAMILIES = frozenset(
    [
        "a1",
        "c1",
        "c3",
        "c4",
        "c5",
        "c5a",
        "c5ad",
        "c5d",
        "c5n",
        "c6a",
        "c6g",
        "c6gd",
        "c6gn",
        "c6i",
        "c6id",
        "c6in",
        "c7a",
        "c7g",
        "c7gd",
        "c7gn",
        "c7i",
        "c7i-flex",
        "c8g",
        "c8gd",
        "d2",
        "d3",
        "d3en",
        "dl1",
        "dl2q",
        "f1",
        "f2",
        "g3",
        "g3s",
        "g4ad",
        "g4dn",
        "g5",
        "g5g",
        "g6",
        "g6e",
        "gr6",
        "h1",
        "hpc6a",
        "hpc6id",
        "hpc7a",
        "hpc7g",
        "i2",
        "i3",
        "i3en",
        "i4g",
        "i4i",
        "i7ie",
        "i8g",
        "im4gn",
        "inf1",
        "inf2",
        "is4gen",
        "m1",
        "m2",
        "m3",
        "m4",
        "m5",
        "m5a",
        "m5ad",
        "m5d",
        "m5dn",
        "m5n",
        "m5zn",
        "m6a",
        "m6g",
        "m6gd",
        "m6i",
        "m6id",
        "m6idn",
        "m6in",
        "m7a",
        "m7g",
        "m7gd",
        "m7i",
        "m7i-flex",
        "m8g",
        "m8gd",
        "mac1",
        "mac2",
        "p2",
        "p3",
        "p3dn",
        "p4d",
        "p4de",
        "p5",
        "p5e",
        "p5en",
        "r3",
        "r4",
        "r5",
        "r5a",
        "r5ad",
        "r5b",
        "r5d",
        "r5dn",
        "r5n",
        "r6a",
        "r6g",
        "r6gd",
        "r6i",
        "r6id",
        "r6idn",
        "r6in",
        "r7a",
        "r7g",
        "r7gd",
        "r7i",
        "r7iz",
        "r8g",
        "r8gd",
        "t1",
        "t2",
        "t3",
        "t3a",
        "t4g",
        "trn1",
        "trn1n",
        "trn2",
        "vt1",
        "x1",
        "x1e",
        "x2gd",
        "x2idn",
        "x2iedn",
        "x2iezn",
        "x8g",
        "z1d",
    ]
)
_SIZE = re.compile(r"^(nano|micro|small|medium|large|xlarge|[1-9][0-9]?xlarge|metal|metal-[0-9]+xl)$")
_QUEUE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,24}$")
_RESOURCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,24}$")
_CLUSTER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{0,59}$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SCRIPT_URL = re.compile(r"^(s3|https)://\S+$")

# ---------------------------------------------------------------- decisions
NO_CHANGE = "no_change"
LIVE_UPDATE = "live_update"
FLEET_STOP = "fleet_stop"
REPLACEMENT = "replacement"
_RANK = {NO_CHANGE: 0, LIVE_UPDATE: 1, FLEET_STOP: 2, REPLACEMENT: 3}

# Policies, named as in ParallelCluster's schema.
SUPPORTED = "SUPPORTED"
UNSUPPORTED = "UNSUPPORTED"
COMPUTE_FLEET_STOP = "COMPUTE_FLEET_STOP"
QUEUE_UPDATE_STRATEGY = "QUEUE_UPDATE_STRATEGY"
RESIZE_UPDATE_STRATEGY_ON_REMOVE = "RESIZE_UPDATE_STRATEGY_ON_REMOVE"
SHARED_STORAGE_UPDATE_POLICY = "SHARED_STORAGE_UPDATE_POLICY"

# (path pattern, policy). Paths are dotted; list items that carry a Name are written [Name];
# '*' matches one path element. The first matching pattern wins, so specific ones come first.
UPDATE_POLICIES = (
    ("Region", UNSUPPORTED),
    ("Image.*", UNSUPPORTED),
    ("Imds.*", UNSUPPORTED),
    ("HeadNode.InstanceType", UNSUPPORTED),
    ("HeadNode.Networking.SubnetId", UNSUPPORTED),
    ("HeadNode.Networking.ElasticIp", UNSUPPORTED),
    ("HeadNode.Networking.SecurityGroups", SUPPORTED),
    ("HeadNode.Networking.AdditionalSecurityGroups", SUPPORTED),
    ("HeadNode.Ssh.KeyName", UNSUPPORTED),
    ("HeadNode.Ssh.AllowedIps", SUPPORTED),
    ("HeadNode.Imds.*", UNSUPPORTED),
    ("HeadNode.LocalStorage.*", UNSUPPORTED),
    ("HeadNode.Iam.*", SUPPORTED),
    ("HeadNode.CustomActions.OnNodeUpdated*", SUPPORTED),
    ("HeadNode.CustomActions.*", UNSUPPORTED),
    ("HeadNode.Dcv.AllowedIps", SUPPORTED),
    ("HeadNode.Dcv.*", UNSUPPORTED),
    ("HeadNode.*", UNSUPPORTED),
    ("Scheduling.Scheduler", UNSUPPORTED),
    ("Scheduling.SlurmSettings.ScaledownIdletime", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmSettings.QueueUpdateStrategy", SUPPORTED),
    ("Scheduling.SlurmSettings.CustomSlurmSettings*", SUPPORTED),
    ("Scheduling.SlurmSettings.Dns.*", UNSUPPORTED),
    ("Scheduling.SlurmSettings.*", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.MinCount", RESIZE_UPDATE_STRATEGY_ON_REMOVE),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.MaxCount", RESIZE_UPDATE_STRATEGY_ON_REMOVE),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.Instances*", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.InstanceType", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.DisableSimultaneousMultithreading", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.CustomSlurmSettings*", SUPPORTED),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.StaticNodePriority", SUPPORTED),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.DynamicNodePriority", SUPPORTED),
    ("Scheduling.SlurmQueues.*.ComputeResources.*.*", QUEUE_UPDATE_STRATEGY),
    ("Scheduling.SlurmQueues.*.Networking.AssignPublicIp", UNSUPPORTED),
    ("Scheduling.SlurmQueues.*.Networking.SecurityGroups", SUPPORTED),
    ("Scheduling.SlurmQueues.*.Networking.AdditionalSecurityGroups", SUPPORTED),
    ("Scheduling.SlurmQueues.*.Iam.InstanceProfile", COMPUTE_FLEET_STOP),
    ("Scheduling.SlurmQueues.*.Iam.*", SUPPORTED),
    ("Scheduling.SlurmQueues.*.CustomSlurmSettings*", SUPPORTED),
    ("Scheduling.SlurmQueues.*.JobExclusiveAllocation", SUPPORTED),
    ("Scheduling.SlurmQueues.*.HealthChecks*", SUPPORTED),
    ("Scheduling.SlurmQueues.*.*", QUEUE_UPDATE_STRATEGY),
    ("SharedStorage.*.Name", UNSUPPORTED),
    ("SharedStorage.*.StorageType", UNSUPPORTED),
    ("SharedStorage.*.EbsSettings.Iops", SUPPORTED),
    ("SharedStorage.*.EbsSettings.Throughput", SUPPORTED),
    ("SharedStorage.*.EbsSettings.DeletionPolicy", SUPPORTED),
    ("SharedStorage.*.EfsSettings.ThroughputMode", SUPPORTED),
    ("SharedStorage.*.EfsSettings.ProvisionedThroughput", SUPPORTED),
    ("SharedStorage.*.EfsSettings.DeletionPolicy", SUPPORTED),
    ("SharedStorage.*.FsxLustreSettings.WeeklyMaintenanceStartTime", SUPPORTED),
    ("SharedStorage.*.FsxLustreSettings.AutomaticBackupRetentionDays", SUPPORTED),
    ("SharedStorage.*.FsxLustreSettings.DailyAutomaticBackupStartTime", SUPPORTED),
    ("SharedStorage.*.FsxLustreSettings.DataCompressionType", SUPPORTED),
    ("SharedStorage.*.FsxLustreSettings.DeletionPolicy", SUPPORTED),
    ("SharedStorage.*.MountDir", SHARED_STORAGE_UPDATE_POLICY),
    ("SharedStorage.*.*", UNSUPPORTED),
    ("Tags*", SUPPORTED),
    ("Monitoring.*", SUPPORTED),
    ("AdditionalResources", SUPPORTED),
    ("DevSettings.*", SUPPORTED),
)

POLICY_NOTES = {
    UNSUPPORTED: "ParallelCluster cannot change this setting on an existing cluster",
    COMPUTE_FLEET_STOP: "ParallelCluster changes this setting only while the compute fleet is stopped",
    QUEUE_UPDATE_STRATEGY: (
        "ParallelCluster changes this setting only while the compute fleet is stopped, "
        "unless Scheduling.SlurmSettings.QueueUpdateStrategy is DRAIN or TERMINATE"
    ),
    RESIZE_UPDATE_STRATEGY_ON_REMOVE: (
        "growing is a live update; shrinking needs the compute fleet stopped "
        "unless Scheduling.SlurmSettings.QueueUpdateStrategy is TERMINATE"
    ),
    SHARED_STORAGE_UPDATE_POLICY: (
        "adding or removing shared storage needs the compute fleet stopped "
        "unless Scheduling.SlurmSettings.QueueUpdateStrategy is DRAIN or TERMINATE"
    ),
    SUPPORTED: "ParallelCluster applies this setting to a running cluster",
}


class SpecError(ValueError):
    """The cluster description is wrong; ``errors`` holds one message per problem."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = list(errors)


# ---------------------------------------------------------------- validation
def instance_type_problem(value):
    """Why ``value`` is not a known EC2 instance type ('' when it is one)."""
    if not isinstance(value, str) or "." not in value:
        return "is not an EC2 instance type such as c5.large"
    family, _dot, size = value.partition(".")
    if family.startswith("u-") or family.startswith("u7"):  # high-memory types: u-6tb1.metal, u7i-12tb.224xlarge
        return "" if size else "is not an EC2 instance type such as c5.large"
    if family not in INSTANCE_FAMILIES:
        return f"has an unknown instance family '{family}'"
    if not _SIZE.match(size):
        return f"has an unknown instance size '{size}'"
    return ""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


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


def validate_spec(spec, subnets_pending=False):  # noqa: PLR0912, PLR0915 - one flat list of checks reads best
    """Check a cluster description; return a list of messages (empty when it is fine).

    ``subnets_pending`` says the default subnets (``parallelcluster_subnet_ids``) are not known yet
    because a later play creates them (the foundation); then only queues that explicitly have no
    subnets are refused.
    """
    errors = []
    name = spec.get("cluster_name")
    if not isinstance(name, str) or not _CLUSTER_NAME.match(name):
        errors.append(
            f"parallelcluster_cluster_name must be 1-60 letters, digits and '-', starting with a letter; got '{name}'"
        )
    if not spec.get("region"):
        errors.append("parallelcluster_region is empty: set it (or hpc_aws_region)")
    if spec.get("os") not in OS_CHOICES:
        errors.append(f"parallelcluster_os must be one of {', '.join(OS_CHOICES)}; got '{spec.get('os')}'")
    ami = spec.get("custom_ami") or ""
    if ami and not _AMI.match(ami):
        errors.append(f"parallelcluster_custom_ami must be an AMI id (ami-0123456789abcdef0); got '{ami}'")
    if not isinstance(spec.get("imds_secured", True), bool):
        errors.append("parallelcluster_imds_secured must be true or false")

    default_subnets = spec.get("subnet_ids") or []
    if not isinstance(default_subnets, list):
        errors.append("parallelcluster_subnet_ids must be a list of subnet ids")
        default_subnets = []
    for subnet in default_subnets:
        if not isinstance(subnet, str) or not _SUBNET.match(subnet):
            errors.append(f"parallelcluster_subnet_ids: '{subnet}' is not a subnet id (subnet-0123456789abcdef0)")

    head = spec.get("head_node") or {}
    problem = instance_type_problem(head.get("instance_type"))
    if problem:
        errors.append(f"parallelcluster_head_node_instance_type '{head.get('instance_type')}' {problem}")
    head_subnet = head.get("subnet_id") or ""
    if head_subnet and not _SUBNET.match(head_subnet):
        errors.append(f"parallelcluster_head_node_subnet_id '{head_subnet}' is not a subnet id")
    if not head_subnet and not default_subnets and not subnets_pending:
        errors.append(
            "the head node has no subnet: set parallelcluster_head_node_subnet_id or parallelcluster_subnet_ids"
        )
    errors += _scripts_problems(head.get("on_node_configured"), "parallelcluster_head_node_on_node_configured")
    errors += _scripts_problems(spec.get("compute_on_node_configured"), "parallelcluster_compute_on_node_configured")

    idle = spec.get("scaledown_idletime")
    if not _is_int(idle) or idle < 1:
        errors.append(
            f"parallelcluster_scaledown_idletime must be a whole number of minutes of at least 1; got {idle!r} "
            "(0 would stop idle dynamic nodes at once and make every job wait for a new instance)"
        )
    strategy = spec.get("queue_update_strategy") or ""
    if strategy not in QUEUE_UPDATE_STRATEGIES:
        errors.append(
            "parallelcluster_queue_update_strategy must be empty or one of "
            f"{', '.join(s for s in QUEUE_UPDATE_STRATEGIES if s)}; got '{strategy}'"
        )

    queues = spec.get("queues")
    if not isinstance(queues, list) or not queues:
        errors.append("parallelcluster_queues must list at least one Slurm queue")
        queues = []
    seen_queues = set()
    for qi, queue in enumerate(queues):
        where = f"parallelcluster_queues[{qi}]"
        if not isinstance(queue, dict):
            errors.append(f"{where} must be a dict with name, compute_resources and (optionally) subnet_ids")
            continue
        qname = queue.get("name")
        label = f"{where} ({qname})" if qname else where
        if not isinstance(qname, str) or not _QUEUE_NAME.match(qname):
            errors.append(
                f"{where}.name must be 1-25 lowercase letters, digits and '-', starting with a letter; got '{qname}'"
            )
        elif qname in seen_queues:
            errors.append(f"{where}.name '{qname}' is used by another queue")
        seen_queues.add(qname)
        if queue.get("capacity_type", "ONDEMAND") not in CAPACITY_TYPES:
            errors.append(f"{label}.capacity_type must be one of {', '.join(CAPACITY_TYPES)}")
        if "subnet_ids" in queue:
            subnets = queue.get("subnet_ids")
            if not isinstance(subnets, list) or not subnets:
                errors.append(
                    f"{label}.subnet_ids is empty: a queue needs at least one subnet "
                    "(give subnet ids, or drop the key to use parallelcluster_subnet_ids)"
                )
            else:
                for subnet in subnets:
                    if not isinstance(subnet, str) or not _SUBNET.match(subnet):
                        errors.append(f"{label}.subnet_ids: '{subnet}' is not a subnet id")
        elif not default_subnets and not subnets_pending:
            errors.append(f"{label} has no subnets: set {where}.subnet_ids or parallelcluster_subnet_ids")
        errors += _scripts_problems(queue.get("on_node_configured"), f"{where}.on_node_configured")
        resources = queue.get("compute_resources")
        if not isinstance(resources, list) or not resources:
            errors.append(f"{label}.compute_resources must list at least one compute resource")
            continue
        seen_resources = set()
        for ri, res in enumerate(resources):
            rwhere = f"{where}.compute_resources[{ri}]"
            if not isinstance(res, dict):
                errors.append(f"{rwhere} must be a dict with name, instance_type, min_count, max_count")
                continue
            rname = res.get("name")
            if not isinstance(rname, str) or not _RESOURCE_NAME.match(rname):
                errors.append(
                    f"{rwhere}.name must be 1-25 letters, digits and '-', starting with a letter; got '{rname}'"
                )
            elif rname in seen_resources:
                errors.append(f"{rwhere}.name '{rname}' is used twice in queue '{qname}'")
            seen_resources.add(rname)
            types = res.get("instance_types") or ([res["instance_type"]] if res.get("instance_type") else [])
            if not types:
                errors.append(f"{rwhere}.instance_type is missing")
            for itype in types:
                problem = instance_type_problem(itype)
                if problem:
                    errors.append(f"{rwhere}.instance_type '{itype}' {problem}")
            low, high = res.get("min_count", 0), res.get("max_count", 10)
            if not _is_int(low) or low < 0:
                errors.append(f"{rwhere}.min_count must be a whole number of at least 0; got {low!r}")
            if not _is_int(high) or high < 1:
                errors.append(f"{rwhere}.max_count must be a whole number of at least 1; got {high!r}")
            if _is_int(low) and _is_int(high) and high < low:
                errors.append(f"{rwhere}.max_count ({high}) is less than its min_count ({low})")

    seen_storage = set()
    for si, storage in enumerate(spec.get("shared_storage") or []):
        where = f"parallelcluster_shared_storage[{si}]"
        if not isinstance(storage, dict):
            errors.append(f"{where} must be a dict with name, type and mount_dir")
            continue
        if storage.get("type") not in STORAGE_TYPES:
            errors.append(f"{where}.type must be one of {', '.join(STORAGE_TYPES)}; got '{storage.get('type')}'")
        sname = storage.get("name")
        if not isinstance(sname, str) or not _RESOURCE_NAME.match(sname):
            errors.append(f"{where}.name must be 1-25 letters, digits and '-', starting with a letter; got '{sname}'")
        elif sname in seen_storage:
            errors.append(f"{where}.name '{sname}' is used twice")
        seen_storage.add(sname)
        mount = storage.get("mount_dir")
        if not isinstance(mount, str) or not mount.startswith("/"):
            errors.append(f"{where}.mount_dir must be an absolute path; got '{mount}'")
        if not isinstance(storage.get("settings", {}), dict):
            errors.append(f"{where}.settings must be a dict of {storage.get('type')}Settings keys")

    tags = spec.get("tags") or {}
    if not isinstance(tags, dict):
        errors.append("parallelcluster_tags must be a dict")
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


def render(spec, subnets_pending=False):  # noqa: PLR0912, PLR0915 - one section of the config after the other
    """The ParallelCluster 3 configuration for a cluster description (raises SpecError when invalid)."""
    errors = validate_spec(spec, subnets_pending=subnets_pending)
    if errors:
        raise SpecError(errors)
    default_subnets = list(spec.get("subnet_ids") or [])
    head = spec.get("head_node") or {}

    image = {"Os": spec["os"]}
    if spec.get("custom_ami"):
        image["CustomAmi"] = spec["custom_ami"]

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
        head_node["Iam"] = {"AdditionalIamPolicies": [{"Policy": p} for p in policies]}
    head_actions = _actions(head.get("on_node_configured"))
    if head_actions:
        head_node["CustomActions"] = head_actions

    slurm_settings = {"ScaledownIdletime": spec["scaledown_idletime"]}
    if spec.get("queue_update_strategy"):
        slurm_settings["QueueUpdateStrategy"] = spec["queue_update_strategy"]

    queues = []
    for queue in spec["queues"]:
        rendered = {"Name": queue["name"], "CapacityType": queue.get("capacity_type", "ONDEMAND")}
        resources = []
        for res in queue["compute_resources"]:
            types = res.get("instance_types") or [res["instance_type"]]
            # Always the Instances list: ParallelCluster refuses ComputeResource/InstanceType in a queue with
            # several subnets (SingleInstanceTypeSubnetValidator).
            entry = {"Name": res["name"], "Instances": [{"InstanceType": t} for t in types]}
            entry["MinCount"] = res.get("min_count", 0)
            entry["MaxCount"] = res.get("max_count", 10)
            if res.get("disable_simultaneous_multithreading"):
                entry["DisableSimultaneousMultithreading"] = True
            resources.append(entry)
        rendered["ComputeResources"] = resources
        networking = {"SubnetIds": list(queue["subnet_ids"]) if "subnet_ids" in queue else default_subnets}
        if queue.get("security_group_ids") or head.get("security_group_ids"):
            networking["AdditionalSecurityGroups"] = list(queue.get("security_group_ids") or head["security_group_ids"])
        rendered["Networking"] = networking
        actions = _actions(
            queue["on_node_configured"] if "on_node_configured" in queue else spec.get("compute_on_node_configured")
        )
        if actions:
            rendered["CustomActions"] = actions
        if policies:
            rendered["Iam"] = {"AdditionalIamPolicies": [{"Policy": p} for p in policies]}
        queues.append(rendered)

    config = {
        "Region": spec["region"],
        "Image": image,
        "Imds": {"ImdsSupport": "v2.0"},
        "HeadNode": head_node,
        "Scheduling": {"Scheduler": "slurm", "SlurmSettings": slurm_settings, "SlurmQueues": queues},
    }
    storage = []
    for item in spec.get("shared_storage") or []:
        entry = {"Name": item["name"], "StorageType": item["type"], "MountDir": item["mount_dir"]}
        if item.get("settings"):
            entry[f"{item['type']}Settings"] = copy.deepcopy(item["settings"])
        storage.append(entry)
    if storage:
        config["SharedStorage"] = storage
    tags = dict(spec.get("tags") or {})
    tags.setdefault("hpc:cluster", spec["cluster_name"])
    tags.setdefault("hpc:role", "pcluster")
    config["Tags"] = [{"Key": k, "Value": str(v)} for k, v in sorted(tags.items())]
    return config


# ---------------------------------------------------------------- diff and update decision
def flatten(config, prefix=""):
    """{dotted path: leaf value}; list items with a Name (or Key) are addressed by it."""
    out = {}
    if isinstance(config, dict):
        if not config and prefix:
            out[prefix] = {}
        for key, value in config.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif (
        isinstance(config, list) and config and all(isinstance(i, dict) and ("Name" in i or "Key" in i) for i in config)
    ):
        for item in config:
            if "Name" in item:
                ident = item["Name"]
                rest = {k: v for k, v in item.items() if k != "Name"}
                out.update(flatten(rest, f"{prefix}[{ident}]") or {f"{prefix}[{ident}]": {}})
            else:  # tags
                out[f"{prefix}[{item['Key']}]"] = item.get("Value")
    else:
        out[prefix] = config
    return out


def _normalise_path(path):
    # "Scheduling.SlurmQueues[compute].ComputeResources[c5].MaxCount" -> elements with [x] as their own element
    return re.sub(r"\[([^\]]*)\]", r".\1", path).split(".")


def _pattern_matches(pattern, path):  # noqa: PLR0911 - one early answer per pattern form
    pattern_parts = pattern.split(".")
    parts = _normalise_path(path)
    if pattern_parts[-1].endswith("*") and pattern_parts[-1] != "*":
        # 'Instances*' / 'Tags*': prefix match on that element and anything below it
        head = pattern_parts[-1][:-1]
        if len(parts) < len(pattern_parts):
            return False
        for want, got in zip(pattern_parts[:-1], parts):  # noqa: B905 - zip(strict=) needs Python 3.10; plugins stay 3.8-compatible
            if want not in ("*", got):
                return False
        return parts[len(pattern_parts) - 1].startswith(head)
    if pattern_parts[-1] == "*":
        if len(parts) < len(pattern_parts):
            return False
        return all(want in ("*", got) for want, got in zip(pattern_parts[:-1], parts))  # noqa: B905 - zip(strict=) needs Python 3.10; plugins stay 3.8-compatible
    if len(parts) != len(pattern_parts):
        return False
    return all(want in ("*", got) for want, got in zip(pattern_parts, parts))  # noqa: B905 - zip(strict=) needs Python 3.10; plugins stay 3.8-compatible


def policy_for(path):
    """The ParallelCluster update policy of a configuration path."""
    for pattern, policy in UPDATE_POLICIES:
        if _pattern_matches(pattern, path):
            return policy
    return COMPUTE_FLEET_STOP


def _container(path):
    """The Name-addressed item (queue, compute resource, storage) a path belongs to, if any."""
    match = re.match(r"^(.*\[[^\]]+\])", path)
    return match.group(1) if match else ""


def config_changes(old, new):
    """Differences between two configurations: [{path, old, new}] sorted by path.

    A queue, compute resource or storage that appears or disappears is one change of its own
    (path ending in [Name], old or new None).
    """
    old_flat, new_flat = flatten(old or {}), flatten(new or {})
    changes = []
    old_items = {_item_root(p) for p in old_flat if _item_root(p)}
    new_items = {_item_root(p) for p in new_flat if _item_root(p)}
    added = new_items - old_items
    removed = old_items - new_items
    # a compute resource inside a queue that appears or disappears is part of that one change
    added = {i for i in added if not any(i != o and i.startswith(o + ".") for o in added)}
    removed = {i for i in removed if not any(i != o and i.startswith(o + ".") for o in removed)}
    for item in sorted(added):
        changes.append({"path": item, "old": None, "new": "added"})
    for item in sorted(removed):
        changes.append({"path": item, "old": "present", "new": None})
    whole = added | removed
    for path in sorted(set(old_flat) | set(new_flat)):
        if any(path == w or path.startswith(w + ".") or path.startswith(w + "[") for w in whole):
            continue
        before, after = old_flat.get(path), new_flat.get(path)
        if before != after:
            changes.append({"path": path, "old": before, "new": after})
    return sorted(changes, key=lambda c: c["path"])


_ITEM_LISTS = ("Scheduling.SlurmQueues", "ComputeResources", "SharedStorage")


def _item_root(path):
    """The deepest queue / compute resource / storage item a path lies in ('' for none)."""
    root = ""
    for match in re.finditer(r"\[[^\]]+\]", path):
        candidate = path[: match.end()]
        before = path[: match.start()]
        if before.endswith(_ITEM_LISTS):
            root = candidate
    return root


def _change_decision(change, strategy):  # noqa: PLR0911 - the decision table, one return per row
    """(decision, policy, reason) for one change."""
    path = change["path"]
    live_strategy = strategy in ("DRAIN", "TERMINATE")
    if change["old"] is None or change["new"] is None:  # an item appeared or disappeared
        if path.startswith("SharedStorage"):
            if live_strategy:
                return LIVE_UPDATE, SHARED_STORAGE_UPDATE_POLICY, POLICY_NOTES[SHARED_STORAGE_UPDATE_POLICY]
            return FLEET_STOP, SHARED_STORAGE_UPDATE_POLICY, POLICY_NOTES[SHARED_STORAGE_UPDATE_POLICY]
        if change["new"] is not None:
            return LIVE_UPDATE, SUPPORTED, "a new queue or compute resource is added to a running cluster"
        if strategy == "TERMINATE":
            return (
                LIVE_UPDATE,
                RESIZE_UPDATE_STRATEGY_ON_REMOVE,
                "removed; QueueUpdateStrategy TERMINATE allows it live",
            )
        return (
            FLEET_STOP,
            RESIZE_UPDATE_STRATEGY_ON_REMOVE,
            ("removing a queue or compute resource needs the compute fleet stopped (or QueueUpdateStrategy TERMINATE)"),
        )
    policy = policy_for(path)
    note = POLICY_NOTES.get(policy, "")
    if policy == SUPPORTED:
        return LIVE_UPDATE, policy, note
    if policy == UNSUPPORTED:
        return REPLACEMENT, policy, note
    if policy in (QUEUE_UPDATE_STRATEGY, SHARED_STORAGE_UPDATE_POLICY):
        return (LIVE_UPDATE if live_strategy else FLEET_STOP), policy, note
    if policy == RESIZE_UPDATE_STRATEGY_ON_REMOVE:
        old, new = change["old"], change["new"]
        shrinking = _is_int(old) and _is_int(new) and new < old
        if not shrinking or strategy == "TERMINATE":
            return LIVE_UPDATE, policy, note
        return FLEET_STOP, policy, note
    return FLEET_STOP, policy, note


def decide_update(old, new):
    """What applying ``new`` over the running ``old`` configuration takes.

    Returns {"decision": no_change|live_update|fleet_stop|replacement, "changes": [...]} where each
    change carries its path, old and new value, ParallelCluster policy, decision and reason.
    The QueueUpdateStrategy of the *new* configuration counts (ParallelCluster applies it to the update).
    """
    strategy = ((new or {}).get("Scheduling", {}).get("SlurmSettings", {}) or {}).get("QueueUpdateStrategy", "")
    decided = []
    overall = NO_CHANGE
    for change in config_changes(old, new):
        decision, policy, reason = _change_decision(change, strategy)
        decided.append(dict(change, policy=policy, decision=decision, reason=reason))
        if _RANK[decision] > _RANK[overall]:
            overall = decision
    return {"decision": overall, "changes": decided}


def explain(decision_result, wanted=None):
    """One sentence per change that needs ``wanted`` (or worse), for failure messages."""
    floor = _RANK[wanted] if wanted else 0
    lines = []
    for change in decision_result["changes"]:
        if _RANK[change["decision"]] >= floor:
            lines.append(
                f"{change['path']}: {change['old']!r} -> {change['new']!r} ({change['policy']}: {change['reason']})"
            )
    return lines


# ---------------------------------------------------------------- Slurm layout (lab stand-in)
def slurm_layout(config, node_names=None):
    """Partitions and nodes of a Slurm cluster built from a ParallelCluster configuration.

    ParallelCluster names nodes <queue>-<st|dy>-<compute resource>-<n>; static nodes (MinCount) come
    first. ``node_names`` caps the layout at the hosts that really exist (the lab has N hosts): the
    first queue's first compute resource gets them, in order, as static nodes.
    Returns {"partitions": [{"name", "nodes": [...], "default"}], "nodes": [...]}.
    """
    partitions = []
    all_nodes = []
    queues = config.get("Scheduling", {}).get("SlurmQueues", [])
    for index, queue in enumerate(queues):
        nodes = []
        for res in queue.get("ComputeResources", []):
            count = max(int(res.get("MinCount", 0)), int(res.get("MaxCount", 0)))
            static = int(res.get("MinCount", 0))
            for n in range(1, count + 1):
                kind = "st" if n <= static else "dy"
                nodes.append(f"{queue['Name']}-{kind}-{res['Name'].lower()}-{n}")
        partitions.append({"name": queue["Name"], "nodes": nodes, "default": index == 0})
        all_nodes += nodes
    if node_names is not None:
        names = list(node_names)
        capped = []
        for part in partitions:
            keep = [n for n in part["nodes"] if n in names]
            if not keep and part["default"]:
                keep = names
            capped.append(dict(part, nodes=keep))
        partitions = [p for p in capped if p["nodes"]]
        all_nodes = names
    return {"partitions": partitions, "nodes": all_nodes}
