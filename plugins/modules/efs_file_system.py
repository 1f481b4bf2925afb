#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: efs_file_system
short_description: An EFS file system of a cluster and its mount targets, found by its tags
version_added: 0.1.0
description:
  - Makes sure an Amazon EFS file system exists (or does not), found by its tags C(hpc:cluster) (O(cluster)) and
    C(Name) (O(name)) among every file system C(DescribeFileSystems) lists (tags come inline). File systems that
    are C(deleting) or C(deleted) are ignored; two live matches fail naming both ids.
  - Why this module exists - M(community.aws.efs) calls EFS C(DescribeTags), which AWS deprecated in favour of
    C(ListTagsForResource) (and which moto answers with 404), and it identifies a file system by its creation
    token only. This module never calls C(DescribeTags); tags change with C(TagResource) and C(UntagResource).
  - When none exists, it is created (C(CreateFileSystem)) with the tags O(tags), C(Name), C(hpc:cluster) and
    C(hpc:mount-dir) (O(mount_dir)). The creation token is derived from O(cluster) and O(name) (the same on every
    run) - EFS's creation token is its idempotency key, so a rerun after a lost answer finds the file system the
    first call made instead of making a second one.
  - Mount targets (O(mount_targets)) are created in subnets that have none, their security groups are replaced
    (C(ModifyMountTargetSecurityGroups)) when they differ, and with O(purge_mount_targets) those in subnets not
    listed are deleted. EFS allows one mount target per Availability Zone - two listed subnets of one zone fail
    naming O(mount_targets) before any change.
  - O(throughput_mode) changes in place (C(UpdateFileSystem)). O(encrypted), O(kms_key_id) and
    O(performance_mode) are fixed when EFS creates the file system - a different value fails with
    "EFS cannot change X in place"; the module never deletes and recreates a file system (that loses its data).
  - V(absent) deletes every mount target, waits until they are gone (EFS refuses to delete a file system that
    has mount targets) and deletes the file system.
  - An AWS failure fails the module with the AWS error code, message and request id (C(error),
    C(response_metadata)).
author: hpcops developers (@hpcops)
options:
  name:
    description:
      - The C(Name) tag of the file system; with O(cluster) it finds the file system.
    type: str
    required: true
  cluster:
    description:
      - The C(hpc:cluster) tag of the file system.
    type: str
    required: true
  state:
    description:
      - V(present) makes sure the file system and its mount targets exist with these settings; V(absent) deletes
        the mount targets and the file system.
    type: str
    choices: [present, absent]
    default: present
  encrypted:
    description:
      - Whether the file system is encrypted at rest. Fixed at creation.
    type: bool
    default: true
  kms_key_id:
    description:
      - The KMS key (ARN, key id or alias) that encrypts the file system. Fixed at creation.
      - When omitted, EFS uses its AWS managed key (C(aws/elasticfilesystem)), and an existing file system's key
        is not compared.
    type: str
  performance_mode:
    description:
      - The performance mode. Fixed at creation.
    type: str
    choices: [generalPurpose, maxIO]
    default: generalPurpose
  throughput_mode:
    description:
      - The throughput mode; changed in place with C(UpdateFileSystem) (EFS limits how often).
    type: str
    choices: [bursting, elastic]
    default: bursting
  mount_targets:
    description:
      - The mount targets, one per subnet, at most one per Availability Zone.
      - When omitted, mount targets are left as they are.
    type: list
    elements: dict
    suboptions:
      subnet_id:
        description:
          - The subnet of the mount target.
        type: str
        required: true
      security_groups:
        description:
          - Security group ids of the mount target's network interface (EFS allows up to five).
          - When empty, a new mount target gets the VPC's default security group and an existing one keeps its
            groups.
        type: list
        elements: str
        default: []
  purge_mount_targets:
    description:
      - Delete mount targets in subnets O(mount_targets) does not list. Only applies when O(mount_targets) is
        given.
    type: bool
    default: true
  wait:
    description:
      - Wait until the file system and its mount targets are C(available) after a change, and until the file
        system is gone after a deletion.
      - The module always waits where EFS needs it - for the file system to be C(available) before it creates
        mount targets, and for mount targets to be gone before it deletes the file system or creates another
        mount target in their zone.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait at most (for each wait).
    type: int
    default: 900
