# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""EFS file systems of a cluster: what the ``efs_file_system`` module creates, updates or refuses (private).

Pure functions, no AWS call: the module describes the file system and its mount targets and asks these what to
do. ``tests/unit/plugins/module_utils/test_efs.py`` tests them directly. The tag helpers are the ones of
``_fsx.py`` (FSx and EFS both spell tags ``[{'Key', 'Value'}]``).
"""

from __future__ import annotations

import hashlib

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._fsx import (
    NAME_TAG,
    desired_tags,
    kms_key_matches,
    tag_changes,
    tag_dict,
    tag_list,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import CLUSTER_TAG, MOUNT_DIR_TAG

PERFORMANCE_MODES = ("generalPurpose", "maxIO")
THROUGHPUT_MODES = ("bursting", "elastic")
DEFAULT_PERFORMANCE_MODE = "generalPurpose"
DEFAULT_THROUGHPUT_MODE = "bursting"
# EFS LifeCycleState (FileSystemDescription and MountTargetDescription, Amazon EFS API Reference,
# https://docs.aws.amazon.com/efs/latest/ug/API_FileSystemDescription.html): creating, available, updating,
# deleting, deleted, error. A file system being deleted is not "the" file system of a name any more.
GONE_STATES = ("deleting", "deleted")
READY_STATES = ("available",)
BROKEN_STATES = ("error",)
# Settings EFS fixes when it creates the file system (CreateFileSystem; UpdateFileSystem changes the throughput
# mode and provisioned throughput only: "UpdateFileSystem - Amazon Elastic File System",
# https://docs.aws.amazon.com/efs/latest/ug/API_UpdateFileSystem.html).
IMMUTABLE = ("encrypted", "kms_key_id", "performance_mode")
# The CreationToken is at most 64 characters ("CreateFileSystem", CreationToken: length 1-64).
CREATION_PREFIX = "hpcops-"


class EfsPlanError(ValueError):
    """What was asked cannot be done; the message names the option."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option


# ---------------------------------------------------------------- identity
def creation_token(cluster, name):
    """The CreationToken of the file system of ``cluster`` and ``name``: the same on every run.

    "CreateFileSystem - Amazon Elastic File System" (https://docs.aws.amazon.com/efs/latest/ug/API_CreateFileSystem.html):
    the creation token is EFS's idempotency key; while a file system with the token exists, another
    CreateFileSystem with it creates nothing and fails with FileSystemAlreadyExists naming the existing file system.
    A token derived from cluster and name therefore makes a rerun after a lost answer (timeout, killed run) find the
    file system made by the first call instead of making a second one; a fresh token per call would not.
    """
    digest = hashlib.sha256(f"{cluster}\n{name}".encode("utf-8")).hexdigest()
    return CREATION_PREFIX + digest[:48]


def is_efs_of(fs, cluster, name):
    """Whether ``fs`` (a DescribeFileSystems entry, tags inline) is a live file system of ``cluster`` named ``name``."""
    if fs.get("LifeCycleState") in GONE_STATES:
        return False
    tags = tag_dict(fs.get("Tags"))
    return tags.get(CLUSTER_TAG) == cluster and tags.get(NAME_TAG) == name


def dns_name(fs_id, region):
    """The file system's DNS name (``<id>.efs.<region>.amazonaws.com``): "Mounting EFS file systems using DNS names",
    https://docs.aws.amazon.com/efs/latest/ug/mounting-fs-mount-cmd-dns-name.html"""
    return f"{fs_id}.efs.{region}.amazonaws.com"


def state_of(lifecycle):
    """``ready``, ``busy`` (creating, updating, deleting) or ``broken`` for a wait loop."""
    if lifecycle in READY_STATES:
        return "ready"
    return "broken" if lifecycle in BROKEN_STATES else "busy"


