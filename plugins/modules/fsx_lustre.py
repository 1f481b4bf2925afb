#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: fsx_lustre
short_description: An FSx for Lustre file system of a cluster, found by its tags
version_added: 0.1.0
description:
  - Makes sure an Amazon FSx for Lustre file system exists (or does not), found by its tags C(hpc:cluster)
    (O(cluster)) and C(Name) (O(name)) among every file system C(DescribeFileSystems) lists. File systems that
    are C(DELETING) or C(FAILED) are ignored.
  - Why this module exists - neither amazon.aws nor community.aws has a module for FSx for Lustre (they have
    M(community.aws.efs) for EFS only).
  - When none exists, it is created (C(CreateFileSystem), with a C(ClientRequestToken) so that a retried
    request never makes a second file system) with the tags O(tags), C(Name), C(hpc:cluster) and
    C(hpc:mount-dir) (O(mount_dir)).
  - When one exists, O(storage_capacity) larger than the file system's grows it (C(UpdateFileSystem)); FSx
    cannot shrink a file system, nor grow a C(SCRATCH_1) one, so a smaller value (or any change on
    C(SCRATCH_1)) fails naming O(storage_capacity). O(per_unit_storage_throughput) changes in place on
    C(PERSISTENT_2) only. Tags are brought to O(tags) (plus the three tags above).
  - O(deployment_type), O(subnet_id), O(storage_type) and O(kms_key_id) are fixed when FSx creates the file
    system - a different value fails naming the option; the module never deletes and recreates a file system
    (that loses its data).
  - Only minimal checks are made here (a positive O(storage_capacity), an absolute O(mount_dir), no
    O(kms_key_id) with a scratch type); sizes and throughput FSx refuses fail with FSx's own error code and
    message.
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
      - V(present) makes sure the file system exists with these settings; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  storage_capacity:
    description:
      - The storage capacity in GiB (for example V(1200)). Required when O(state=present).
      - FSx decides which sizes are valid for the deployment and storage type; a size it refuses fails with
        its error.
    type: int
  deployment_type:
    description:
      - The deployment type. A new file system gets V(SCRATCH_2) when omitted; for an existing one, omitted
        means whatever it has.
    type: str
    choices: [SCRATCH_1, SCRATCH_2, PERSISTENT_1, PERSISTENT_2]
  per_unit_storage_throughput:
    description:
      - The throughput per TiB of storage (MB/s/TiB) of a C(PERSISTENT_1) or C(PERSISTENT_2) file system.
        V(0) or omitted means not set (scratch file systems have none).
    type: int
  storage_type:
    description:
      - V(SSD) or V(HDD) (C(HDD) with C(PERSISTENT_1) only). A new file system gets V(SSD) when omitted.
    type: str
    choices: [SSD, HDD]
  subnet_id:
    description:
      - The one subnet of the file system (FSx for Lustre lives in one subnet). Required when O(state=present).
    type: str
  security_group_ids:
    description:
      - Security groups of the file system's network interfaces. Used when the file system is created only.
    type: list
    elements: str
    default: []
  kms_key_id:
    description:
      - The KMS key (ARN, key id or alias) that encrypts a C(PERSISTENT_1) or C(PERSISTENT_2) file system.
        Scratch file systems are encrypted with keys managed by Amazon FSx; giving a key for one fails.
      - When omitted, FSx uses its AWS managed key (C(aws/fsx)).
    type: str
  wait:
    description:
      - Wait until the file system is C(AVAILABLE) after a creation or an update, and until it is gone after
        a deletion. Creating an FSx for Lustre file system takes several minutes.
    type: bool
    default: true
  wait_timeout:
    description:
      - How many seconds to wait at most.
    type: int
    default: 1800
notes:
  - A file system found in C(CREATING) or C(UPDATING) is compared as it will be (a capacity update under way
    counts as done), so a rerun during an update does not ask for it again.
  - The lab's moto 5.2 has no C(UpdateFileSystem), reports no C(Lifecycle) or C(MountName), and accepts sizes
    AWS refuses.
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
      - The diff shows the compared settings before and after (storage capacity, deployment type, throughput,
        storage type, subnet, KMS key, mount dir, tags).
  idempotent:
    support: full
seealso:
  - module: hpcops.aws_hpc.shared_storage_info
  - module: community.aws.efs
