# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared ``attributes:`` documentation of the collection's modules.

Use ``hpcops.aws_hpc.attributes`` (descriptions) together with the fragments that state the
support level, for example ``hpcops.aws_hpc.attributes.info_module``.
"""

from __future__ import annotations


class ModuleDocFragment:
    # Descriptions of the attributes; state the support in the module or with a fragment below.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the target.
  diff_mode:
    description:
      - Will return details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""

    # A module that only reads: use together with the DOCUMENTATION fragment.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""

    # Use together with the DOCUMENTATION fragment.
    IDEMPOTENT_NOT_MODIFY_STATE = r"""
options: {}
attributes:
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""

    # The collection's AWS modules (the C(aws) action group of meta/runtime.yml): full check mode and the group's
    # membership. Use together with the DOCUMENTATION fragment, which describes check_mode.
    AWS = r"""
options: {}
attributes:
  check_mode:
    support: full
  action_group:
    description:
      - Use C(group/hpcops.aws_hpc.aws) in C(module_defaults) to set defaults for this module.
      - That group also contains every module of the C(amazon.aws.aws) and C(community.aws.aws) groups.
    support: full
    membership:
      - hpcops.aws_hpc.aws
"""
