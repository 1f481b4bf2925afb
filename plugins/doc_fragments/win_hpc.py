# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared documentation of the ``win_hpc_*`` modules: action plugins that drive a Windows host over PowerShell.

A module lists ``hpcops.aws_hpc.win_hpc`` alone in ``extends_documentation_fragment``; the fragment describes every
attribute and states its support. A module overrides a value by stating it in its own ``attributes`` (the
module's value wins), as win_hpc_connection_check does for check mode, diff mode and idempotency.

RETURN cannot come from a fragment in ansible-core, so each module documents ``changes`` and ``round_trips``
itself.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  action:
    description: The module has an action plugin of the same name, which does the work on the controller.
    support: full
  async:
    description: Can run with the C(async) keyword.
    support: none
  bypass_host_loop:
    description: Runs once for all hosts instead of once per host.
    support: none
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying the target.
    support: full
    details: Only the read-only probe is sent.
  diff_mode:
    description: Returns the C(before) and C(after) of what changes (or would change in C(check_mode)) in diff mode.
    support: full
  idempotent:
    description: A second run with the same arguments reports no change.
    support: full
  platform:
    description: Target operating system.
    support: N/A
    platforms: windows
notes:
  - Runs on the controller (action plugin) over the host's connection - at most one read-only PowerShell probe and one
    apply script per task, the apply only when something changes and never in check mode.
"""
