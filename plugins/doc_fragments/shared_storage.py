# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared options of the modules that keep a shared file system (``efs_file_system``, ``fsx_lustre``): where hosts
mount it, and its tags. A module lists ``hpcops.aws_hpc.shared_storage`` in ``extends_documentation_fragment``."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  mount_dir:
    description:
      - Where hosts mount the file system, kept in the tag C(hpc:mount-dir) and returned
        (M(hpcops.aws_hpc.shared_storage_info) reads it).
    type: str
  tags:
    description:
      - Tags of the file system besides C(Name), C(hpc:cluster) and C(hpc:mount-dir) (which the module sets).
      - When omitted, other tags are left as they are.
    type: dict
  purge_tags:
    description:
      - Remove tags that are not in O(tags) (nor the three the module sets). Only applies when O(tags) is given;
        C(aws:) tags are never removed.
    type: bool
    default: true
"""
