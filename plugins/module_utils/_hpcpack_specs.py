# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Argument specs of the HPC Pack Windows modules, in one place (private: no compatibility promise).

The module stubs in plugins/modules/ hand these to AnsibleModule through :func:`action_plugin_stub` (so
ansible-test validate-modules checks them against the documentation) and the action plugins validate the task
with the same dict.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible.module_utils.basic import AnsibleModule

# The HPC Pack versions the Windows tier installs (2016: setup 5.x, 2019: setup 6.x); plugins/module_utils/_hpcpack.py
# has the same tuple with its sources, and tests/unit/plugins/module_utils/test_hpcpack.py holds them equal (this
# module imports no other module_utils of the collection, so that the module stubs load it alone).
HPCPACK_VERSIONS = ("2016", "2019")

# Where the HPC Pack image carries setup.exe: packer/scripts/windows/install-hpcpack.ps1 unpacks the installer
# archive to C:\HPCPack\Setup, and setup.exe is at the archive's root (Microsoft's MSFT_xHpcHeadNodeInstall,
# Azure/hpcpack-template SharedResources/Src/InstallPrimaryHeadNode/xHpcPack/DSCResources, extracts the setup
# package and runs "$tgtdir\setup.exe"). No version in the path: the same place for HPC Pack 2016 and 2019.
# tests/unit/test_image_layout.py holds the bake, the roles and these defaults to the same path.
SETUP_PATH = "C:\\HPCPack\\Setup\\setup.exe"

_CREDENTIAL = dict(
    username=dict(type="str", required=True),
    password=dict(type="str", required=True, no_log=True),
    update_password=dict(type="str", choices=["always", "on_create"], default="on_create"),
)

SQLSERVER = dict(
    argument_spec=dict(
        server=dict(type="str", default="localhost"),
        instance=dict(type="str", default="MSSQLSERVER"),
        volume=dict(
            type="dict",
            options=dict(
                drive_letter=dict(type="str", default="D"),
                disk_number=dict(type="int"),
                ebs_volume_id=dict(type="str"),
                file_system=dict(type="str", choices=["NTFS", "ReFS"], default="NTFS"),
                label=dict(type="str", default="SQLData"),
            ),
        ),
        data_path=dict(type="str", default="D:\\SQL"),
        data_path_identity=dict(type="str", default="NT SERVICE\\MSSQLSERVER"),
        databases=dict(
            type="list",
            elements="dict",
            options=dict(
                name=dict(type="str", required=True),
                data_size_mb=dict(type="int", default=1024),
                data_growth=dict(type="str", default="50%"),
                log_size_mb=dict(type="int", default=128),
                log_growth=dict(type="str", default="50%"),
            ),
        ),
        login_mode=dict(type="str", choices=["windows", "mixed"], default="mixed"),
        restart_service=dict(type="bool", default=True),
        hpc_login=dict(
            type="dict",
            no_log=False,
            options=dict(
                username=dict(type="str", required=True),
                password=dict(type="str", required=True, no_log=True),
                update_password=dict(type="str", choices=["always", "on_create"], default="always"),
            ),
        ),
        error_messages=dict(type="bool", default=True),
        sa_disabled=dict(type="bool", default=True),
        sql_timeout=dict(type="int", default=600),
    ),
)

HEADNODE = dict(
    argument_spec=dict(
        certificate=dict(
            type="dict",
            required=True,
            options=dict(
                source=dict(type="str", choices=["self_signed", "pfx", "thumbprint"], default="self_signed"),
                common_name=dict(type="str", default="HPC Pack 2016 Communication"),
                pfx_path=dict(type="str", default="C:\\ProgramData\\installdata\\HPCCertificate.pfx"),
                password=dict(type="str", required=True, no_log=True),
                src=dict(type="str"),
                thumbprint=dict(type="str"),
                valid_years=dict(type="int", default=5),
                renew_days=dict(type="int", default=30),
            ),
            required_if=[("source", "pfx", ["src"]), ("source", "thumbprint", ["thumbprint"])],
        ),
        install=dict(
            type="dict",
            required=True,
            options=dict(
                setup_path=dict(type="str", default=SETUP_PATH),
                cluster_name=dict(type="str", required=True),
                sql_server=dict(type="str", required=True),
                sql_username=dict(type="str", required=True),
                sql_password=dict(type="str", required=True, no_log=True),
                catalogs=dict(
                    type="dict",
                    options=dict(
                        management=dict(type="str", default="HPCManagement"),
                        scheduler=dict(type="str", default="HPCScheduler"),
                        reporting=dict(type="str", default="HPCReporting"),
                        diagnostics=dict(type="str", default="HPCDiagnostics"),
                        monitoring=dict(type="str", default="HPCMonitoring"),
                        ha_storage=dict(type="str", default="HPCHAStorage"),
                        ha_witness=dict(type="str", default="HPCHAWitness"),
                    ),
                ),
                connection_options=dict(type="dict", default={}),
                skip_components=dict(
                    type="list", elements="str", choices=["rras", "dhcp", "wds"], default=["rras", "dhcp", "wds"]
                ),
                setup_timeout=dict(type="int", default=7200),
            ),
        ),
        # None: the install share of hpcpack_version (_hpcpack_headnode.install_share_certificates); "" skips
        # publishing.
        publish_certificate=dict(type="str"),
        hpcpack_version=dict(type="str", choices=list(HPCPACK_VERSIONS), default="2016"),
    ),
)

