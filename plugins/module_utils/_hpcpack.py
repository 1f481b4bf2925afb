# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure planning logic of the HPC Pack Windows modules (private: no compatibility promise).

Every Windows-facing module of the collection works in three steps:

1. one read-only PowerShell script (the probe) reports the host's state, with the property names of
   the cmdlets it read (``Get-Disk``, ``Get-Acl``, ``sys.databases``, ``Get-HpcNode``, ...);
2. the functions here turn that state and the module options into a plan: the list of changes,
   each naming its step and object, plus the ``before``/``after`` of diff mode;
3. one PowerShell script (the apply) performs exactly the planned changes; it is never sent in
   check mode, and never sent at all when the plan is empty.

No I/O here, so every decision is unit-tested directly (tests/unit/plugins/module_utils).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ntpath

HPC_DATABASES = ("HPCManagement", "HPCScheduler", "HPCReporting", "HPCDiagnostics", "HPCMonitoring")

# HPC Pack versions the collection installs, by the major part of setup.exe's file version - the way Microsoft's
# own head node script tells them apart (Azure/cyclecloud-hpcpack at f3e792ab906f4889d56bc6310925687f2ef0eca6,
# specs/default/chef/site-cookbooks/hpcpack/files/InstallHPCHeadNode.ps1: FileVersionInfo.GetVersionInfo(setup),
# "FileVersionRaw -lt '5.3'" is not supported, "FileMajorPart -eq 6" adds the HA databases). 5 is HPC Pack 2016
# (Update 3 is 5.3.6435, Azure/hpcpack CHANGELOG.md), 6 is HPC Pack 2019 (6.0.7150, Azure/hpcpack-template
# MSFT_xHpcHeadNodeInstall). The version is a variable, not only read from setup.exe: the SQL Server tier creates
# the databases on another host before the head node's setup.exe can be read; the head node probe cross-checks it.
HPCPACK_VERSIONS = ("2016", "2019")
SETUP_MAJOR_VERSIONS = {5: "2016", 6: "2019"}

# HPC Pack 2019 keeps two more databases: "if($hpcVersion.FileMajorPart -eq 6)" Microsoft's script adds
# -HAStorageDbConStr/-HAWitnessDbConStr (InstallHPCHeadNode.ps1 above; Azure/hpcpack-template at dea762e0,
# MSFT_xHpcHeadNodeInstall.psm1), and Microsoft's SQL Server configuration creates HPCHAStorage and HPCHAWitness
# next to the five (Azure/hpcpack-template, SharedResources/Src/ConfigSQLServer/ConfigSQLServer.ps1; the
# Databases default of ConfigDBPermissions.ps1 lists all seven).
HA_DATABASES = ("HPCHAStorage", "HPCHAWitness")

# Sizes and growth of seed 000's CreateHpcDatabase.sql, used for every HPC database.
DEFAULT_DATABASE_SIZES = {
    "data_size_mb": 1024,
    "data_growth": "50%",
    "log_size_mb": 128,
    "log_growth": "50%",
}

# Connection-string keys of HPC Pack setup, in the order of seed 000's command line.
CONNECTION_STRING_SWITCHES = (
    ("MGMTDBCONSTR", "management"),
    ("SCHDDBCONSTR", "scheduler"),
    ("RPTDBCONSTR", "reporting"),
    ("DIAGDBCONSTR", "diagnostics"),
    ("MONDBCONSTR", "monitoring"),
    # HPC Pack 2019 only (setup major version 6), spelled as Microsoft's scripts pass them (HA_DATABASES above).
    ("HAStorageDbConStr", "ha_storage"),
    ("HAWitnessDbConStr", "ha_witness"),
)
HA_CONNECTION_STRING_SWITCHES = ("HAStorageDbConStr", "HAWitnessDbConStr")
DEFAULT_CATALOGS = {
    "management": "HPCManagement",
    "scheduler": "HPCScheduler",
    "reporting": "HPCReporting",
    "diagnostics": "HPCDiagnostics",
    "monitoring": "HPCMonitoring",
    "ha_storage": "HPCHAStorage",
    "ha_witness": "HPCHAWitness",
}

# Where head node setup puts the install share (\\<headnode>\REMINST) that compute nodes read the certificates
# from: "C:\Program Files\Microsoft HPC Pack 2016\Data\InstallShare\Certificates\" (the reference deployment's
# write-up, arjanvanbekkum/HPC) and "C:\Program Files\Microsoft HPC Pack 2019\Data\InstallShare\Certificates"
# (Microsoft Tech Community, "The Complete Guide to Renewing an Expired Certificate in Microsoft HPC Pack 2019",
# step 4).
INSTALL_SHARE_CERTIFICATES = "C:\\Program Files\\Microsoft HPC Pack %s\\Data\\InstallShare\\Certificates"

SETUP_SUCCESS = 0
SETUP_REBOOT_REQUIRED = 3010

LOGIN_MODES = {"windows": 1, "mixed": 2}

# HPC Pack's own error messages, which its stored procedures raise and which only a sysadmin (or serveradmin) may
# add with sp_addmessage (learn.microsoft.com sql/relational-databases/system-stored-procedures/
# sp-addmessage-transact-sql): the (msgnum, severity, text) of DefineErrorMessages.sql as the reference deployment
# runs it in its SQL Server step (arjanvanbekkum/HPC at c5895f5d895683773d16a143eb996d5e9552efaa,
# DefineErrorMessages.sql, run by setuphpcdatabase.ps1), in us_english, numbers as written there (60001-60017,
# 600018, 600019, 60020, 600021-600023).
HPC_ERROR_MESSAGES = (
    (60001, 16, "Another change is in progress"),
    (60002, 16, "An instance in the change has been modified by another change."),
    (60003, 16, "Unsupported instance state transition"),
    (60004, 16, "Cannot change root status"),
    (60005, 16, "Cannot update instance value unless change is editable or discovering."),
    (60006, 16, "An instance member cannot be updated unless the change is editable or discovering."),
    (60007, 16, "The state of one or more instances in the change is not consistent with the state of the change."),
    (60008, 16, "Unsupported change state transition."),
    (60009, 16, "Null value passed to a parameter that cannot be null."),
    (60010, 16, "The change has been updated by another user."),
    (60011, 16, "Access to the change is denied"),
    (60012, 16, "You do not have permission to update setting values for the instance %s in the change."),
    (60013, 16, "Only an administrator or the owner can change the owner the instance %s."),
    (60014, 16, "Only an administrator can create a root instance"),
    (60015, 16, "You do not have permission to update reference members on an instance %s in the change."),
    (60016, 16, "You do not have permission to update the permissions for an instance %s in the change."),
    (60017, 16, "The specified user is not registered with the store."),
    (600018, 16, "Instance permissions cannot be updated unless the change is editable or discovering."),
    (600019, 16, "The specified user does not exist in the store."),
    (
        60020,
        16,
        "Another change has locked the instances this change is trying to update. Wait "
        "until the existing change has completed or been cancelled before retrying the action.",
    ),
    (600021, 16, "The change cannot be reverted because the previous instance state has been archived."),
    (600022, 16, "The change updates instances that are not in the list of instances referenced by the change."),
    (600023, 16, "The change cannot be committed unless all actions have been committed."),
)

