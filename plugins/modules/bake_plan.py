#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: bake_plan
short_description: Decide which AMIs of the bakery need a build
version_added: 0.1.0
description:
  - For each image of O(images), computes its input hash and looks for an AMI of this account that already
    carries it; the image is built only when there is none.
  - The input hash is a SHA-256 over the template's files (every file under the template directory, plus
    O(hash_paths)), the contents of its variable files, its variables, the ETags of its payload objects in S3
    and the id of the source AMI its filter resolves to now (the newest available match, as Packer picks it).
  - When the source AMI filter matches nothing the image is planned for a build anyway, so that Packer runs and
    fails with its own message.
  - A missing payload object fails the module with a message naming it.
  - This module changes nothing, except with O(recover), when it first removes what a killed bake of O(cluster)
    left (see O(recover)) and reports it as RV(recovered).
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
author: hpcops developers (@hpcops)
options:
  images:
    description: The images to plan.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The image name (tag C(hpc:image)).
        type: str
        required: true
      role:
        description: The tier the image is for (tag C(hpc:role)).
        type: str
        required: true
      template:
        description: The Packer template, a directory or a file.
        type: path
        required: true
      variables:
        description: The Packer variables that shape the image (not the per-run ones such as the AMI name).
        type: dict
        default: {}
      var_files:
        description: Variable files passed to Packer; their contents are part of the hash.
        type: list
        elements: path
        default: []
      source_ami_filter:
        description: How the template finds its source AMI.
        type: dict
        required: true
        suboptions:
          name:
            description: AMI name pattern (C(*) matches anything).
            type: str
            required: true
          owners:
            description: Owners (account ids or aliases such as V(amazon)).
            type: list
            elements: str
            default: [amazon]
      payloads:
        description: S3 objects the image installs; their ETags are part of the hash.
        type: list
        elements: dict
        default: []
        suboptions:
          bucket:
            description: Bucket name.
            type: str
            required: true
          key:
            description: Object key.
            type: str
            required: true
  hash_paths:
    description: Files or directories every image's hash also covers (shared provisioning scripts).
    type: list
    elements: path
    default: []
  cluster:
    description:
      - When set, only AMIs tagged C(hpc:cluster) with this value count; when empty, only AMIs without that tag.
    type: str
    default: ""
  recover:
    description:
      - Image names whose leftovers of a killed bake of O(cluster) to remove first (usually every image of the
        catalog), before planning O(images).
      - A bake killed while Packer runs leaves the Packer builder instance (tag C(hpc:bake=true), Name
        C(packer <ami name>)), its temporary key pair and security group (names starting C(packer_)), an AMI
        registered but not yet tagged, and snapshots. Only things named for this cluster's images
        (C(hpc-<cluster>-<image>-<date>-<time>)) or made by its builders are removed; an AMI carrying the
        C(hpc:input-hash) tag (complete) never is.
      - Run it only under the cluster's bake lock, so that no other bake of the cluster is running.
      - In check mode, only reports.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Only O(recover) changes anything, and a second run finds nothing left to remove.
seealso:
  - module: hpcops.aws_hpc.packer_build
  - module: hpcops.aws_hpc.bake_publish
"""

EXAMPLES = r"""
- name: Plan the SQL Server image
  hpcops.aws_hpc.bake_plan:
    cluster: prod
    hash_paths: ["{{ playbook_dir }}/../packer/scripts"]
    images:
      - name: sqlserver
        role: sqlserver
        template: "{{ playbook_dir }}/../packer/sqlserver"
        variables: {instance_type: m5.large}
        source_ami_filter:
          name: Windows_Server-2016-English-Full-SQL_2017_Standard-*
          owners: [amazon]
  register: _plan

- name: Say what will be built
  ansible.builtin.debug:
    msg: "{{ _plan.images | selectattr('action', 'equalto', 'build') | map(attribute='name') | list }}"
