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
)
DEFAULT_CATALOGS = {
    "management": "HPCManagement",
    "scheduler": "HPCScheduler",
    "reporting": "HPCReporting",
    "diagnostics": "HPCDiagnostics",
    "monitoring": "HPCMonitoring",
}

SETUP_SUCCESS = 0
SETUP_REBOOT_REQUIRED = 3010

LOGIN_MODES = {"windows": 1, "mixed": 2}

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


def normalise_databases(databases):
    """Options -> list of database specs with the seed's sizes filled in."""
    if not databases:
        databases = [{"name": n} for n in HPC_DATABASES]
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
            if str(disk.get("SerialNumber") or "").replace("-", "").strip().lower().startswith(serial):
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


def plan_hpc_users(plan, hpc_login, databases, state):
    """HPC Pack's AddDbUserForHpcSetupUser.sql / AddDbUserForHpcService.sql, only where the user is missing."""
    if not hpc_login:
        return
    user = hpc_login["username"]
    users = {str(k).lower(): [str(u).lower() for u in as_list(v)] for k, v in (state.get("users") or {}).items()}
    missing = [db["name"] for db in databases if user.lower() not in users.get(db["name"].lower(), [])]
    plan.before["hpc_users"] = {db["name"]: user.lower() in users.get(db["name"].lower(), []) for db in databases}
    plan.after["hpc_users"] = {db["name"]: True for db in databases}
    if not missing:
        return
    scripts = state.get("scripts") or {}
    for key in ("setup_script", "service_script"):
        path = ntpath.join(hpc_login["scripts_path"], hpc_login[key])
        if not scripts.get(path.lower(), scripts.get(path, False)):
            raise HpcPlanError(
                "Failed to add the HPC database user %s: HPC Pack script %s not found on the SQL Server host "
                "(copy the HPC Pack Setup folder there, as the image bake does, or set hpc_login.scripts_path)"
                % (user, path)
            )
    for name in missing:
        plan.add("hpc_user", name, "add", user=user)


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
    plan_hpc_users(plan, options.get("hpc_login"), databases, sql)
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
    plan.after["certificate"] = after


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


def plan_headnode(options, probe):
    plan = Plan()
    cert = options.get("certificate")
    if cert:
        plan_certificate(plan, cert, probe.get("certificate") or {})
    install = options["install"]
    installed = bool((probe.get("service") or {}).get("Name"))
    plan.before["installed"] = installed
    plan.after["installed"] = True
    if not installed:
        if not probe.get("setup_exists"):
            raise HpcPlanError("HPC Pack head node setup not found at %s" % install["setup_path"])
        plan.add("install", install["cluster_name"], "install_headnode", setup_path=install["setup_path"])
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
        if str(current or "").lower() != cred["username"].lower() or cred.get("update_password") == "always":
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