# Values Set-HpcNode -Role accepts: "None, ComputeNode, BrokerNode, WorkstationNode" (MicrosoftDocs/
# windows-powershell-docs, docset/winserver2012r2-ps/hpc/Set-HpcNode.md). None means no role at all, so a
# role set is made of the other three; HeadNode, which Get-HpcNode reports on the head node, is not one of
# them and is never sent back.
SETTABLE_NODE_ROLES = ("ComputeNode", "BrokerNode", "WorkstationNode")

# Components head node setup can leave out: "-SkipComponent:rras,dhcp,wds", introduced by HPC Pack 2016
# Update 3 (Azure/hpcpack CHANGELOG.md, "HPC Pack 2016 Update 3 (5.3.6435)": "Support not to install
# rras/dhcp/wds components on head node slipstream installation"); the reference deployment
# (arjanvanbekkum/HPC install_hpc_headnode.ps1) passes all three, in this order.
SKIPPABLE_COMPONENTS = ("rras", "dhcp", "wds")

# How long the cluster may take to answer right after setup. Microsoft's own DSC resources
# (Azure/hpcpack-template, SharedResources/Src/InstallPrimaryHeadNode/xHpcPack/DSCResources):
# - MSFT_xHpcWaitForCluster: Get-HpcClusterRegistry, RetryCount 30, RetryIntervalSec 20;
# - MSFT_xHpcClusterInit: Set-HpcNetwork "if($retry++ -ge 20)", Set-HpcClusterProperty "if($retry++ -ge 30)",
#   each waiting [Math]::Ceiling($retry/10) * 10 seconds (10 s, then 20 s after ten retries, then 30 s).
# ``retries`` counts the attempts after the first; Invoke-HpcRetry (_common.ps1) applies these as data.
RETRY_DEFAULTS = {
    "cluster_ready": {"retries": 30, "delay_seconds": 20, "increase_every": 0},
    "network": {"retries": 20, "delay_seconds": 10, "increase_every": 10},
    "cluster_property": {"retries": 30, "delay_seconds": 10, "increase_every": 10},
}

FULL_CONTROL_RIGHTS = ("FullControl",)
CONTAINER_OBJECT_INHERIT = "ContainerInherit, ObjectInherit"


class HpcPlanError(Exception):
    """A desired state that cannot be reached; the message names the object and the cause."""


