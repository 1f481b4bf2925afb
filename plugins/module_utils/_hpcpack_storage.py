# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The SQL Server data volume and folder of win_hpc_sqlserver, planned from its probe (private: no compatibility
promise)."""

from __future__ import annotations

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack import (
    HpcPlanError,
    as_list,
    enum_flags,
    enum_name,
)


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
        "partition_style": enum_name(disk.get("PartitionStyle")),
        "drive_letter": letter if mounted else None,
        "file_system": enum_name(mounted.get("FileSystem")) if mounted else None,
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
    style = enum_name(disk.get("PartitionStyle")).upper()
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
    elif enum_name(mounted.get("FileSystem")).upper() not in ("NTFS", "REFS"):
        raise HpcPlanError(
            "Data volume %s: file system is '%s', expected NTFS or ReFS; "
            "refusing to reformat a volume that may hold data"
            % (letter, enum_name(mounted.get("FileSystem")) or "unknown")
        )
    plan.after["volume"] = after


def acl_grants_full_control(rules, identity):
    wanted = identity.lower()
    for rule in as_list(rules):
        if str(rule.get("IdentityReference", "")).lower() != wanted:
            continue
        if enum_name(rule.get("AccessControlType")).lower() != "allow":
            continue
        if "fullcontrol" not in enum_flags(rule.get("FileSystemRights")):
            continue
        inherit = enum_flags(rule.get("InheritanceFlags"))
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