# ---------------------------------------------------------------- describing
def summarize_mount_target(target):
    """One ``mount_targets`` item of the return value (``SecurityGroups`` added by the module)."""
    return {
        "id": target.get("MountTargetId"),
        "subnet_id": target.get("SubnetId"),
        "availability_zone": target.get("AvailabilityZoneName"),
        "ip_address": target.get("IpAddress"),
        "security_groups": sorted(target.get("SecurityGroups") or []),
        "lifecycle": target.get("LifeCycleState"),
    }


def live_targets(targets):
    """Mount targets that are not being deleted, ordered by subnet."""
    return sorted((t for t in targets or [] if t.get("LifeCycleState") not in GONE_STATES),
                  key=lambda t: t.get("SubnetId") or "")


def summarize(fs, targets, region):
    """The module's ``file_system`` return value."""
    tags = tag_dict(fs.get("Tags"))
    return {
        "id": fs.get("FileSystemId"),
        "arn": fs.get("FileSystemArn"),
        "name": tags.get(NAME_TAG),
        "dns_name": dns_name(fs.get("FileSystemId"), region),
        "lifecycle": fs.get("LifeCycleState"),
        "encrypted": bool(fs.get("Encrypted")),
        "kms_key_id": fs.get("KmsKeyId"),
        "performance_mode": fs.get("PerformanceMode"),
        "throughput_mode": fs.get("ThroughputMode"),
        "mount_dir": tags.get(MOUNT_DIR_TAG),
        "tags": tags,
        "mount_targets": [summarize_mount_target(t) for t in live_targets(targets)],
    }


def target_map(targets):
    """``{subnet_id: sorted security groups}`` of the live mount targets."""
    return {t["SubnetId"]: sorted(t.get("SecurityGroups") or []) for t in live_targets(targets)}


def current_settings(fs, targets):
    """The compared settings of an existing file system (the diff's ``before``)."""
    tags = tag_dict(fs.get("Tags"))
    return {
        "exists": True,
        "performance_mode": fs.get("PerformanceMode") or DEFAULT_PERFORMANCE_MODE,
        "throughput_mode": fs.get("ThroughputMode") or DEFAULT_THROUGHPUT_MODE,
        "encrypted": bool(fs.get("Encrypted")),
        "kms_key_id": fs.get("KmsKeyId"),
        "mount_dir": tags.get(MOUNT_DIR_TAG),
        "mount_targets": target_map(targets),
        "tags": tags,
    }


def absent_settings():
    return {"exists": False}


# ---------------------------------------------------------------- checks
def wanted_targets(params):
    """O(mount_targets) as ``{subnet_id: sorted security groups}`` (None when not managed)."""
    if params.get("mount_targets") is None:
        return None
    return {item["subnet_id"]: sorted(set(item.get("security_groups") or [])) for item in params["mount_targets"]}


def validate(params):
    """Checks before any AWS call (EFS's own rules are left to EFS): raises EfsPlanError naming the option."""
    for option in ("name", "cluster"):
        if not params.get(option):
            raise EfsPlanError(f"{option} must not be empty", option)
    if params.get("state", "present") != "present":
        return
    mount_dir = params.get("mount_dir")
    if mount_dir and not mount_dir.startswith("/"):
        raise EfsPlanError(f"mount_dir must be an absolute path, got {mount_dir!r}", "mount_dir")
    if params.get("kms_key_id") and not params.get("encrypted", True):
        raise EfsPlanError("kms_key_id is given but encrypted is false: a KMS key encrypts the file system, "
                           "set encrypted to true or leave kms_key_id empty", "kms_key_id")
    seen = set()
    for index, item in enumerate(params.get("mount_targets") or []):
        subnet = (item or {}).get("subnet_id")
        if not subnet:
            raise EfsPlanError(f"mount_targets[{index}] has no subnet_id", "mount_targets")
        if subnet in seen:
            raise EfsPlanError(f"mount_targets lists subnet {subnet} twice (one mount target per subnet)",
                               "mount_targets")
        seen.add(subnet)


