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
- SQL Server (SqlServerHost), as the collection's T-SQL (plugins/plugin_utils/sql/) asks it:
  - CREATE LOGIN ... WITH PASSWORD makes a SQL login (type_desc SQL_LOGIN) with a new sid; a login of that name that
    is a Windows login is refused by hpc_login.sql (documented: learn.microsoft.com sql/t-sql/statements/
    create-login-transact-sql, sys.server_principals); PWDCOMPARE answers 1 only for the login's own password
    (documented: pwdcompare-transact-sql);
  - a database attached from another instance keeps its users with that instance's sids: they are orphaned until
    ALTER USER ... WITH LOGIN maps them (documented: sql/sql-server/failover-clusters/
    troubleshoot-orphaned-users-sql-server, alter-user-transact-sql); which users the reattached fixture's
    files hold is assumed (the reference deployment's users, made by its AddDbUserForHpc*.sql);
  - IS_ROLEMEMBER answers for the user's own roles (documented: is-rolemember-transact-sql); ALTER ROLE db_owner
    ADD MEMBER adds one (alter-role-transact-sql);
  - sp_addmessage adds a us_english message, and replaces one only with @replace (documented:
    sp-addmessage-transact-sql); sys.messages lists them (sys-messages-transact-sql); that a fresh instance has no
    user-defined message is assumed (the AWS SQL Server AMI's own state is not documented).
- Who a script runs as follows the task's become settings, read from Ansible's real runas become plugin on the
  connection: a user name without a domain part is looked up in the local account database only (ansible-core
  module_utils/csharp/Ansible.Become.cs sets the domain to "." for it; LogonUser on learn.microsoft.com: "If this
  parameter is '.', the function validates the account by using only the local account database"), and
  logon_type=new_credentials keeps the local identity and uses the become user only on the network (documented:
  LogonUser, LOGON32_LOGON_NEW_CREDENTIALS). The accounts themselves (a local Administrator, domain HPC with
  hpcservice, both in the local Administrators group) are assumed, shaped like WindowsIdentity.GetCurrent().Name.
- Set-HpcJobCredential "stores these credentials in the credential cache of the user who ran the cmdlet"
  (documented: Set-HpcJobCredential.md); ClusterHost keeps one cache per account.
- setup.exe's file version is 5.x for HPC Pack 2016 and 6.x for 2019, and head node setup 6.x gets
  -HAStorageDbConStr/-HAWitnessDbConStr (Microsoft's InstallHPCHeadNode.ps1, Azure/cyclecloud-hpcpack:
  "if($hpcVersion.FileMajorPart -eq 6)"); HeadNodeHost holds the connection strings to that rule. That head node
  setup run by anyone but a domain user with local admin rights fails is assumed from Microsoft running it only so
  (PsDscRunAsCredential of InstallPrimaryHeadNode, Azure/hpcpack-template).
- Exit codes 0 and 3010 of setup.exe (documented by Microsoft's MSFT_xHpcHeadNodeInstall) and every other
  fixture value (tests/unit/fixtures/hpcpack/*.json) are shaped like the cmdlets' output, not captured.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import ClassVar
from unittest.mock import MagicMock

from ansible.plugins.loader import become_loader

from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import script_name

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hpcpack"


def fixture(name: str) -> dict:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.pop("_comment", None)
    data.pop("_sources", None)  # where each key comes from (tests/unit/test_fixture_sources.py)
    return data


class HostError(Exception):
    """What a terminating error in the script would be: becomes {failed, msg}."""


class ScriptedHost:
    # Accounts (assumed): the connection user is the instance's local Administrator; domain HPC (hpc.example.com)
    # has the service account; the local Administrators group holds the local Administrator and hpcservice.
    COMPUTER_NAME = "EC2AMAZ-HN01"
    NETBIOS_DOMAIN, DNS_DOMAIN = "HPC", "hpc.example.com"
    LOCAL_USERS = ("Administrator",)
    DOMAIN_USERS = ("hpcservice", "joiner", "hpcuser")
    ADMINISTRATORS = ("{computer}\\Administrator", "HPC\\hpcservice", "HPC\\joiner")

    def __init__(self, state: dict):
        self.state = copy.deepcopy(state)
        self.calls: list[dict] = []
        self.check_mode_violations: list[str] = []
        self.sql_statements: list[dict] = []
        self.identity = None
        self.network_account = None

    @property
    def computer_name(self) -> str:
        return self.state.get("computer_name") or self.COMPUTER_NAME

    def _account(self, user: str) -> str:
        """DOMAIN\\name of a become user the way runas logs it on, or HostError like LogonUser's 1326."""
        if "\\" in user:
            domain, name = user.split("\\", 1)
        elif "@" in user:
            name, dns = user.split("@", 1)
            domain = self.NETBIOS_DOMAIN if dns.lower() == self.DNS_DOMAIN else dns
        else:
            domain, name = ".", user  # Ansible.Become.cs: no domain part -> "." (the local account database)
        if domain in (".", self.computer_name) or domain.upper() == self.computer_name.upper():
            known, domain = name.lower() in [u.lower() for u in self.LOCAL_USERS], self.computer_name
        else:
            known = domain.upper() == self.NETBIOS_DOMAIN and name.lower() in [u.lower() for u in self.DOMAIN_USERS]
            domain = domain.upper()
        if not known:
            raise HostError(
                f"Failed to become user {user}: LogonUser failed (The user name or password is incorrect, "
                "Win32ErrorCode 1326)"
            )
        return f"{domain}\\{name}"

    def logon(self, become):
        """(identity the script runs as, account it uses on the network) for the task's become settings."""
        local = f"{self.computer_name}\\Administrator"
        if not become:
            return self._identity(local), local
        user = become["user"]
        if user.upper() in ("SYSTEM", "NT AUTHORITY\\SYSTEM"):
            system = {"Name": "NT AUTHORITY\\SYSTEM", "IsSystem": True, "IsAdministrator": True}
            return dict(system, ComputerName=self.computer_name), f"{self.NETBIOS_DOMAIN}\\{self.computer_name}$"
        if "logon_type=new_credentials" in (become.get("flags") or ""):
            # LOGON32_LOGON_NEW_CREDENTIALS: same local identity, the become user's credentials on the network
            # (not checked locally, so a bare name only fails at the remote end).
            try:
                remote = self._account(user) if ("\\" in user or "@" in user) else ".\\" + user
            except HostError:
                remote = user
            return self._identity(local), remote
        account = self._account(user)
        return self._identity(account), account

    def _identity(self, account):
        admins = [a.format(computer=self.computer_name).lower() for a in self.ADMINISTRATORS]
        return {
            "Name": account,
            "IsSystem": False,
            "IsAdministrator": account.lower() in admins,
            "ComputerName": self.computer_name,
        }

    # ---------------------------------------------------------------- the seam
    def execute(self, module_name, module_args, check_mode=False, become=None):
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
        self.calls.append(
            {
                "script": name,
                "mutating": mutating,
                "params": params,
                "secret_names": sorted(secrets),
                "become_user": become["user"] if become else None,
                "become_password_given": bool(become and become.get("password")),
            }
        )
        try:
            self.identity, self.network_account = self.logon(become)
        except HostError as exc:
            # The become wrapper fails before the script starts: win_powershell reports a failed module.
            return {"failed": True, "msg": str(exc), "changed": False}
        self.calls[-1]["run_as"] = self.identity["Name"]
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


def runas(user, password=None, flags=""):
    """Ansible's own runas become plugin, configured the way the task executor configures it from the task's
    become_user, become_flags and ansible_become_password (ansible.builtin.runas)."""
    plugin = become_loader.get("runas")
    plugin.set_options(direct={"become_user": user, "become_pass": password, "become_flags": flags or ""})
    return plugin


def run_action(
    action_cls, args: dict, host: ScriptedHost, *, check_mode=False, diff=False, task_vars=None, become=None
):
    """Run an action plugin the way the task executor does, with the scripted host behind it.

    ``become`` is a configured become plugin (:func:`runas`) or None: like the executor, it is set on the
    connection, and whatever the module runs runs as its user.
    """
    task = MagicMock()
    task.args = copy.deepcopy(args)
    task.check_mode = check_mode
    task.diff = diff
    task.async_val = 0
    task.action = "hpcops.aws_hpc." + action_cls.__module__.rsplit(".", 1)[-1]
    connection = MagicMock()
    connection._shell.tmpdir = None
    connection.become = become
    play_context = MagicMock()
    play_context.check_mode = check_mode
    action = action_cls(
        task, connection, play_context, loader=MagicMock(), templar=MagicMock(), shared_loader_obj=MagicMock()
    )

    def _execute_module(module_name=None, module_args=None, task_vars=None, **_kwargs):
        plugin = action._connection.become
        settings = None
        if plugin is not None:
            assert plugin.name == "runas", "Windows hosts become with runas"
            settings = {
                "user": plugin.get_option("become_user"),
                "password": plugin.get_option("become_pass"),
                "flags": plugin.get_option("become_flags"),
            }
        return host.execute(module_name, module_args, check_mode=check_mode, become=settings)

    action._execute_module = _execute_module
    return action.run(task_vars=task_vars or {"inventory_hostname": "winhost"})


# ------------------------------------------------------------------------------- hosts


class SqlServerHost(ScriptedHost):
    def __init__(self, state):
        super().__init__(state)
        self.disk_files = set(self.state.pop("_disk_files", []))
        self.disk_acl = self.state.pop("_disk_acl", [])
        # Users inside the database files (what an attach brings back), by database.
        self.disk_users = self.state.pop("_disk_users", {})
        sql = self.state["sql"]
        sql.setdefault("logins", {})
        sql.setdefault("db_users", {})
        sql.setdefault("messages", {})
        self.visible = set()
        self.restarts = 0
        self.sids = 0
        self.user_statements: list[dict] = []  # what hpc_database_user.sql did, per database
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

    def _online(self, db):
        return any(r["name"] == db and r["state_desc"] == "ONLINE" for r in self.state["sql"]["databases"])

    def _sid(self, login_name):
        login = self.state["sql"]["logins"].get(login_name)
        return login["sid"] if login else None  # SUSER_SID of a missing login is NULL

    def sqlserver_probe(self, params, secrets):
        sql = self.state["sql"]
        out = {"volume": self.state["volume"], "folder": self.state["folder"]}
        out["sql"] = {k: copy.deepcopy(v) for k, v in sql.items() if k not in ("logins", "db_users", "messages")}
        out["sql"]["files"] = {f: f in self.visible for f in params["files"]}
        for text in params["sql"].values():
            assert "hpcops.aws_hpc" in text
        name = params.get("hpc_login")
        out["sql"]["hpc_login"] = None
        out["sql"]["users"] = {}
        if name:
            # probe_hpc_login.sql: the password is compared on the server, so it arrives as a secret.
            assert secrets.get("hpc_password"), "PWDCOMPARE needs the password: it travels as a secret"
            login = sql["logins"].get(name)
            if login:
                sql_login = login["type_desc"] == "SQL_LOGIN"
                out["sql"]["hpc_login"] = {
                    "name": name,
                    "type_desc": login["type_desc"],
                    "is_disabled": int(login["is_disabled"]),
                    "password_matches": int(login["password"] == secrets["hpc_password"]) if sql_login else None,
                }
            # probe_hpc_user.sql in each online database.
            sid = self._sid(name)
            for db in params["databases"]:
                if self._online(db):
                    out["sql"]["users"][db] = [
                        {
                            "user_name": u["name"],
                            "mapped": int(sid is not None and u["sid"] == sid),
                            "db_owner": int("db_owner" in u["roles"] or u["name"] == "dbo"),
                        }
                        for u in sql["db_users"].get(db, [])
                        if u["name"] == name or (sid is not None and u["sid"] == sid)
                    ]
        out["sql"]["error_messages"] = []
        if params.get("error_messages"):
            # list_error_messages.sql: user-defined (> 50000) us_english messages.
            out["sql"]["error_messages"] = [
                {"message_id": n, "severity": s, "text": text} for n, (s, text) in sorted(sql["messages"].items())
            ]
        return out

    def _hpc_login(self, params, secrets, change):
        """hpc_login.sql."""
        assert "CREATE LOGIN" in params["sql"]["hpc_login"], "the collection's own hpc_login.sql is sent"
        password = secrets.get("hpc_password")
        assert password, "the login's password travels as a secret"
        name = params["hpc_login"]
        login = self.state["sql"]["logins"].get(name)
        if login and login["type_desc"] != "SQL_LOGIN":
            raise HostError(
                "Failed to {} the SQL login {}: the login exists and is not a SQL login".format(change["action"], name)
            )
        if not login:
            self.sids += 1
            self.state["sql"]["logins"][name] = {
                "type_desc": "SQL_LOGIN",
                "is_disabled": False,
                "password": password,
                "sid": f"0x{0xA5000 + self.sids:032X}",
            }
            return
        if params["reset_password"] and login["password"] != password:
            login["password"] = password
        login["is_disabled"] = False

    def _hpc_user(self, params, change):
        """hpc_database_user.sql, run in database change["object"]."""
        assert "ALTER USER" in params["sql"]["hpc_database_user"]
        db, name = change["object"], params["hpc_login"]
        if not self._online(db):
            raise HostError(f"Failed to add the db_owner user of login {name} to {db}: database not found")
        sid = self._sid(name)
        if sid is None:
            raise HostError(f"Failed to add the db_owner user of login {name} to {db}: the login does not exist")
        users = self.state["sql"]["db_users"].setdefault(db, [])
        user = next((u for u in users if u["sid"] == sid), None)
        if user is None:
            user = next((u for u in users if u["name"] == name), None)
            if user is not None:
                user["sid"] = sid  # ALTER USER ... WITH LOGIN: the orphaned user is mapped
                self.user_statements.append({"db": db, "user": "remapped"})
            else:
                user = {"name": name, "sid": sid, "roles": []}
                users.append(user)
                self.user_statements.append({"db": db, "user": "created"})
        if "db_owner" not in user["roles"] and user["name"] != "dbo":
            user["roles"].append("db_owner")

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
                    self.state["sql"]["db_users"][change["object"]] = []
                else:
                    # An attached database brings its users back, with the sids of the instance that made them.
                    self.state["sql"]["db_users"][change["object"]] = copy.deepcopy(
                        self.disk_users.get(change["object"], [])
                    )
                    if mode == "attach_rebuild_log":
                        self.disk_files.add(change["log_file"])
                self._refresh_visible()
                self.state["sql"]["databases"].append({"name": change["object"], "state_desc": "ONLINE"})
                result["databases"][change["object"]] = mode
            elif step == "hpc_login":
                self._hpc_login(params, secrets, change)
            elif step == "hpc_user":
                self._hpc_user(params, change)
            elif step == "error_messages":
                assert "sp_addmessage" in params["sql"]["define_error_message"]
                for message in change["messages"]:
                    self.state["sql"]["messages"][message["msgnum"]] = (message["severity"], message["text"])
            elif step == "sa_login":
                self.state["sql"]["sa_disabled"] = action == "disable"
            result["changed"] = True
            result["done"].append(f"{step} {change['object']}")
        return result


class HeadNodeHost(ScriptedHost):
    # setup.exe file versions: HPC Pack 2016 Update 3 is 5.3.6435 (Azure/hpcpack CHANGELOG.md), HPC Pack 2019 6.x
    # (Azure/hpcpack-template MSFT_xHpcHeadNodeInstall compares ProductVersionRaw with "6.0.7150.0").
    SETUP_FILE_VERSIONS: ClassVar[dict] = {5: "5.3.6435.0", 6: "6.0.7150.0"}
    # Microsoft's InstallHPCHeadNode.ps1 (Azure/cyclecloud-hpcpack): the five, plus the HA pair for FileMajorPart 6.
    FIVE = ("MGMTDBCONSTR", "SCHDDBCONSTR", "RPTDBCONSTR", "DIAGDBCONSTR", "MONDBCONSTR")
    HA = ("HASTORAGEDBCONSTR", "HAWITNESSDBCONSTR")

    def __init__(self, state, exit_code=0, setup_major=5):
        super().__init__(state)
        self.exit_code = exit_code
        self.setup_major = setup_major
        self.setup_command_lines = []
        self.skip_component = None
        self.setup_switches = None
        self.setup_run_as = None
        # Cert:\LocalMachine\My: thumbprint -> HasPrivateKey. Empty on a fresh host; a test puts a CA-issued one there.
        self.my_store = {}
        # The certificate setup was given (-SSLThumbprint:<thumbprint>).
        self.setup_ssl_thumbprint = None

    def headnode_probe(self, params, secrets):
        assert "certificate_password" in secrets
        out = copy.deepcopy(self.state)
        out["identity"] = dict(self.identity)
        # Get-Item Cert:\LocalMachine\My\<thumbprint of the PFX> -ErrorAction SilentlyContinue, and its HasPrivateKey.
        thumbprint = (out["certificate"].get("pfx") or {}).get("Thumbprint")
        found = bool(thumbprint) and thumbprint in self.my_store
        out["certificate"]["in_my_store"] = {"Found": found, "HasPrivateKey": found and self.my_store[thumbprint]}
        if out.get("setup_exists"):
            # [System.Diagnostics.FileVersionInfo]::GetVersionInfo(<setup.exe>).FileMajorPart / FileVersion
            out["setup_version"] = {
                "FileMajorPart": self.setup_major,
                "FileVersion": self.SETUP_FILE_VERSIONS.get(self.setup_major, f"{self.setup_major}.0.0.0"),
            }
        return out

    def _certificate(self, change):
        """The certificate step; the thumbprint of a certificate it leaves in Cert:\\LocalMachine\\My, else None."""
        pfx = {
            "Exists": True,
            "Sha256": "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
            "PasswordValid": True,
            "HasPrivateKey": True,
            "Subject": "CN=" + str(change.get("common_name")),
            "Thumbprint": "3A1F0C9E7B6D5A4F3E2D1C0B9A8F7E6D5C4B3A29",
            "DaysLeft": 1825,
        }
        if change["action"] == "export":
            pfx.update(Thumbprint=change["thumbprint"], Subject=self.state["certificate"]["store"]["Subject"])
        elif change["action"] == "copy":
            pfx.update({k: self.state["certificate"]["source_pfx"][k] for k in ("Subject", "Thumbprint")})
        self.state["certificate"]["pfx"] = pfx
        if change["action"] == "export":
            self.my_store[pfx["Thumbprint"]] = True  # exported from Cert:\LocalMachine\My, so it is there
        if change["action"] == "create_self_signed":
            # New-SelfSignedCertificate -CertStoreLocation Cert:\LocalMachine\My (New-SelfSignedCertificate.md)
            self.my_store[pfx["Thumbprint"]] = True
        # A copied PFX is not in the store until the certificate_store step imports it.
        return None if change["action"] == "copy" else pfx["Thumbprint"]

    def headnode_apply(self, params, secrets):
        result = {"changed": False, "done": []}
        thumbprint = None  # the certificate this run made, exported or imported
        for change in params["changes"]:
            if change["step"] == "certificate":
                thumbprint = self._certificate(change)
            elif change["step"] == "certificate_store":
                # Import-PfxCertificate.md: imports the certificates and private keys of the PFX into the store.
                pfx = self.state["certificate"]["pfx"]
                self.my_store[pfx["Thumbprint"]] = pfx["HasPrivateKey"]
                thumbprint = pfx["Thumbprint"]
            elif change["step"] == "install":
                assert {"certificate_password", "sql_password"} <= set(secrets)
                # Microsoft's scripts pass -SSLThumbprint:<thumbprint> of a certificate in Cert:\LocalMachine\My and
                # refuse to run setup without it (Azure/hpcpack-template MSFT_xHpcHeadNodeInstall.psm1 @ 0e5bb8dc:
                # "The certificate with thumbprint ... doesn't exist under Cert:\LocalMachine\My").
                thumbprint = thumbprint or change["ssl_thumbprint"]
                if not thumbprint or not self.my_store.get(thumbprint):
                    raise HostError(
                        f"Failed to run HPC Pack head node setup with the certificate Cert:\\LocalMachine\\My\\"
                        f"{thumbprint}: it is not in the store with its private key"
                    )
                self.setup_ssl_thumbprint = thumbprint
                if not (self.identity["IsAdministrator"] and self.identity["Name"].startswith(self.NETBIOS_DOMAIN)):
                    raise HostError(
                        f"HPC Pack setup run as {self.identity['Name']}: not a domain user with local admin"
                    )
                switches = [s["name"] for s in params["install"]["switches"]]
                expected = list(self.FIVE + (self.HA if self.setup_major == 6 else ()))
                if [s.upper() for s in switches] != expected:
                    raise HostError(
                        f"setup {self.SETUP_FILE_VERSIONS.get(self.setup_major)} got connection strings {switches}; "
                        f"Microsoft's InstallHPCHeadNode.ps1 passes {expected} for FileMajorPart {self.setup_major}"
                    )
                self.setup_switches = switches
                self.setup_run_as = self.identity["Name"]
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
        self.credential_cache = {}  # account that ran Set-HpcJobCredential -> user name of the credential

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
        out["identity"] = dict(self.identity)
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
                # Set-HpcJobCredential.md: the credential cache of the user who ran the cmdlet.
                self.credential_cache[self.identity["Name"]] = change["object"]
                self.state["job_credential"] = {"UserName": change["object"], "CachedBy": self.identity["Name"]}
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
        if self.calls[-1]["become_user"] and not self.network_account.startswith(self.NETBIOS_DOMAIN + "\\"):
            # The share on the head node sees the runas network account: not a domain account, no access.
            out["certificates"] = dict(
                out["certificates"], share={}, share_error=f"Access is denied ({self.network_account})"
            )
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
