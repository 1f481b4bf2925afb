#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_headnode
short_description: Certificate, unattended install and certificate publishing of an HPC Pack head node
version_added: 0.1.0
description:
  - The reference HPC Pack deployment's head node steps, idempotently - the communication certificate exported to a
    PFX protected by a password
    from SSM (self-signed like HPC Pack's C(CreateCertificate.ps1), or CA-issued), HPC Pack head node unattended
    setup with
    the database connection strings of O(hpcpack_version), and the PFX published to the install share for the compute
    nodes.
  - Setup takes the certificate by thumbprint from C(Cert:\LocalMachine\My) (C(-SSLThumbprint)), as Microsoft's
    install scripts do (C(MSFT_xHpcHeadNodeInstall.psm1) in U(https://github.com/Azure/hpcpack-template),
    C(InstallHPCHeadNode.ps1) in U(https://github.com/Azure/cyclecloud-hpcpack)). A self-signed certificate is
    made there and one of O(certificate.source=thumbprint) is already there; a copied PFX, or a PFX whose
    certificate is not in that store with its private key, is imported there first with C(Import-PfxCertificate).
  - Setup runs as the account the task runs as. Microsoft installs the head node as a domain user that is a local
    administrator (C(PsDscRunAsCredential) of its C(InstallPrimaryHeadNode) configuration in
    U(https://github.com/Azure/hpcpack-template)); when setup has to run and the probe finds another account (the local
    C(ansible_user), SYSTEM, or a domain user without administrator rights), the module fails before any change and
    asks for the task keywords C(become=true), C(become_method=ansible.builtin.runas) and C(become_user) set to the
    domain service account (the headnode role passes its C(headnode_service_account)).
  - Setup is skipped when the C(HpcScheduler) service exists. Exit code 0 is success; 3010 is success with
    RV(reboot_required) - the headnode role then reboots with M(ansible.windows.win_reboot); any other code fails
    with the
    path of the setup log.
  - Passwords travel as a SecureString parameter and never appear in results or logs; the SQL
    password is on setup.exe's command line on the host only (in the connection strings), as HPC Pack's unattended
    setup requires.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
author: hpcops developers (@hpcops)
options:
  certificate:
    description: The communication certificate.
    type: dict
    required: true
    suboptions:
      source:
        description:
          - V(self_signed) creates one (RSA 2048, SHA256, server and client authentication) when the PFX is missing,
            does not
            open with the password, has another subject or expires within O(certificate.renew_days).
          - V(thumbprint) exports a CA-issued certificate of C(Cert:\LocalMachine\My) (for example from AD CS
            autoenrollment).
          - V(pfx) copies a CA-issued PFX already on the host (O(certificate.src)).
        type: str
        choices: [self_signed, pfx, thumbprint]
        default: self_signed
      common_name:
        description: Common name of a self-signed certificate.
        type: str
        default: HPC Pack 2016 Communication
      pfx_path:
        description: Where the PFX is kept on the head node; it is imported into C(Cert:\LocalMachine\My) from there
          and published to the install share.
        type: str
        default: C:\ProgramData\installdata\HPCCertificate.pfx
      password:
        description: Password of the PFX (the reference deployment reads SSM C(/certificate/hpc/password)).
        type: str
        required: true
      src:
        description: Path of the CA-issued PFX on the host, for O(certificate.source=pfx).
        type: str
      thumbprint:
        description: Thumbprint of the CA-issued certificate, for O(certificate.source=thumbprint).
        type: str
      valid_years:
        description: Validity of a self-signed certificate.
        type: int
        default: 5
      renew_days:
        description: A self-signed certificate that expires within this many days is replaced.
        type: int
        default: 30
  install:
    description: HPC Pack head node setup.
    type: dict
    required: true
    suboptions:
      setup_path:
        description:
          - Path of HPC Pack's C(setup.exe) on the head node.
          - The default is the same as for the compute nodes
            (O(hpcops.aws_hpc.win_hpc_computenode#module:setup_path)), where the HPC Pack image unpacks the installer.
        type: str
        default: C:\HPCPack\Setup\setup.exe
      cluster_name:
        description: Cluster name (C(-ClusterName)), the head node's DNS name in the reference deployment.
        type: str
        required: true
      sql_server:
        description: Data source of the SQL Server (C(mssql.<zone>)).
        type: str
        required: true
      sql_username:
        description: SQL login (the reference deployment reads SSM C(/sql-server/service-account/username)).
        type: str
        required: true
      sql_password:
        description: Its password (the reference deployment reads SSM C(/sql-server/service-account/password)).
        type: str
        required: true
      catalogs:
        description: Database names behind the five connection strings.
        type: dict
        suboptions:
          management:
            description: C(-MGMTDBCONSTR) database.
            type: str
            default: HPCManagement
          scheduler:
            description: C(-SCHDDBCONSTR) database.
            type: str
            default: HPCScheduler
          reporting:
            description: C(-RPTDBCONSTR) database.
            type: str
            default: HPCReporting
          diagnostics:
            description: C(-DIAGDBCONSTR) database.
            type: str
            default: HPCDiagnostics
          monitoring:
            description: C(-MONDBCONSTR) database.
            type: str
            default: HPCMonitoring
          ha_storage:
            description: C(-HAStorageDbConStr) database, passed for O(hpcpack_version=2019) only.
            type: str
            default: HPCHAStorage
          ha_witness:
            description: C(-HAWitnessDbConStr) database, passed for O(hpcpack_version=2019) only.
            type: str
            default: HPCHAWitness
      connection_options:
        description: Extra connection string keywords (for example V(Encrypt) set to V(true)), added with
                     SqlConnectionStringBuilder on the host.
        type: dict
        default: {}
      skip_components:
        description:
          - Components head node setup leaves out, passed as C(-SkipComponent:rras,dhcp,wds) (the reference
            deployment's command line; the flag exists from HPC Pack 2016 Update 3, see
            U(https://github.com/Azure/hpcpack/blob/master/CHANGELOG.md)). The EC2 head node needs neither
            routing and remote access, nor DHCP, nor Windows Deployment Services.
          - V([]) leaves the flag out, for setup packages older than HPC Pack 2016 Update 3.
        type: list
        elements: str
        choices: [rras, dhcp, wds]
        default: [rras, dhcp, wds]
      setup_timeout:
        description:
          - Seconds HPC Pack head node setup may take.
          - Formerly C(timeout).
        type: int
        default: 7200
  publish_certificate:
    description:
      - Folder of the install share (C(\\<headnode>\REMINST\Certificates)) the PFX is copied to; V("") to skip.
      - Default C(C:\Program Files\Microsoft HPC Pack <hpcpack_version>\Data\InstallShare\Certificates), where setup
        of that version puts the install share.
    type: str
  hpcpack_version:
    description:
      - HPC Pack version of O(install.setup_path). V(2019) (setup file version 6.x) adds the C(HPCHAStorage) and
        C(HPCHAWitness) connection strings (C(-HAStorageDbConStr), C(-HAWitnessDbConStr)), as Microsoft's own head
        node script does for setup major version 6; V(2016) (5.x) passes the five.
      - A variable rather than only read from C(setup.exe), because the SQL Server tier creates the databases before
        the head node exists; the probe reads C(setup.exe)'s file version and fails naming both versions when they
        differ.
    type: str
    choices: ['2016', '2019']
    default: '2016'
seealso:
  - module: hpcops.aws_hpc.win_hpc_cluster
  - module: ansible.windows.win_reboot
"""

EXAMPLES = r"""
- name: Install the HPC Pack 2019 head node as the domain service account
  hpcops.aws_hpc.win_hpc_headnode:
    hpcpack_version: '2019'
    certificate:
      password: "{{ lookup('amazon.aws.ssm_parameter', '/certificate/hpc/password') }}"
    install:
      cluster_name: headnode.hpc.internal
      sql_server: mssql.hpc.internal
      sql_username: "{{ lookup('amazon.aws.ssm_parameter', '/sql-server/service-account/username') }}"
      sql_password: "{{ lookup('amazon.aws.ssm_parameter', '/sql-server/service-account/password') }}"
  become: true
  become_method: ansible.builtin.runas
  become_user: HPC\hpcservice
  vars:
    ansible_become_password: "{{ lookup('amazon.aws.ssm_parameter', '/service-account/password') }}"
  no_log: true
  register: headnode_install

- name: Reboot when setup asked for it (exit code 3010)
  ansible.windows.win_reboot:
  when: headnode_install.reboot_required
"""

RETURN = r"""
changes:
  description: The certificate, setup and publishing changes planned (check mode) or made; never a secret.
  returned: always
  type: list
  elements: dict
  sample: [{"step": "install", "object": "HPCCLUSTER", "action": "install_headnode",
            "setup_path": "C:\\HPCPack\\Setup\\setup.exe", "hpcpack_version": "2016", "ssl_thumbprint": null}]
round_trips:
  description: PowerShell round trips this task made to the host - the probe, and the apply when something changes.
  returned: always
  type: int
reboot_required:
  description: Head node setup exited with 3010 (the headnode role then reboots the host).
  returned: always
  type: bool
installed:
  description: HPC Pack is installed (after this run, unless in check mode).
  returned: always
  type: bool
hpcpack_version:
  description: The HPC Pack version the module installs or found (O(hpcpack_version)).
  returned: always
  type: str
  sample: '2016'
setup_exit_code:
  description: Exit code of HPC Pack head node setup (C(setup.exe)).
  returned: when setup ran
  type: int
setup_log:
  description: The head node setup's log - the newest HPC Pack setup log under C(C:\Windows\Temp).
  returned: when setup ran
  type: str
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_headnode")


if __name__ == "__main__":
    main()