def check_zones(wanted, subnet_zones):
    """Fail naming O(mount_targets) when two listed subnets are in one Availability Zone.

    "CreateMountTarget - Amazon Elastic File System" (https://docs.aws.amazon.com/efs/latest/ug/API_CreateMountTarget.html):
    "You can create one mount target in each Availability Zone in your VPC ... If you have multiple subnets in an
    Availability Zone, you create a mount target in one of the subnets."
    """
    by_zone = {}
    for subnet in sorted(wanted or {}):
        zone = subnet_zones.get(subnet)
        if zone is None:
            raise EfsPlanError(f"mount_targets: subnet {subnet} was not found", "mount_targets")
        if zone in by_zone:
            raise EfsPlanError(f"mount_targets: subnets {by_zone[zone]} and {subnet} are both in {zone}; EFS allows "
                               "one mount target per Availability Zone: list one subnet per zone", "mount_targets")
        by_zone[zone] = subnet


# ---------------------------------------------------------------- create
def create_request(params, token):
    """The CreateFileSystem arguments when no file system exists."""
    request = {
        "CreationToken": token,
        "PerformanceMode": params.get("performance_mode") or DEFAULT_PERFORMANCE_MODE,
        "ThroughputMode": params.get("throughput_mode") or DEFAULT_THROUGHPUT_MODE,
        "Encrypted": bool(params.get("encrypted", True)),
        "Tags": tag_list(desired_tags(params)),
    }
    if params.get("kms_key_id"):
        request["KmsKeyId"] = params["kms_key_id"]
    return request


def wanted_settings(params):
    """The compared settings as O(state=present) asks for them when creating."""
    return {
        "exists": True,
        "performance_mode": params.get("performance_mode") or DEFAULT_PERFORMANCE_MODE,
        "throughput_mode": params.get("throughput_mode") or DEFAULT_THROUGHPUT_MODE,
        "encrypted": bool(params.get("encrypted", True)),
        "kms_key_id": params.get("kms_key_id"),
        "mount_dir": params.get("mount_dir"),
        "mount_targets": wanted_targets(params) or {},
        "tags": desired_tags(params),
    }


# ---------------------------------------------------------------- update plans
def immutable_message(option, current, wanted):
    return (f"{option} is {current!r} on the file system, {wanted!r} was asked: EFS cannot change {option} in "
            "place; delete and recreate (data loss) is not done by this module")


def _refuse_immutable(before, params, same_kms_key):
    wanted_encrypted = bool(params.get("encrypted", True))
    if before["encrypted"] != wanted_encrypted:
        raise EfsPlanError(immutable_message("encrypted", before["encrypted"], wanted_encrypted), "encrypted")
    wanted_key = params.get("kms_key_id")
    if wanted_key and not same_kms_key(before["kms_key_id"], wanted_key):
        raise EfsPlanError(immutable_message("kms_key_id", before["kms_key_id"], wanted_key), "kms_key_id")
    wanted_mode = params.get("performance_mode") or DEFAULT_PERFORMANCE_MODE
    if before["performance_mode"] != wanted_mode:
        raise EfsPlanError(immutable_message("performance_mode", before["performance_mode"], wanted_mode),
                           "performance_mode")