def as_list(value):
    """ConvertTo-Json turns a one-element array into a scalar and an empty one into null."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _flags(value):
    """Normalise an enum flags value as ConvertTo-Json writes it ("A, B", a list, or an int)."""
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    parts = value if isinstance(value, (list, tuple)) else str(value if value is not None else "").split(",")
    return frozenset(p.strip().lower() for p in parts if str(p).strip())


def _enum(value):
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    return str(value if value is not None else "")


class Plan:
    """Changes of one module run, in order, with the before/after of diff mode."""

    def __init__(self):
        self.changes = []
        self.before = {}
        self.after = {}
        self.warnings = []

    def add(self, step, obj, action, **detail):
        change = {"step": step, "object": obj, "action": action}
        change.update(detail)
        self.changes.append(change)
        return change

    def steps(self, step):
        return [c for c in self.changes if c["step"] == step]

    @property
    def changed(self):
        return bool(self.changes)

    def summary(self):
        """Changes without any value that could be secret (only step, object, action and plain details)."""
        return [dict(c) for c in self.changes]


# --------------------------------------------------------------------------------------- sqlserver


def database_files(data_path, name):
    return ntpath.join(data_path, name + ".mdf"), ntpath.join(data_path, name + ".ldf")


def hpc_databases(version="2016"):
    """The databases HPC Pack ``version`` connects to: the five, plus HPCHAStorage and HPCHAWitness for 2019."""
    if str(version) not in HPCPACK_VERSIONS:
        raise HpcPlanError("HPC Pack version %s is not supported (%s)" % (version, ", ".join(HPCPACK_VERSIONS)))
    return HPC_DATABASES + (HA_DATABASES if str(version) == "2019" else ())


def normalise_databases(databases, version="2016"):
    """Options -> list of database specs with the seed's sizes filled in (empty: the version's HPC databases)."""
    if not databases:
        databases = [{"name": n} for n in hpc_databases(version)]
    result = []
    seen = set()
    for db in databases:
        spec = dict(DEFAULT_DATABASE_SIZES)
        spec.update({k: v for k, v in db.items() if v is not None})
        key = spec["name"].lower()
        if key in seen:
            raise HpcPlanError("Database %s is listed twice in databases" % spec["name"])
        seen.add(key)
        result.append(spec)
    return result


def pick_data_disk(volume, disks):
    """The disk that holds (or will hold) the SQL data volume, or None when its letter is already mounted.

    Selection: O(volume.disk_number), else the EBS volume id (the NVMe serial number of an EBS volume is
    its id without the dash), else the single disk that is neither the boot nor the system disk.
    """
    letter = volume["drive_letter"].upper()
    if volume.get("disk_number") is not None:
        for disk in disks:
            if int(disk.get("Number", -1)) == int(volume["disk_number"]):
                return disk
        raise HpcPlanError("Data volume %s: disk %s not found" % (letter, volume["disk_number"]))
    if volume.get("ebs_volume_id"):
        serial = volume["ebs_volume_id"].replace("-", "").lower()
        for disk in disks:
            # SerialNumber on current Windows; AdapterSerialNumber on Windows Server 2016 (AWS's NVMe docs)
            for key in ("SerialNumber", "AdapterSerialNumber"):
                if str(disk.get(key) or "").replace("-", "").strip().lower().startswith(serial):
                    return disk
        raise HpcPlanError(
            "Data volume %s: no disk with the serial number of EBS volume %s (is it attached?)"
            % (letter, volume["ebs_volume_id"])
        )
    for disk in disks:
        if letter in [str(x).upper() for x in as_list(disk.get("DriveLetters"))]:
            return disk
    candidates = [d for d in disks if not d.get("IsBoot") and not d.get("IsSystem")]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise HpcPlanError("Data volume %s: no disk other than the system disk is attached" % letter)
    raise HpcPlanError(
        "Data volume %s: %d data disks are attached (%s); set volume.disk_number or volume.ebs_volume_id"
        % (letter, len(candidates), ", ".join(str(d.get("Number")) for d in candidates))
    )


def plan_volume(plan, volume, state):
    """Online, writable, formatted only when RAW (a reattached EBS volume keeps its data)."""
    if not volume:
        return
    letter = volume["drive_letter"].upper()
    disks = as_list(state.get("disks"))
    volumes = {str(v.get("DriveLetter") or "").upper(): v for v in as_list(state.get("volumes"))}
    mounted = volumes.get(letter)
    disk = pick_data_disk(volume, disks)
    before = {
        "disk": disk.get("Number"),
        "online": not disk.get("IsOffline"),
        "read_only": bool(disk.get("IsReadOnly")),
        "partition_style": _enum(disk.get("PartitionStyle")),
        "drive_letter": letter if mounted else None,
        "file_system": _enum(mounted.get("FileSystem")) if mounted else None,
    }
    plan.before["volume"] = before
    after = dict(before)
    obj = "%s: (disk %s)" % (letter, disk.get("Number"))
    if disk.get("IsBoot") or disk.get("IsSystem"):
        raise HpcPlanError(
            "Data volume %s is on the boot/system disk %s; attach a data disk" % (letter, disk.get("Number"))
        )
    if disk.get("IsOffline"):
        plan.add("volume", obj, "online", disk_number=disk.get("Number"))
        after["online"] = True
    if disk.get("IsReadOnly"):
        plan.add("volume", obj, "clear_read_only", disk_number=disk.get("Number"))
        after["read_only"] = False
    style = _enum(disk.get("PartitionStyle")).upper()
    if style == "RAW":
        # A brand-new EBS volume: the only case where anything is formatted.
        plan.add(
            "volume",
            obj,
            "initialize_and_format",
            disk_number=disk.get("Number"),
            drive_letter=letter,
            file_system=volume.get("file_system", "NTFS"),
            label=volume.get("label", "SQLData"),
        )
        after.update(partition_style="GPT", drive_letter=letter, file_system=volume.get("file_system", "NTFS"))
    elif not mounted:
        disk_letters = [str(x).upper() for x in as_list(disk.get("DriveLetters")) if x]
        if disk_letters:
            raise HpcPlanError(
                "Data volume %s: disk %s is mounted as %s:, not %s:; change volume.drive_letter or the disk"
                % (letter, disk.get("Number"), disk_letters[0], letter)
            )
        # Partitioned (a reattached volume, or one that came back offline): keep the data, mount it.
        plan.add("volume", obj, "assign_letter", disk_number=disk.get("Number"), drive_letter=letter)
        after["drive_letter"] = letter
    elif _enum(mounted.get("FileSystem")).upper() not in ("NTFS", "REFS"):
        raise HpcPlanError(
            "Data volume %s: file system is '%s', expected NTFS or ReFS; "
            "refusing to reformat a volume that may hold data" % (letter, _enum(mounted.get("FileSystem")) or "unknown")
        )
    plan.after["volume"] = after


def acl_grants_full_control(rules, identity):
    wanted = identity.lower()
    for rule in as_list(rules):
        if str(rule.get("IdentityReference", "")).lower() != wanted:
            continue
        if _enum(rule.get("AccessControlType")).lower() != "allow":
            continue
        if "fullcontrol" not in _flags(rule.get("FileSystemRights")):
            continue
        inherit = _flags(rule.get("InheritanceFlags"))
        if {"containerinherit", "objectinherit"} <= inherit:
            return True
    return False


def plan_folder(plan, path, identity, state):
    exists = bool(state.get("exists"))
    granted = exists and acl_grants_full_control(state.get("rules"), identity)
    plan.before["data_path"] = {"path": path, "exists": exists, "full_control": [identity] if granted else []}
    plan.after["data_path"] = {"path": path, "exists": True, "full_control": [identity]}
    if not exists:
        plan.add("folder", path, "create")
    if not granted:
        plan.add("folder_acl", path, "grant_full_control", identity=identity)


def plan_databases(plan, databases, data_path, state, data_path_ready):
    """Create, or ATTACH when the files exist: a database whose files exist is never created anew.

    ``data_path_ready`` is false when the data volume or folder is only made ready by this run's apply
    (for example a reattached EBS volume still offline); the file check then happens on the host right
    before the statement (``decide: host``), with the same rule.
    """
    present = {}
    for row in as_list(state.get("databases")):
        present[str(row.get("name", "")).lower()] = _enum(row.get("state_desc"))
    files = {str(k).lower(): bool(v) for k, v in (state.get("files") or {}).items()}
    before = {}
    after = {}
    for db in databases:
        name = db["name"]
        data_file, log_file = database_files(data_path, name)
        before[name] = present.get(name.lower(), "absent")
        if name.lower() in present:
            after[name] = present[name.lower()]
            continue
        entry = dict(db, data_file=data_file, log_file=log_file)
        if not data_path_ready:
            plan.add("database", name, "create_or_attach", decide="host", **entry)
            after[name] = "ONLINE"
            continue
        mdf = files.get(data_file.lower(), False)
        ldf = files.get(log_file.lower(), False)
        if mdf:
            action = "attach" if ldf else "attach_rebuild_log"
            plan.add("database", name, action, decide="controller", **entry)
        elif ldf:
            raise HpcPlanError(
                "Failed to create database %s: its log file %s exists without the data file %s; "
                "refusing to create the database anew over existing files (restore %s or remove the stale log)"
                % (name, log_file, data_file, data_file)
            )
        else:
            plan.add("database", name, "create", decide="controller", **entry)
        after[name] = "ONLINE"
    plan.before["databases"] = before
    plan.after["databases"] = after


def plan_login_mode(plan, login_mode, state, restart):
    """Registry LoginMode (configured) vs SERVERPROPERTY (effective): restart only on a change."""
    if not login_mode:
        return
    wanted = LOGIN_MODES[login_mode]
    configured = state.get("login_mode_configured")
    integrated_only = state.get("integrated_only")
    effective = None if integrated_only is None else (1 if int(integrated_only) == 1 else 2)
    names = {1: "windows", 2: "mixed", None: "unknown"}
    plan.before["login_mode"] = {
        "configured": names.get(configured, str(configured)),
        "effective": names.get(effective),
    }
    plan.after["login_mode"] = {"configured": login_mode, "effective": login_mode if restart else names.get(effective)}
    if configured != wanted:
        plan.add("login_mode", "SQL Server %s" % state.get("instance", ""), "set", login_mode=wanted)
    if restart and (configured != wanted or effective != wanted):
        plan.add(
            "service_restart",
            state.get("service_name") or "MSSQLSERVER",
            "restart",
            agent=state.get("agent_name") or "SQLSERVERAGENT",
        )


def plan_hpc_login(plan, hpc_login, state):
    """The SQL login HPC Pack connects with ("Integrated Security=False;User ID=...;Password=...").

    What the reference deployment's AddDbUserForHpc*.sql do at server level - CREATE LOGIN ... WITH PASSWORD,
    CHECK_EXPIRATION = OFF when it does not exist - plus, on later runs, the password of O(hpc_login.password)
    (with update_password=always, compared with PWDCOMPARE on the host) and an enabled login. A Windows login of
    that name cannot be used: the head node connects with a user name and password.
    """
    if not hpc_login:
        return
    name = hpc_login["username"]
    login = state.get("hpc_login") or None
    if isinstance(login, list):
        login = login[0] if login else None
    exists = bool(login)
    password_current = None if not exists else bool(login.get("password_matches"))
    enabled = None if not exists else not bool(login.get("is_disabled"))
    plan.before["hpc_login"] = {
        "name": name,
        "exists": exists,
        "password_current": password_current,
        "enabled": enabled,
    }
    plan.after["hpc_login"] = {"name": name, "exists": True, "password_current": True, "enabled": True}
    if not exists:
        plan.add("hpc_login", name, "create")
        return
    kind = _enum(login.get("type_desc"))
    if kind.upper() != "SQL_LOGIN":
        raise HpcPlanError(
            "hpc_login.username %s is a %s on the SQL Server, not a SQL login: HPC Pack's connection strings log in "
            "with a user name and password (Integrated Security=False), so choose a name that is free or a SQL "
            "login" % (name, kind or "login of another type")
        )
    fixes = []
    if not password_current:
        if hpc_login.get("update_password", "always") == "always":
            fixes.append("password")
        else:
            plan.after["hpc_login"]["password_current"] = False
            plan.warnings.append(
                "The SQL login %s has another password than hpc_login.password; it is left as it is "
                "(update_password=on_create), and the head node's connection strings fail until they agree" % name
            )
    if not enabled:
        fixes.append("enable")
    if fixes:
        plan.add("hpc_login", name, "update", fixes=fixes)


def _user_state(rows):
    """absent | orphaned (named like the login, another sid) | user (mapped, not db_owner) | db_owner."""
    rows = as_list(rows)
    mapped = [r for r in rows if int(r.get("mapped") or 0) == 1]
    if mapped:
        return "db_owner" if any(int(r.get("db_owner") or 0) == 1 for r in mapped) else "user"
    return "orphaned" if rows else "absent"


USER_ACTIONS = {"absent": "create_user", "orphaned": "map_orphaned_user", "user": "grant_db_owner"}


def plan_hpc_users(plan, hpc_login, databases, state):
    """A db_owner user of the login in every HPC database, only where it is missing.

    The reference deployment runs AddDbUserForHpcSetupUser.sql and AddDbUserForHpcService.sql per database
    (create user, ALTER USER ... WITH LOGIN, the db_datareader/db_datawriter/db_ddladmin/db_owner roles and
    GRANT ALTER/EXECUTE/VIEW DEFINITION, all contained in db_owner); the collection's hpc_database_user.sql does
    the same idempotently. A database that is not online yet (created or attached by this run) is decided on
    the host, by the same script: an attached database may bring an orphaned user, which is mapped, not created.
    """
    if not hpc_login:
        return
    name = hpc_login["username"]
    users = {str(k).lower(): v for k, v in (state.get("users") or {}).items()}
    online = {
        str(r.get("name", "")).lower()
        for r in as_list(state.get("databases"))
        if _enum(r.get("state_desc")) == "ONLINE"
    }
    before = {}
    for db in databases:
        key = db["name"].lower()
        if key not in online:
            before[db["name"]] = "absent"
            plan.add("hpc_user", db["name"], "create_or_map", user=name, decide="host")
            continue
        current = _user_state(users.get(key))
        before[db["name"]] = current
        if current != "db_owner":
            plan.add("hpc_user", db["name"], USER_ACTIONS[current], user=name, decide="controller")
    plan.before["hpc_users"] = before
    plan.after["hpc_users"] = {db["name"]: "db_owner" for db in databases}


def plan_error_messages(plan, wanted, state):
    """HPC Pack's DefineErrorMessages.sql, in the SQL Server step where the module runs as sysadmin.

    sp_addmessage needs sysadmin or serveradmin; the login HPC Pack setup connects with is db_owner only. Only
    messages that are missing or differ (severity or text) are sent; the reference script drops and adds every
    message on every run.
    """
    if not wanted:
        return
    present = {}
    for row in as_list(state.get("error_messages")):
        present[int(row.get("message_id"))] = (int(row.get("severity") or 0), str(row.get("text") or ""))
    missing = [m for m in HPC_ERROR_MESSAGES if m[0] not in present]
    different = [m for m in HPC_ERROR_MESSAGES if m[0] in present and present[m[0]] != (m[1], m[2])]
    plan.before["error_messages"] = {
        "defined": len(HPC_ERROR_MESSAGES) - len(missing) - len(different),
        "missing": [m[0] for m in missing],
        "different": [m[0] for m in different],
    }
    plan.after["error_messages"] = {"defined": len(HPC_ERROR_MESSAGES), "missing": [], "different": []}
    todo = sorted(missing + different)
    if todo:
        plan.add(
            "error_messages",
            "HPC Pack error messages",
            "define",
            messages=[{"msgnum": n, "severity": s, "text": text} for n, s, text in todo],
        )


def plan_sa(plan, sa_disabled, state):
    if sa_disabled is None:
        return
    current = state.get("sa_disabled")
    plan.before["sa_disabled"] = bool(current)
    plan.after["sa_disabled"] = bool(sa_disabled)
    if bool(current) != bool(sa_disabled):
        plan.add("sa_login", "sa", "disable" if sa_disabled else "enable")


def plan_sqlserver(options, probe):
    """The whole win_hpc_sqlserver plan from its options and its probe's state."""
    plan = Plan()
    databases = normalise_databases(options.get("databases"))
    sql = probe.get("sql") or {}
    plan_volume(plan, options.get("volume"), probe.get("volume") or {})
    plan_folder(plan, options["data_path"], options["data_path_identity"], probe.get("folder") or {})
    if not sql.get("reachable"):
        raise HpcPlanError(
            "Failed to connect to SQL Server %s on the host: %s" % (options["server"], sql.get("error") or "no answer")
        )
    data_path_ready = not plan.steps("volume") and not plan.steps("folder")
    plan_login_mode(plan, options.get("login_mode"), sql, options.get("restart_service", True))
    plan_databases(plan, databases, options["data_path"], sql, data_path_ready)
    plan_hpc_login(plan, options.get("hpc_login"), sql)
    plan_hpc_users(plan, options.get("hpc_login"), databases, sql)
    plan_error_messages(plan, options.get("error_messages", True), sql)
    plan_sa(plan, options.get("sa_disabled"), sql)
    return plan


