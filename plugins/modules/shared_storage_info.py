#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: shared_storage_info
short_description: A cluster's portal file systems (EFS, FSx for Lustre) in ParallelCluster SharedStorage form
version_added: 0.1.0
description:
  - Lists the EFS file systems (EFS C(DescribeFileSystems)) and FSx for Lustre file systems (FSx
    C(DescribeFileSystems)) tagged C(hpc:cluster=<cluster>) and C(hpc:role=portal-storage), skipping those
    being deleted (EFS C(deleting), C(deleted), C(error); FSx C(DELETING), C(FAILED)).
  - Returns them as RV(shared_storage), items of the parallelcluster role's C(parallelcluster_shared_storage)
    variable - C(name) V(portal-<hpc:storage tag>) (for example V(portal-efs)), C(type) V(Efs) or
    V(FsxLustre), C(mount_dir) from the C(hpc:mount-dir) tag and C(settings.FileSystemId), which makes
    ParallelCluster mount the existing file system rather than create one. Ordered by name.
  - A file system without an absolute C(hpc:mount-dir) tag is left out of RV(shared_storage) with a warning,
    and still listed in RV(file_systems).
  - This module never changes anything. An AWS failure fails the module with the AWS error code, message and
    request id (C(error), C(response_metadata)).
author: hpcops developers (@hpcops)
options:
  cluster:
    description:
      - The C(hpc:cluster) tag of the file systems.
    type: str
    required: true
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - hpcops.aws_hpc.attributes.info_module
  - hpcops.aws_hpc.attributes.idempotent_not_modify_state
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
seealso:
  - module: hpcops.aws_hpc.fsx_lustre
  - module: community.aws.efs_info
"""

EXAMPLES = r"""
- name: The portal's file systems of cluster prod
  hpcops.aws_hpc.shared_storage_info:
    cluster: prod
  register: _storage

- name: Mount them on the ParallelCluster cluster
  ansible.builtin.include_role:
    name: hpcops.aws_hpc.parallelcluster
  vars:
    parallelcluster_shared_storage: "{{ _storage.shared_storage }}"
"""

RETURN = r"""
shared_storage:
  description:
    - The file systems as C(parallelcluster_shared_storage) items, ordered by name; empty when there is none.
  returned: always
  type: list
  elements: dict
  sample:
    - name: portal-efs
      type: Efs
      mount_dir: /efs
      settings: {FileSystemId: fs-0123456789abcdef0}
    - name: portal-fsx
      type: FsxLustre
      mount_dir: /fsx
      settings: {FileSystemId: fs-0fedcba9876543210}
file_systems:
  description:
    - Every file system found (also those left out of RV(shared_storage)) - C(id), C(type) (V(Efs) or
      V(FsxLustre)), C(name) (Name tag), C(storage) (hpc:storage tag), C(mount_dir), C(lifecycle), C(tags),
      C(shared_storage_name) when listed, and for FSx C(dns_name) and C(mount_name).
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import client_from_module, paginate, run_module
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._fsx import shared_storage


def lookup(module, efs, fsx):
    """The module's result."""
    cluster = module.params["cluster"]
    # EFS DescribeFileSystems returns each file system's Tags; FSx DescribeFileSystems too.
    efs_systems = paginate(f"list the EFS file systems of cluster {cluster}", efs, "describe_file_systems",
                           "FileSystems")
    fsx_systems = paginate(f"list the FSx file systems of cluster {cluster}", fsx, "describe_file_systems",
                           "FileSystems")
    items, summaries, problems = shared_storage(cluster, efs_systems, fsx_systems)
    for problem in problems:
        module.warn(problem)
    return {"changed": False, "shared_storage": items, "file_systems": summaries}


def main():
    module = AnsibleAWSModule(argument_spec=dict(cluster=dict(type="str", required=True)), supports_check_mode=True)
    efs = client_from_module(module, "efs")
    fsx = client_from_module(module, "fsx")
    run_module(module, lambda: lookup(module, efs, fsx))


if __name__ == "__main__":
    main()
