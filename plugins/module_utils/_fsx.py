# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared file systems of a cluster: FSx for Lustre plans and the ParallelCluster SharedStorage form (private).

Pure functions, no AWS call: the ``fsx_lustre`` module asks them what to create, update or refuse, and the
``shared_storage_info`` module turns EFS and FSx descriptions into the ``parallelcluster_shared_storage`` items
of the parallelcluster role. ``tests/unit/plugins/module_utils/test_fsx.py`` tests them directly.
"""

from __future__ import annotations

import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import (
    CLUSTER_TAG,
    MOUNT_DIR_TAG,
    PORTAL_STORAGE_ROLE,
    ROLE_TAG,
    STORAGE_TAG,
)

NAME_TAG = "Name"
DEPLOYMENT_TYPES = ("SCRATCH_1", "SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2")
SCRATCH_TYPES = ("SCRATCH_1", "SCRATCH_2")
STORAGE_TYPES = ("SSD", "HDD")
DEFAULT_DEPLOYMENT_TYPE = "SCRATCH_2"
DEFAULT_STORAGE_TYPE = "SSD"
# Storage capacity only grows, and not on SCRATCH_1:
# "Managing storage capacity - FSx for Lustre" (Increase only - you cannot decrease storage capacity),
# https://docs.aws.amazon.com/fsx/latest/LustreGuide/managing-storage-capacity.html ;
# "You can increase the storage capacity for Scratch_2 file systems, but not Scratch_1 file systems",
# https://repost.aws/knowledge-center/fsx-for-lustre-scratch-file-system
GROWABLE_TYPES = ("SCRATCH_2", "PERSISTENT_1", "PERSISTENT_2")
# The throughput tier (PerUnitStorageThroughput) changes in place through UpdateFileSystem on PERSISTENT_2
# (from memory of "Managing storage and throughput capacity - FSx for Lustre", same page as above); on the
# other types it is fixed at creation.
THROUGHPUT_CHANGE_TYPES = ("PERSISTENT_2",)
# FSx lifecycles (FileSystem.Lifecycle, Amazon FSx API Reference): a file system being deleted or whose
# creation failed is not "the" file system of a name; a new one may be created beside it.
GONE_LIFECYCLES = ("DELETING", "FAILED")
READY_LIFECYCLES = ("AVAILABLE",)
BROKEN_LIFECYCLES = ("FAILED", "MISCONFIGURED", "MISCONFIGURED_UNAVAILABLE")
# EFS LifeCycleState values that are not a usable file system (Amazon EFS API Reference, FileSystemDescription).
EFS_GONE_STATES = ("deleting", "deleted", "error")
# ParallelCluster SharedStorage/Name: 1-25 letters, digits and '-', starting with a letter (as _pcluster_spec.py).
_STORAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,24}$")
# The compared settings, in the order the diff shows them.
SETTINGS = ("storage_capacity", "deployment_type", "per_unit_storage_throughput", "storage_type", "subnet_id",
            "kms_key_id", "mount_dir", "tags")
# Settings FSx fixes at creation (deployment_type, subnet_id, storage_type, kms_key_id); storage_capacity and
# per_unit_storage_throughput have rules of their own (plan_update).
IMMUTABLE = ("deployment_type", "subnet_id", "storage_type", "kms_key_id")


class FsxPlanError(ValueError):
    """What was asked cannot be done; the message names the option."""

    def __init__(self, message, option=None):
        super().__init__(message)
        self.option = option


# ---------------------------------------------------------------- tags
def tag_dict(tags):
    """``[{'Key', 'Value'}]`` (FSx, EFS) as a dict."""
    return {tag["Key"]: tag.get("Value", "") for tag in tags or []}


def tag_list(tags):
    """A dict of tags as ``[{'Key', 'Value'}]``, sorted by key."""
    return [{"Key": key, "Value": str(value)} for key, value in sorted((tags or {}).items())]


def desired_tags(params):
    """The tags the file system must carry: O(tags) plus Name, hpc:cluster and hpc:mount-dir (those win)."""
    tags = {str(key): str(value) for key, value in (params.get("tags") or {}).items()}
    tags[NAME_TAG] = params["name"]
    tags[CLUSTER_TAG] = params["cluster"]
    if params.get("mount_dir"):
        tags[MOUNT_DIR_TAG] = params["mount_dir"]
    return tags


def tag_changes(current, desired, purge=True):
    """``(to_set, to_remove)``: tags to add or change, and keys to remove (``aws:`` keys are never removed)."""
    to_set = {key: value for key, value in desired.items() if current.get(key) != value}
    to_remove = []
    if purge:
        to_remove = sorted(key for key in current if key not in desired and not key.startswith("aws:"))
    return to_set, to_remove


# ---------------------------------------------------------------- finding and describing
def is_lustre_of(fs, cluster, name=None):
    """Whether ``fs`` is a live FSx for Lustre file system of ``cluster`` (and Name ``name`` when given)."""
    if fs.get("FileSystemType") != "LUSTRE" or fs.get("Lifecycle") in GONE_LIFECYCLES:
        return False
    tags = tag_dict(fs.get("Tags"))
    return tags.get(CLUSTER_TAG) == cluster and (name is None or tags.get(NAME_TAG) == name)


def pending_capacity(fs):
    """The storage capacity an unfinished FILE_SYSTEM_UPDATE asks for (None when there is none)."""
    for action in fs.get("AdministrativeActions") or []:
        if action.get("AdministrativeActionType") != "FILE_SYSTEM_UPDATE":
            continue
        if action.get("Status") in ("PENDING", "IN_PROGRESS", "UPDATED_OPTIMIZING"):
            target = (action.get("TargetFileSystemValues") or {}).get("StorageCapacity")
            if target:
                return target
    return None


def summarize(fs):
    """The module's ``file_system`` return value of a DescribeFileSystems entry."""
    lustre = fs.get("LustreConfiguration") or {}
    tags = tag_dict(fs.get("Tags"))
    return {
        "id": fs.get("FileSystemId"),
        "arn": fs.get("ResourceARN"),
        "dns_name": fs.get("DNSName"),
        "mount_name": lustre.get("MountName"),
        # moto does not report Lifecycle; a file system it describes is usable
        "lifecycle": fs.get("Lifecycle") or "AVAILABLE",
        "storage_capacity": fs.get("StorageCapacity"),
        "storage_type": fs.get("StorageType"),
        "deployment_type": lustre.get("DeploymentType"),
        "per_unit_storage_throughput": lustre.get("PerUnitStorageThroughput"),
        "subnet_ids": list(fs.get("SubnetIds") or []),
        "kms_key_id": fs.get("KmsKeyId"),
        "mount_dir": tags.get(MOUNT_DIR_TAG),
        "tags": tags,
    }