# ------------------------------------------------------------------------------- certificates


def plan_certificate(plan, cert, state):
    """The head node's communication certificate, exported to a PFX protected by the SSM password."""
    pfx = state.get("pfx") or {}
    source = cert["source"]
    before = {
        "pfx_path": cert["pfx_path"],
        "exists": bool(pfx.get("Exists")),
        "subject": pfx.get("Subject"),
        "thumbprint": pfx.get("Thumbprint"),
    }
    plan.before["certificate"] = before
    after = dict(before, exists=True)
    usable = bool(pfx.get("Exists")) and bool(pfx.get("PasswordValid")) and bool(pfx.get("HasPrivateKey"))
    expiring = int(pfx.get("DaysLeft") or 0) < int(cert.get("renew_days", 30))
    if source == "self_signed":
        wanted_subject = "CN=" + cert["common_name"]
        if not usable or expiring or str(pfx.get("Subject") or "") != wanted_subject:
            plan.add(
                "certificate",
                cert["pfx_path"],
                "create_self_signed",
                common_name=cert["common_name"],
                valid_years=cert.get("valid_years", 5),
            )
            after.update(subject=wanted_subject, thumbprint="(new)")
    elif source == "thumbprint":
        store = state.get("store") or {}
        wanted = cert["thumbprint"].replace(" ", "").upper()
        if not store.get("Found"):
            raise HpcPlanError("Certificate %s not found in Cert:\\LocalMachine\\My" % wanted)
        if not store.get("HasPrivateKey") or not store.get("Exportable"):
            raise HpcPlanError(
                "Certificate %s in Cert:\\LocalMachine\\My has no exportable private key; "
                "HPC Pack setup needs it as a PFX" % wanted
            )
        if not usable or str(pfx.get("Thumbprint") or "").upper() != wanted:
            plan.add("certificate", cert["pfx_path"], "export", thumbprint=wanted)
            after.update(thumbprint=wanted, subject=store.get("Subject"))
    elif source == "pfx":
        src = state.get("source_pfx") or {}
        if not src.get("Exists"):
            raise HpcPlanError("CA-issued certificate %s not found on the host" % cert["src"])
        if not src.get("PasswordValid") or not src.get("HasPrivateKey"):
            raise HpcPlanError(
                "CA-issued certificate %s: the password does not open it or it has no private key" % cert["src"]
            )
        if not usable or str(pfx.get("Thumbprint") or "").upper() != str(src.get("Thumbprint") or "").upper():
            plan.add("certificate", cert["pfx_path"], "copy", src=cert["src"])
            after.update(thumbprint=src.get("Thumbprint"), subject=src.get("Subject"))
    plan_certificate_store(plan, cert, state, before, after)
    plan.after["certificate"] = after


