"""A scripted Windows host for the contract tests of the HPC Pack action plugins.

It stands where ``ansible.windows.win_powershell`` runs: the action plugin's ``_execute_module`` is
replaced by :meth:`ScriptedHost.execute`, which receives exactly what would cross the connection
(the composed script text, ``parameters`` and ``sensitive_parameters``), recognises which .ps1 body
was sent, and answers the way a Windows host does - the probe reports the host's state (fixtures
shaped like the cmdlets' output, tests/unit/fixtures/hpcpack/), the apply changes that state with
the same rules the PowerShell enforces (a database whose files exist is never created). It counts
round trips and records whether a mutating script was ever sent in check mode.

Where each behaviour comes from (documented = a Microsoft page says so; assumed = nothing observed or
documented, kept as simple as the scripts need):

- Set-HpcNode -Role accepts None, ComputeNode, BrokerNode, WorkstationNode and needs an offline node;
  Set-HpcNodeState -State Online|Offline|Rejected (documented: MicrosoftDocs/windows-powershell-docs,
  docset/winserver2012r2-ps/hpc/Set-HpcNode.md, Set-HpcNodeState.md). That the head node keeps reporting
  HeadNode after Set-HpcNode -Role is assumed.
- Get-HpcNode -TemplateName / -HealthState filter the nodes (documented: Get-HpcNode.md); the node object's
  own property names beyond NetBiosName and NodeState are not documented, so the compute node probe
  answers Template and Unapproved the way those filters do.
- Assign-HpcNodeTemplate needs an offline node (documented: Assign-HpcNodeTemplate.md, NOTES).
- Running tasks are found through Get-HpcJob -NodeName | Get-HpcTask -State Running and the tasks'
  AllocatedNodes (documented: Get-HpcJob.md, Get-HpcTask.md; ISchedulerTask.AllocatedNodes in the HPC
  Pack SDK reference).
- Head node setup gets -SkipComponent:rras,dhcp,wds (documented: Azure/hpcpack CHANGELOG.md, HPC Pack 2016
  Update 3; passed by arjanvanbekkum/HPC install_hpc_headnode.ps1).
- A head node answers HPC cmdlets only after a while right after setup (observed by Microsoft's own
  MSFT_xHpcWaitForCluster / MSFT_xHpcClusterInit retry loops, Azure/hpcpack-template); ClusterHost can
  stay "not ready" for a number of probes to check that the retry settings travel as data.
- Exit codes 0 and 3010 of setup.exe (documented by Microsoft's MSFT_xHpcHeadNodeInstall) and every other
  fixture value (tests/unit/fixtures/hpcpack/*.json) are shaped like the cmdlets' output, not captured.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from unittest.mock import MagicMock

from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import script_name

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hpcpack"


def fixture(name: str) -> dict:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.pop("_comment", None)
    return data


class HostError(Exception):
    """What a terminating error in the script would be: becomes {failed, msg}."""


class ScriptedHost:
    def __init__(self, state: dict):
        self.state = copy.deepcopy(state)
        self.calls: list[dict] = []
        self.check_mode_violations: list[str] = []
        self.sql_statements: list[dict] = []

    # ---------------------------------------------------------------- the seam
    def execute(self, module_name, module_args, check_mode=False):
        assert module_name == "ansible.windows.win_powershell"
        script = module_args["script"]
        name = script_name(script)
        assert name, "every script carries its marker"
        params = json.loads(module_args["parameters"]["ParamsJson"])
        assert set(module_args["parameters"]) == {"ParamsJson"}, "only the JSON parameter travels in parameters"
        secrets = {}
        for item in module_args.get("sensitive_parameters") or []:
            assert item["name"] == "SecretsJson"
            secrets = json.loads(item["value"])
        mutating = name.endswith("_apply")
        self.calls.append({"script": name, "mutating": mutating, "params": params, "secret_names": sorted(secrets)})
        if check_mode:
            # win_powershell skips scripts without SupportsShouldProcess in check mode, and runs the
            # others with -WhatIf; an apply must never get here.
            assert "[CmdletBinding(SupportsShouldProcess)]" in script
            if mutating:
                self.check_mode_violations.append(name)
                return {"changed": True, "result": json.dumps({"failed": True, "msg": "apply sent in check mode"})}
        handler = getattr(self, name)
        try:
            payload = handler(params, secrets)
            payload.setdefault("changed", mutating)
        except HostError as exc:
            payload = {"failed": True, "msg": str(exc), "changed": False}
        return {
            "changed": payload.get("changed", False),
            "result": json.dumps(payload),
            "output": [],
            "host_out": "",
            "host_err": "",
            "error": [],
        }

    @property
    def round_trips(self) -> int:
        return len(self.calls)

    def mutating_calls(self) -> list[str]:
        return [c["script"] for c in self.calls if c["mutating"]]


def run_action(action_cls, args: dict, host: ScriptedHost, *, check_mode=False, diff=False, task_vars=None):
    """Run an action plugin the way the task executor does, with the scripted host behind it."""
    task = MagicMock()
    task.args = copy.deepcopy(args)
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = "hpcops.aws_hpc." + action_cls.__module__.rsplit(".", 1)[-1]
    connection = MagicMock()
    connection._shell.tmpdir = None
    play_context = MagicMock()
    play_context.check_mode = check_mode
    action = action_cls(
        task, connection, play_context, loader=MagicMock(), templar=MagicMock(), shared_loader_obj=MagicMock()
    )

    def _execute_module(module_name=None, module_args=None, task_vars=None, **_kwargs):
        return host.execute(module_name, module_args, check_mode=check_mode)

    action._execute_module = _execute_module
    return action.run(task_vars=task_vars or {"inventory_hostname": "winhost"})


# ------------------------------------------------------------------------------- hosts


class SqlServerHost(ScriptedHost):
    def __init__(self, state):
        super().__init__(state)
        self.disk_files = set(self.state.pop("_disk_files", []))
        self.disk_acl = self.state.pop("_disk_acl", [])
        self.visible = set()
        self.restarts = 0
        self.scripts_present = True
        self._refresh_visible()

    def _mounted(self, letter):
        return any(v["DriveLetter"] == letter for v in self.state["volume"]["volumes"])

    def _refresh_visible(self):
        self.visible = {f for f in self.disk_files if self._mounted(f[0])}
        if (
            not self.state["folder"]["exists"]
            and self._mounted("D")
            and any(f.startswith("D:\\SQL\\") for f in self.disk_files)
        ):
            self.state["folder"] = {"exists": True, "rules": copy.deepcopy(self.disk_acl)}

    def sqlserver_probe(self, params, secrets):
        out = {"volume": self.state["volume"], "folder": self.state["folder"], "sql": copy.deepcopy(self.state["sql"])}
        out["sql"]["files"] = {f: f in self.visible for f in params["files"]}
        out["sql"]["scripts"] = {s.lower(): self.scripts_present for s in params["scripts"]}
        users = self.state["sql"].get("users", {})
        out["sql"]["users"] = {
            db: users.get(db, [])
            for db in params["databases"]
            if any(r["name"] == db for r in self.state["sql"]["databases"])
        }
        for text in params["sql"].values():
            assert "hpcops.aws_hpc" in text
        return out

    def sqlserver_apply(self, params, secrets):  # noqa: PLR0912 - one branch per planned step, like the script
        result = {"changed": False, "databases": {}, "restarted": False, "done": []}
        disks = {d["Number"]: d for d in self.state["volume"]["disks"]}
        for change in params["changes"]:
            step, action = change["step"], change["action"]
            if step == "volume":
                disk = disks[change["disk_number"]]
                if action == "online":
                    disk["IsOffline"] = False
                    disk["OperationalStatus"] = "Online"
                elif action == "clear_read_only":
                    disk["IsReadOnly"] = False
                elif action == "initialize_and_format":
                    if disk["PartitionStyle"] != "RAW":
                        raise HostError("Failed to initialize_and_format data volume: disk is no longer RAW")
                    disk["PartitionStyle"] = "GPT"
                    disk["DriveLetters"] = [change["drive_letter"]]
                    self.state["volume"]["volumes"].append(
                        {"DriveLetter": change["drive_letter"], "FileSystem": "NTFS"}
                    )
                elif action == "assign_letter":
                    disk["DriveLetters"] = [change["drive_letter"]]
                    self.state["volume"]["volumes"].append(
                        {"DriveLetter": change["drive_letter"], "FileSystem": "NTFS"}
                    )
                self._refresh_visible()
            elif step == "folder":
                self.state["folder"]["exists"] = True
            elif step == "folder_acl":
                self.state["folder"]["rules"].append(
                    {
                        "IdentityReference": change["identity"],
                        "FileSystemRights": "FullControl",
                        "InheritanceFlags": "ContainerInherit, ObjectInherit",
                        "PropagationFlags": "None",
                        "AccessControlType": "Allow",
                        "IsInherited": False,
                    }
                )
            elif step == "login_mode":
                self.state["sql"]["login_mode_configured"] = change["login_mode"]
            elif step == "service_restart":
                self.restarts += 1
                self.state["sql"]["integrated_only"] = 0 if self.state["sql"]["login_mode_configured"] == 2 else 1
                result["restarted"] = True
            elif step == "database":
                data_exists = change["data_file"] in self.visible
                log_exists = change["log_file"] in self.visible
                mode = action
                if action == "create_or_attach" or data_exists:
                    if data_exists:
                        mode = "attach" if log_exists else "attach_rebuild_log"
                    elif log_exists:
                        raise HostError("Failed to create database {}: its log file exists".format(change["object"]))
                    else:
                        mode = "create"
                self.sql_statements.append({"db": change["object"], "mode": mode})
                if mode == "create":
                    self.disk_files.update({change["data_file"], change["log_file"]})
                elif mode == "attach_rebuild_log":
                    self.disk_files.add(change["log_file"])
                self._refresh_visible()
                self.state["sql"]["databases"].append({"name": change["object"], "state_desc": "ONLINE"})
                result["databases"][change["object"]] = mode
            elif step == "hpc_user":
                assert secrets.get("hpc_password"), "the HPC user scripts get the password as a secret"
                self.state["sql"].setdefault("users", {}).setdefault(change["object"], []).append(change["user"])
            elif step == "sa_login":
                self.state["sql"]["sa_disabled"] = action == "disable"
            result["changed"] = True
            result["done"].append(f"{step} {change['object']}")
        return result


class HeadNodeHost(ScriptedHost):
    def __init__(self, state, exit_code=0):
        super().__init__(state)
        self.exit_code = exit_code
        self.setup_command_lines = []
        self.skip_component = None

    def headnode_probe(self, params, secrets):
        assert "certificate_password" in secrets
        return copy.deepcopy(self.state)

    def headnode_apply(self, params, secrets):
        result = {"changed": False, "done": []}
        for change in params["changes"]:
            if change["step"] == "certificate":
                self.state["certificate"]["pfx"] = {
                    "Exists": True,
                    "Sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
                    "PasswordValid": True,
                    "HasPrivateKey": True,
                    "Subject": "CN=" + change["common_name"],
                    "Thumbprint": "3A1F0C9E7B6D5A4F3E2D1C0B9A8F7E6D5C4B3A29",
                    "DaysLeft": 1825,
                }
            elif change["step"] == "install":
                assert {"certificate_password", "sql_password"} <= set(secrets)
                switches = [s["name"] for s in params["install"]["switches"]]
                assert switches == ["MGMTDBCONSTR", "SCHDDBCONSTR", "RPTDBCONSTR", "DIAGDBCONSTR", "MONDBCONSTR"]
                self.skip_component = params["install"].get("skip_component")
                log = "C:\\Windows\\Temp\\HPCSetupLogs\\HpcSetupLog-20240101-101010.txt"
                result["install"] = {"ExitCode": self.exit_code, "LogPath": log}
                result["changed"] = True
                if self.exit_code not in (0, 3010):
                    return result
                self.state["service"] = {"Name": "HpcScheduler", "Status": "Running"}
            elif change["step"] == "publish":
                self.state["publish"] = {"Exists": True, "Sha256": self.state["certificate"]["pfx"]["Sha256"]}
            result["changed"] = True
            result["done"].append(f"{change['step']} {change['object']}")
        return result


class ClusterHost(ScriptedHost):
    """A head node after setup. ``not_ready`` probes fail the way HPC cmdlets do before the cluster answers."""

    SETTABLE_ROLES = ("None", "ComputeNode", "BrokerNode", "WorkstationNode")  # Set-HpcNode.md, -Role

    def __init__(self, state, not_ready=0):
        super().__init__(state)
        self.not_ready = not_ready
        self.role_changes = []

    def cluster_probe(self, params, secrets):
        assert not secrets, "the probe never needs a secret"
        ready = params["retry"]["cluster_ready"]
        if self.not_ready > ready["retries"]:
            raise HostError(
                "reading the cluster properties of {} still failed after {} attempt(s): "
                "the HPC Management Service is not reachable".format(self.state["computer_name"], ready["retries"] + 1)
            )
        self.not_ready = 0
        out = copy.deepcopy(self.state)
        out["scheduler"] = params.get("scheduler") or self.state["computer_name"]
        return out

    def cluster_apply(self, params, secrets):
        assert params["scheduler"], "every HPC cmdlet gets -Scheduler"
        assert {"network", "cluster_property"} <= set(params["retry"])
        for change in params["changes"]:
            step = change["step"]
            if step == "network":
                self.state["network"] = {
                    "Topology": change["object"],
                    "EnterpriseAdapter": change["enterprise_interface"],
                }
            elif step == "job_credential":
                assert secrets.get("job_password")
                self.state["job_credential"] = {"UserName": change["object"]}
            elif step == "install_credential":
                assert secrets.get("install_password")
                self.state["install_credential"] = {"UserName": change["object"]}
            elif step == "member":
                self.state["members"].append({"Name": change["object"], "Role": change["role"]})
            elif step == "node_role":
                node = self.state["node"]
                bad = [r for r in change["roles"] if r not in self.SETTABLE_ROLES]
                if bad:
                    raise HostError(
                        'Failed to set node role of {}: Cannot convert value "{}" to type NodeRole'.format(
                            change["object"], bad[0]
                        )
                    )
                if node["NodeState"] != "Offline":
                    raise HostError(
                        "Failed to set node role of {}: the node must be offline to change its role".format(
                            change["object"]
                        )
                    )
                kept = [r for r in node["NodeRole"] if r not in self.SETTABLE_ROLES]  # HeadNode: assumed kept
                node["NodeRole"] = kept + [r for r in change["roles"] if r != "None"]
                self.role_changes.append(list(change["roles"]))
            elif step == "node_state":
                self.state["node"]["NodeState"] = {"online": "Online", "offline": "Offline"}[change["action"]]
        return {"changed": True}


class ComputeNodeHost(ScriptedHost):
    def __init__(self, state, exit_code=0):
        super().__init__(state)
        self.exit_code = exit_code
        self.jobs = []  # the head node's running jobs: {"tasks": [{"State", "AllocatedNodes"}]}

    def reboot(self):
        if self.state["service"] and self.state["node"] is None:
            self.state["node"] = {
                "NetBiosName": self.state["computer_name"],
                "NodeState": "Offline",
                "NodeHealth": "Unapproved",
                "Template": None,
            }

    def computenode_probe(self, params, secrets):
        assert not secrets
        out = copy.deepcopy(self.state)
        node = self.state.get("node")
        out["running_tasks"] = 0
        if node:
            # Get-HpcNode -TemplateName <template> / -HealthState Unapproved, as the probe asks (Get-HpcNode.md).
            template = node.get("Template")
            out["node"] = {
                "NetBiosName": node["NetBiosName"],
                "NodeState": node["NodeState"],
                "NodeHealth": node["NodeHealth"],
                "Unapproved": node["NodeHealth"] == "Unapproved",
                "Template": params["template"] if template and template == params["template"] else None,
            }
            if params["state"] == "absent":
                # Get-HpcJob -NodeName <node> | Get-HpcTask -State Running, then the tasks' AllocatedNodes.
                name = node["NetBiosName"].lower()
                out["running_tasks"] = sum(
                    1
                    for job in self.jobs
                    for task in job["tasks"]
                    if task["State"] == "Running" and name in [n.lower() for n in task["AllocatedNodes"]]
                )
        return out

    def computenode_apply(self, params, secrets):
        result = {"changed": False, "done": []}
        for change in params["changes"]:
            step = change["step"]
            if step == "certificate_copy":
                self.state["certificates"]["local"][change["object"]] = dict(
                    self.state["certificates"]["share"][change["object"]]
                )
            elif step == "root_certificate":
                self.state["root"] = {"InRoot": True, "Thumbprint": "AB12"}
            elif step == "install":
                assert secrets.get("pfx_password")
                result["install"] = {"ExitCode": self.exit_code, "LogPath": "C:\\Windows\\Temp\\HPCSetupLogs\\log.txt"}
                result["changed"] = True
                if self.exit_code not in (0, 3010):
                    return result
                self.state["service"] = {"Name": "HpcNodeManager", "Status": "Running"}
                if self.exit_code == 3010:
                    return result
                self.reboot()
            elif step == "node_template":
                self.reboot()
                if self.state["node"]["NodeState"] != "Offline":
                    raise HostError(
                        'Failed to assign node template "{}" to {}: the node must be offline'.format(
                            change["template"], change["object"]
                        )
                    )
                self.state["node"].update(NodeHealth="OK", Template=change["template"])
            elif step == "node_state":
                self.state["node"]["NodeState"] = "Online"
            elif step == "node":
                self.state["node"] = None
                result["forced"] = False
            result["changed"] = True
            result["done"].append(f"{step} {change['object']}")
        return result


class DomainHost(ScriptedHost):
    def __init__(self, state):
        super().__init__(state)
        self.joined_to = None

    def reboot(self):
        if self.state["PendingJoin"]:
            self.state.update(PartOfDomain=True, Domain=self.joined_to, PendingJoin=False)

    def domain_probe(self, params, secrets):
        assert not secrets
        return copy.deepcopy(self.state)

    def domain_apply(self, params, secrets):
        result = {"changed": True, "reboot_required": False}
        for change in params["changes"]:
            if change["step"] == "domain_join":
                assert secrets.get("password")
                self.state["PendingJoin"] = True
                self.joined_to = change["object"]
                result["reboot_required"] = True
            elif change["step"] == "local_admin":
                self.state["Administrators"].append(change["object"])
        return result
