# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What applying a ParallelCluster configuration over a running cluster takes (private: not a public API).

``config_changes`` / ``decide_update``: what differs between the running cluster's configuration and the
wanted one, and what ParallelCluster needs to apply it: nothing, a live update, a stopped compute fleet,
or a new cluster. The policies follow ParallelCluster's documented update policies (``UpdatePolicy`` in its
config schema) for the settings ``_pcluster_spec.render`` writes; for anything else the conservative answer
is a stopped fleet, and ``pcluster update-cluster --dryrun`` has the last word.

No I/O here.
"""

from __future__ import annotations

import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._pcluster_spec import is_int

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
        shrinking = is_int(old) and is_int(new) and new < old
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