def plan_certificate_store(plan, cert, state, before, after):
    """The communication certificate in Cert:\\LocalMachine\\My with its private key, where HPC Pack setup takes it
    from by thumbprint (-SSLThumbprint), as Microsoft's install scripts do: Azure/cyclecloud-hpcpack
    specs/default/chef/site-cookbooks/hpcpack/files/InstallHPCHeadNode.ps1 @ 0d56be5b7cc1771931dfc108f7007f4ffa0b407d
    imports a PFX with Import-PfxCertificate -CertStoreLocation Cert:\\LocalMachine\\My -Exportable, and
    Azure/hpcpack-template MSFT_xHpcHeadNodeInstall.psm1 @ 0e5bb8dc5071011d2b1182cd52229b526bc2bb73 requires
    Cert:\\LocalMachine\\My\\<thumbprint> before it passes -SSLThumbprint:<thumbprint>.

    A self-signed certificate is made in that store and a CA-issued one (source thumbprint) is exported from it, so
    only a copied PFX, or a PFX whose certificate is not (or no longer) in the store, is imported."""
    stored = state.get("in_my_store") or {}
    planned = plan.steps("certificate")
    in_store = bool(stored.get("Found")) and bool(stored.get("HasPrivateKey"))
    before["in_my_store"] = in_store
    after["in_my_store"] = True
    if (planned[0]["action"] == "copy") if planned else not in_store:
        plan.add("certificate_store", "Cert:\\LocalMachine\\My", "import", pfx_path=cert["pfx_path"])


def setup_thumbprint(plan):
    """The thumbprint head node setup gets (-SSLThumbprint): the certificate's when the plan knows it; None when this
    run makes a new one, whose thumbprint the apply script reads from the certificate it makes or imports."""
    thumbprint = (plan.after.get("certificate") or {}).get("thumbprint")
    return None if not thumbprint or thumbprint == "(new)" else str(thumbprint).replace(" ", "").upper()


# ------------------------------------------------------------------------------------ install


def setup_result(exit_code, log_path, role):
    """Map HPC Pack setup's exit code: 0 done, 3010 done + reboot, anything else fails with the log path."""
    if exit_code == SETUP_SUCCESS:
        return {"reboot_required": False}
    if exit_code == SETUP_REBOOT_REQUIRED:
        return {"reboot_required": True}
    raise HpcPlanError(
        "HPC Pack %s setup failed with exit code %s; see the setup log %s on the host"
        % (role, exit_code, log_path or "(no log found under C:\\Windows\\Temp)")
    )