notes:
  - Needs C(ec2:DescribeSubnets) to learn the Availability Zone of the subnets of O(mount_targets).
  - The lab's moto 5.2 has no C(UpdateFileSystem) (throughput mode changes are tested with a stand-in), creates
    and deletes mount targets and file systems at once (no C(creating) or C(deleting) state) and stores
    O(kms_key_id) as given (an alias is not resolved to a key ARN).
extends_documentation_fragment:
  - hpcops.aws_hpc.shared_storage
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  diff_mode:
    support: full
    details:
      - The diff shows the compared settings before and after (performance mode, throughput mode, encrypted,
        KMS key, mount dir, mount targets as subnet to security groups, tags).
  idempotent:
    support: full
seealso:
  - module: hpcops.aws_hpc.fsx_lustre
  - module: hpcops.aws_hpc.shared_storage_info
  - module: community.aws.efs
"""

EXAMPLES = r"""
- name: The portal's EFS file system, with a mount target in two zones
  hpcops.aws_hpc.efs_file_system:
    name: prod-portal-efs
    cluster: prod
    kms_key_id: alias/hpc
    throughput_mode: elastic
    mount_dir: /efs
    mount_targets:
      - subnet_id: subnet-0123456789abcdef0
        security_groups: [sg-0123456789abcdef0]
      - subnet_id: subnet-0fedcba9876543210
        security_groups: [sg-0123456789abcdef0]
    tags:
      hpc:role: portal-storage
      hpc:storage: efs
  register: _efs

- name: Delete it with its mount targets (its data is lost)
  hpcops.aws_hpc.efs_file_system:
    name: prod-portal-efs
    cluster: prod
    state: absent
"""

RETURN = r"""
file_system:
  description:
    - The file system (after the change). V(null) when it does not exist, or would only be created in check mode.
  returned: always
  type: dict
  contains:
    id:
      description: The file system id.
      type: str
      sample: fs-0123456789abcdef0
    arn:
      description: Its ARN.
      type: str
    name:
      description: Its C(Name) tag.
      type: str
    dns_name:
      description: The DNS name clients mount (C(<id>.efs.<region>.amazonaws.com)).
      type: str
      sample: fs-0123456789abcdef0.efs.us-east-1.amazonaws.com
    lifecycle:
      description: C(available), C(creating), C(updating)...
      type: str
    encrypted:
      description: Whether it is encrypted at rest.
      type: bool
    kms_key_id:
      description: The KMS key EFS reports.
      type: str
    performance_mode:
      description: generalPurpose or maxIO.
      type: str
    throughput_mode:
      description: The throughput mode.
      type: str
    mount_dir:
      description: The C(hpc:mount-dir) tag.
      type: str
      sample: /efs
    tags:
      description: Its tags.
      type: dict
    mount_targets:
      description: Its mount targets (not those being deleted), ordered by subnet.
      type: list
      elements: dict
      contains:
        id:
          description: The mount target id.
          type: str
          sample: fsmt-0123456789abcdef0
        subnet_id:
          description: Its subnet.
          type: str
        availability_zone:
          description: Its Availability Zone.
          type: str
        ip_address:
          description: Its address in the subnet.
          type: str
        security_groups:
          description: The security groups of its network interface.
          type: list
          elements: str
        lifecycle:
          description: C(available), C(creating)...
          type: str