"""

EXAMPLES = r"""
- name: The portal's scratch file system
  hpcops.aws_hpc.fsx_lustre:
    name: prod-portal-fsx
    cluster: prod
    storage_capacity: 1200
    deployment_type: SCRATCH_2
    subnet_id: subnet-0123456789abcdef0
    security_group_ids: [sg-0123456789abcdef0]
    mount_dir: /fsx
    tags:
      hpc:role: portal-storage
      hpc:storage: fsx
  register: _fsx

- name: A persistent file system encrypted with the cluster's key
  hpcops.aws_hpc.fsx_lustre:
    name: prod-scratch2
    cluster: prod
    storage_capacity: 2400
    deployment_type: PERSISTENT_2
    per_unit_storage_throughput: 250
    kms_key_id: alias/hpc
    subnet_id: subnet-0123456789abcdef0
    mount_dir: /scratch2

- name: Delete it (its data is lost)
  hpcops.aws_hpc.fsx_lustre:
    name: prod-portal-fsx
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
    dns_name:
      description: The DNS name clients mount.
      type: str
      sample: fs-0123456789abcdef0.fsx.us-east-1.amazonaws.com
    mount_name:
      description: The Lustre mount name (C(mount -t lustre <dns_name>@tcp:/<mount_name> <dir>)).
      type: str
      sample: abcdefgh
    lifecycle:
      description: C(AVAILABLE), C(CREATING), C(UPDATING)... (V(AVAILABLE) when FSx reports none).
      type: str
    storage_capacity:
      description: Storage capacity in GiB.
      type: int
    storage_type:
      description: SSD or HDD.
      type: str
    deployment_type:
      description: The deployment type.
      type: str
    per_unit_storage_throughput:
      description: Throughput per TiB (persistent types).
      type: int
    subnet_ids:
      description: The file system's subnet (one).
      type: list
      elements: str
    kms_key_id:
      description: The KMS key FSx reports (persistent types).
      type: str
    mount_dir:
      description: The C(hpc:mount-dir) tag.
      type: str
      sample: /fsx
    tags:
      description: Its tags.
      type: dict