def current_settings(fs):
    """The compared settings of an existing file system (a capacity update under way counts as done)."""
    info = summarize(fs)
    capacity = info["storage_capacity"]
    pending = pending_capacity(fs)
    if pending and (capacity is None or pending > capacity):
        capacity = pending
    return {
        "exists": True,
        "storage_capacity": capacity,
        "deployment_type": info["deployment_type"] or DEFAULT_DEPLOYMENT_TYPE,
        "per_unit_storage_throughput": info["per_unit_storage_throughput"],
        "storage_type": info["storage_type"] or DEFAULT_STORAGE_TYPE,
        "subnet_id": (info["subnet_ids"] or [None])[0],
        "kms_key_id": info["kms_key_id"],
        "mount_dir": info["mount_dir"],
        "tags": info["tags"],
    }


def lifecycle_state(fs):
    """``ready``, ``busy`` (creating, updating) or ``broken`` for a wait loop."""
    lifecycle = fs.get("Lifecycle") or "AVAILABLE"
    if lifecycle in READY_LIFECYCLES:
        return "ready"
    return "broken" if lifecycle in BROKEN_LIFECYCLES else "busy"


# ---------------------------------------------------------------- checks and plans
def throughput(params):
    """O(per_unit_storage_throughput), with 0 meaning not set (the role's default)."""
    value = params.get("per_unit_storage_throughput")
    return value or None


def validate(params):
    """Minimal checks before any AWS call (FSx's own rules are left to FSx): raises FsxPlanError."""
    if params.get("state", "present") != "present":
        return
    for option in ("name", "cluster", "subnet_id", "storage_capacity"):
        if params.get(option) in (None, ""):
            raise FsxPlanError(f"{option} is required with state=present", option)
    capacity = params["storage_capacity"]
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise FsxPlanError(f"storage_capacity must be a positive number of GiB, got {capacity!r}", "storage_capacity")
    value = params.get("per_unit_storage_throughput")
    if value is not None and value < 0:
        raise FsxPlanError(f"per_unit_storage_throughput must be 0 (not set) or more, got {value}",
                           "per_unit_storage_throughput")
    mount_dir = params.get("mount_dir")
    if mount_dir and not mount_dir.startswith("/"):
        raise FsxPlanError(f"mount_dir must be an absolute path, got {mount_dir!r}", "mount_dir")
    if params.get("kms_key_id") and (params.get("deployment_type") or DEFAULT_DEPLOYMENT_TYPE) in SCRATCH_TYPES:
        raise FsxPlanError(scratch_kms_message(params.get("deployment_type") or DEFAULT_DEPLOYMENT_TYPE), "kms_key_id")


