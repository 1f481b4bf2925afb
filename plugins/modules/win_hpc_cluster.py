#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_cluster
short_description: Configure an installed HPC Pack head node (network, credentials, members, node role and state)
version_added: 0.1.0
description:
  - The reference HPC Pack deployment's "Configure the HeadNode", idempotently - the network topology (Enterprise on
    the first interface by
    default), the job credential (C(Set-HpcJobCredential)) and install credential (C(Set-HpcClusterProperty
    -InstallCredential)),
    cluster members with roles (C(Add-HpcMember)), the head node's roles (C(Set-HpcNode -Role)) and state
    (C(Set-HpcNodeState)).
  - Every HPC cmdlet gets C(-Scheduler) (O(scheduler)); the probe's first cluster read and C(Set-HpcNetwork) and
    C(Set-HpcClusterProperty) are retried while the cluster is not ready yet (O(retries)).
  - The job credential cannot be read back from HPC Pack's credential cache; the module records the user name it set
    and the account that set it under
    C(HKLM:\SOFTWARE\hpcops\aws_hpc) and sets the credential again when the name differs, another account set it, or
    O(job_credential.update_password=always).
  - C(Set-HpcJobCredential) "stores these credentials in the credential cache of the user who ran the cmdlet"
    (U(https://learn.microsoft.com/powershell/module/hpc/set-hpcjobcredential?view=windowsserver2012r2-ps)), so the
    task must run as the account of O(job_credential.username) when the credential has to be set - with
    C(become=true), C(become_method=ansible.builtin.runas) and C(become_user) set to that domain account, as the
    headnode role does with its C(headnode_service_account). Run as another account (the local C(ansible_user), for
    example), the module fails before any change, naming both accounts.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
author: hpcops developers (@hpcops)
options:
  network:
    description: Network topology. Omit to leave it.
    type: dict
    suboptions:
      topology:
        description: Topology; EC2 instances have one network, so V(Enterprise).
        type: str
        choices: [Enterprise]
        default: Enterprise
      enterprise_interface:
        description: Name of the enterprise interface (C(Get-HpcNetworkInterface)); default the first one.
        type: str
      enterprise_firewall:
        description: Whether HPC Pack manages Windows Firewall on the enterprise network; omitted leaves the setting.
        type: bool
  job_credential:
    description: Credential jobs run with (the reference deployment reads SSM C(/service-account/username) and
                 C(/service-account/password)).
    type: dict
    suboptions: &cred
      username:
        description: Domain account, C(DOMAIN\user).
        type: str
        required: true
      password:
        description: Its password. Never returned or logged.
        type: str
        required: true
      update_password:
        description: V(always) sets the credential on every run (changed every run); V(on_create) only when the user
                     name differs.
        type: str
        choices: [always, on_create]
        default: on_create
  install_credential:
    description: Credential HPC Pack uses to install nodes.
    type: dict
    suboptions: *cred
  members:
    description: Cluster members; missing roles are added, others are left alone.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Domain account or group, C(DOMAIN\name).
        type: str
        required: true
      role:
        description: Cluster role.
        type: str
        choices: [Administrator, JobAdministrator, JobOperator, User]
        default: User
  node:
    description: This head node as an HPC node.
    type: dict
    suboptions:
      roles:
        description:
          - Roles to add (the reference deployment adds V(BrokerNode)); the roles the node has are kept.
          - Only the values C(Set-HpcNode -Role) documents can be set. C(HeadNode), which C(Get-HpcNode) reports
            on the head node, is never sent back.
          - C(Set-HpcNode -Role) works only on an offline node, so when a role is missing the node is taken
            offline (C(Set-HpcNodeState -State Offline), running jobs drain first), its roles are set and it
            is brought online again unless O(node.state=offline). The plan, the diff
            (C(offline_for_role_change)) and a warning say so; nothing goes offline when no role is missing.
        type: list
        elements: str
        choices: [ComputeNode, BrokerNode, WorkstationNode]
        default: []
      state:
        description: Node state; the head node must be V(online) to accept compute nodes. Omitted keeps the
                     state the node had (also after a role change).
        type: str
        choices: [online, offline]
  scheduler:
    description:
      - Head node every HPC cmdlet is pointed at with C(-Scheduler). HPC Pack's cmdlets otherwise read
        C(CCP_SCHEDULER), which a WinRM session started right after setup may not have.
      - Default the head node's own computer name.
    type: str
  retries:
    description:
      - How long to wait for a cluster that is not ready yet right after setup. By default Microsoft's own
        deployment scripts' values (C(MSFT_xHpcWaitForCluster) and C(MSFT_xHpcClusterInit) in
        U(https://github.com/Azure/hpcpack-template)) - the first cluster read 30 retries 20 seconds apart,
        C(Set-HpcNetwork) 20 and C(Set-HpcClusterProperty) 30 retries 10, 20 then 30 seconds apart.
      - Setting a value here applies it to every one of those calls.
    type: dict
    suboptions:
      count:
        description: Retries after the first attempt; V(0) tries once.
        type: int
      delay_seconds:
        description: Seconds between attempts (fixed).
        type: int
"""

EXAMPLES = r"""
- name: Configure the head node as the domain service account (its credential cache gets the job credential)
  hpcops.aws_hpc.win_hpc_cluster:
    network:
      topology: Enterprise
    job_credential:
      username: HPC\hpcservice
      password: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/password') }}"
    members:
      - name: HPC\HPC Admins
        role: Administrator
    node:
      roles: [BrokerNode]
      state: online
  become: true
  become_method: ansible.builtin.runas
  become_user: HPC\hpcservice
  vars:
    ansible_become_password: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/password') }}"
  no_log: true
"""

RETURN = r"""
changes:
  description: The network, credential, member and node changes planned (check mode) or made; never a secret.
  returned: always
  type: list
  elements: dict
  sample: [{"step": "member", "object": "HPC\\hpc-users", "action": "add", "role": "User"}]
round_trips:
  description: PowerShell round trips this task made to the host - the probe, and the apply when something changes.
  returned: always
  type: int
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_cluster")


if __name__ == "__main__":
    main()
