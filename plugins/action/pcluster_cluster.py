# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of hpcops.aws_hpc.pcluster_cluster (documentation: plugins/modules/pcluster_cluster.py).

Runs the module and, when the task runs on the controller, shows its progress lines live
(plugins/plugin_utils/_progress.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._progress import ProgressAction


class ActionModule(ProgressAction):
    pass