def scratch_kms_message(deployment_type):
    # "Encrypting data at rest - FSx for Lustre": "If you create a scratch file system, the data is encrypted
    # using keys managed by Amazon FSx", https://docs.aws.amazon.com/fsx/latest/LustreGuide/encryption-at-rest.html
    # (FileSystem.KmsKeyId, Amazon FSx API Reference: PERSISTENT_1 and PERSISTENT_2 only).
    return (f"kms_key_id is only for PERSISTENT_1 and PERSISTENT_2 file systems; {deployment_type} file systems "
            "are encrypted with keys managed by Amazon FSx: leave kms_key_id empty")


def create_request(params, token):
    """The CreateFileSystem arguments for O(state=present) when no file system exists."""
    lustre = {"DeploymentType": params.get("deployment_type") or DEFAULT_DEPLOYMENT_TYPE}
    if throughput(params):
        lustre["PerUnitStorageThroughput"] = throughput(params)
    request = {
        "ClientRequestToken": token,
        "FileSystemType": "LUSTRE",
        "StorageCapacity": params["storage_capacity"],
        "StorageType": params.get("storage_type") or DEFAULT_STORAGE_TYPE,
        "SubnetIds": [params["subnet_id"]],
        "SecurityGroupIds": list(params.get("security_group_ids") or []),
        "Tags": tag_list(desired_tags(params)),
        "LustreConfiguration": lustre,
    }
    if params.get("kms_key_id"):
        request["KmsKeyId"] = params["kms_key_id"]
    return request


def wanted_settings(params):
    """The compared settings as O(state=present) asks for them when creating."""
    return {
        "exists": True,
        "storage_capacity": params["storage_capacity"],
        "deployment_type": params.get("deployment_type") or DEFAULT_DEPLOYMENT_TYPE,
        "per_unit_storage_throughput": throughput(params),
        "storage_type": params.get("storage_type") or DEFAULT_STORAGE_TYPE,
        "subnet_id": params["subnet_id"],
        "kms_key_id": params.get("kms_key_id"),
        "mount_dir": params.get("mount_dir"),
        "tags": desired_tags(params),
    }


def kms_key_matches(current, wanted):
    """Whether the described KmsKeyId (an ARN) is the key O(kms_key_id) names (ARN or key id; aliases: module)."""
    if not current:
        return False
    return current == wanted or current.endswith(f":key/{wanted}")


def immutable_message(option, current, wanted):
    return (f"{option} is {current!r} on the file system, {wanted!r} was asked: FSx cannot change {option} in place; "
            "delete and recreate (data loss) is not done by this module")


def _refuse_immutable(before, params, same_kms_key):
    for option in IMMUTABLE:
        wanted = params.get(option)
        if not wanted:
            continue  # not given: whatever the file system has
        if option == "kms_key_id":
            if before["deployment_type"] in SCRATCH_TYPES:
                raise FsxPlanError(scratch_kms_message(before["deployment_type"]), option)
            if same_kms_key(before[option], wanted):
                continue
        elif before[option] == wanted:
            continue
        raise FsxPlanError(immutable_message(option, before[option], wanted), option)


def _capacity_update(before, params):
    wanted, current = params["storage_capacity"], before["storage_capacity"]
    if current is None or wanted == current:
        return None
    if wanted < current:
        raise FsxPlanError(f"storage_capacity {wanted} GiB is less than the file system's {current} GiB: FSx cannot "
                           "shrink a file system; delete and recreate (data loss) is not done by this module",
                           "storage_capacity")
    if before["deployment_type"] not in GROWABLE_TYPES:
        raise FsxPlanError(f"storage_capacity: FSx cannot grow a {before['deployment_type']} file system in place "
                           f"({current} GiB, {wanted} GiB asked); delete and recreate (data loss) is not done by "
                           "this module", "storage_capacity")
    return wanted


def _throughput_update(before, params):
    wanted, current = throughput(params), before["per_unit_storage_throughput"]
    if wanted is None or wanted == current:
        return None
    if before["deployment_type"] not in THROUGHPUT_CHANGE_TYPES:
        raise FsxPlanError(immutable_message("per_unit_storage_throughput", current, wanted)
                           + f" ({before['deployment_type']} file systems keep their throughput tier)",
                           "per_unit_storage_throughput")
    return wanted


