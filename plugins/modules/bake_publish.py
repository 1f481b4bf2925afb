#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: bake_publish
short_description: Point launch templates at baked AMIs and retire old ones
version_added: 0.1.0
description:
  - For each image of O(images), makes O(images[].image_id) the AMI of the default version of each launch
    template in O(images[].launch_templates), by adding a version copied from the current default version with
    only the AMI changed and making it the default. A template whose default version already launches that AMI
    is left alone; a template that does not exist yet is reported as V(absent) (the provisioning tier creates it
    from the newest baked AMI).
  - Then keeps the newest O(keep) available AMIs of each image (tags C(hpc:image) and C(hpc:input-hash), and
    C(hpc:cluster) when O(cluster) is set) and deregisters the older ones together with their EBS snapshots,
    B(never) one that is still referenced by the default or latest version of any launch template of the region,
    by a launch template version an auto scaling group uses, or by an instance that is not terminated. The AMI
    the run publishes is never retired.
  - Returns the bake manifest when O(plan) is given.
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
author: hpcops developers (@hpcops)
options:
  images:
    description: The images to publish.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The image name (tag C(hpc:image)).
        type: str
        required: true
      image_id:
        description: The AMI to publish. Without it the image is only considered for retention.
        type: str
      launch_templates:
        description: Launch templates whose default version must launch O(images[].image_id).
        type: list
        elements: str
        default: []
  cluster:
    description: Only AMIs tagged C(hpc:cluster) with this value are retention candidates; empty = only untagged.
    type: str
    default: ""
  keep:
    description: How many of the newest AMIs of each image are kept.
    type: int
    default: 3
  retire:
    description: Deregister the AMIs beyond O(keep) (with their snapshots). With V(false) they are only reported.
    type: bool
    default: true
  update_launch_templates:
    description: Move the launch templates' default versions. With V(false) they are only reported.
    type: bool
    default: true
  plan:
    description: The RV(hpcops.aws_hpc.bake_plan#module:images) of this run, to build the manifest from.
    type: list
    elements: dict
    default: []
  built:
    description: Image name to AMI id of the images this run built (for the manifest).
    type: dict
    default: {}
  bake_date:
    description: The date of the bake, recorded in the manifest.
    type: str
    default: ""
  recovered:
    description:
      - What this run removed that a killed bake had left (RV(hpcops.aws_hpc.bake_plan#module:recovered)),
        recorded in the manifest.
    type: dict
    default: {}
  manifest_path:
    description:
      - Write the manifest there as JSON (not in check mode). The manifest is the report of the run, rewritten by
        every run; writing it does not count as a change.
    type: path
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: full
    details:
      - The diff shows the AMI of each launch template's default version and the AMIs that would be retired.
  idempotent:
    support: full
seealso:
  - module: hpcops.aws_hpc.bake_plan
  - module: hpcops.aws_hpc.packer_build
"""

EXAMPLES = r"""
- name: Point the compute node launch template at the new image, keep three images
  hpcops.aws_hpc.bake_publish:
    cluster: prod
    keep: 3
    images:
      - name: computenode
        image_id: ami-0123456789abcdef0
        launch_templates: [hpc-prod-computenode]

- name: Only report what retention would remove
  hpcops.aws_hpc.bake_publish:
    keep: 2
    retire: false
    images:
      - name: sqlserver
"""

RETURN = r"""
launch_templates:
  description: What happened to each launch template.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "hpc-prod-computenode", "action": "update", "image_id": "ami-1", "previous_image_id": "ami-0",
            "source_version": 3, "version": 4}]
retired:
  description: The AMIs deregistered (or, with O(retire=false) or in check mode, to be deregistered).
  returned: success
  type: list
  elements: dict
  sample: [{"image": "computenode", "image_id": "ami-0", "name": "hpc-computenode-20240401-010203",
            "snapshots": ["snap-0"]}]
protected:
  description: AMIs older than the newest O(keep) that stay because something references them.
  returned: success
  type: list
  elements: dict
  sample: [{"image": "computenode", "image_id": "ami-0", "reasons": ["instance i-0 (running)"]}]
kept:
  description: Image name to the AMI ids kept, newest first.
  returned: success
  type: dict
manifest:
  description: The bake manifest (built, skipped, failed, retired, protected, launch templates).
  returned: when O(plan) is given
  type: dict
"""

import json
import os
import tempfile

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._bake import (
    baked_image_filters,
    image_references,
    is_baked_image,
    launch_template_change,
    manifest,
    retention_plan,
    snapshot_ids,
)

_LT_NOT_FOUND = ("InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateId.NotFound",
                 "InvalidLaunchTemplateId.VersionNotFound")
_SNAPSHOT_KEPT = ("InvalidSnapshot.InUse", "InvalidSnapshot.NotFound")


class Publisher:
    """The AWS side of publishing: AWS failures raise AWSCallError (``run_module`` fails the module once)."""

    def __init__(self, module):
        self.module = module
        self.ec2 = client_from_module(module, "ec2")
        self._asg = None
        self.region = module.params.get("region") or self.ec2.meta.region_name

    def paginate(self, client, operation, key, what, **kwargs):
        return paginate(f"{what} in {self.region}", client, operation, key, **kwargs)

    def default_version(self, name):
        versions = aws_call(f"read launch template {name} in {self.region}", self.ec2.describe_launch_template_versions,
                            LaunchTemplateName=name, Versions=["$Default"], ignore=_LT_NOT_FOUND, default={})
        items = versions.get("LaunchTemplateVersions", [])
        return items[0] if items else None

    def update_template(self, change, image):
        name = change["name"]
        what = f"make {change['image_id']} the default AMI of launch template {name} in {self.region}"
        description = f"hpcops bake: image {image} -> {change['image_id']}"[:255]
        # A bake killed between creating the version and making it the default left it as the latest version:
        # reuse it rather than add another one.
        latest = aws_call(what, self.ec2.describe_launch_template_versions, LaunchTemplateName=name,
                          Versions=["$Latest"]).get("LaunchTemplateVersions") or [{}]
        created = latest[0]
        if not (created.get("VersionDescription") == description
                and (created.get("LaunchTemplateData") or {}).get("ImageId") == change["image_id"]
                and created.get("VersionNumber", 0) > change["source_version"]):
            created = aws_call(
                what, self.ec2.create_launch_template_version,
                LaunchTemplateName=name,
                SourceVersion=str(change["source_version"]),
                VersionDescription=description,
                LaunchTemplateData={"ImageId": change["image_id"]},
            )["LaunchTemplateVersion"]
        aws_call(what, self.ec2.modify_launch_template, LaunchTemplateName=name,
                 DefaultVersion=str(created["VersionNumber"]))
        change["version"] = created["VersionNumber"]

    def image_of_version(self, template_id, version):
        """The AMI of one launch template version (None when the version or the template is gone)."""
        answer = aws_call(f"read version {version} of launch template {template_id} in {self.region}",
                          self.ec2.describe_launch_template_versions, LaunchTemplateId=template_id,
                          Versions=[version], ignore=_LT_NOT_FOUND, default={})
        items = answer.get("LaunchTemplateVersions") or []
        return (items[0].get("LaunchTemplateData") or {}).get("ImageId") if items else None

    def template_versions_in_use(self):
        """Default and latest version of every launch template, plus the versions auto scaling groups use."""
        templates = self.paginate(self.ec2, "describe_launch_templates", "LaunchTemplates", "list launch templates")
        by_id = {t["LaunchTemplateId"]: t for t in templates}
        wanted = []
        for template in templates:
            wanted.append((template["LaunchTemplateId"], str(template.get("DefaultVersionNumber")), "default"))
            wanted.append((template["LaunchTemplateId"], str(template.get("LatestVersionNumber")), "latest"))
        wanted.extend(self.group_versions(templates, by_id))
        cache = {}
        in_use = []
        for template_id, version, why in wanted:
            key = (template_id, version)
            if key not in cache:
                cache[key] = self.image_of_version(template_id, version)
            in_use.append({"name": by_id[template_id]["LaunchTemplateName"], "version": version,
                           "image_id": cache[key], "why": why})
        return in_use

    def group_versions(self, templates, by_id):
        """(template id, version, why) of the launch template versions the auto scaling groups use."""
        if self._asg is None:
            self._asg = client_from_module(self.module, "autoscaling")
        groups = self.paginate(self._asg, "describe_auto_scaling_groups", "AutoScalingGroups",
                               "list auto scaling groups")
        by_name = {t["LaunchTemplateName"]: t for t in templates}
        found = []
        for group in groups:
            mixed = (group.get("MixedInstancesPolicy") or {}).get("LaunchTemplate") or {}
            for spec in filter(None, [group.get("LaunchTemplate"), mixed.get("LaunchTemplateSpecification")]):
                template = by_id.get(spec.get("LaunchTemplateId")) or by_name.get(spec.get("LaunchTemplateName"))
                if template is None:
                    continue
                version = spec.get("Version") or "$Default"
                aliases = {"$Default": template.get("DefaultVersionNumber"),
                           "$Latest": template.get("LatestVersionNumber")}
                version = str(aliases.get(version, version))
                why = f"auto scaling group {group['AutoScalingGroupName']}"
                found.append((template["LaunchTemplateId"], version, why))
        return found

    def instances_of(self, image_ids):
        if not image_ids:
            return []
        reservations = self.paginate(
            self.ec2, "describe_instances", "Reservations", "list the instances of old AMIs",
            Filters=[{"Name": "image-id", "Values": sorted(image_ids)}])
        return [{"instance_id": i["InstanceId"], "image_id": i.get("ImageId"), "state": i["State"]["Name"]}
                for r in reservations for i in r.get("Instances", [])]

    def retire(self, image):
        """Deregister ``image`` and delete its snapshots; returns the snapshots left (in use or gone)."""
        image_id = image["ImageId"]
        aws_call(f"deregister AMI {image_id} ({image.get('Name')}) in {self.region}", self.ec2.deregister_image,
                 ImageId=image_id)
        kept = []
        for snapshot in snapshot_ids(image):
            deleted = aws_call(f"delete snapshot {snapshot} of deregistered AMI {image_id} in {self.region}",
                               self.ec2.delete_snapshot, SnapshotId=snapshot, ignore=_SNAPSHOT_KEPT, default=False)
            if deleted is False:
                kept.append(snapshot)
        return kept


def write_manifest(module, path, data):
    try:
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=directory, prefix=".bake-manifest-")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, indent=2, sort_keys=True)
            stream.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        module.fail_json(msg=f"Cannot write the bake manifest {path}: {exc}")


def move_templates(pub, params, apply, diff):
    """Launch templates: their default version moves to the published AMI."""
    changed = False
    templates = []
    for image in params["images"]:
        if not image["image_id"]:
            continue
        for name in image["launch_templates"]:
            change = launch_template_change(name, pub.default_version(name), image["image_id"])
            change["image"] = image["name"]
            if change["action"] == "update":
                diff["before"]["launch_templates"][name] = change["previous_image_id"]
                diff["after"]["launch_templates"][name] = change["image_id"]
                if params["update_launch_templates"]:
                    changed = True
                    if apply:
                        pub.update_template(change, image["name"])
                else:
                    change["action"] = "update-skipped"
            templates.append(change)
    return templates, changed


def apply_retention(pub, params, apply, diff):
    """Older AMIs beyond `keep` are retired, unless something still references them."""
    changed = False
    names = [i["name"] for i in params["images"]]
    owned = pub.paginate(pub.ec2, "describe_images", "Images", "list baked AMIs", Owners=["self"],
                         Filters=baked_image_filters(names, params["cluster"]))
    published = {i["image_id"] for i in params["images"] if i["image_id"]}
    per_image = {name: [i for i in owned if is_baked_image(i, name, params["cluster"] or None)] for name in names}
    # References are only looked up when something is old enough to go (a rerun then costs one call).
    candidates = {image_id for images in per_image.values()
                  for image_id in retention_plan(images, params["keep"], {}, published)["retire"]}
    references = {}
    if candidates:
        references = image_references(pub.template_versions_in_use(), pub.instances_of(candidates))
    retired, protected, kept = [], [], {}
    by_id = {i["ImageId"]: i for i in owned}
    for name, images in per_image.items():
        plan = retention_plan(images, params["keep"], references, published)
        kept[name] = plan["keep"]
        protected.extend({"image": name, **p} for p in plan["protected"])
        for image_id in plan["retire"]:
            image = by_id[image_id]
            entry = {"image": name, "image_id": image_id, "name": image.get("Name"),
                     "snapshots": snapshot_ids(image)}
            diff["before"]["images"].append(image_id)
            if params["retire"]:
                changed = True
                if apply:
                    entry["snapshots_kept"] = pub.retire(image)
            retired.append(entry)
    return retired, protected, kept, changed


def publish(module, pub):
    """The module's result: launch templates moved, old AMIs retired, the manifest."""
    params = module.params
    apply = not module.check_mode
    diff = {"before": {"launch_templates": {}, "images": []}, "after": {"launch_templates": {}, "images": []}}
    templates, moved = move_templates(pub, params, apply, diff)
    retired, protected, kept, removed = apply_retention(pub, params, apply, diff)
    result = dict(changed=moved or removed, launch_templates=templates, retired=retired, protected=protected,
                  kept=kept)
    if params["plan"]:
        report = {"launch_templates": templates, "retired": retired, "protected": protected}
        result["manifest"] = manifest(cluster=params["cluster"], bake_date=params["bake_date"], plan=params["plan"],
                                      builds=params["built"], publish=report,
                                      recovered=params["recovered"])
        if params["manifest_path"] and apply:
            write_manifest(module, params["manifest_path"], result["manifest"])
    if module._diff:
        result["diff"] = diff
    return result


def main():
    image_spec = dict(
        name=dict(type="str", required=True),
        image_id=dict(type="str"),
        launch_templates=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(
        argument_spec=dict(
            images=dict(type="list", elements="dict", required=True, options=image_spec),
            cluster=dict(type="str", default=""),
            keep=dict(type="int", default=3),
            retire=dict(type="bool", default=True),
            update_launch_templates=dict(type="bool", default=True),
            plan=dict(type="list", elements="dict", default=[]),
            built=dict(type="dict", default={}),
            bake_date=dict(type="str", default=""),
            manifest_path=dict(type="path"),
            recovered=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    if module.params["keep"] < 1:
        module.fail_json(msg=f"keep must be at least 1, got {module.params['keep']}")
    pub = Publisher(module)
    run_module(module, lambda: publish(module, pub))


if __name__ == "__main__":
    main()