def setup_skip_component(components):
    """The value of head node setup's ``-SkipComponent:`` flag (``rras,dhcp,wds``), or None to leave it out."""
    wanted = {str(c).lower() for c in components or []}
    unknown = sorted(wanted - set(SKIPPABLE_COMPONENTS))
    if unknown:
        raise HpcPlanError(
            "install.skip_components: %s not a component HPC Pack setup can skip (%s)"
            % (", ".join(unknown) + (" is" if len(unknown) == 1 else " are"), ", ".join(SKIPPABLE_COMPONENTS))
        )
    ordered = [c for c in SKIPPABLE_COMPONENTS if c in wanted]
    return ",".join(ordered) or None


def retry_settings(retries=None):
    """Per-call retry settings for Invoke-HpcRetry: Microsoft's defaults, or O(retries) for every call."""
    settings = {name: dict(values) for name, values in RETRY_DEFAULTS.items()}
    retries = retries or {}
    for values in settings.values():
        if retries.get("count") is not None:
            if int(retries["count"]) < 0:
                raise HpcPlanError("retries.count must be 0 or more, not %s" % retries["count"])
            values["retries"] = int(retries["count"])
        if retries.get("delay_seconds") is not None:
            if int(retries["delay_seconds"]) < 0:
                raise HpcPlanError("retries.delay_seconds must be 0 or more, not %s" % retries["delay_seconds"])
            values["delay_seconds"] = int(retries["delay_seconds"])
            values["increase_every"] = 0
    return settings


def connection_string_switches(version="2016"):
    """(setup flag, catalog key) of every connection string head node setup of ``version`` is given."""
    hpc_databases(version)
    return [
        (switch, key)
        for switch, key in CONNECTION_STRING_SWITCHES
        if str(version) == "2019" or switch not in HA_CONNECTION_STRING_SWITCHES
    ]


def install_share_certificates(version="2016"):
    """The install share's Certificates folder on the head node of HPC Pack ``version``."""
    hpc_databases(version)
    return INSTALL_SHARE_CERTIFICATES % version


def check_setup_version(setup_path, version, setup_version):
    """Refuse a setup.exe of another HPC Pack version than ``version`` (FileMajorPart as the probe read it)."""
    if not setup_version or setup_version.get("FileMajorPart") is None:
        return
    major = int(setup_version["FileMajorPart"])
    found = SETUP_MAJOR_VERSIONS.get(major)
    file_version = setup_version.get("FileVersion") or major
    if found is None:
        raise HpcPlanError(
            "HPC Pack setup %s has file version %s, which is not HPC Pack %s (file version %s)"
            % (
                setup_path,
                file_version,
                " or ".join(HPCPACK_VERSIONS),
                " or ".join("%d.x" % m for m in sorted(SETUP_MAJOR_VERSIONS)),
            )
        )
    if found != str(version):
        raise HpcPlanError(
            "HPC Pack setup %s is HPC Pack %s (file version %s) but hpcpack_version is %s (the headnode role's "
            "headnode_hpcpack_version, from hpc_pack_version): set it to %s so that the SQL Server role creates "
            "that version's databases and setup gets their connection strings"
            % (setup_path, found, file_version, version, found)
        )


# Account domains of well-known local identities: never a domain user (Windows' built-in security principals).
_LOCAL_AUTHORITIES = ("nt authority", "builtin", "nt service", "iis apppool", "window manager", "font driver host")


def account_kind(identity):
    """``domain``, ``local``, ``system`` or None (unknown) for the identity a probe ran as.

    ``identity`` is what the probes report from ``[Security.Principal.WindowsIdentity]::GetCurrent()``: Name
    (``DOMAIN\\user``), IsSystem, and the host's ComputerName; an account whose domain part is the computer name is
    a local account.
    """
    if not identity or not identity.get("Name"):
        return None
    if identity.get("IsSystem"):
        return "system"
    domain = str(identity["Name"]).split("\\", 1)[0].lower() if "\\" in str(identity["Name"]) else ""
    if not domain or domain == str(identity.get("ComputerName") or "").lower() or domain in _LOCAL_AUTHORITIES:
        return "local"
    return "domain"


def same_account(name, other):
    """DOMAIN\\user and user@dns.domain name the same account when the user parts match (and the NetBIOS domains, when
    both are written that way)."""

    def parts(value):
        value = str(value or "").strip().lower()
        if "\\" in value:
            domain, user = value.split("\\", 1)
            return user, domain
        if "@" in value:
            return value.split("@", 1)[0], None
        return value, None

    user_a, domain_a = parts(name)
    user_b, domain_b = parts(other)
    return user_a == user_b and (domain_a is None or domain_b is None or domain_a == domain_b)


def require_domain_admin(identity, what, variable):
    """Fail unless the task runs as a domain account that is an (elevated) local administrator."""
    kind = account_kind(identity)
    if kind is None:
        return
    admin = bool(identity.get("IsAdministrator"))
    if kind == "domain" and admin:
        return
    why = {
        "system": "the local SYSTEM account",
        "local": "a local account",
        "domain": "a domain account without local administrator rights",
    }[kind]
    raise HpcPlanError(
        "%s must run as a domain account that is a local administrator, not as %s (%s): run the task with "
        "become: true, become_method: ansible.builtin.runas and become_user set to the domain service account "
        "(DOMAIN\\name), "
        "which is the role variable %s" % (what, identity.get("Name"), why, variable)
    )


def plan_headnode(options, probe):
    plan = Plan()
    cert = options.get("certificate")
    if cert:
        plan_certificate(plan, cert, probe.get("certificate") or {})
    install = options["install"]
    version = options.get("hpcpack_version") or "2016"
    if probe.get("setup_exists"):
        check_setup_version(install["setup_path"], version, probe.get("setup_version"))
    installed = bool((probe.get("service") or {}).get("Name"))
    plan.before["installed"] = installed
    plan.after["installed"] = True
    if not installed:
        if not probe.get("setup_exists"):
            raise HpcPlanError("HPC Pack head node setup not found at %s" % install["setup_path"])
        # Microsoft runs head node setup as the setup user, a domain user added to the local Administrators
        # (Azure/hpcpack-template, InstallPrimaryHeadNode.ps1: Group AddADUserToLocalAdminGroup, then
        # xHpcHeadNodeInstall with PsDscRunAsCredential = $SetupUserCredential; Azure/cyclecloud-hpcpack
        # recipes/hn.rb runs InstallHPCHeadNode.ps1 as the domain admin, elevated).
        require_domain_admin(probe.get("identity"), "HPC Pack head node setup", "headnode_service_account")
        plan.add(
            "install",
            install["cluster_name"],
            "install_headnode",
            setup_path=install["setup_path"],
            hpcpack_version=version,
            ssl_thumbprint=setup_thumbprint(plan),
        )
    publish = options.get("publish_certificate")
    if publish and cert:
        target = ntpath.join(publish, ntpath.basename(cert["pfx_path"]))
        share = probe.get("publish") or {}
        same = (
            share.get("Exists")
            and share.get("Sha256")
            and share.get("Sha256") == (probe.get("certificate") or {}).get("pfx", {}).get("Sha256")
        )
        plan.before["published"] = bool(same)
        plan.after["published"] = True
        if not same or plan.steps("certificate"):
            plan.add("publish", target, "copy", src=cert["pfx_path"])
    return plan


