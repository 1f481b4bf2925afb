"""Guards on the collection's PowerShell that HPC Pack's documentation asks for, read with a real grammar.

Each .ps1 of plugins/plugin_utils/powershell/ is parsed with tree-sitter-powershell and every command is
checked:

- every HPC Pack cmdlet (``Verb-Hpc*`` that the scripts do not define themselves) passes ``-Scheduler``,
  directly or in the hashtable it is splatted with: without it the cmdlets use CCP_SCHEDULER, which a
  WinRM process started right after setup may not have (HPC Pack cmdlet reference, e.g. Get-HpcNode.md);
- ``Get-HpcTask`` gets ``-Job``/``-JobId`` or takes the jobs from a ``Get-HpcJob`` pipeline: one of them is
  required by every parameter set (Get-HpcTask.md, sets "id" and "job");
- ``Set-HpcNode -Role`` and ``Assign-HpcNodeTemplate`` only appear in scripts that also take nodes offline
  with ``Set-HpcNodeState`` or wait for an offline node (Set-HpcNode.md, Assign-HpcNodeTemplate.md);
- the HPC cmdlets are loaded with ``Add-PSSnapin Microsoft.HPC``, never ``Import-Module Microsoft.Hpc``;
- T-SQL runs only through ``Invoke-HpcSql`` (SqlClient parameters) with the collection's own scripts
  (``-Sql $Params.sql.<name>``, each a file of plugins/plugin_utils/sql/), never through ``Invoke-Sqlcmd``: its
  ``-Variable`` values are sqlcmd scripting variables, substituted into the script's text (learn.microsoft.com
  sql/tools/sqlcmd/sqlcmd-use-scripting-variables), so a password would become part of the batch, and SqlServer
  module versions before 22.0.52 refuse a value containing "=" (microsoft/SQLServerPSModule#25).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import powershell_parser, walk

from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import POWERSHELL_DIR, SQL_DIR

PARSER = powershell_parser()
SCRIPTS = sorted(Path(POWERSHELL_DIR).glob("*.ps1"))
HPC_CMDLET = re.compile(r"^[A-Za-z]+-Hpc[A-Za-z]+$")


def _nodes(node, kind):
    return (current for current in walk(node) if current.type == kind)


def _commands(path: Path):
    """(name, parameters, splatted variables, the command node) of every command in one script."""
    tree = PARSER.parse(path.read_bytes())
    assert not tree.root_node.has_error, path.name
    for command in _nodes(tree.root_node, "command"):
        name_node = next((c for c in command.children if c.type == "command_name"), None)
        if name_node is None:
            continue
        parameters = {p.text.decode().lstrip("-").split(":")[0].lower() for p in _nodes(command, "command_parameter")}
        splats = {
            v.text.decode()[1:]
            for v in _nodes(command, "variable")
            if v.text.decode().startswith("@") and v.parent is not None
        }
        yield name_node.text.decode(), parameters, splats, command


def _own_functions() -> set[str]:
    names = set()
    for path in SCRIPTS:
        names.update(m.group(1).lower() for m in re.finditer(r"^\s*function\s+([\w-]+)", path.read_text(), re.M))
    return names


def _splat_keys(text: str, variable: str) -> set[str]:
    """Keys of ``$variable = @{ ... }`` and of later ``$variable.Key = ...`` in the same script."""
    keys = set()
    name = re.escape(variable)
    match = re.search(r"\$" + name + r"\s*=\s*@\{(.*?)\n\s*\}|\$" + name + r"\s*=\s*@\{(.*?)\}", text, re.S)
    if match:
        body = match.group(1) or match.group(2) or ""
        keys.update(k.lower() for k in re.findall(r"(?:^|[;{\n])\s*(\w+)\s*=", body))
    keys.update(k.lower() for k in re.findall(r"\$" + name + r"\.(\w+)\s*=", text))
    return keys


def test_the_scripts_are_found():
    assert {p.name for p in SCRIPTS} >= {"_common.ps1", "cluster_apply.ps1", "computenode_probe.ps1"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_hpc_cmdlet_names_its_scheduler(path):
    own = _own_functions()
    text = path.read_text()
    missing = []
    for name, parameters, splats, _command in _commands(path):
        if not HPC_CMDLET.match(name) or name.lower() in own:
            continue
        if "scheduler" in parameters or any("scheduler" in _splat_keys(text, s) for s in splats):
            continue
        missing.append(name)
    assert not missing, f"{path.name}: HPC cmdlets without -Scheduler: {missing}"


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_get_hpctask_always_has_its_job(path):
    for name, parameters, _splats, command in _commands(path):
        if name.lower() != "get-hpctask" or {"job", "jobid"} & parameters:
            continue
        chain = command.parent
        earlier = [c.text.decode() for c in _nodes(chain, "command_name") if c.start_byte < command.start_byte]
        # Either piped from Get-HpcJob directly, or from a variable holding Get-HpcJob's output.
        text = path.read_text()
        source = re.search(r"\$(\w+)\s*\|\s*Get-HpcTask", text)
        fed_by_jobs = "Get-HpcJob" in earlier or (
            source is not None and re.search(r"\$" + re.escape(source.group(1)) + r"\s*=\s*@?\(?\s*Get-HpcJob\b", text)
        )
        assert fed_by_jobs, f"{path.name}: Get-HpcTask without -Job/-JobId and without Get-HpcJob before it"


def test_role_and_template_changes_come_with_an_offline_node():
    for path in SCRIPTS:
        names = {command[0].lower() for command in _commands(path)}
        if "set-hpcnode" in names or "assign-hpcnodetemplate" in names:
            assert "set-hpcnodestate" in names or "Offline" in path.read_text(), path.name


def test_hpc_cmdlets_are_loaded_as_the_documented_snapin():
    common = (Path(POWERSHELL_DIR) / "_common.ps1").read_text()
    commands = [(n, p, c.text.decode()) for n, p, _s, c in _commands(Path(POWERSHELL_DIR) / "_common.ps1")]
    assert any(n == "Add-PSSnapin" and "Microsoft.HPC" in text for n, _p, text in commands)
    assert not re.search(r"Import-Module\s+(-Name\s+)?Microsoft\.Hpc\b", common, re.I)
    for path in SCRIPTS:
        assert not re.search(r"Import-Module\s+(-Name\s+)?Microsoft\.Hpc\b", path.read_text(), re.I), path.name


def test_tsql_runs_only_as_the_collections_own_scripts_with_sqlclient_parameters():
    shipped = {p.stem for p in Path(SQL_DIR).glob("*.sql")}
    used = set()
    for path in SCRIPTS:
        for name, parameters, splats, command in _commands(path):
            assert name.lower() != "invoke-sqlcmd", f"{path.name}: Invoke-Sqlcmd splices -Variable values into text"
            if name.lower() != "invoke-hpcsql":
                continue
            assert "sql" in parameters and not splats, f"{path.name}: {command.text.decode()[:80]}"
            text = command.text.decode()
            match = re.search(r"-Sql\s+\$Params\.sql\.(\w+)\b", text)
            assert match, f"{path.name}: -Sql must name one of the collection's scripts: {text[:80]}"
            assert match.group(1) in shipped, f"{path.name}: no plugins/plugin_utils/sql/{match.group(1)}.sql"
            used.add(match.group(1))
    # Every shipped script is used, and every secret-bearing one takes the password as a parameter.
    assert used == shipped, shipped ^ used
    for name in ("hpc_login", "probe_hpc_login"):
        assert "@password" in (Path(SQL_DIR) / f"{name}.sql").read_text()


def test_head_node_setup_skips_the_components_only_as_data():
    text = (Path(POWERSHELL_DIR) / "headnode_apply.ps1").read_text()
    assert "'-SkipComponent:' + (ConvertTo-HpcArgument -Value $Params.install.skip_component)" in text
    code = [line for line in text.splitlines() if not line.strip().startswith("#")]
    assert not [line for line in code if "rras" in line.lower()], "the component list is data from the controller"
