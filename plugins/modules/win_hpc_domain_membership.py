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
  - Runs on the controller (action plugin) - one read-only PowerShell probe, one apply only when something changes.
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
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Only the read-only probe is sent.
  diff_mode:
    support: full
  idempotent:
    description: A second run with the same arguments reports no change.
    support: full
  platform:
    platforms: windows
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
reboot_required:
  description: The host joined the domain and must reboot.
  returned: always
  type: bool
round_trips:
  description: PowerShell round trips this task made to the host.
  returned: always
  type: int
  sample: 1
changes:
  description: The planned (check mode) or made changes, each with its step, object and action. Never a secret.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import DOMAIN_MEMBERSHIP


def main():
    module = AnsibleModule(supports_check_mode=True, **DOMAIN_MEMBERSHIP)
    module.fail_json(msg="hpcops.aws_hpc.win_hpc_domain_membership runs on the controller as an action plugin")


if __name__ == "__main__":
    main()
