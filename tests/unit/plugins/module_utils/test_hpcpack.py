"""Pure planning logic of the HPC Pack modules (plugins/module_utils/_hpcpack*.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack as hp
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_cluster as hp_cluster
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_computenode as hp_node
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_domain as hp_domain
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_headnode as hp_head
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_sql as hp_sql
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_storage as hp_disk

BOOT = {"Number": 0, "IsBoot": True, "IsSystem": True, "PartitionStyle": "MBR", "DriveLetters": ["C"]}


def disk(number, **kw):
    base = {
        "Number": number,
        "IsBoot": False,
        "IsSystem": False,
        "PartitionStyle": "GPT",
        "IsOffline": False,
        "IsReadOnly": False,
        "DriveLetters": [],
        "SerialNumber": f"vol0abc{number}_00000001.",
    }
    base.update(kw)
    return base


def test_defaults_are_the_five_hpc_databases_with_the_seed_sizes():
    dbs = hp_sql.normalise_databases(None)
    assert [d["name"] for d in dbs] == list(hp.HPC_DATABASES)
    assert all(
        (d["data_size_mb"], d["data_growth"], d["log_size_mb"], d["log_growth"]) == (1024, "50%", 128, "50%")
        for d in dbs
    )


def test_duplicate_database_is_refused():
    with pytest.raises(hp.HpcPlanError, match=r"(?i)hpcmanagement is listed twice"):
        hp_sql.normalise_databases([{"name": "HPCManagement"}, {"name": "hpcmanagement"}])


@pytest.mark.parametrize(
    ("volume", "disks", "expected"),
    [
        ({"drive_letter": "D", "disk_number": 2}, [BOOT, disk(1), disk(2)], 2),
        ({"drive_letter": "D", "ebs_volume_id": "vol-0abc1"}, [BOOT, disk(1), disk(2)], 1),
        # Windows Server 2016: the volume id in AdapterSerialNumber, SerialNumber another value
        (
            {"drive_letter": "D", "ebs_volume_id": "vol-0abc2"},
            [BOOT, disk(1), disk(2, SerialNumber="AWS1234", AdapterSerialNumber="vol0abc2")],
            2,
        ),
        ({"drive_letter": "D"}, [BOOT, disk(3)], 3),
        ({"drive_letter": "D"}, [BOOT, disk(1), disk(2, DriveLetters=["D"])], 2),
    ],
)
def test_pick_data_disk(volume, disks, expected):
    assert hp_disk.pick_data_disk(volume, disks)["Number"] == expected


def test_pick_data_disk_ambiguous_names_the_disks():
    with pytest.raises(hp.HpcPlanError, match=r"2 data disks are attached \(1, 2\)"):
        hp_disk.pick_data_disk({"drive_letter": "D"}, [BOOT, disk(1), disk(2)])


@pytest.mark.parametrize(
    ("style", "mounted", "actions"),
    [
        ("RAW", False, ["online", "initialize_and_format"]),
        ("GPT", False, ["online", "assign_letter"]),
    ],
)
def test_plan_volume_formats_only_raw_disks(style, mounted, actions):
    plan = hp.Plan()
    hp_disk.plan_volume(
        plan,
        {"drive_letter": "D"},
        {
            "disks": [BOOT, disk(1, PartitionStyle=style, IsOffline=True)],
            "volumes": [{"DriveLetter": "C", "FileSystem": "NTFS"}],
        },
    )
    assert [c["action"] for c in plan.changes] == actions


def test_plan_volume_refuses_to_reformat_a_foreign_file_system():
    plan = hp.Plan()
    with pytest.raises(hp.HpcPlanError, match="refusing to reformat"):
        hp_disk.plan_volume(
            plan,
            {"drive_letter": "D"},
            {"disks": [BOOT, disk(1, DriveLetters=["D"])], "volumes": [{"DriveLetter": "D", "FileSystem": "FAT32"}]},
        )


@pytest.mark.parametrize(
    ("rules", "granted"),
    [
        (
            [
                {
                    "IdentityReference": "NT SERVICE\\MSSQLSERVER",
                    "FileSystemRights": "FullControl",
                    "InheritanceFlags": "ContainerInherit, ObjectInherit",
                    "AccessControlType": "Allow",
                }
            ],
            True,
        ),
        (
            [
                {
                    "IdentityReference": "NT SERVICE\\MSSQLSERVER",
                    "FileSystemRights": "FullControl",
                    "InheritanceFlags": "None",
                    "AccessControlType": "Allow",
                }
            ],
            False,
        ),
        (
            [
                {
                    "IdentityReference": "NT SERVICE\\MSSQLSERVER",
                    "FileSystemRights": "Modify, Synchronize",
                    "InheritanceFlags": "ContainerInherit, ObjectInherit",
                    "AccessControlType": "Allow",
                }
            ],
            False,
        ),
        (
            [
                {
                    "IdentityReference": "NT SERVICE\\MSSQLSERVER",
                    "FileSystemRights": {"String": "FullControl", "Value": 2032127},
                    "InheritanceFlags": ["ContainerInherit", "ObjectInherit"],
                    "AccessControlType": "Allow",
                }
            ],
            True,
        ),
        (None, False),
    ],
)
def test_acl_grants_full_control(rules, granted):
    assert hp_disk.acl_grants_full_control(rules, "nt service\\mssqlserver") is granted


@pytest.mark.parametrize(
    ("mdf", "ldf", "action"), [(True, True, "attach"), (True, False, "attach_rebuild_log"), (False, False, "create")]
)
def test_plan_databases_attach_when_files_exist(mdf, ldf, action):
    plan = hp.Plan()
    files = {"D:\\SQL\\HPCManagement.mdf": mdf, "D:\\SQL\\HPCManagement.ldf": ldf}
    hp_sql.plan_databases(plan, [{"name": "HPCManagement"}], "D:\\SQL", {"databases": [], "files": files}, True)
    assert plan.changes[0]["action"] == action


def test_plan_databases_existing_database_is_left_alone():
    plan = hp.Plan()
    hp_sql.plan_databases(
        plan,
        [{"name": "HPCManagement"}],
        "D:\\SQL",
        {"databases": {"name": "hpcmanagement", "state_desc": "ONLINE"}, "files": {}},
        True,
    )
    assert plan.changes == []


def test_plan_databases_log_without_data_is_refused():
    plan = hp.Plan()
    with pytest.raises(
        hp.HpcPlanError, match=r"Failed to create database HPCScheduler: its log file D:\\SQL\\HPCScheduler.ldf"
    ):
        hp_sql.plan_databases(
            plan,
            [{"name": "HPCScheduler"}],
            "D:\\SQL",
            {"databases": [], "files": {"D:\\SQL\\HPCScheduler.ldf": True}},
            True,
        )


@pytest.mark.parametrize(
    ("configured", "integrated", "steps"),
    [
        (1, 1, ["login_mode", "service_restart"]),
        (2, 1, ["service_restart"]),
        (2, 0, []),
    ],
)
def test_plan_login_mode(configured, integrated, steps):
    plan = hp.Plan()
    hp_sql.plan_login_mode(plan, "mixed", {"login_mode_configured": configured, "integrated_only": integrated}, True)
    assert [c["step"] for c in plan.changes] == steps


@pytest.mark.parametrize(("code", "reboot"), [(0, False), (3010, True)])
def test_setup_result_success(code, reboot):
    assert hp.setup_result(code, "C:\\x.log", "head node") == {"reboot_required": reboot}


@pytest.mark.parametrize("code", [1, 1603, -1])
def test_setup_result_failure_names_the_log(code):
    with pytest.raises(hp.HpcPlanError, match=rf"exit code {code}; see the setup log C:\\x.log"):
        hp.setup_result(code, "C:\\x.log", "head node")


def test_computer_account():
    assert hp_domain.computer_account("AWSAD", "EC2AMAZ-1") == "AWSAD\\EC2AMAZ-1$"


def test_as_list_handles_convertto_json_shapes():
    assert hp.as_list(None) == [] and hp.as_list({"a": 1}) == [{"a": 1}] and hp.as_list([1]) == [1]


# ------------------------------------------------------------------ head node roles (Set-HpcNode -Role)


def head_probe(roles, state):
    return {"computer_name": "HN01", "node": {"NetBiosName": "HN01", "NodeRole": roles, "NodeState": state}}


def steps_of(plan):
    return [(c["step"], c["action"]) for c in plan.changes]


def test_role_change_on_an_online_head_node_goes_offline_and_back():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(
        plan, {"roles": ["BrokerNode"], "state": "online"}, head_probe(["HeadNode", "ComputeNode"], "Online")
    )
    assert steps_of(plan) == [("node_state", "offline"), ("node_role", "set"), ("node_state", "online")]
    role = plan.steps("node_role")[0]
    # Only values Set-HpcNode -Role documents: HeadNode is reported but never sent back.
    assert role["roles"] == ["ComputeNode", "BrokerNode"]
    assert plan.changes[0]["reason"] == "Set-HpcNode -Role needs the node offline"
    assert plan.after["node"]["offline_for_role_change"] is True
    assert any("goes offline" in w and "HN01" in w for w in plan.warnings)


def test_role_change_on_an_offline_head_node_needs_no_extra_offline_step():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(
        plan, {"roles": ["BrokerNode"], "state": "online"}, head_probe(["HeadNode", "ComputeNode"], "Offline")
    )
    assert steps_of(plan) == [("node_role", "set"), ("node_state", "online")]
    assert plan.after["node"]["offline_for_role_change"] is False
    assert plan.warnings == []


def test_role_change_that_should_end_offline_is_not_brought_online():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(plan, {"roles": ["BrokerNode"], "state": "offline"}, head_probe(["HeadNode"], "Online"))
    assert steps_of(plan) == [("node_state", "offline"), ("node_role", "set")]
    assert plan.steps("node_role")[0]["roles"] == ["BrokerNode"]


def test_role_change_without_a_wanted_state_restores_the_state_it_found():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(plan, {"roles": ["BrokerNode"]}, head_probe("HeadNode, ComputeNode", "Online"))
    assert steps_of(plan) == [("node_state", "offline"), ("node_role", "set"), ("node_state", "online")]
    assert plan.steps("node_role")[0]["roles"] == ["ComputeNode", "BrokerNode"]


def test_present_roles_never_take_the_node_offline():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(
        plan, {"roles": ["brokernode"], "state": "online"}, head_probe(["HeadNode", "BrokerNode"], "Offline")
    )
    assert steps_of(plan) == [("node_state", "online")]
    plan = hp.Plan()
    hp_cluster.plan_node_roles(
        plan, {"roles": ["BrokerNode"], "state": "online"}, head_probe(["HeadNode", "BrokerNode"], "Online")
    )
    assert plan.changes == []


@pytest.mark.parametrize("role", ["HeadNode", "None", "StorageNode"])
def test_roles_set_hpcnode_does_not_accept_are_refused(role):
    with pytest.raises(hp.HpcPlanError, match=rf"node.roles: {role} is not a role Set-HpcNode -Role accepts"):
        hp_cluster.plan_node_roles(hp.Plan(), {"roles": [role]}, head_probe(["HeadNode"], "Online"))


def test_undocumented_reported_roles_are_dropped_from_what_is_sent():
    plan = hp.Plan()
    hp_cluster.plan_node_roles(
        plan, {"roles": ["WorkstationNode"]}, head_probe(["HeadNode", "SomethingNew", "ComputeNode"], "Offline")
    )
    assert plan.steps("node_role")[0]["roles"] == ["ComputeNode", "WorkstationNode"]


# ------------------------------------------------------- setup flags and retries from Microsoft's scripts


@pytest.mark.parametrize(
    ("components", "flag"),
    [
        (["rras", "dhcp", "wds"], "rras,dhcp,wds"),
        (["wds", "RRAS"], "rras,wds"),
        (["dhcp", "dhcp"], "dhcp"),
        ([], None),
        (None, None),
    ],
)
def test_setup_skip_component_in_setups_own_spelling(components, flag):
    assert hp_head.setup_skip_component(components) == flag


def test_setup_skip_component_refuses_unknown_components():
    with pytest.raises(hp.HpcPlanError, match=r"install.skip_components: iis is not a component"):
        hp_head.setup_skip_component(["rras", "iis"])


def test_retry_defaults_are_microsofts():
    settings = hp_cluster.retry_settings()
    # MSFT_xHpcWaitForCluster: RetryCount 30, RetryIntervalSec 20.
    assert settings["cluster_ready"] == {"retries": 30, "delay_seconds": 20, "increase_every": 0}
    # MSFT_xHpcClusterInit: Set-HpcNetwork 20 and Set-HpcClusterProperty 30 retries, Ceiling(retry/10) * 10 s.
    assert settings["network"] == {"retries": 20, "delay_seconds": 10, "increase_every": 10}
    assert settings["cluster_property"] == {"retries": 30, "delay_seconds": 10, "increase_every": 10}
    settings["network"]["retries"] = 0
    assert hp_cluster.RETRY_DEFAULTS["network"]["retries"] == 20, "the defaults are copied, never changed"


def test_retry_settings_override_every_call():
    settings = hp_cluster.retry_settings({"count": 2, "delay_seconds": 1})
    assert {v["retries"] for v in settings.values()} == {2}
    assert {(v["delay_seconds"], v["increase_every"]) for v in settings.values()} == {(1, 0)}
    assert hp_cluster.retry_settings({"count": 0})["network"]["delay_seconds"] == 10


@pytest.mark.parametrize("retries", [{"count": -1}, {"delay_seconds": -5}])
def test_retry_settings_refuse_negative_values(retries):
    with pytest.raises(hp.HpcPlanError, match=r"retries\.\w+ must be 0 or more"):
        hp_cluster.retry_settings(retries)


# ----------------------------------------------------------------- compute node template (Get-HpcNode)

COMPUTE_OPTIONS = {
    "state": "present",
    "headnode": "hn",
    "share": "\\\\hn\\REMINST\\Certificates",
    "certificate_files": [],
    "public_certificate": "HpcHnPublicCert.cer",
    "setup_path": "C:\\setup.exe",
    "template": "Default ComputeNode Template",
    "online": True,
}


def compute_probe(**node):
    return {
        "computer_name": "CN07",
        "root": {"InRoot": True},
        "service": {"Name": "HpcNodeManager"},
        "node": dict({"NetBiosName": "CN07", "NodeState": "Offline", "NodeHealth": "OK"}, **node),
    }


@pytest.mark.parametrize(
    ("node", "steps"),
    [
        # Unapproved right after registration: assign, then bring online.
        ({"Unapproved": True, "Template": None}, ["node_template", "node_state"]),
        # In the wanted template (Get-HpcNode -TemplateName matched) and online: nothing to do, every run.
        ({"Template": "Default ComputeNode Template", "NodeState": "Online"}, []),
        ({"Template": "default computenode template", "NodeState": "Offline"}, ["node_state"]),
        # Offline and not in the template: Assign-HpcNodeTemplate accepts an offline node.
        ({"Template": None, "NodeState": "Offline"}, ["node_template", "node_state"]),
    ],
)
def test_computenode_template_step_reads_the_documented_filter(node, steps):
    plan = hp_node.plan_computenode(COMPUTE_OPTIONS, compute_probe(**node))
    assert [c["step"] for c in plan.changes] == steps


def test_computenode_online_in_another_template_is_never_reassigned():
    with pytest.raises(
        hp.HpcPlanError, match=r"Compute node CN07 is Online and not in node template 'Default ComputeNode Template'"
    ):
        hp_node.plan_computenode(COMPUTE_OPTIONS, compute_probe(Template=None, NodeState="Online"))


def test_computenode_scale_in_carries_the_running_tasks():
    probe = compute_probe(NodeState="Online")
    probe["running_tasks"] = 3
    plan = hp_node.plan_computenode(
        dict(COMPUTE_OPTIONS, state="absent", drain_timeout=60, force_after_timeout=False), probe
    )
    assert plan.changes[0]["running_tasks"] == 3 and plan.changes[0]["action"] == "drain_and_remove"


# ------------------------------------------------------------- HPC Pack 2016 and 2019 (setup file version 5 and 6)

SIGNATURES = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "cmdlets" / "signatures.json").read_text())[
    "setup_exe"
]


def test_the_versions_are_the_same_in_the_specs_and_the_planner():
    assert specs.HPCPACK_VERSIONS == hp.HPCPACK_VERSIONS
    assert specs.HEADNODE["argument_spec"]["hpcpack_version"]["choices"] == list(hp.HPCPACK_VERSIONS)
    assert sorted(hp.SETUP_MAJOR_VERSIONS.values()) == sorted(hp.HPCPACK_VERSIONS)


@pytest.mark.parametrize(("version", "extra"), [("2016", ()), ("2019", ("HPCHAStorage", "HPCHAWitness"))])
def test_hpc_databases_per_version(version, extra):
    assert hp.hpc_databases(version) == hp.HPC_DATABASES + extra
    assert [d["name"] for d in hp_sql.normalise_databases(None, version)] == list(hp.HPC_DATABASES + extra)


def test_unknown_version_is_refused_naming_the_supported_ones():
    with pytest.raises(hp.HpcPlanError, match=r"HPC Pack version 2012 is not supported \(2016, 2019\)"):
        hp.hpc_databases("2012")


@pytest.mark.parametrize(("version", "source"), [("2016", "hpcpack-template-2016"), ("2019", "cyclecloud-hpcpack")])
def test_connection_strings_are_the_ones_microsofts_scripts_pass(version, source):
    """2016: the five of Microsoft's 2016 template; 2019: the seven Microsoft's script passes for FileMajorPart 6."""
    flags = [switch.lower() for switch, _key in hp_head.connection_string_switches(version)]
    assert flags == [f.lower() for f in SIGNATURES["headnode_remote_database_flags"][source]]
    catalogs = [hp_head.DEFAULT_CATALOGS[key] for _switch, key in hp_head.connection_string_switches(version)]
    assert catalogs == list(hp.hpc_databases(version))


@pytest.mark.parametrize(
    ("version", "path"),
    [
        ("2016", "C:\\Program Files\\Microsoft HPC Pack 2016\\Data\\InstallShare\\Certificates"),
        ("2019", "C:\\Program Files\\Microsoft HPC Pack 2019\\Data\\InstallShare\\Certificates"),
    ],
)
def test_install_share_per_version(version, path):
    assert hp_head.install_share_certificates(version) == path


@pytest.mark.parametrize(
    ("version", "setup", "error"),
    [
        ("2016", {"FileMajorPart": 5, "FileVersion": "5.3.6435.0"}, None),
        ("2019", {"FileMajorPart": 6, "FileVersion": "6.0.7150.0"}, None),
        ("2016", None, None),
        (
            "2016",
            {"FileMajorPart": 6, "FileVersion": "6.0.7150.0"},
            r"is HPC Pack 2019 \(file version 6.0.7150.0\) "
            r"but hpcpack_version is 2016 \(the headnode role's headnode_hpcpack_version",
        ),
        ("2019", {"FileMajorPart": 5, "FileVersion": "5.3.6435.0"}, r"is HPC Pack 2016 .* set it to 2016"),
        (
            "2016",
            {"FileMajorPart": 4, "FileVersion": "4.5.5079.0"},
            r"file version 4.5.5079.0, which is not HPC Pack "
            r"2016 or 2019 \(file version 5.x or 6.x\)",
        ),
    ],
)
def test_check_setup_version(version, setup, error):
    if error is None:
        hp_head.check_setup_version("C:\\HPCPack\\Setup\\setup.exe", version, setup)
    else:
        with pytest.raises(hp.HpcPlanError, match=error):
            hp_head.check_setup_version("C:\\HPCPack\\Setup\\setup.exe", version, setup)


# ------------------------------------------------------ the account setup and Set-HpcJobCredential run as


def who(name, admin=True, system=False):
    return {"Name": name, "IsAdministrator": admin, "IsSystem": system, "ComputerName": "EC2AMAZ-HN01"}


@pytest.mark.parametrize(
    ("identity", "kind"),
    [
        (who("HPC\\hpcservice"), "domain"),
        (who("EC2AMAZ-HN01\\Administrator"), "local"),
        (who("ec2amaz-hn01\\Administrator"), "local"),
        (who("NT AUTHORITY\\SYSTEM", system=True), "system"),
        (who("NT AUTHORITY\\NETWORK SERVICE"), "local"),
        (who("BUILTIN\\Administrators"), "local"),
        (who("Administrator"), "local"),
        (None, None),
        ({}, None),
    ],
)
def test_account_kind(identity, kind):
    assert hp.account_kind(identity) == kind


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("HPC\\hpcservice", "hpc\\HPCSERVICE", True),
        ("HPC\\hpcservice", "hpcservice@hpc.example.com", True),
        ("HPC\\hpcservice", "CORP\\hpcservice", False),
        ("HPC\\hpcservice", "HPC\\other", False),
        (None, "HPC\\hpcservice", False),
    ],
)
def test_same_account(a, b, same):
    assert hp.same_account(a, b) is same


@pytest.mark.parametrize(
    ("identity", "why"),
    [
        (who("EC2AMAZ-HN01\\Administrator"), "a local account"),
        (who("NT AUTHORITY\\SYSTEM", system=True), "the local SYSTEM account"),
        (who("HPC\\hpcuser", admin=False), "a domain account without local administrator rights"),
    ],
)
def test_setup_refuses_anything_but_a_domain_admin_naming_the_role_variable(identity, why):
    probe = {"setup_exists": True, "service": None, "identity": identity}
    options = {"install": {"setup_path": "C:\\setup.exe", "cluster_name": "hn"}}
    with pytest.raises(hp.HpcPlanError) as caught:
        hp_head.plan_headnode(options, probe)
    message = str(caught.value)
    assert "HPC Pack head node setup must run as a domain account that is a local administrator" in message
    assert identity["Name"] in message and why in message
    assert "become_method: ansible.builtin.runas" in message and "headnode_service_account" in message


def test_setup_as_a_domain_admin_is_planned_with_the_version():
    probe = {"setup_exists": True, "service": None, "identity": who("HPC\\hpcservice")}
    options = {"hpcpack_version": "2019", "install": {"setup_path": "C:\\setup.exe", "cluster_name": "hn"}}
    plan = hp_head.plan_headnode(options, probe)
    assert plan.changes == [
        {
            "step": "install",
            "object": "hn",
            "action": "install_headnode",
            "setup_path": "C:\\setup.exe",
            "hpcpack_version": "2019",
            "ssl_thumbprint": None,
        }
    ]


# ------------------------------------ the certificate setup takes by thumbprint from Cert:\LocalMachine\My

PFX = {"Exists": True, "PasswordValid": True, "HasPrivateKey": True, "Subject": "CN=hn", "DaysLeft": 900}


@pytest.mark.parametrize(
    ("cert", "state", "steps", "thumbprint"),
    [
        # A new self-signed certificate is made in LocalMachine\My; setup gets the thumbprint the apply reads from it.
        ({"source": "self_signed", "common_name": "hn"}, {}, ["certificate", "install"], None),
        # The PFX made earlier, its certificate in the store: setup gets its thumbprint, nothing to import.
        (
            {"source": "self_signed", "common_name": "hn"},
            {"pfx": dict(PFX, Thumbprint="aa"), "in_my_store": {"Found": True, "HasPrivateKey": True}},
            ["install"],
            "AA",
        ),
        # The PFX is there but its certificate is not in the store (or has no key there): imported first.
        (
            {"source": "self_signed", "common_name": "hn"},
            {"pfx": dict(PFX, Thumbprint="AA"), "in_my_store": {"Found": True, "HasPrivateKey": False}},
            ["certificate_store", "install"],
            "AA",
        ),
        # A CA-issued PFX copied to pfx_path is imported, as InstallHPCHeadNode.ps1 imports its -PfxFilePath.
        (
            {"source": "pfx", "src": "C:\\ca.pfx"},
            {"pfx": {"Exists": False}, "source_pfx": dict(PFX, Thumbprint="BB")},
            ["certificate", "certificate_store", "install"],
            "BB",
        ),
        # A CA-issued certificate exported from the store is already there.
        (
            {"source": "thumbprint", "thumbprint": "cc dd"},
            {"pfx": {"Exists": False}, "store": {"Found": True, "HasPrivateKey": True, "Exportable": True}},
            ["certificate", "install"],
            "CCDD",
        ),
    ],
)
def test_setup_gets_the_thumbprint_of_a_certificate_in_the_machine_store(cert, state, steps, thumbprint):
    cert = dict({"pfx_path": "C:\\hn.pfx", "renew_days": 30}, **cert)
    probe = {"setup_exists": True, "service": None, "identity": who("HPC\\hpcservice"), "certificate": state}
    options = {"certificate": cert, "install": {"setup_path": "C:\\setup.exe", "cluster_name": "hn"}}
    plan = hp_head.plan_headnode(options, probe)
    assert [c["step"] for c in plan.changes] == steps
    assert plan.steps("install")[0]["ssl_thumbprint"] == thumbprint
    assert plan.after["certificate"]["in_my_store"] is True
    if "certificate_store" in steps:
        assert plan.steps("certificate_store")[0]["pfx_path"] == "C:\\hn.pfx"


def test_an_installed_head_node_needs_no_particular_account():
    probe = {"setup_exists": False, "service": {"Name": "HpcScheduler"}, "identity": who("EC2AMAZ-HN01\\Administrator")}
    plan = hp_head.plan_headnode({"install": {"setup_path": "C:\\setup.exe", "cluster_name": "hn"}}, probe)
    assert plan.changes == []


JOB = {"job_credential": {"username": "HPC\\hpcservice", "password": "x", "update_password": "on_create"}}


def cluster_probe(identity, **job):
    return {"installed": True, "identity": identity, "job_credential": job}


@pytest.mark.parametrize(
    ("job", "identity", "planned"),
    [
        # Set by the service account itself: nothing to do, whoever runs the task now.
        ({"UserName": "HPC\\hpcservice", "CachedBy": "HPC\\hpcservice"}, who("HPC\\hpcservice"), False),
        ({"UserName": "HPC\\hpcservice", "CachedBy": "HPC\\hpcservice"}, who("EC2AMAZ-HN01\\Administrator"), False),
        # Set before by another account (the connection user): its cache, not the service account's - set again.
        ({"UserName": "HPC\\hpcservice", "CachedBy": "EC2AMAZ-HN01\\Administrator"}, who("HPC\\hpcservice"), True),
        ({"UserName": "HPC\\hpcservice"}, who("HPC\\hpcservice"), True),
        ({"UserName": None}, who("HPC\\hpcservice"), True),
    ],
)
def test_job_credential_is_set_by_its_own_account(job, identity, planned):
    plan = hp_cluster.plan_cluster(JOB, cluster_probe(identity, **job))
    assert bool(plan.steps("job_credential")) is planned
    if planned:
        assert plan.after["job_credential_cached_by"] == "HPC\\hpcservice"


@pytest.mark.parametrize(
    "identity", [who("EC2AMAZ-HN01\\Administrator"), who("HPC\\joiner"), who("NT AUTHORITY\\SYSTEM", system=True)]
)
def test_job_credential_set_as_another_account_is_refused_naming_the_variable(identity):
    with pytest.raises(hp.HpcPlanError) as caught:
        hp_cluster.plan_cluster(JOB, cluster_probe(identity, UserName=None))
    message = str(caught.value)
    assert "stores the credential in the cache of the user who runs it" in message and identity["Name"] in message
    assert "become_user HPC\\hpcservice" in message and "headnode_service_account" in message
