#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_domain_membership
short_description: Join a Windows host to the domain and put its computer account in the local Administrators group
version_added: 0.1.0
description:
  - The reference HPC Pack deployment's cfn-init step
    (C(Add-LocalGroupMember -Group Administrators -Member <domain>\<computer>$)) and the domain join of the AMI
    bakery's sysprep step, idempotently.
  - The join needs a reboot - RV(reboot_required) tells the role to run M(ansible.windows.win_reboot); the computer
    account
    resolves only after that reboot, so it is added on the next run (the roles run the module again after the reboot).
  - A host that is a member of another domain is never moved; the module fails naming both domains.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
author: hpcops developers (@hpcops)
options:
  domain:
    description: DNS name of the domain.
    type: str
    required: true
  netbios_domain:
    description: NetBIOS name of the domain; default the first label of O(domain) in capitals.
    type: str
  username:
    description: Account allowed to join computers (C(DOMAIN\user)).
    type: str
    required: true
  password:
    description: Its password. Never returned or logged.
    type: str
    required: true
  ou_path:
    description: Organizational unit of the computer account.
    type: str
  computer_account_admin:
    description: Put C(<netbios_domain>\<computer name>$) in the local Administrators group.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Join the domain
  hpcops.aws_hpc.win_hpc_domain_membership:
    domain: hpc.example.com
    username: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/username') }}"
    password: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/password') }}"
  no_log: true
  register: join

- name: Reboot after the join
  ansible.windows.win_reboot:
  when: join.reboot_required
"""

RETURN = r"""
changes:
  description: The domain join and local Administrators change planned (check mode) or made; never a secret.
  returned: always
  type: list
  elements: dict
  sample: [{"step": "domain_join", "object": "hpc.internal", "action": "join", "ou_path": null}]
round_trips:
  description: PowerShell round trips this task made to the host - the probe, and the apply when something changes.
  returned: always
  type: int
reboot_required:
  description: The host joined the domain and must reboot.
  returned: always
  type: bool
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_domain_membership")


if __name__ == "__main__":
    main()