# ------------------------------------------------------------------------------------ cluster


def plan_cluster(options, probe):  # noqa: PLR0912 - one branch per seed step reads best
    plan = Plan()
    if not probe.get("installed"):
        raise HpcPlanError(
            "HPC Pack is not installed on this head node (no HpcScheduler service); run win_hpc_headnode first"
        )
    network = options.get("network")
    if network:
        interfaces = [i for i in as_list(probe.get("interfaces")) if i]
        names = [str(i.get("Name")) for i in interfaces]
        wanted_if = network.get("enterprise_interface")
        if wanted_if is None:
            if not names:
                raise HpcPlanError(
                    "Network topology %s: Get-HpcNetworkInterface returned no interface" % network["topology"]
                )
            wanted_if = names[0]
        elif wanted_if not in names:
            raise HpcPlanError(
                "Network topology %s: interface '%s' not found (the head node has %s)"
                % (network["topology"], wanted_if, ", ".join(names) or "none")
            )
        current = probe.get("network") or {}
        before = {"topology": _enum(current.get("Topology")) or None, "enterprise": current.get("EnterpriseAdapter")}
        after = {"topology": network["topology"], "enterprise": wanted_if}
        plan.before["network"], plan.after["network"] = before, after
        if (before["topology"] or "").lower() != network["topology"].lower() or before["enterprise"] != wanted_if:
            plan.add(
                "network",
                network["topology"],
                "set",
                enterprise_interface=wanted_if,
                enterprise_firewall=network.get("enterprise_firewall"),
            )
    for key, step in (("job_credential", "job_credential"), ("install_credential", "install_credential")):
        cred = options.get(key)
        if not cred:
            continue
        current = (probe.get(key) or {}).get("UserName")
        plan.before[key] = current
        plan.after[key] = cred["username"]
        changed = str(current or "").lower() != cred["username"].lower() or cred.get("update_password") == "always"
        if key == "job_credential":
            changed = plan_job_credential_owner(plan, cred, probe, changed)
        if changed:
            plan.add(step, cred["username"], "set")
    members = options.get("members") or []
    if members:
        existing = {}
        for m in as_list(probe.get("members")):
            existing.setdefault(str(m.get("Name", "")).lower(), set()).update(r.lower() for r in _flags(m.get("Role")))
        plan.before["members"] = {m["name"]: sorted(existing.get(m["name"].lower(), [])) for m in members}
        plan.after["members"] = {}
        for m in members:
            roles = existing.get(m["name"].lower(), set())
            plan.after["members"][m["name"]] = sorted(roles | {m["role"].lower()})
            if m["role"].lower() not in roles:
                plan.add("member", m["name"], "add", role=m["role"])
    node = options.get("node")
    if node:
        plan_node_roles(plan, node, probe)
    return plan


def plan_job_credential_owner(plan, cred, probe, changed):
    """Whose credential cache holds the job credential: True when it has to be set (again).

    "The cmdlet stores these credentials in the credential cache of the user who ran the cmdlet"
    (MicrosoftDocs/windows-powershell-docs, docset/winserver2012r2-ps/hpc/Set-HpcJobCredential.md), so it is set
    by the account whose jobs it is for - the service account, as the reference deployment runs it - and set again
    when another account ran it before (the probe reports who did, CachedBy). Run as another account, the task
    fails only when the credential has to be set.
    """
    identity = probe.get("identity")
    kind = account_kind(identity)
    if kind is None:
        return changed
    cached_by = (probe.get("job_credential") or {}).get("CachedBy")
    plan.before["job_credential_cached_by"] = cached_by
    changed = changed or not cached_by or not same_account(cached_by, cred["username"])
    if changed and (kind != "domain" or not same_account(identity.get("Name"), cred["username"])):
        raise HpcPlanError(
            "job_credential %s: Set-HpcJobCredential stores the credential in the cache of the user who runs it, and "
            "this task runs as %s; run it as %s with become: true, become_method: ansible.builtin.runas and "
            "become_user %s (the headnode role's variable headnode_service_account)"
            % (cred["username"], identity.get("Name"), cred["username"], cred["username"])
        )
    plan.after["job_credential_cached_by"] = identity.get("Name") if changed else cached_by
    return changed


def _role_names(value):
    """NodeRole as the probe reports it (a list, or "A, B" as ConvertTo-Json writes a flags enum)."""
    if isinstance(value, dict):
        value = value.get("String", value.get("Value"))
    return [p.strip() for r in as_list(value) for p in str(r).split(",") if p.strip()]


def plan_node_roles(plan, node, probe):
    """Roles and state of the head node as an HPC node.

    Set-HpcNode -Role replaces the node's roles with the documented values it is given (SETTABLE_NODE_ROLES)
    and works only on an offline node (Set-HpcNode.md). So when a role is missing the plan sends the
    documented roles the node has plus the missing ones, HeadNode and anything undocumented left out, and
    wraps the change in Set-HpcNodeState Offline / Online; nothing is taken offline when no role changes.
    """
    current = probe.get("node") or {}
    if not current.get("NetBiosName"):
        raise HpcPlanError("Head node %s is not listed by Get-HpcNode" % (probe.get("computer_name") or "(this host)"))
    name = current.get("NetBiosName")
    canonical = {r.lower(): r for r in SETTABLE_NODE_ROLES}
    wanted = []
    for role in node.get("roles") or []:
        if str(role).lower() not in canonical:
            raise HpcPlanError(
                "node.roles: %s is not a role Set-HpcNode -Role accepts (%s)" % (role, ", ".join(SETTABLE_NODE_ROLES))
            )
        if canonical[str(role).lower()] not in wanted:
            wanted.append(canonical[str(role).lower()])
    reported = _role_names(current.get("NodeRole"))
    have = {r.lower() for r in reported}
    settable = [canonical[r.lower()] for r in reported if r.lower() in canonical]
    missing = [r for r in wanted if r.lower() not in have]
    state = _enum(current.get("NodeState"))
    wanted_state = (node.get("state") or "").lower() or None
    final_state = wanted_state or state.lower()
    plan.before["node"] = {"roles": sorted(reported), "state": state}
    plan.after["node"] = {
        "roles": sorted(reported + missing),
        "state": wanted_state or state,
        "offline_for_role_change": bool(missing) and state.lower() != "offline",
    }
    if missing:
        roles = settable + [r for r in missing if r not in settable]
        if state.lower() != "offline":
            plan.add("node_state", name, "offline", reason="Set-HpcNode -Role needs the node offline")
            then = "comes back online" if final_state == "online" else "stays offline"
            plan.warnings.append(
                "Head node %s goes offline (running jobs drain first) while its roles change to %s, then %s"
                % (name, ", ".join(roles), then)
            )
        plan.add("node_role", name, "set", roles=roles)
        if final_state == "online":
            plan.add("node_state", name, "online")
        return
    if wanted_state and state.lower() != wanted_state:
        plan.add("node_state", name, wanted_state)


