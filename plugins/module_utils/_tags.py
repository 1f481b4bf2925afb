# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The tag keys and resource names the collection reads and writes (private: not a public API).

One place for each name, used by the modules, the inventory plugin and the autogrow service (which
loads this file side by side). Roles and playbooks spell the same keys in YAML;
``tests/unit/plugins/module_utils/test_tags.py`` checks that every ``hpc:*`` key in the tree is one of these.
"""

from __future__ import annotations

# Every resource of a cluster: the cluster's name and the tier (role) an instance or image serves.
CLUSTER_TAG = "hpc:cluster"
ROLE_TAG = "hpc:role"

# Shared file systems (EFS, FSx for Lustre): which storage of the cluster a file system is (``efs``, ``fsx``)
# and where hosts mount it; the portal tier's file systems carry the role PORTAL_STORAGE_ROLE
# (``fsx_lustre``, ``shared_storage_info``).
STORAGE_TAG = "hpc:storage"
MOUNT_DIR_TAG = "hpc:mount-dir"
PORTAL_STORAGE_ROLE = "portal-storage"

# Images baked by the AMI bakery (``_bake.py``, ``_ami.py``).
IMAGE_TAG = "hpc:image"
HASH_TAG = "hpc:input-hash"
DATE_TAG = "hpc:bake-date"
SOURCE_TAG = "hpc:source-ami"
# The Packer builder instances' run_tags (packer/*/*.pkr.hcl): a killed bake's builders are found by it.
BAKE_TAG = "hpc:bake"

# Compute nodes: their name in the scheduler, the pool's replacement state (``_pool.py``) and the
# time autogrow first saw a node idle.
NODE_NAME_TAG = "hpc:node-name"
POOL_STATE_TAG = "hpc:pool-state"
POOL_RUN_TAG = "hpc:pool-run"
POOL_SINCE_TAG = "hpc:pool-drain-since"
IDLE_TAG = "hpc:idle-since"

# The tier whose instances the pool and autogrow manage.
COMPUTE_ROLE = "computenode"


def tier_name(cluster, role):
    """The name of a tier's Auto Scaling group and launch template: ``hpc-<cluster>-<role>``."""
    return f"hpc-{cluster}-{role}"


def compute_group_name(cluster):
    """The compute tier's Auto Scaling group and launch template: ``hpc-<cluster>-computenode``."""
    return tier_name(cluster, COMPUTE_ROLE)


def cluster_filters(cluster, role=None):
    """EC2 ``Filters`` selecting a cluster's resources (and one tier's, with ``role``)."""
    filters = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
    if role:
        filters.append({"Name": f"tag:{ROLE_TAG}", "Values": [role]})
    return filters
