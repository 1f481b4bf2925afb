#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_computenode
short_description: Join a Windows host to an HPC Pack cluster as a compute node, or remove it (scale-in)
version_added: 0.1.0
description:
  - The reference HPC Pack deployment's compute node steps, idempotently - the certificates copied from the head
    node's install share, the head
    node's public certificate imported into C(Cert:\LocalMachine\Root), HPC Pack compute node setup pointing at the head
    node (skipped when the C(HpcNodeManager) service exists; 0 and 3010 succeed, 3010 with RV(reboot_required), any
    other
    code fails with the setup log), the node template assigned to the Unapproved node and the node brought Online.
  - O(state=absent) is scale-in - the node is taken offline without C(-Force), so its running tasks finish (drain),
    up to
    O(drain_timeout); then it is forced offline (O(force_after_timeout)) and removed from the cluster.
  - The share and the scheduler are on the head node - a double hop. Run the task with C(become_method=runas) (the
    computenode role uses C(become_flags=logon_type=new_credentials logon_flags=netcredentials_only) with the domain
    service account, C(computenode_service_account)) or over Kerberos with delegation; no credential is ever stored on
    the host. The become user must name its domain (C(DOMAIN\user) or C(user@domain)) - runas looks a bare name up in
    the local account database.
  - HPC Pack 2016 and 2019 compute nodes are installed the same way - Microsoft's scripts pass the same
    C(-unattend -ComputeNode:<headnode>) command line to both (C(InstallHPCComputeNode.ps1) in
    U(https://github.com/Azure/cyclecloud-hpcpack), C(MSFT_xHpcNodeInstall) in
    U(https://github.com/Azure/hpcpack-template) and U(https://github.com/Azure/hpcpack-template-2016)) and both read
    the certificates from the head node's C(REMINST) share, so the module has no version option.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
author: hpcops developers (@hpcops)
options:
  state:
    description: V(present) joins the cluster; V(absent) drains and removes the node.
    type: str
    choices: [present, absent]
    default: present
  headnode:
    description: DNS name of the head node (C(headnode.<zone>)).
    type: str
    required: true
  share:
    description: Folder of the certificates on the install share; default C(\\<headnode>\REMINST\Certificates).
    type: str
  certificate_dir:
    description: Local folder the certificates are copied to.
    type: str
    default: C:\ProgramData\installdata\certificates
  public_certificate:
    description: File name of the head node's public certificate on the share.
    type: str
    default: HpcHnPublicCert.cer
  pfx_file:
    description: File name of the communication certificate PFX on the share.
    type: str
    default: HPCCertificate.pfx
  pfx_password:
    description: Password of the PFX (the reference deployment reads SSM C(/certificate/hpc/password)); required for
                 O(state=present).
    type: str
  setup_path:
    description:
      - Path of HPC Pack's C(setup.exe) on the host.
      - The default is where the HPC Pack image bake (C(packer/scripts/windows/install-hpcpack.ps1)) unpacks the
        installer; C(setup.exe) is at the root of HPC Pack's setup package.
    type: str
    default: C:\HPCPack\Setup\setup.exe
  template:
    description:
      - Node template assigned to the node while it is Unapproved or offline and not in this template
        (C(Assign-HpcNodeTemplate) needs an offline node).
      - Whether the node has it is read with C(Get-HpcNode -TemplateName), so a node in this template is left
        alone on every later run. A node that is online in another template fails the task; it is never
        taken offline to be rebuilt from another template.
    type: str
    default: Default ComputeNode Template
  online:
    description: Bring the node Online.
    type: bool
    default: true
  register_timeout:
    description: Seconds to wait for the node to register with the head node after setup.
    type: int
    default: 900
  drain_timeout:
    description: Seconds running tasks may take to finish before the node is removed.
    type: int
    default: 3600
  force_after_timeout:
    description: After O(drain_timeout), force the node offline (V(true)) or fail (V(false)).
    type: bool
    default: true
  setup_timeout:
    description:
      - Seconds HPC Pack compute node setup may take.
      - Formerly C(timeout).
    type: int
    default: 3600
"""

EXAMPLES = r"""
- name: Join the cluster
  hpcops.aws_hpc.win_hpc_computenode:
    headnode: headnode.hpc.internal
    pfx_password: "{{ lookup('amazon.aws.ssm_parameter', '/certificate/hpc/password') }}"
  become: true
  become_method: ansible.builtin.runas
  become_user: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/username') }}"
  become_flags: logon_type=new_credentials logon_flags=netcredentials_only
  vars:
    ansible_become_password: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/password') }}"
  no_log: true

- name: Scale in - drain and remove this node
  hpcops.aws_hpc.win_hpc_computenode:
    headnode: headnode.hpc.internal
    state: absent
"""

RETURN = r"""
changes:
  description: The certificate, setup, template and node state changes planned (check mode) or made, or the drain
    and removal of O(state=absent); never a secret.
  returned: always
  type: list
  elements: dict
  sample: [{"step": "node_template", "object": "IP-0A00010B", "action": "assign",
            "template": "Default ComputeNode Template"},
           {"step": "node_state", "object": "IP-0A00010B", "action": "online"}]
round_trips:
  description: PowerShell round trips this task made to the host - the probe, and the apply when something changes.
  returned: always
  type: int
reboot_required:
  description: Compute node setup exited with 3010 - the host must reboot.
  returned: always
  type: bool
setup_exit_code:
  description: Exit code of HPC Pack compute node setup (C(setup.exe)).
  returned: when setup ran
  type: int
setup_log:
  description: The compute node setup's log - the newest HPC Pack setup log under C(C:\Windows\Temp).
  returned: when setup ran
  type: str
forced_offline:
  description: The node was forced offline after O(drain_timeout).
  returned: when it happened
  type: bool
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_computenode")


if __name__ == "__main__":
    main()