# ------------------------------------------------------------------------------- compute node


def plan_computenode(options, probe):
    plan = Plan()
    node = probe.get("node") or {}
    node_name = node.get("NetBiosName") or probe.get("computer_name")
    if options["state"] == "absent":
        present = bool(node.get("NetBiosName"))
        plan.before["node"] = {"present": present, "state": _enum(node.get("NodeState")) or None}
        plan.after["node"] = {"present": False, "state": None}
        if present:
            plan.add(
                "node",
                node_name,
                "drain_and_remove",
                drain_timeout=options["drain_timeout"],
                force_after_timeout=options["force_after_timeout"],
                running_tasks=int(probe.get("running_tasks") or 0),
            )
        return plan
    certs = probe.get("certificates") or {}
    before_files = {}
    for name in options["certificate_files"]:
        local = (certs.get("local") or {}).get(name) or {}
        remote = (certs.get("share") or {}).get(name) or {}
        before_files[name] = bool(local.get("Exists"))
        if remote.get("Exists") and local.get("Sha256") != remote.get("Sha256"):
            plan.add("certificate_copy", name, "copy")
        elif not local.get("Exists"):
            raise HpcPlanError(
                "Failed to copy %s from %s: %s"
                % (name, options["share"], certs.get("share_error") or "the file is not on the share")
                + " (the double hop to the head node needs become_method runas or Kerberos delegation)"
            )
    plan.before["certificates"] = before_files
    plan.after["certificates"] = {name: True for name in options["certificate_files"]}
    root = probe.get("root") or {}
    plan.before["root_trusted"] = bool(root.get("InRoot"))
    plan.after["root_trusted"] = True
    if not root.get("InRoot") or plan.steps("certificate_copy"):
        plan.add("root_certificate", options["public_certificate"], "import")
    installed = bool((probe.get("service") or {}).get("Name"))
    plan.before["installed"] = installed
    plan.after["installed"] = True
    if not installed:
        if not probe.get("setup_exists"):
            raise HpcPlanError("HPC Pack compute node setup not found at %s" % options["setup_path"])
        plan.add("install", options["headnode"], "install_computenode", setup_path=options["setup_path"])
    health = _enum(node.get("NodeHealth"))
    state = _enum(node.get("NodeState"))
    # The probe reads the template and the approval with Get-HpcNode's documented filters: Template is the
    # wanted template when the node has it (-TemplateName), else null; Unapproved is -HealthState Unapproved.
    template = node.get("Template")
    registered = bool(node.get("NetBiosName"))
    unapproved = bool(node.get("Unapproved")) or health.lower() == "unapproved"
    has_template = bool(template) and str(template).lower() == options["template"].lower()
    if registered and not unapproved and not has_template and state.lower() != "offline":
        # "The specified nodes must be in the offline state before you can assign or reapply node templates"
        # (Assign-HpcNodeTemplate.md, NOTES): a node at work is never taken offline to change its template.
        raise HpcPlanError(
            "Compute node %s is %s and not in node template '%s'; Assign-HpcNodeTemplate needs the node offline "
            "and rebuilds it from the template - take it offline first or set template to the node's template"
            % (node_name, state or "in an unknown state", options["template"])
        )
    assign = not registered or unapproved or not has_template
    plan.before["node"] = {
        "health": health or None,
        "state": state or None,
        "unapproved": unapproved if registered else None,
        "template": template,
    }
    plan.after["node"] = {
        "health": "OK",
        "state": "Online" if options.get("online", True) else (state or "Offline"),
        "unapproved": False,
        "template": options["template"],
    }
    if assign:
        plan.add("node_template", node_name, "assign", template=options["template"])
    if options.get("online", True) and state.lower() != "online":
        plan.add("node_state", node_name, "online")
    return plan


# ------------------------------------------------------------------------------------- domain


def computer_account(netbios_domain, computer_name):
    return "%s\\%s$" % (netbios_domain, computer_name)


def plan_domain_membership(options, probe):
    plan = Plan()
    joined = bool(probe.get("PartOfDomain"))
    current = str(probe.get("Domain") or "")
    plan.before["domain"] = current if joined else None
    plan.after["domain"] = options["domain"]
    if joined and current.lower() != options["domain"].lower():
        raise HpcPlanError(
            "Host %s is a member of domain %s, not %s; refusing to move it between domains"
            % (probe.get("ComputerName"), current, options["domain"])
        )
    pending = bool(probe.get("PendingJoin"))
    if not joined and not pending:
        plan.add("domain_join", options["domain"], "join", ou_path=options.get("ou_path"))
    if options.get("computer_account_admin"):
        member = computer_account(options["netbios_domain"], probe.get("ComputerName") or "")
        members = [str(m).lower() for m in as_list(probe.get("Administrators"))]
        plan.before["administrators_has_computer_account"] = member.lower() in members
        plan.after["administrators_has_computer_account"] = joined or member.lower() in members
        if member.lower() not in members:
            if joined:
                plan.add("local_admin", member, "add")
            else:
                # The account resolves only once the join is effective (after the reboot); the next
                # run adds it. The role runs the module again after the reboot.
                plan.warnings.append(
                    "%s is added to the local Administrators group on the run after the domain join reboot" % member
                )
    return plan


def connection_strings_keys():
    return [switch for switch, _catalog in CONNECTION_STRING_SWITCHES]