"""

RETURN = r"""
images:
  description: One entry per image, in the order given.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The image name.
      type: str
      sample: sqlserver
    role:
      description: The tier.
      type: str
    action:
      description: V(build) or V(skip).
      type: str
      sample: skip
    reason:
      description: Why.
      type: str
    image_id:
      description: For V(skip), the existing AMI carrying the hash; else null.
      type: str
    input_hash:
      description: The input hash (hex SHA-256).
      type: str
    source_ami:
      description: The source AMI the filter resolves to now (null when nothing matches).
      type: str
    source_ami_name:
      description: Its name.
      type: str
    template_files:
      description: Relative path to SHA-256 of every hashed file.
      type: dict
    payload_etags:
      description: C(s3://bucket/key) to ETag.
      type: dict
recovered:
  description:
    - What a killed bake had left and this run removed (in check mode, would remove), by kind; empty lists
      when nothing. Only with O(recover).
  returned: success
  type: dict
  contains:
    instances:
      description: Packer builder instances terminated.
      type: list
      elements: str
    key_pairs:
      description: Packer's temporary key pairs deleted.
      type: list
      elements: str
    security_groups:
      description: Packer's temporary security groups deleted.
      type: list
      elements: str
    images:
      description: AMIs registered without the final tags, deregistered.
      type: list
      elements: str
    snapshots:
      description: Snapshots no AMI refers to any more, deleted (with those of the AMIs above).
      type: list
      elements: str
"""

import hashlib
import os

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._ami import newest
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._bake import (
    baked_image_filters,
    decide,
    input_hash,
    leftovers,
)


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(65536), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digests(path, label):
    """{label/relative path: sha256} of a file or every file under a directory (sorted, no dotfiles)."""
    if os.path.isfile(path):
        return {label: file_sha256(path)}
    found = {}
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            full = os.path.join(root, name)
            found[f"{label}/{os.path.relpath(full, path)}"] = file_sha256(full)
    return found


class Planner:
    """The AWS side of the plan: AWS failures raise AWSCallError (``run_module`` fails the module once)."""

    def __init__(self, module):
        self.module = module
        self.ec2 = client_from_module(module, "ec2")
        self._s3 = None
        self.region = module.params.get("region") or self.ec2.meta.region_name

    @property
    def s3(self):
        if self._s3 is None:
            self._s3 = client_from_module(self.module, "s3")
        return self._s3

    def images(self, **kwargs):
        what = f"describe images ({kwargs.get('Filters')}) in {self.region}"
        return paginate(what, self.ec2, "describe_images", "Images", **kwargs)

    def source(self, flt):
        kwargs = {"Filters": [{"Name": "name", "Values": [flt["name"]]}, {"Name": "state", "Values": ["available"]}]}
        if flt.get("owners"):
            kwargs["Owners"] = flt["owners"]
        return newest(self.images(**kwargs))

    def etag(self, image, payload):
        url = f"s3://{payload['bucket']}/{payload['key']}"
        what = f"read payload {url} of image {image} (upload it or remove it from the image's payloads)"
        head = aws_call(what, self.s3.head_object, Bucket=payload["bucket"], Key=payload["key"])
        return url, head.get("ETag", "").strip('"')


def shared_digests(module, hash_paths):
    """The digests of the files every image's hash covers."""
    shared = {}
    for path in hash_paths:
        if not os.path.exists(path):
            module.fail_json(msg=f"hash_paths entry {path} does not exist")
        shared.update(tree_digests(path, os.path.basename(path.rstrip("/"))))
    return shared


def template_digests(module, image, shared):
    """The digests of one image's template and variable files (with the shared ones)."""
    template = image["template"]
    if not os.path.exists(template):
        module.fail_json(msg=f"The template of image {image['name']} does not exist: {template}")
    files = dict(shared)
    files.update(tree_digests(template, "template"))
    for index, var_file in enumerate(image["var_files"]):
        if not os.path.isfile(var_file):
            module.fail_json(msg=f"Variable file {var_file} of image {image['name']} does not exist")
        files[f"var_file{index}/{os.path.basename(var_file)}"] = file_sha256(var_file)
    return files


def recover(module, planner):
    """Remove what a killed bake of the cluster left (see the option recover); returns what (would be) removed."""
    params, ec2, region = module.params, planner.ec2, planner.region
    # Every instance: ours are told apart by leftovers(); the others say which temporary key pairs and groups
    # are still in use.
    instances = [i for r in paginate(f"describe instances in {region}", ec2, "describe_instances",
                                     "Reservations") for i in r.get("Instances") or []]
    temporary = [{"Name": "key-name" if kind == "key" else "group-name", "Values": ["packer_*"]}
                 for kind in ("key", "group")]
    keys = aws_call(f"describe key pairs in {region}", ec2.describe_key_pairs, Filters=[temporary[0]])
    groups = paginate(f"describe security groups in {region}", ec2, "describe_security_groups", "SecurityGroups",
                      Filters=[temporary[1]])
    found = leftovers(params["cluster"], params["recover"], instances=instances,
                      amis=planner.images(Owners=["self"]),
                      snapshots=paginate(f"describe snapshots in {region}", ec2, "describe_snapshots", "Snapshots",
                                         OwnerIds=["self"]),
                      key_pairs=[k["KeyName"] for k in keys.get("KeyPairs") or []],
                      security_groups=[g["GroupId"] for g in groups if g["GroupName"].startswith("packer_")])
    if module.check_mode or not any(found.values()):
        return found
    if found["instances"]:
        aws_call(f"terminate Packer builders {found['instances']}", ec2.terminate_instances,
                 InstanceIds=found["instances"])
        aws_call(f"wait for Packer builders {found['instances']} to terminate",
                 ec2.get_waiter("instance_terminated").wait, InstanceIds=found["instances"],
                 WaiterConfig={"Delay": 5, "MaxAttempts": 120})
    for image_id in found["images"]:
        aws_call(f"deregister half-done AMI {image_id}", ec2.deregister_image, ImageId=image_id)
    for snapshot_id in found["snapshots"]:
        # InUse: an AMI this account cannot list (disabled, in the Recycle Bin) still uses it: keep it
        aws_call(f"delete snapshot {snapshot_id}", ec2.delete_snapshot, SnapshotId=snapshot_id,
                 ignore=("InvalidSnapshot.InUse", "InvalidSnapshot.NotFound"))
    # Packer may have removed them already before it was killed; a group another Packer build started using
    # since they were listed (DependencyViolation) is that build's: keep it
    for group_id in found["security_groups"]:
        aws_call(f"delete Packer security group {group_id}", ec2.delete_security_group, GroupId=group_id,
                 ignore=("InvalidGroup.NotFound", "DependencyViolation"))
    for key_name in found["key_pairs"]:
        aws_call(f"delete Packer key pair {key_name}", ec2.delete_key_pair, KeyName=key_name,
                 ignore=("InvalidKeyPair.NotFound",))
    return found


def plan_images(module, planner):
    """The module's result: one build/skip decision per image."""
    params = module.params
    recovered = recover(module, planner) if params["recover"] else None
    shared = shared_digests(module, params["hash_paths"])
    names = [i["name"] for i in params["images"]]
    baked = planner.images(Owners=["self"], Filters=baked_image_filters(names, params["cluster"]))
    plan = []
    for image in params["images"]:
        files = template_digests(module, image, shared)
        etags = dict(planner.etag(image["name"], p) for p in image["payloads"])
        source = planner.source(image["source_ami_filter"])
        source_id = source["ImageId"] if source else None
        digest = input_hash(image=image["name"], role=image["role"], template_files=files,
                            variables=image["variables"], payload_etags=etags, source_ami=source_id)
        decision = decide(image["name"], digest, baked, params["cluster"], source_id)
        plan.append(dict(
            name=image["name"], role=image["role"], input_hash=digest, source_ami=source_id,
            source_ami_name=source.get("Name") if source else None, template_files=files, payload_etags=etags,
            **decision,
        ))
    result = {"changed": False, "images": plan}
    if recovered is not None:
        result["recovered"] = recovered
        result["changed"] = any(recovered.values())
    return result


def main():
    # `key` is an S3 object key, not a secret.
    payload_spec = dict(bucket=dict(type="str", required=True), key=dict(type="str", required=True, no_log=False))
    filter_spec = dict(name=dict(type="str", required=True),
                       owners=dict(type="list", elements="str", default=["amazon"]))
    image_spec = dict(
        name=dict(type="str", required=True),
        role=dict(type="str", required=True),
        template=dict(type="path", required=True),
        variables=dict(type="dict", default={}),
        var_files=dict(type="list", elements="path", default=[]),
        source_ami_filter=dict(type="dict", required=True, options=filter_spec),
        payloads=dict(type="list", elements="dict", default=[], options=payload_spec),
    )
    module = AnsibleAWSModule(
        argument_spec=dict(
            images=dict(type="list", elements="dict", required=True, options=image_spec),
            hash_paths=dict(type="list", elements="path", default=[]),
            cluster=dict(type="str", default=""),
            recover=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    planner = Planner(module)
    run_module(module, lambda: plan_images(module, planner))


if __name__ == "__main__":
    main()