def plan_update(fs, params, same_kms_key=kms_key_matches):
    """What O(state=present) changes on the existing file system ``fs``; raises FsxPlanError for what it refuses.

    Returns ``{'update', 'tags_set', 'tags_remove', 'before', 'after', 'changed'}``: ``update`` the
    UpdateFileSystem arguments (None when nothing but tags differs).
    """
    before = current_settings(fs)
    _refuse_immutable(before, params, same_kms_key)
    capacity = _capacity_update(before, params)
    tier = _throughput_update(before, params)
    update = None
    if capacity or tier:
        update = {"FileSystemId": fs["FileSystemId"]}
        if capacity:
            update["StorageCapacity"] = capacity
        if tier:
            update["LustreConfiguration"] = {"PerUnitStorageThroughput": tier}
    wanted_tags = desired_tags(params)
    purge = params.get("purge_tags", True) and params.get("tags") is not None
    tags_set, tags_remove = tag_changes(before["tags"], wanted_tags, purge)
    after = dict(before)
    after.update(storage_capacity=capacity or before["storage_capacity"],
                 per_unit_storage_throughput=tier or before["per_unit_storage_throughput"],
                 mount_dir=params.get("mount_dir") or before["mount_dir"])
    after["tags"] = {key: value for key, value in {**before["tags"], **tags_set}.items() if key not in tags_remove}
    return {"update": update, "tags_set": tags_set, "tags_remove": tags_remove, "before": before, "after": after,
            "changed": bool(update or tags_set or tags_remove)}


def absent_settings():
    return {"exists": False}


# ---------------------------------------------------------------- ParallelCluster SharedStorage
def _storage_entry(kind, fs_id, tags, described):
    """One file system as ``(item, summary)``; ``item`` None when it has no usable hpc:mount-dir."""
    mount_dir = tags.get(MOUNT_DIR_TAG)
    storage = tags.get(STORAGE_TAG) or ("efs" if kind == "Efs" else "fsx")
    summary = {"id": fs_id, "type": kind, "name": tags.get(NAME_TAG), "storage": storage, "mount_dir": mount_dir,
               "tags": tags, **described}
    if not mount_dir or not mount_dir.startswith("/"):
        return None, summary
    # SharedStorage item in the parallelcluster role's parallelcluster_shared_storage shape; settings are the
    # <type>Settings keys: "SharedStorage section - AWS ParallelCluster" (EfsSettings / FileSystemId,
    # FsxLustreSettings / FileSystemId name an existing, external file system),
    # https://docs.aws.amazon.com/parallelcluster/latest/ug/SharedStorage-v3.html
    item = {"name": f"portal-{storage}", "type": kind, "mount_dir": mount_dir, "settings": {"FileSystemId": fs_id}}
    return item, summary


def _is_portal_storage(tags, cluster):
    return tags.get(CLUSTER_TAG) == cluster and tags.get(ROLE_TAG) == PORTAL_STORAGE_ROLE


def shared_storage(cluster, efs_file_systems, fsx_file_systems):
    """The cluster's portal-storage file systems as ``(items, summaries, problems)``, ordered by name.

    ``items`` are parallelcluster_shared_storage entries (name ``portal-<hpc:storage>``, type Efs or FsxLustre,
    mount_dir from hpc:mount-dir, settings.FileSystemId); a repeated name gets ``-2``, ``-3`` (by file system
    id). ``problems`` names file systems left out (no absolute hpc:mount-dir, or a name ParallelCluster refuses).
    """
    entries = []
    for fs in efs_file_systems or []:
        tags = tag_dict(fs.get("Tags"))
        if fs.get("LifeCycleState") in EFS_GONE_STATES or not _is_portal_storage(tags, cluster):
            continue
        entries.append(_storage_entry("Efs", fs["FileSystemId"], tags, {"lifecycle": fs.get("LifeCycleState")}))
    for fs in fsx_file_systems or []:
        if not is_lustre_of(fs, cluster) or not _is_portal_storage(tag_dict(fs.get("Tags")), cluster):
            continue
        info = summarize(fs)
        entries.append(_storage_entry("FsxLustre", fs["FileSystemId"], info["tags"],
                                      {"lifecycle": info["lifecycle"], "dns_name": info["dns_name"],
                                       "mount_name": info["mount_name"]}))
    items, summaries, problems, seen = [], [], [], {}
    for item, summary in sorted(entries, key=lambda entry: (entry[1]["storage"], entry[1]["id"])):
        summaries.append(summary)
        if item is None:
            problems.append(f"{summary['type']} file system {summary['id']} has no absolute {MOUNT_DIR_TAG} tag "
                            f"(got {summary['mount_dir']!r}): left out of shared_storage")
            continue
        seen[item["name"]] = seen.get(item["name"], 0) + 1
        if seen[item["name"]] > 1:
            item["name"] = f"{item['name']}-{seen[item['name']]}"
        if not _STORAGE_NAME.match(item["name"]):
            problems.append(f"{summary['type']} file system {summary['id']}: {STORAGE_TAG} {summary['storage']!r} "
                            f"makes the name {item['name']!r}, which ParallelCluster refuses (1-25 letters, digits "
                            "and '-', starting with a letter): left out of shared_storage")
            continue
        summary["shared_storage_name"] = item["name"]
        items.append(item)
    items.sort(key=lambda item: item["name"])
    return items, summaries, problems
