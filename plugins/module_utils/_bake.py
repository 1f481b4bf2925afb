# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure decision logic of the AMI bakery (private: not a public API).

- the input hash of an image (template files, variables, payload ETags, source AMI): an image is
  rebuilt only when it changes;
- the skip decision: an available AMI of this account carrying the image's name and input hash;
- the retention plan: keep the newest N AMIs of an image and retire the older ones, except any AMI
  that a launch template version in use or a live instance still references;
- whether a launch template's default version must move to a new AMI.

No I/O here: the modules read files and call AWS.
"""

from __future__ import annotations

import hashlib
import json
import re

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._ami import creation_time, tag_dict
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._tags import BAKE_TAG, CLUSTER_TAG, HASH_TAG, IMAGE_TAG

HASH_FORMAT = 1

ACTION_BUILD = "build"
ACTION_SKIP = "skip"

# Instances in these states still run from (or can be started from) their image.
LIVE_INSTANCE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")


def input_hash(*, image, role, template_files, variables, payload_etags, source_ami):
    """SHA-256 over the canonical JSON of everything that goes into an image.

    ``template_files`` maps relative paths to their SHA-256, ``payload_etags`` maps
    ``s3://bucket/key`` to the object's ETag. Key order never matters.
    """
    document = {
        "format": HASH_FORMAT,
        "image": image,
        "role": role,
        "template_files": dict(sorted((template_files or {}).items())),
        "variables": variables or {},
        "payload_etags": dict(sorted((payload_etags or {}).items())),
        "source_ami": source_ami or "",
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def baked_image_filters(names, cluster=None):
    """EC2 DescribeImages filters for the account's baked AMIs of images ``names`` (and ``cluster`` when given).

    Untagged AMIs of a cluster-less bake are told apart afterwards by :func:`is_baked_image`.
    """
    filters = [{"Name": "tag-key", "Values": [HASH_TAG]}, {"Name": f"tag:{IMAGE_TAG}", "Values": list(names)}]
    if cluster:
        filters.append({"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]})
    return filters


def is_baked_image(image, name, cluster=None):
    """An AMI baked for image ``name`` (and ``cluster`` when given): it carries the full tag set."""
    tags = tag_dict(image)
    if tags.get(IMAGE_TAG) != name or HASH_TAG not in tags:
        return False
    if cluster:
        return tags.get(CLUSTER_TAG) == cluster
    return CLUSTER_TAG not in tags


def find_by_hash(images, name, digest, cluster=None):
    """The newest available AMI of image ``name`` whose input hash is ``digest``, else None."""
    matches = [
        i for i in images
        if i.get("State") == "available" and is_baked_image(i, name, cluster) and tag_dict(i).get(HASH_TAG) == digest
    ]
    if not matches:
        return None
    return max(matches, key=lambda i: (creation_time(i), i.get("ImageId") or ""))


def decide(name, digest, images, cluster=None, source_ami=None):
    """Build or skip one image: returns {"action", "image_id", "reason"}."""
    if not source_ami:
        return {
            "action": ACTION_BUILD,
            "image_id": None,
            "reason": "the source AMI filter matched nothing here; Packer resolves it again and reports the error",
        }
    existing = find_by_hash(images, name, digest, cluster)
    if existing is not None:
        return {
            "action": ACTION_SKIP,
            "image_id": existing["ImageId"],
            "reason": f"{existing['ImageId']} already carries input hash {digest[:12]}",
        }
    return {"action": ACTION_BUILD, "image_id": None, "reason": f"no AMI with input hash {digest[:12]}"}


def image_references(launch_template_versions, instances):
    """{image_id: [reason, ...]} for every AMI that must not be deregistered.

    ``launch_template_versions``: dicts with ``name``, ``version``, ``image_id`` and ``why`` (for
    example ``default``, ``latest`` or ``auto scaling group X``) of every version in use.
    ``instances``: dicts with ``instance_id``, ``image_id`` and ``state``.
    """
    refs = {}
    for ltv in launch_template_versions or []:
        image_id = ltv.get("image_id")
        if image_id:
            refs.setdefault(image_id, []).append(
                f"launch template {ltv.get('name')} version {ltv.get('version')} ({ltv.get('why')})"
            )
    for instance in instances or []:
        image_id = instance.get("image_id")
        if image_id and instance.get("state") in LIVE_INSTANCE_STATES:
            refs.setdefault(image_id, []).append(f"instance {instance.get('instance_id')} ({instance.get('state')})")
    return {k: sorted(set(v)) for k, v in refs.items()}


def retention_plan(images, keep, references, protect=()):
    """Which AMIs of one image to keep and which to retire.

    ``images``: the image's baked AMIs; ``keep``: how many of the newest available AMIs stay;
    ``references``: from :func:`image_references`; ``protect``: ids never retired (the AMIs this run
    built or chose). AMIs that are not ``available`` (still pending, or failed) are left alone.
    Returns {"keep": [...], "retire": [...], "protected": [{"image_id", "reasons"}]} (ids, newest first).
    """
    if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
        raise ValueError(f"keep must be a whole number of at least 1, got {keep!r}")
    available = [i for i in images if i.get("State") == "available"]
    ordered = sorted(available, key=lambda i: (creation_time(i), i.get("ImageId") or ""), reverse=True)
    plan = {"keep": [], "retire": [], "protected": []}
    protect = set(protect or ())
    for position, image in enumerate(ordered):
        image_id = image["ImageId"]
        if position < keep:
            plan["keep"].append(image_id)
            continue
        reasons = list(references.get(image_id, []))
        if image_id in protect:
            reasons.append("built or chosen by this run")
        if reasons:
            plan["keep"].append(image_id)
            plan["protected"].append({"image_id": image_id, "reasons": reasons})
        else:
            plan["retire"].append(image_id)
    return plan


def snapshot_ids(image):
    """The EBS snapshots behind an AMI."""
    return [
        bdm["Ebs"]["SnapshotId"]
        for bdm in image.get("BlockDeviceMappings") or []
        if bdm.get("Ebs", {}).get("SnapshotId")
    ]


def launch_template_change(name, default_version, image_id):
    """What to do with launch template ``name`` so that its default version launches ``image_id``.

    ``default_version``: the DescribeLaunchTemplateVersions entry of its default version, or None
    when the template does not exist. Returns {"action": "absent"|"none"|"update", ...}.
    """
    if default_version is None:
        return {"name": name, "action": "absent", "image_id": image_id}
    current = (default_version.get("LaunchTemplateData") or {}).get("ImageId")
    version = default_version.get("VersionNumber")
    if current == image_id:
        return {"name": name, "action": "none", "version": version, "image_id": image_id}
    return {
        "name": name,
        "action": "update",
        "source_version": version,
        "previous_image_id": current,
        "image_id": image_id,
    }


def manifest(*, cluster, bake_date, plan, builds, publish, failed=None, recovered=None):
    """The bake manifest: what was built, skipped and retired, per image (and what a killed bake left that
    this run removed, ``recovered``: see :func:`leftovers`)."""
    built, skipped = [], []
    for item in plan:
        name = item["name"]
        entry = {
            "image": name,
            "role": item.get("role"),
            "input_hash": item.get("input_hash"),
            "source_ami": item.get("source_ami"),
        }
        if item.get("action") == ACTION_SKIP:
            entry["image_id"] = item.get("image_id")
            skipped.append(entry)
        elif name in (builds or {}):
            entry["image_id"] = builds[name]
            built.append(entry)
    return {
        "cluster": cluster or "",
        "bake_date": bake_date,
        "built": built,
        "skipped": skipped,
        "failed": failed or [],
        "retired": (publish or {}).get("retired", []),
        "protected": (publish or {}).get("protected", []),
        "launch_templates": (publish or {}).get("launch_templates", []),
        "recovered": {kind: list(ids) for kind, ids in (recovered or {}).items() if ids},
    }


# ---------------------------------------------------------------- what a killed bake leaves
# A bake killed while Packer runs (AWX's container gone, kill -9) leaves what Packer would have removed:
# its builder instance (tag hpc:bake=true, Name "packer <ami name>"), the temporary key pair and security
# group that instance uses (names starting packer_), and an AMI registered but not yet tagged (Packer tags
# all at once after the AMI is available) with its snapshots. A bake killed while retiring an AMI can leave
# its snapshots. The next bake of the cluster (under the bake lock) finds them by the cluster's AMI names.

BUILDER_PREFIX = "packer "
PACKER_TEMPORARY = "packer_"
AMI_STAMP = r"[0-9]{8}-[0-9]{6}"
CREATED_BY = re.compile(r"^Created by CreateImage\((?P<instance>i-[0-9a-f]+)\) for (?P<image>ami-[0-9a-f]+)")


def ami_name_pattern(cluster, images):
    """A regex matching exactly the AMI names a bake of ``cluster`` gives images ``images``
    (``hpc-<cluster>-<image>-<stamp>``, or ``hpc-<image>-<stamp>`` without a cluster), never another cluster's."""
    prefix = f"hpc-{re.escape(cluster)}-" if cluster else "hpc-"
    names = "|".join(re.escape(name) for name in sorted(images, key=len, reverse=True))
    return re.compile(f"^{prefix}(?:{names})-{AMI_STAMP}$")