def plan_mount_targets(targets, wanted, subnet_zones, purge=True):
    """What to do with the mount targets: ``{'create', 'modify', 'delete', 'wait_gone'}``.

    ``targets`` are the described mount targets (with ``SecurityGroups``), ``wanted`` O(mount_targets) as
    :func:`wanted_targets` gives it (None: not managed), ``subnet_zones`` the zone of every wanted subnet.
    ``create`` holds CreateMountTarget arguments (without FileSystemId), ``modify`` ``(mount target id, groups)``,
    ``delete`` mount target ids, ``wait_gone`` ids that must be gone before the creations (same zone).
    Raises EfsPlanError naming O(mount_targets) when a creation would meet a kept mount target in its zone.
    """
    plan = {"create": [], "modify": [], "delete": [], "wait_gone": []}
    if wanted is None:
        return plan
    check_zones(wanted, subnet_zones)
    live = live_targets(targets)
    by_subnet = {t["SubnetId"]: t for t in live}
    for target in live:
        if target["SubnetId"] not in wanted and purge:
            plan["delete"].append(target["MountTargetId"])
    kept_zones = {t.get("AvailabilityZoneName"): t for t in live if t["MountTargetId"] not in plan["delete"]}
    going = [t for t in targets or [] if t.get("LifeCycleState") in GONE_STATES or t["MountTargetId"] in plan["delete"]]
    for subnet, groups in sorted(wanted.items()):
        target = by_subnet.get(subnet)
        if target is not None:
            if groups and groups != sorted(target.get("SecurityGroups") or []):
                plan["modify"].append((target["MountTargetId"], groups))
            continue
        zone = subnet_zones.get(subnet)
        other = kept_zones.get(zone)
        if other is not None:
            raise EfsPlanError(f"mount_targets: subnet {subnet} is in {zone}, where mount target "
                               f"{other['MountTargetId']} (subnet {other['SubnetId']}) exists; EFS allows one mount "
                               "target per Availability Zone: list that subnet instead, or set purge_mount_targets "
                               "to replace it",
                               "mount_targets")
        request = {"SubnetId": subnet}
        if groups:
            request["SecurityGroups"] = groups
        plan["create"].append(request)
        plan["wait_gone"].extend(t["MountTargetId"] for t in going if t.get("AvailabilityZoneName") == zone)
    return plan


def _targets_after(before_targets, wanted, plan, deleted_ids, targets):
    if wanted is None:
        return dict(before_targets)
    subnet_of = {t["MountTargetId"]: t["SubnetId"] for t in targets or []}
    after = {subnet: groups for subnet, groups in before_targets.items()
             if subnet not in {subnet_of.get(mt_id) for mt_id in deleted_ids}}
    for mt_id, groups in plan["modify"]:
        after[subnet_of[mt_id]] = groups
    for request in plan["create"]:
        after[request["SubnetId"]] = request.get("SecurityGroups", [])
    return dict(sorted(after.items()))


def plan_update(fs, targets, params, subnet_zones, same_kms_key=kms_key_matches):
    """What O(state=present) changes on the existing file system ``fs``; raises EfsPlanError for what it refuses.

    Returns ``{'update', 'tags_set', 'tags_remove', 'targets', 'before', 'after', 'changed'}``: ``update`` the
    UpdateFileSystem arguments (None when the throughput mode is right), ``targets`` the mount target plan.
    """
    before = current_settings(fs, targets)
    _refuse_immutable(before, params, same_kms_key)
    wanted_mode = params.get("throughput_mode") or DEFAULT_THROUGHPUT_MODE
    update = None
    if before["throughput_mode"] != wanted_mode:
        update = {"FileSystemId": fs["FileSystemId"], "ThroughputMode": wanted_mode}
    purge = params.get("purge_tags", True) and params.get("tags") is not None
    tags_set, tags_remove = tag_changes(before["tags"], desired_tags(params), purge)
    wanted = wanted_targets(params)
    mt_plan = plan_mount_targets(targets, wanted, subnet_zones, params.get("purge_mount_targets", True))
    after = dict(before)
    after.update(throughput_mode=wanted_mode, mount_dir=params.get("mount_dir") or before["mount_dir"],
                 mount_targets=_targets_after(before["mount_targets"], wanted, mt_plan, mt_plan["delete"], targets))
    after["tags"] = {key: value for key, value in {**before["tags"], **tags_set}.items() if key not in tags_remove}
    changed = bool(update or tags_set or tags_remove or mt_plan["create"] or mt_plan["modify"] or mt_plan["delete"])
    return {"update": update, "tags_set": tags_set, "tags_remove": tags_remove, "targets": mt_plan,
            "before": before, "after": after, "changed": changed}