"""

import time

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    AWSCallError,
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._efs import (
    PERFORMANCE_MODES,
    THROUGHPUT_MODES,
    EfsPlanError,
    absent_settings,
    check_zones,
    create_request,
    creation_token,
    is_efs_of,
    kms_key_matches,
    plan_update,
    state_of,
    summarize,
    tag_list,
    validate,
    wanted_settings,
    wanted_targets,
)

POLL_SECONDS = 10
FS_NOT_FOUND = ("FileSystemNotFound",)
MT_NOT_FOUND = ("MountTargetNotFound",)


class EfsManager:
    """Finds, creates, updates and deletes the one EFS file system of O(cluster) and O(name), and its mount targets."""

    def __init__(self, module, efs):
        self.module = module
        self.params = module.params
        self.efs = efs
        self.region = efs.meta.region_name
        self.label = f"EFS file system {self.params['name']} of cluster {self.params['cluster']}"
        self._kms = None

    # ------------------------------------------------------------ reading
    def find(self):
        found = [fs for fs in paginate(f"list EFS file systems to find the {self.label}", self.efs,
                                       "describe_file_systems", "FileSystems")
                 if is_efs_of(fs, self.params["cluster"], self.params["name"])]
        if len(found) > 1:
            ids = ", ".join(sorted(fs["FileSystemId"] for fs in found))
            raise ModuleFailure(f"{len(found)} live file systems are the {self.label} ({ids}): delete all but one")
        return found[0] if found else None

    def describe(self, fs_id=None, token=None):
        query = {"FileSystemId": fs_id} if fs_id else {"CreationToken": token}
        answer = aws_call(f"describe the {self.label} ({fs_id or token})", self.efs.describe_file_systems,
                          ignore=FS_NOT_FOUND, default={}, **query)
        systems = answer.get("FileSystems") or []
        return systems[0] if systems else None

    def mount_targets(self, fs_id):
        """The file system's mount targets, each with its ``SecurityGroups``."""
        targets = paginate(f"list the mount targets of the {self.label} ({fs_id})", self.efs,
                           "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
        for target in targets:
            if target.get("LifeCycleState") in ("deleting", "deleted"):
                continue
            answer = aws_call(f"describe the security groups of mount target {target['MountTargetId']}",
                              self.efs.describe_mount_target_security_groups, MountTargetId=target["MountTargetId"],
                              ignore=MT_NOT_FOUND, default={})
            target["SecurityGroups"] = answer.get("SecurityGroups") or []
        return targets

    def subnet_zones(self):
        wanted = wanted_targets(self.params)
        if not wanted:
            return {}
        ec2 = client_from_module(self.module, "ec2")
        subnets = aws_call("describe the subnets of mount_targets", ec2.describe_subnets,
                           SubnetIds=sorted(wanted)).get("Subnets") or []
        zones = {subnet["SubnetId"]: subnet.get("AvailabilityZone") for subnet in subnets}
        check_zones(wanted, zones)  # before any change
        return zones

    def same_kms_key(self, current, wanted):
        """Compare keys; an alias (or an id that does not match) is resolved with KMS DescribeKey."""
        if kms_key_matches(current, wanted):
            return True
        if not current:
            return False
        if self._kms is None:
            self._kms = client_from_module(self.module, "kms")
        meta = aws_call(f"look up kms_key_id {wanted}", self._kms.describe_key, KeyId=wanted).get("KeyMetadata", {})
        return meta.get("Arn") == current

    # ------------------------------------------------------------ waiting
    def _deadline_passed(self, deadline, what, state):
        if time.monotonic() >= deadline:
            raise ModuleFailure(f"Timed out after {self.params['wait_timeout']} s waiting for {what}; it is {state}")
        time.sleep(POLL_SECONDS)

    def wait_file_system(self, fs_id, gone=False):
        """Poll until the file system is available (or gone); fail when it breaks or the wait times out."""
        deadline = time.monotonic() + self.params["wait_timeout"]
        while True:
            fs = self.describe(fs_id)
            lifecycle = (fs or {}).get("LifeCycleState")
            if fs is None or lifecycle == "deleted":
                if gone:
                    return None
                raise ModuleFailure(f"The {self.label} ({fs_id}) disappeared while waiting for it")
            if not gone and state_of(lifecycle) == "ready":
                return fs
            if not gone and state_of(lifecycle) == "broken":
                raise ModuleFailure(f"The {self.label} ({fs_id}) is {lifecycle}")
            want = "to be deleted" if gone else "to become available"
            self._deadline_passed(deadline, f"the {self.label} ({fs_id}) {want}", lifecycle)

    def wait_mount_targets(self, fs_id, ids, gone=False):
        """Poll until the mount targets ``ids`` are available (or gone)."""
        deadline = time.monotonic() + self.params["wait_timeout"]
        pending = set(ids)
        while pending:
            targets = paginate(f"list the mount targets of the {self.label} ({fs_id})", self.efs,
                               "describe_mount_targets", "MountTargets", FileSystemId=fs_id)
            states = {t["MountTargetId"]: t.get("LifeCycleState") for t in targets}
            if gone:
                pending = {mt_id for mt_id in pending if states.get(mt_id) not in (None, "deleted")}
            else:
                broken = sorted(mt_id for mt_id in pending if state_of(states.get(mt_id)) == "broken")
                if broken:
                    raise ModuleFailure(f"Mount targets {', '.join(broken)} of the {self.label} are in error")
                pending = {mt_id for mt_id in pending if state_of(states.get(mt_id)) != "ready"}
            if pending:
                want = "to be deleted" if gone else "to become available"
                self._deadline_passed(deadline, f"mount targets {', '.join(sorted(pending))} {want}",
                                      ", ".join(sorted(str(states.get(mt_id)) for mt_id in pending)))

    # ------------------------------------------------------------ changing
    def result(self, changed, fs, before, after):
        described = None
        if fs:
            described = summarize(fs, self.mount_targets(fs["FileSystemId"]), self.region)
        out = {"changed": changed, "file_system": described}
        if self.module._diff:
            out["diff"] = {"before": before, "after": after}
        return out

    def create(self):
        """Create the file system (or find the one an earlier call made with the same token); wait until available."""
        token = creation_token(self.params["cluster"], self.params["name"])
        request = create_request(self.params, token)
        try:
            fs = aws_call(f"create the {self.label}", self.efs.create_file_system, **request)
        except AWSCallError as exc:
            # the token's file system exists: an earlier call made it (its answer was lost); adopt it
            if exc.code != "FileSystemAlreadyExists":
                raise
            fs = self.describe(token=token)
            if fs is None or fs.get("LifeCycleState") in ("deleting", "deleted"):
                raise ModuleFailure(f"The {self.label} with creation token {token} is being deleted; "
                                    "run again once it is gone") from exc
        # CreateMountTarget needs the file system available (API_CreateMountTarget), so wait when targets follow
        if self.params["wait"] or self.params.get("mount_targets"):
            fs = self.wait_file_system(fs["FileSystemId"])
        return fs

    def tag(self, fs, tags_set, tags_remove):
        # TagResource / UntagResource ("DescribeTags - Amazon Elastic File System": "DEPRECATED - The DescribeTags
        # action is deprecated and not maintained. To view tags associated with EFS resources, use the
        # ListTagsForResource API action", https://docs.aws.amazon.com/efs/latest/ug/API_DescribeTags.html).
        fs_id = fs["FileSystemId"]
        if tags_remove:
            aws_call(f"remove tags from the {self.label} ({fs_id})", self.efs.untag_resource, ResourceId=fs_id,
                     TagKeys=tags_remove)
        if tags_set:
            aws_call(f"tag the {self.label} ({fs_id})", self.efs.tag_resource, ResourceId=fs_id,
                     Tags=tag_list(tags_set))

    def apply_targets(self, fs_id, plan):
        for mt_id in plan["delete"]:
            aws_call(f"delete mount target {mt_id} of the {self.label}", self.efs.delete_mount_target,
                     MountTargetId=mt_id, ignore=MT_NOT_FOUND)
        if plan["wait_gone"] or (plan["delete"] and self.params["wait"]):
            self.wait_mount_targets(fs_id, sorted(set(plan["wait_gone"]) | set(plan["delete"])), gone=True)
        # "ModifyMountTargetSecurityGroups - Amazon Elastic File System": replaces the security groups of the mount
        # target's network interface, https://docs.aws.amazon.com/efs/latest/ug/API_ModifyMountTargetSecurityGroups.html
        for mt_id, groups in plan["modify"]:
            aws_call(f"change the security groups of mount target {mt_id}",
                     self.efs.modify_mount_target_security_groups, MountTargetId=mt_id, SecurityGroups=groups)
        created = []
        for request in plan["create"]:
            answer = aws_call(f"create a mount target of the {self.label} in {request['SubnetId']}",
                              self.efs.create_mount_target, FileSystemId=fs_id, **request)
            created.append(answer["MountTargetId"])
        if self.params["wait"] and (created or plan["modify"]):
            self.wait_mount_targets(fs_id, created + [mt_id for mt_id, groups in plan["modify"]])

    def present(self):
        zones = self.subnet_zones()
        fs = self.find()
        created = fs is None
        if created:
            if self.module.check_mode:
                return self.result(True, None, absent_settings(), wanted_settings(self.params))
            fs = self.create()
        fs_id = fs["FileSystemId"]
        targets = self.mount_targets(fs_id)  # an adopted file system may have some
        plan = plan_update(fs, targets, self.params, zones, self.same_kms_key)
        before = absent_settings() if created else plan["before"]
        if self.module.check_mode or not plan["changed"]:
            return self.result(created or plan["changed"], fs, before, plan["after"])
        if plan["update"]:
            aws_call(f"update the {self.label} ({fs_id})", self.efs.update_file_system, **plan["update"])
        self.tag(fs, plan["tags_set"], plan["tags_remove"])
        self.apply_targets(fs_id, plan["targets"])
        if plan["update"] and self.params["wait"]:
            fs = self.wait_file_system(fs_id)
        return self.result(True, self.describe(fs_id) or fs, before, plan["after"])

    def absent(self):
        fs = self.find()
        if fs is None:
            return self.result(False, None, absent_settings(), absent_settings())
        fs_id = fs["FileSystemId"]
        before = {"exists": True, "id": fs_id}
        if self.module.check_mode:
            return self.result(True, None, before, absent_settings())
        targets = self.mount_targets(fs_id)
        for target in targets:
            if target.get("LifeCycleState") not in ("deleting", "deleted"):
                aws_call(f"delete mount target {target['MountTargetId']} of the {self.label}",
                         self.efs.delete_mount_target, MountTargetId=target["MountTargetId"], ignore=MT_NOT_FOUND)
        # "DeleteFileSystem - Amazon Elastic File System": "You can't delete a file system that is in use. That is,
        # if the file system has any mount targets, you must first delete them",
        # https://docs.aws.amazon.com/efs/latest/ug/API_DeleteFileSystem.html
        self.wait_mount_targets(fs_id, [t["MountTargetId"] for t in targets], gone=True)
        aws_call(f"delete the {self.label} ({fs_id})", self.efs.delete_file_system, FileSystemId=fs_id,
                 ignore=FS_NOT_FOUND)
        if self.params["wait"]:
            self.wait_file_system(fs_id, gone=True)
        return self.result(True, None, before, absent_settings())

    def run(self):
        try:
            validate(self.params)
            return self.present() if self.params["state"] == "present" else self.absent()
        except EfsPlanError as exc:
            raise ModuleFailure(f"{self.label}: {exc}") from exc


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        encrypted=dict(type="bool", default=True),
        kms_key_id=dict(type="str"),
        performance_mode=dict(type="str", choices=list(PERFORMANCE_MODES), default="generalPurpose"),
        throughput_mode=dict(type="str", choices=list(THROUGHPUT_MODES), default="bursting"),
        mount_dir=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        mount_targets=dict(type="list", elements="dict", options=dict(
            subnet_id=dict(type="str", required=True),
            security_groups=dict(type="list", elements="str", default=[]),
        )),
        purge_mount_targets=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    efs = client_from_module(module, "efs")
    run_module(module, EfsManager(module, efs).run)


if __name__ == "__main__":
    main()