def leftovers(cluster, images, *, instances, amis, snapshots, key_pairs=None, security_groups=None):
    """What a killed bake of ``cluster`` left, from DescribeInstances (builder candidates, any state),
    DescribeImages (owned by self) and DescribeSnapshots (owned by self) entries, and the names of the key pairs
    and ids of the security groups that exist (None: assume all the builders' do).

    Returns {"instances": [ids of live builders], "key_pairs": [names], "security_groups": [ids],
    "images": [ids of AMIs without the input-hash tag], "snapshots": [ids]}. A tagged AMI (complete) is never
    listed, nor anything named for another cluster or not made by a builder of this one.
    """
    pattern = ami_name_pattern(cluster, images)
    builders = [i for i in instances
                if tag_dict(i).get(BAKE_TAG) == "true"
                and pattern.match(tag_dict(i).get("Name", "")[len(BUILDER_PREFIX):])
                and tag_dict(i).get("Name", "").startswith(BUILDER_PREFIX)]
    builder_ids = {i["InstanceId"] for i in builders}
    live = [i["InstanceId"] for i in builders if (i.get("State") or {}).get("Name") in LIVE_INSTANCE_STATES]
    keys = {i["KeyName"] for i in builders if str(i.get("KeyName", "")).startswith(PACKER_TEMPORARY)}
    groups = {g["GroupId"] for i in builders for g in i.get("SecurityGroups") or []
              if str(g.get("GroupName", "")).startswith(PACKER_TEMPORARY)}
    if key_pairs is not None:
        keys &= set(key_pairs)
    if security_groups is not None:
        groups &= set(security_groups)
    # A kill between Packer creating its key pair or group and launching the builder leaves them unlinked
    # (their names carry no cluster): they go only when no builder of any bake is alive but ours.
    # (any live Packer builder counts: ours of another cluster, or another Packer user's with a packer_ key)
    others_alive = any((tag_dict(i).get(BAKE_TAG) == "true" or str(i.get("KeyName", "")).startswith(PACKER_TEMPORARY))
                       and i["InstanceId"] not in builder_ids
                       and (i.get("State") or {}).get("Name") in LIVE_INSTANCE_STATES for i in instances)
    if not others_alive:
        used_keys = {i.get("KeyName") for i in instances if i["InstanceId"] not in builder_ids}
        used_groups = {g["GroupId"] for i in instances if i["InstanceId"] not in builder_ids
                       for g in i.get("SecurityGroups") or []}
        keys |= {k for k in key_pairs or [] if k.startswith(PACKER_TEMPORARY) and k not in used_keys}
        groups |= {g for g in security_groups or [] if g not in used_groups}
    half_done = [a for a in amis if pattern.match(a.get("Name", "")) and HASH_TAG not in tag_dict(a)]
    kept = {s for a in amis if a not in half_done for s in snapshot_ids(a)}
    stray = []
    for snapshot in snapshots:
        if snapshot["SnapshotId"] in kept:
            continue
        made_by = CREATED_BY.match(snapshot.get("Description") or "")
        tags = tag_dict(snapshot)
        ours = (made_by and made_by["instance"] in builder_ids) or (
            tags.get(CLUSTER_TAG, "") == (cluster or "") and tags.get(IMAGE_TAG) in images
            and pattern.match(tags.get("Name", "")))
        if ours:
            stray.append(snapshot["SnapshotId"])
    return {
        "instances": sorted(live),
        "key_pairs": sorted(keys),
        "security_groups": sorted(groups),
        "images": sorted(a["ImageId"] for a in half_done),
        "snapshots": sorted(stray),
    }