CLUSTER = dict(
    argument_spec=dict(
        network=dict(
            type="dict",
            options=dict(
                topology=dict(type="str", choices=["Enterprise"], default="Enterprise"),
                enterprise_interface=dict(type="str"),
                enterprise_firewall=dict(type="bool"),
            ),
        ),
        job_credential=dict(type="dict", no_log=False, options=copy.deepcopy(_CREDENTIAL)),
        install_credential=dict(type="dict", no_log=False, options=copy.deepcopy(_CREDENTIAL)),
        members=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                role=dict(
                    type="str", choices=["Administrator", "JobAdministrator", "JobOperator", "User"], default="User"
                ),
            ),
        ),
        node=dict(
            type="dict",
            options=dict(
                roles=dict(
                    type="list", elements="str", choices=["ComputeNode", "BrokerNode", "WorkstationNode"], default=[]
                ),
                state=dict(type="str", choices=["online", "offline"]),
            ),
        ),
        scheduler=dict(type="str"),
        retries=dict(
            type="dict",
            options=dict(
                count=dict(type="int"),
                delay_seconds=dict(type="int"),
            ),
        ),
    ),
)

COMPUTENODE = dict(
    argument_spec=dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        headnode=dict(type="str", required=True),
        share=dict(type="str"),
        certificate_dir=dict(type="str", default="C:\\ProgramData\\installdata\\certificates"),
        public_certificate=dict(type="str", default="HpcHnPublicCert.cer"),
        pfx_file=dict(type="str", default="HPCCertificate.pfx"),
        pfx_password=dict(type="str", no_log=True),
        setup_path=dict(type="str", default=SETUP_PATH),
        template=dict(type="str", default="Default ComputeNode Template"),
        online=dict(type="bool", default=True),
        register_timeout=dict(type="int", default=900),
        drain_timeout=dict(type="int", default=3600),
        force_after_timeout=dict(type="bool", default=True),
        setup_timeout=dict(type="int", default=3600),
    ),
    required_if=[("state", "present", ["pfx_password"])],
)

DOMAIN_MEMBERSHIP = dict(
    argument_spec=dict(
        domain=dict(type="str", required=True),
        netbios_domain=dict(type="str"),
        username=dict(type="str", required=True),
        password=dict(type="str", required=True, no_log=True),
        ou_path=dict(type="str"),
        computer_account_admin=dict(type="bool", default=True),
    ),
)

CONNECTION_CHECK = dict(
    argument_spec=dict(
        allow_ntlm=dict(type="bool", default=False),
        allow_unvalidated_certificate=dict(type="bool", default=False),
    ),
)

# The argument spec of each module, by module name.
SPECS = {
    "win_hpc_sqlserver": SQLSERVER,
    "win_hpc_headnode": HEADNODE,
    "win_hpc_cluster": CLUSTER,
    "win_hpc_computenode": COMPUTENODE,
    "win_hpc_domain_membership": DOMAIN_MEMBERSHIP,
    "win_hpc_connection_check": CONNECTION_CHECK,
}


def action_plugin_stub(name):
    """``main()`` of the module stub ``name``: the work is done by the action plugin of the same name, on the
    controller. Run as a module (for example by ansible-test, which reads the argument spec this way), it
    validates the arguments and fails."""
    module = AnsibleModule(supports_check_mode=True, **SPECS[name])
    module.fail_json(msg="hpcops.aws_hpc.%s runs on the controller as an action plugin" % name)
