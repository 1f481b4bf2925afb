#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: win_hpc_sqlserver
short_description: Prepare the SQL Server of an HPC Pack cluster (data volume, folder, databases, logins, messages)
version_added: 0.1.0
description:
  - Makes the SQL Server host of an HPC Pack cluster ready for the head node, as the reference deployment does in its
    user data, idempotently - the data volume online and formatted (only when it is a brand-new RAW disk, so a
    reattached EBS volume keeps its data), the data folder with FullControl for the SQL Server service, the five HPC
    databases created with the reference deployment's sizes and growth B(or attached) when their C(.mdf)/C(.ldf) files
    already exist, mixed-mode authentication with a service restart only when the mode changed, the SQL login HPC
    Pack connects with and its C(db_owner) user in every HPC database (what the reference deployment's
    C(AddDbUserForHpcSetupUser.sql) and C(AddDbUserForHpcService.sql) do), HPC Pack's error messages
    (C(DefineErrorMessages.sql)), and the C(sa) login disabled.
  - Every T-SQL statement is the collection's own (shipped with it, sent with each run), so nothing has to be copied to
    the SQL Server host or baked into its image.
  - The probe's state is planned in Python and the apply script gets only the planned changes. Parameters travel
    as JSON data; T-SQL runs with SqlClient parameters, never with values spliced into
    its text (not C(Invoke-Sqlcmd -Variable), whose sqlcmd variables are text substitution).
  - A database whose data file exists is never created anew - it is attached (C(FOR ATTACH), or
    C(FOR ATTACH_REBUILD_LOG) when only the data file exists). The rule is checked on the controller and again on
    the host right before the statement.
  - The connecting identity must be sysadmin on the instance; the sqlserver role runs this module with
    C(become_method=runas) as C(SYSTEM), like the reference deployment's user data.
extends_documentation_fragment:
  - hpcops.aws_hpc.win_hpc
