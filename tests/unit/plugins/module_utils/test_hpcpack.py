"""Pure planning logic of the HPC Pack modules (plugins/module_utils/_hpcpack.py)."""

from __future__ import annotations

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack as hp

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
    dbs = hp.normalise_databases(None)
    assert [d["name"] for d in dbs] == list(hp.HPC_DATABASES)
    assert all(
        (d["data_size_mb"], d["data_growth"], d["log_size_mb"], d["log_growth"]) == (1024, "50%", 128, "50%")
        for d in dbs
    )


def test_duplicate_database_is_refused():
    with pytest.raises(hp.HpcPlanError, match=r"(?i)hpcmanagement is listed twice"):
        hp.normalise_databases([{"name": "HPCManagement"}, {"name": "hpcmanagement"}])


@pytest.mark.parametrize(
    ("volume", "disks", "expected"),
    [
        ({"drive_letter": "D", "disk_number": 2}, [BOOT, disk(1), disk(2)], 2),
        ({"drive_letter": "D", "ebs_volume_id": "vol-0abc1"}, [BOOT, disk(1), disk(2)], 1),
        ({"drive_letter": "D"}, [BOOT, disk(3)], 3),
        ({"drive_letter": "D"}, [BOOT, disk(1), disk(2, DriveLetters=["D"])], 2),
    ],
)
def test_pick_data_disk(volume, disks, expected):
    assert hp.pick_data_disk(volume, disks)["Number"] == expected


def test_pick_data_disk_ambiguous_names_the_disks():
    with pytest.raises(hp.HpcPlanError, match=r"2 data disks are attached \(1, 2\)"):
        hp.pick_data_disk({"drive_letter": "D"}, [BOOT, disk(1), disk(2)])


@pytest.mark.parametrize(
    ("style", "mounted", "actions"),
    [
        ("RAW", False, ["online", "initialize_and_format"]),
        ("GPT", False, ["online", "assign_letter"]),
    ],
)
def test_plan_volume_formats_only_raw_disks(style, mounted, actions):
    plan = hp.Plan()
    hp.plan_volume(
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
        hp.plan_volume(
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
    assert hp.acl_grants_full_control(rules, "nt service\\mssqlserver") is granted


@pytest.mark.parametrize(
    ("mdf", "ldf", "action"), [(True, True, "attach"), (True, False, "attach_rebuild_log"), (False, False, "create")]
)
def test_plan_databases_attach_when_files_exist(mdf, ldf, action):
    plan = hp.Plan()
    files = {"D:\\SQL\\HPCManagement.mdf": mdf, "D:\\SQL\\HPCManagement.ldf": ldf}
    hp.plan_databases(plan, [{"name": "HPCManagement"}], "D:\\SQL", {"databases": [], "files": files}, True)
    assert plan.changes[0]["action"] == action


def test_plan_databases_existing_database_is_left_alone():
    plan = hp.Plan()
    hp.plan_databases(
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
        hp.plan_databases(
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
    hp.plan_login_mode(plan, "mixed", {"login_mode_configured": configured, "integrated_only": integrated}, True)
    assert [c["step"] for c in plan.changes] == steps


@pytest.mark.parametrize(("code", "reboot"), [(0, False), (3010, True)])
def test_setup_result_success(code, reboot):
    assert hp.setup_result(code, "C:\\x.log", "head node") == {"reboot_required": reboot}


@pytest.mark.parametrize("code", [1, 1603, -1])
def test_setup_result_failure_names_the_log(code):
    with pytest.raises(hp.HpcPlanError, match=rf"exit code {code}; see the setup log C:\\x.log"):
        hp.setup_result(code, "C:\\x.log", "head node")


def test_computer_account():
    assert hp.computer_account("AWSAD", "EC2AMAZ-1") == "AWSAD\\EC2AMAZ-1$"


def test_as_list_handles_convertto_json_shapes():
    assert hp.as_list(None) == [] and hp.as_list({"a": 1}) == [{"a": 1}] and hp.as_list([1]) == [1]