"""

import time
import uuid

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    paginate,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._fsx import (
    DEPLOYMENT_TYPES,
    STORAGE_TYPES,
    FsxPlanError,
    absent_settings,
    create_request,
    is_lustre_of,
    kms_key_matches,
    lifecycle_state,
    plan_update,
    summarize,
    validate,
    wanted_settings,
)

POLL_SECONDS = 15
NOT_FOUND = ("FileSystemNotFound",)


class LustreManager:
    """Finds, creates, updates and deletes the one file system of O(cluster) and O(name)."""

    def __init__(self, module, fsx):
        self.module = module
        self.params = module.params
        self.fsx = fsx
        self.label = f"FSx for Lustre file system {self.params['name']} of cluster {self.params['cluster']}"
        self._kms = None

    def find(self):
        found = [fs for fs in paginate(f"list FSx file systems to find the {self.label}", self.fsx,
                                       "describe_file_systems", "FileSystems")
                 if is_lustre_of(fs, self.params["cluster"], self.params["name"])]
        if len(found) > 1:
            ids = ", ".join(sorted(fs["FileSystemId"] for fs in found))
            raise ModuleFailure(f"{len(found)} live file systems are the {self.label} ({ids}): delete all but one")
        return found[0] if found else None

    def describe(self, fs_id):
        answer = aws_call(f"describe {self.label} ({fs_id})", self.fsx.describe_file_systems,
                          FileSystemIds=[fs_id], ignore=NOT_FOUND, default={})
        systems = answer.get("FileSystems") or []
        return systems[0] if systems else None

    def wait_for(self, fs_id, gone=False):
        """Poll until the file system is AVAILABLE (or gone); fail when it breaks or the wait times out."""
        deadline = time.monotonic() + self.params["wait_timeout"]
        while True:
            fs = self.describe(fs_id)
            if fs is None or fs.get("Lifecycle") == "DELETED":
                if gone:
                    return None
                raise ModuleFailure(f"The {self.label} ({fs_id}) disappeared while waiting for it")
            state = lifecycle_state(fs)
            if not gone and state == "ready":
                return fs
            if not gone and state == "broken":
                detail = (fs.get("FailureDetails") or {}).get("Message", "")
                raise ModuleFailure(f"The {self.label} ({fs_id}) is {fs.get('Lifecycle')}: {detail}".rstrip(": "),
                                    file_system=summarize(fs))
            if time.monotonic() >= deadline:
                want = "to be deleted" if gone else "to become AVAILABLE"
                raise ModuleFailure(f"Timed out after {self.params['wait_timeout']} s waiting for the {self.label} "
                                    f"({fs_id}) {want}; it is {fs.get('Lifecycle')}", file_system=summarize(fs))
            time.sleep(POLL_SECONDS)

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

    def result(self, changed, fs, before, after):
        out = {"changed": changed, "file_system": summarize(fs) if fs else None}
        if self.module._diff:
            out["diff"] = {"before": before, "after": after}
        return out

    def present(self):
        fs = self.find()
        if fs is None:
            return self.create()
        plan = plan_update(fs, self.params, self.same_kms_key)
        if self.module.check_mode or not plan["changed"]:
            if plan["changed"] is False and self.params["wait"] and lifecycle_state(fs) == "busy":
                fs = self.wait_for(fs["FileSystemId"])
            return self.result(plan["changed"], fs, plan["before"], plan["after"])
        fs_id, arn = fs["FileSystemId"], fs.get("ResourceARN")
        if plan["update"]:
            aws_call(f"update the {self.label} ({fs_id})", self.fsx.update_file_system,
                     ClientRequestToken=str(uuid.uuid4()), **plan["update"])
        if plan["tags_remove"]:
            aws_call(f"remove tags from the {self.label} ({fs_id})", self.fsx.untag_resource,
                     ResourceARN=arn, TagKeys=plan["tags_remove"])
        if plan["tags_set"]:
            aws_call(f"tag the {self.label} ({fs_id})", self.fsx.tag_resource, ResourceARN=arn,
                     Tags=[{"Key": key, "Value": value} for key, value in sorted(plan["tags_set"].items())])
        fs = self.wait_for(fs_id) if self.params["wait"] and plan["update"] else self.describe(fs_id)
        return self.result(True, fs, plan["before"], plan["after"])

    def create(self):
        after = wanted_settings(self.params)
        if self.module.check_mode:
            return self.result(True, None, absent_settings(), after)
        # A fresh token per run: botocore's retries of this request reuse it (no second file system), while a
        # later run finds the file system by its tags (a fixed token could return a deleted file system).
        request = create_request(self.params, str(uuid.uuid4()))
        fs = aws_call(f"create the {self.label}", self.fsx.create_file_system, **request)["FileSystem"]
        if self.params["wait"]:
            fs = self.wait_for(fs["FileSystemId"])
        return self.result(True, fs, absent_settings(), after)

    def absent(self):
        fs = self.find()
        if fs is None:
            return self.result(False, None, absent_settings(), absent_settings())
        if not self.module.check_mode:
            fs_id = fs["FileSystemId"]
            aws_call(f"delete the {self.label} ({fs_id})", self.fsx.delete_file_system, FileSystemId=fs_id,
                     ClientRequestToken=str(uuid.uuid4()), ignore=NOT_FOUND)
            if self.params["wait"]:
                self.wait_for(fs_id, gone=True)
        return self.result(True, None, {"exists": True, "id": fs["FileSystemId"]}, absent_settings())

    def run(self):
        try:
            validate(self.params)
            return self.present() if self.params["state"] == "present" else self.absent()
        except FsxPlanError as exc:
            raise ModuleFailure(f"{self.label}: {exc}") from exc


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        cluster=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        storage_capacity=dict(type="int"),
        deployment_type=dict(type="str", choices=list(DEPLOYMENT_TYPES)),
        per_unit_storage_throughput=dict(type="int"),
        storage_type=dict(type="str", choices=list(STORAGE_TYPES)),
        subnet_id=dict(type="str"),
        security_group_ids=dict(type="list", elements="str", default=[]),
        kms_key_id=dict(type="str"),
        mount_dir=dict(type="str"),
        tags=dict(type="dict"),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True,
                              required_if=[("state", "present", ("storage_capacity", "subnet_id"))])
    fsx = client_from_module(module, "fsx")
    run_module(module, LustreManager(module, fsx).run)


if __name__ == "__main__":
    main()