author: hpcops developers (@hpcops)
options:
  server:
    description: Data source of the instance, as seen from the host.
    type: str
    default: localhost
  instance:
    description: Instance name; its service is C(MSSQLSERVER) (agent C(SQLSERVERAGENT)) or C(MSSQL$<instance>).
    type: str
    default: MSSQLSERVER
  volume:
    description:
      - The data volume. Omit to leave disks alone.
      - The disk is O(volume.disk_number), else the disk whose serial number is O(volume.ebs_volume_id), else the
        disk already mounted as O(volume.drive_letter), else the single disk that is not the boot or system disk.
      - An offline or read-only disk is brought online and writable; a partitioned disk without the letter gets it;
        only a RAW disk is initialised (GPT) and formatted.
    type: dict
    suboptions:
      drive_letter:
        description: Drive letter of the data volume.
        type: str
        default: D
      disk_number:
        description: Number of the disk (C(Get-Disk)).
        type: int
      ebs_volume_id:
        description: EBS volume id (V(vol-0123...)); matched against the NVMe serial number.
        type: str
      file_system:
        description: File system of a newly formatted volume.
        type: str
        choices: [NTFS, ReFS]
        default: NTFS
      label:
        description: Label of a newly formatted volume.
        type: str
        default: SQLData
  data_path:
    description: Folder of the database files.
    type: str
    default: D:\SQL
  data_path_identity:
    description: Account given FullControl (container and object inherit) on O(data_path).
    type: str
    default: NT SERVICE\MSSQLSERVER
  databases:
    description:
      - The databases. When omitted, the five HPC Pack databases C(HPCManagement), C(HPCScheduler), C(HPCReporting),
        C(HPCDiagnostics) and C(HPCMonitoring) with the reference deployment's sizes and growth.
      - Files are C(<data_path>\<name>.mdf) and C(<data_path>\<name>.ldf). Sizes apply when a database is created.
    type: list
    elements: dict
    suboptions:
      name:
        description: Database name.
        type: str
        required: true
      data_size_mb:
        description: Initial size of the data file in MB.
        type: int
        default: 1024
      data_growth:
        description: Growth of the data file (V(50%), V(256MB)).
        type: str
        default: 50%
      log_size_mb:
        description: Initial size of the log file in MB.
        type: int
        default: 128
      log_growth:
        description: Growth of the log file.
        type: str
        default: 50%
  login_mode:
    description: Authentication mode; V(mixed) is what HPC Pack's SQL logins need.
    type: str
    choices: [windows, mixed]
    default: mixed
  restart_service:
    description:
      - Restart the SQL Server service (and a running agent) when the configured mode differs from the mode in
        effect, so the change takes effect in this run. Only then.
    type: bool
    default: true
  hpc_login:
    description:
      - The SQL login HPC Pack connects with; the head node's connection strings carry its user name and password
        (C(Integrated Security=False)), so it is a SQL login, never a Windows one.
      - The login is created (C(CREATE LOGIN ... WITH PASSWORD, CHECK_EXPIRATION = OFF), as the reference deployment's
        scripts do) when it is missing, given O(hpc_login.password) when its password differs (see
        O(hpc_login.update_password)) and enabled when disabled.
      - In each database of O(databases) it gets a user that is a member of C(db_owner) - created, or, in a database
        attached from another instance, the orphaned user of the same name mapped to this instance's login
        (C(ALTER USER ... WITH LOGIN)). C(db_owner) holds every permission the reference deployment's scripts grant
        one by one.
      - Omit to skip.
    type: dict
    suboptions:
      username:
        description: Login name (the reference deployment reads SSM C(/sql-server/service-account/username)).
        type: str
        required: true
      password:
        description:
          - Its password (the reference deployment reads SSM C(/sql-server/service-account/password)).
          - Never returned or logged.
        type: str
        required: true
      update_password:
        description:
          - V(always) gives an existing login O(hpc_login.password) when its password differs (compared on the host with
            C(PWDCOMPARE); the password is never read back or returned). V(on_create) sets it only when the login is
            created and warns when it differs.
        type: str
        choices: [always, on_create]
        default: always
  error_messages:
    description:
      - Define HPC Pack's error messages (C(sp_addmessage), numbers 60001 to 600023, as the reference deployment's
        C(DefineErrorMessages.sql) does) where they are missing or differ. C(sp_addmessage) needs C(sysadmin) or
        C(serveradmin), which the login HPC Pack setup connects with does not have, so it happens here.
    type: bool
    default: true
  sa_disabled:
    description: Disable the C(sa) login (found by its sid, so a renamed sa too); V(false) enables it.
    type: bool
    default: true
  sql_timeout:
    description:
      - Seconds a SQL statement may take, and seconds SQL Server may take to answer again after a service restart.
      - Formerly C(timeout).
    type: int
    default: 600
seealso:
  - module: hpcops.aws_hpc.win_hpc_headnode
"""

EXAMPLES = r"""
- name: Prepare the SQL Server for HPC Pack
  hpcops.aws_hpc.win_hpc_sqlserver:
    volume:
      drive_letter: D
    data_path: D:\SQL
    hpc_login:
      username: "{{ lookup('amazon.aws.ssm_parameter', '/sql-server/service-account/username') }}"
      password: "{{ lookup('amazon.aws.ssm_parameter', '/sql-server/service-account/password') }}"
  become: true
  become_method: ansible.builtin.runas
  become_user: SYSTEM
  no_log: true
"""

RETURN = r"""
changes:
  description: The volume, folder, database, login and user changes planned (check mode) or made; never a secret.
  returned: always
  type: list
  elements: dict
  sample: [{"step": "database", "object": "HPCManagement", "action": "attach"},
           {"step": "hpc_login", "object": "hpcsql", "action": "create"},
           {"step": "hpc_user", "object": "HPCManagement", "action": "map_orphaned_user", "user": "hpcsql"}]
round_trips:
  description: PowerShell round trips this task made to the host - the probe, and the apply when something changes.
  returned: always
  type: int
databases:
  description: What happened (or would happen) to each database that was missing - V(create), V(attach),
               V(attach_rebuild_log).
  returned: always
  type: dict
  sample: {"HPCManagement": "attach"}
restarted:
  description: Whether the SQL Server service was restarted.
  returned: always
  type: bool
"""

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_specs import action_plugin_stub


def main():
    action_plugin_stub("win_hpc_sqlserver")


if __name__ == "__main__":
    main()
