"""Every cmdlet call in the shipped PowerShell, held against Microsoft's documented parameter sets.

The evidence is outside the project: tests/unit/fixtures/cmdlets/signatures.json records, for each
cmdlet the scripts call, the parameter sets of Microsoft's help pages (platyPS markdown in
MicrosoftDocs/PowerShell-Docs and MicrosoftDocs/windows-powershell-docs, or the published reference
page where no markdown exists), each with its source. Nothing here comes from the scripted host.

Every script is parsed with tree-sitter-powershell: plugins/plugin_utils/powershell/*.ps1, the
Packer scripts and the EC2 user-data templates (rendered with every conditional branch on, the
<powershell> tags stripped). For each command whose name is in the data file, PowerShell's
binding rules are applied statically:

- every named parameter must resolve to one parameter (exact name or alias, otherwise an
  unambiguous prefix, without case), common parameters included; a switch takes a value only
  when written -Switch:value;
- splatted hashtables (@name) are resolved from the hashtable literal assigned to $name in the
  same function (or script), plus keys added later with $name.Key = ...; keys added inside a
  branch may be absent, so they do not count towards mandatory parameters;
- at least one parameter set must hold every named parameter and have all of its mandatory
  parameters bound: by name, by position (the set's positional parameters in order), or by
  pipeline input when the command is not first in its pipeline and the parameter accepts it;
- provider-specific sets and provider dynamic parameters (about_FileSystem_Provider,
  about_WSMan_Provider) apply when the path argument names the provider (WSMan:\\..., Cert:\\...);
  when the path is computed at run time, each provider is tried.

Commands that are not in the data file must be functions the scripts define themselves or a
listed native executable. setup.exe flags are held against the flags Microsoft's HPC Pack install
scripts pass, recorded in the same file with their sources; the reference deployment's flags are
recorded too, for information, but do not make a flag acceptable.

Limits, stated rather than hidden: argument values are not checked (Set-HpcNode -Role with a
value the docs do not list is a run-time defect this test cannot see), nor which parameter set
PowerShell would pick when several fit; pipeline input is assumed to bind when the docs say the
parameter accepts pipeline input.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pytest
from conftest import powershell_parser, strip_user_data, walk

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._hpcpack_headnode import CONNECTION_STRING_SWITCHES

ROOT = Path(__file__).resolve().parents[2]
DATA = json.loads((Path(__file__).parent / "fixtures" / "cmdlets" / "signatures.json").read_text())
PARSER = powershell_parser()
PLUGIN_DIR = ROOT / "plugins" / "plugin_utils" / "powershell"
SHARED = ("_header.ps1", "_common.ps1", "_footer.ps1")

# Native executables the scripts run by name (not cmdlets; no parameter sets to check).
NATIVE_COMMANDS = {"choco": "Chocolatey CLI, installed by packer/scripts/windows/install-tools.ps1"}
# tree-sitter-powershell parses an `else` that follows an if-expression on the right of an assignment on
# a new line as a command named `else`; PowerShell accepts that layout. Keywords are never commands.
KEYWORDS = {"else", "elseif"}
PROVIDER_PREFIXES = (
    (re.compile(r"^wsman:", re.I), "WSMan"),
    (re.compile(r"^cert:", re.I), "Certificate"),
    (re.compile(r"^(hklm|hkcu):|^registry::", re.I), "Registry"),
    (re.compile(r"^(alias|function):", re.I), "Alias and Function"),
    (re.compile(r"^(env|variable):", re.I), "Other"),
    (re.compile(r"^([a-z]:\\|\\\\|\.{0,2}\\|[\w.-]+$)", re.I), "FileSystem"),
)


# --- the scripts -----------------------------------------------------------------------------------


def _render_template(path: Path) -> str:
    """Render a *.ps1.j2 with every branch on; keep line numbers; drop the EC2 user-data tags."""
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, keep_trailing_newline=True)
    env.filters["to_json"] = json.dumps
    env.filters["b64encode"] = lambda v: base64.b64encode(str(v).encode()).decode()
    values = {
        "aws_tier_name": "tier",
        "aws_tier_cluster_name": "cluster",
        "aws_tier_awx_callback_url": "https://awx.example.invalid/api/v2/job_templates/1/callback/",
        "aws_tier_awx_host_config_key": "key",
    }
    return strip_user_data(env.from_string(path.read_text()).render(**values))


def _scripts() -> list[tuple[str, str]]:
    scripts = []
    for path in sorted(PLUGIN_DIR.glob("*.ps1")) + sorted((ROOT / "packer" / "scripts" / "windows").glob("*.ps1")):
        scripts.append((path.relative_to(ROOT).as_posix(), strip_user_data(path.read_text())))
    for path in sorted((ROOT / "roles").rglob("*.ps1.j2")) + sorted((ROOT / "packer").rglob("*.ps1.j2")):
        scripts.append((path.relative_to(ROOT).as_posix(), _render_template(path)))
    return scripts


SCRIPTS = _scripts()


def _functions(text: str) -> set[str]:
    tree = PARSER.parse(text.encode())
    return {
        child.text.decode().lower()
        for node in walk(tree.root_node)
        if node.type == "function_statement"
        for child in node.children
        if child.type == "function_name"
    }


SHARED_FUNCTIONS = set().union(*(_functions((PLUGIN_DIR / name).read_text()) for name in SHARED))
# What every body defines (Invoke-HpcScript), which _footer.ps1 calls.
BODY_FUNCTIONS = set.intersection(
    *(_functions(p.read_text()) for p in PLUGIN_DIR.glob("*.ps1") if p.name not in SHARED)
)


def _project_functions(rel: str, text: str) -> set[str]:
    own = _functions(text)
    # Bodies are composed after _header/_common and before _footer (plugins/plugin_utils/_winrun.py).
    if rel.startswith("plugins/plugin_utils/powershell/"):
        return own | SHARED_FUNCTIONS | BODY_FUNCTIONS
    return own


# --- a command as PowerShell would bind it ---------------------------------------------------------


@dataclass
class Call:
    rel: str
    line: int
    name: str
    node: object  # the tree-sitter `command` node
    items: list = field(default_factory=list)  # (element node, bound with a colon to the previous one)
    pipeline_input: bool = False


def _literal(node) -> str | None:
    """The text of a constant argument (bare word or quoted string without interpolation), else None."""
    if node is None:
        return None
    text = node.text.decode()
    if node.type == "generic_token":
        return text
    if re.fullmatch(r"'[^']*'", text):
        return text[1:-1]
    if re.fullmatch(r'"[^"$`]*"', text):
        return text[1:-1]
    return None


def _hashtable_keys(node) -> list[str]:
    keys = []
    for entry in walk(node):
        if entry.type == "hash_entry":
            key = next(c for c in entry.children if c.type == "key_expression")
            keys.append(key.text.decode().strip("'\""))
    return keys


def _enclosing(node, types):
    while node is not None and node.type not in types:
        node = node.parent
    return node


GUARDED = "guarded"


def _splat_keys(command, variable: str) -> dict[str, bool | str] | None:
    """Keys of the hashtable splatted as @variable: the literal assigned last before the call in the
    same function (or script), plus keys added afterwards with $variable.Key = / $variable['Key'] =.
    Each key maps to True (always present), False (added in a branch) or GUARDED (added only when
    the loaded command has that parameter: `if ((Get-Command ...).Parameters.ContainsKey('Key'))`)."""
    scope = _enclosing(command, {"function_statement"}) or _enclosing(command, {"program"})
    call_at = command.start_byte
    literal_at, keys = None, {}
    assignments = [n for n in walk(scope) if n.type == "assignment_expression" and n.start_byte < call_at]
    target = "$" + variable.lower()
    for assignment in assignments:
        left = assignment.children[0].text.decode().strip().lower()
        if left == target:
            hashes = [n for n in walk(assignment) if n.type == "hash_literal_expression"]
            if hashes:
                literal_at = assignment.start_byte
                keys = dict.fromkeys(_hashtable_keys(hashes[0]), True)
    if literal_at is None:
        return None
    for assignment in assignments:
        if assignment.start_byte <= literal_at:
            continue
        left = assignment.children[0].text.decode().strip()
        added = re.fullmatch(r"\$" + re.escape(variable) + r"(?:\.(\w+)|\[['\"](\w+)['\"]\])", left, re.I)
        if added:
            # A key added inside a branch the call is not in may be missing when the call runs.
            branch = _enclosing(assignment, {"if_statement", "switch_statement", "foreach_statement"})
            always = branch is None or branch == _enclosing(
                command, {"if_statement", "switch_statement", "foreach_statement"}
            )
            key = added.group(1) or added.group(2)
            condition = branch.text.decode().split("{", 1)[0] if branch is not None else ""
            if not always and re.search(
                r"\.Parameters\.ContainsKey\(\s*['\"]" + re.escape(key) + "['\"]", condition, re.I
            ):
                keys.setdefault(key, GUARDED)
                continue
            keys[key] = keys.get(key) is True or always
    return keys


def _calls(rel: str, text: str):
    tree = PARSER.parse(text.encode())
    for node in walk(tree.root_node):
        if node.type != "command":
            continue
        names = [c for c in node.children if c.type == "command_name"]
        if not names:
            continue  # & $expression: nothing static to check
        call = Call(rel=rel, line=node.start_point[0] + 1, name=names[0].text.decode(), node=node)
        chain = node.parent
        call.pipeline_input = chain is not None and chain.type == "pipeline_chain" and chain.children.index(node) > 0
        elements = [c for c in node.children if c.type == "command_elements"]
        colon, separated = False, True
        for element in elements[0].children if elements else []:
            if element.type == "command_argument_sep":
                colon, separated = element.text.decode().strip() == ":", True
                continue
            if element.type in ("redirection", "comment"):
                continue
            if element.type == "argument_list" and not separated:
                continue  # $now.AddYears(2): tree-sitter splits the method call off its target; one argument
            call.items.append((element, colon))
            colon, separated = False, False
        yield call


# --- the documented signatures ---------------------------------------------------------------------


COMMON = DATA["common_parameters"]["parameters"]


@dataclass
class Signature:
    cmdlet: str
    variant: str
    parameters: dict  # canonical name -> {"aliases", "switch"}
    sets: dict  # set name -> {"parameters", "mandatory", "positional", "pipeline"}
    source: dict
    provider: str | None = None


def _signatures(name: str, provider: str | None) -> list[Signature]:
    """Each documented variant of a cmdlet as seen on one provider."""
    entry = DATA["cmdlets"][name]
    variants = entry["variants"] if "variants" in entry else {entry["module"]: entry}
    result = []
    for variant, doc in variants.items():
        parameters = {n: dict(p) for n, p in doc["parameters"].items()}
        if doc.get("common_parameters", True):
            for n, p in COMMON.items():
                parameters.setdefault(n, {"aliases": p["aliases"], "switch": p["switch"], "common": True})
        sets = {k: dict(v) for k, v in doc["parameter_sets"].items()}
        if provider is not None:
            for set_name, s in doc.get("provider_parameter_sets", {}).get(provider, {}).items():
                sets[f"{set_name} ({provider} provider)"] = s
            dynamic = {
                n: p
                for n, p in DATA["provider_dynamic_parameters"].get(provider, {}).get("parameters", {}).items()
                if name in p["cmdlets"]
            }
            for n, p in dynamic.items():
                parameters.setdefault(n, {"aliases": [], "switch": p["switch"], "dynamic": provider})
            if dynamic:
                sets = {k: {**v, "parameters": sorted(set(v["parameters"]) | set(dynamic))} for k, v in sets.items()}
        for s in sets.values():
            for n in s["parameters"]:
                parameters.setdefault(n, {"aliases": [], "switch": False})
        result.append(Signature(name, variant, parameters, sets, doc["source"], provider))
    return result


def _resolve(signature: Signature, written: str) -> tuple[str | None, str | None]:
    """Resolve -written to a parameter as PowerShell does: exact name or alias first, then a prefix
    that names exactly one parameter. Returns (parameter, error)."""
    lowered = written.lower()
    for name, info in signature.parameters.items():
        if lowered == name.lower() or lowered in (a.lower() for a in info.get("aliases", [])):
            return name, None
    matches = sorted(
        {
            name
            for name, info in signature.parameters.items()
            if name.lower().startswith(lowered) or any(a.lower().startswith(lowered) for a in info.get("aliases", []))
        }
    )
    if len(matches) == 1:
        return matches[0], None
    if matches:
        return None, f"-{written} is ambiguous: it could be any of -{', -'.join(matches)}"
    return None, f"-{written} is not a parameter of {signature.cmdlet} ({signature.variant})"


def _provider_of(call: Call) -> str | None:
    """The provider of the path argument when it is a constant, else None (decided at run time)."""
    path_node = None
    items = call.items
    for index, (element, _colon) in enumerate(items):
        if element.type == "command_parameter":
            written = element.text.decode().lstrip("-").rstrip(":").lower()
            if written in ("path", "literalpath", "p", "lp", "pspath") and index + 1 < len(items):
                path_node = items[index + 1][0]
                break
    if path_node is None:
        loose = [e for e, _node in items if e.type != "command_parameter"]
        path_node = loose[0] if loose and _literal(loose[0]) is not None else None
    value = _literal(path_node)
    if value is None:
        return None
    for pattern, provider in PROVIDER_PREFIXES:
        if pattern.search(value):
            return provider
    return None


def _bind(call: Call, signature: Signature) -> tuple[dict[str, bool], int, list[str]]:
    """Named parameters (-> bound on every run), the number of positional arguments, and problems."""
    problems = []
    bound: dict[str, bool] = {}
    positional = 0
    items = call.items
    index = 0
    while index < len(items):
        element, _colon = items[index]
        index += 1
        text = element.text.decode()
        if element.type == "command_parameter":
            name, error = _resolve(signature, text.lstrip("-").rstrip(":"))
            if error:
                problems.append(error)
                continue
            colon_next = index < len(items) and items[index][1]
            if not signature.parameters[name]["switch"] or colon_next:
                if index >= len(items) or (items[index][0].type == "command_parameter" and not colon_next):
                    problems.append(f"-{name} needs an argument and none follows")
                    continue
                index += 1  # its value
            bound[name] = True
            continue
        splat = re.fullmatch(r"@(\w+)", text)
        if not splat:
            positional += 1
            continue
        keys = _splat_keys(call.node, splat.group(1))
        if keys is None:
            problems.append(f"@{splat.group(1)}: no hashtable literal assigned to ${splat.group(1)} in the same scope")
            continue
        for key, always in keys.items():
            name, error = _resolve(signature, key)
            if error and always == GUARDED:
                continue  # added only where the loaded command has the parameter
            if error:
                problems.append(f"{error} (key of the splatted hashtable ${splat.group(1)})")
                continue
            bound[name] = bound.get(name, False) or always is True
    return bound, positional, problems


def _check_against(call: Call, signature: Signature) -> list[str]:
    bound, positional, problems = _bind(call, signature)
    if problems:
        return problems
    reasons = []
    for set_name, parameter_set in signature.sets.items():
        members = set(parameter_set["parameters"]) | {n for n, p in signature.parameters.items() if p.get("common")}
        outside = sorted(n for n in bound if n not in members)
        if outside:
            reasons.append(f"set {set_name}: -{', -'.join(outside)} not in this set")
            continue
        free_positional = [n for n in parameter_set["positional"] if n not in bound]
        if positional > len(free_positional):
            reasons.append(
                f"set {set_name}: {positional} positional argument(s),"
                f" {len(free_positional)} positional parameter(s) free"
            )
            continue
        satisfied = {n for n, always in bound.items() if always} | set(free_positional[:positional])
        if call.pipeline_input:
            satisfied |= set(parameter_set["pipeline"])
        missing = sorted(set(parameter_set["mandatory"]) - satisfied)
        if missing:
            reasons.append(f"set {set_name}: mandatory -{', -'.join(missing)} not given")
            continue
        return []
    return [f"no parameter set fits: {'; '.join(reasons)}"]


def check(call: Call) -> list[str]:
    """Problems of one call of a documented cmdlet; empty when it fits. Where two modules provide the
    cmdlet, the call must fit each (whichever is loaded on the host)."""
    entry = DATA["cmdlets"][call.name]
    docs = entry.get("variants") or {entry["module"]: entry}
    uses_providers = any(doc.get("provider_parameter_sets") for doc in docs.values()) or any(
        call.name in p["cmdlets"]
        for prov in DATA["provider_dynamic_parameters"].values()
        for p in prov["parameters"].values()
    )
    provider = _provider_of(call)
    if provider or not uses_providers:
        providers = [provider]
    else:  # the path is computed at run time: any provider the docs describe may be the one
        providers = [None, "FileSystem", "WSMan", "Certificate", "Registry", "Alias and Function"]
    problems: dict[str, list[str]] = {}
    for candidate in providers:
        for signature in _signatures(call.name, candidate):
            found = _check_against(call, signature)
            if signature.variant not in problems or (problems[signature.variant] and not found):
                problems[signature.variant] = found
    return [f"[{variant}] {p}" if len(problems) > 1 else p for variant, found in problems.items() for p in found]


def _documented(name: str) -> str | None:
    lowered = name.lower()
    return next((c for c in DATA["cmdlets"] if c.lower() == lowered), None)


def _source_text(name: str) -> str:
    entry = DATA["cmdlets"][name]
    docs = entry["variants"].values() if "variants" in entry else [entry]
    return " | ".join(
        doc["source"].get("url")
        or f"{doc['source']['repository']}:{doc['source']['path']}@{doc['source']['commit'][:10]}"
        for doc in docs
    )


def _all_calls():
    for rel, text in SCRIPTS:
        functions = _project_functions(rel, text)
        for call in _calls(rel, text):
            yield call, functions


CALLS = list(_all_calls())


def _violations() -> list[str]:
    found = []
    for call, _functions_in_scope in CALLS:
        name = _documented(call.name)
        if name is None:
            continue
        call.name = name
        for problem in check(call):
            found.append(f"{call.rel}:{call.line}: {name}: {problem} (documented at {_source_text(name)})")
    return found


# --- the tests -------------------------------------------------------------------------------------


def test_there_are_calls_to_check():
    checked = {c.name for c, _path in CALLS if _documented(c.name)}
    assert len(SCRIPTS) >= 15
    # Invoke-Sqlcmd is no longer called (T-SQL runs with SqlClient parameters); the checker tests below keep it.
    assert {"Get-HpcNode", "Set-HpcNodeState", "Set-Disk", "New-Item", "Set-HpcNetwork"} <= checked


def test_every_signature_names_its_source():
    for name, entry in DATA["cmdlets"].items():
        docs = entry["variants"].values() if "variants" in entry else [entry]
        for doc in docs:
            source = doc["source"]
            assert source.get("url") or {"repository", "path", "commit"} <= set(source), name
            assert doc["parameter_sets"], name
            for set_name, parameter_set in doc["parameter_sets"].items():
                assert set(parameter_set["mandatory"]) <= set(parameter_set["parameters"]), (name, set_name)
                assert set(parameter_set["positional"]) <= set(parameter_set["parameters"]), (name, set_name)


def test_no_cmdlet_is_left_undocumented():
    """A cmdlet whose documentation could not be found is listed under `undocumented` with what was
    searched; such a call is unchecked, and this test says so instead of passing silently."""
    assert DATA["undocumented"] == {}, json.dumps(DATA["undocumented"], indent=1)


def test_every_command_is_documented_or_defined_by_the_project():
    unknown = sorted(
        {
            f"{call.rel}:{call.line}: {call.name}"
            for call, functions in CALLS
            if _documented(call.name) is None
            and call.name.lower() not in functions
            and call.name.lower() not in NATIVE_COMMANDS
            and call.name.lower() not in KEYWORDS
        }
    )
    assert unknown == [], "commands neither in signatures.json nor defined by the scripts:\n" + "\n".join(unknown)


def test_every_cmdlet_call_fits_a_documented_parameter_set():
    violations = _violations()
    assert violations == [], "calls that do not fit Microsoft's documented parameter sets:\n" + "\n".join(violations)


# The checker itself, on calls whose verdict the documentation settles.
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("Get-HpcTask -Scheduler hn -State Running", "mandatory -JobId not given"),
        ("Get-HpcJob -State Running -Scheduler hn | Get-HpcTask -State Running -Scheduler hn", None),
        ("Get-HpcTask -JobId 4 -State Running", None),
        ("Set-HpcNode -Name hn -Rolez ComputeNode", "-Rolez is not a parameter of Set-HpcNode"),
        ("Get-Item -Lit 'C:\\x'", None),
        ("Get-ChildItem -LiteralPath 'C:\\x' -Recurse -File", None),
        # -File is in the Items set's syntax, and a FileSystem dynamic parameter elsewhere: not on the registry.
        ("Get-ChildItem -LiteralPath 'HKLM:\\SOFTWARE' -File", "no parameter set fits"),
        ("Get-ChildItem -Filt -Recurse", "-Filter needs an argument"),
        ("New-SelfSignedCertificate -DnsName a -NotAfter $now.AddYears(2)", None),
        ("Set-HpcNodeState hn -State Online", None),
        ("Set-HpcNodeState -State Online", "mandatory -Name not given"),
        ("Set-HpcNodeState a b -State Online", "positional argument"),
        ("Set-HpcNodeState -Name hn -State Offline -Force -Scheduler hn -Confirm:$false", None),
        ("Get-HpcNode -Name hn -S hn", "ambiguous"),
        ("$s = @{ DomainName = 'x'; Credential = $c }\nAdd-Computer @s", None),
        (
            "$s = @{ Credential = $c }\nif ($x) { $s.DomainName = 'x' }\nAdd-Computer @s",
            "mandatory -DomainName not given",
        ),
        (
            "$s = @{ Credential = $c; Bogus = 1 }\nAdd-Computer @s -DomainName x",
            "-Bogus is not a parameter of Add-Computer",
        ),
        ("Add-Computer @nowhere", "no hashtable literal"),
        (
            "New-Item -Path WSMan:\\localhost\\Listener -Transport HTTPS -Address * -CertificateThumbPrint $t -Force",
            None,
        ),
        ("New-Item -Path 'C:\\x' -Transport HTTPS", "-Transport is not a parameter of New-Item"),
        (
            "Invoke-Sqlcmd -ServerInstance s -InputFile f -TrustServerCertificate",
            "[SQLPS] -TrustServerCertificate is not a parameter",
        ),
        ("Invoke-Sqlcmd -ServerInstance s -Database d -InputFile f -Variable $v -QueryTimeout 60", None),
        (
            "$q = @{ ServerInstance = 's' }\n"
            "if ((Get-Command -Name Invoke-Sqlcmd).Parameters.ContainsKey('TrustServerCertificate'))"
            " { $q.TrustServerCertificate = $true }\nInvoke-Sqlcmd @q -InputFile f",
            None,
        ),
        (
            "$q = @{ ServerInstance = 's' }\nif ($modern) { $q.TrustServerCertificate = $true }\n"
            "Invoke-Sqlcmd @q -InputFile f",
            "[SQLPS] -TrustServerCertificate is not a parameter",
        ),
    ],
)
def test_the_checker_applies_the_documented_rules(script, expected):
    calls = [c for c in _calls("snippet.ps1", script) if _documented(c.name)]
    problems = []
    for call in calls:
        call.name = _documented(call.name)
        problems += check(call)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


# --- setup.exe ------------------------------------------------------------------------------------

SETUP = DATA["setup_exe"]
SETUP_FLAGS = {name.lower(): (name, info) for name, info in SETUP["flags"].items()}
ROLE_OF_SCRIPT = {"headnode_apply.ps1": "headnode", "computenode_apply.ps1": "computenode"}


def _setup_flags(text: str) -> list[tuple[str, bool, int]]:
    """(flag, written with a value, line) for every setup.exe flag a script builds: the string
    literals '-Flag' / '-Flag:' in the switch clause that calls Invoke-HpcSetup, and the '-{0}:'
    format string fed from CONNECTION_STRING_SWITCHES (plugins/module_utils/_hpcpack_headnode.py)."""
    tree = PARSER.parse(text.encode())
    flags = []
    for node in walk(tree.root_node):
        if node.type != "command" or node.children[0].text.decode().lower() != "invoke-hpcsetup":
            continue
        clause = _enclosing(node, {"switch_clause"}) or _enclosing(node, {"function_statement"})
        for literal in walk(clause):
            if literal.type != "string_literal":
                continue
            value = literal.text.decode()[1:-1]
            line = literal.start_point[0] + 1
            if value == "-{0}:":
                flags += [(switch, True, line) for switch, _catalog in CONNECTION_STRING_SWITCHES]
                continue
            match = re.fullmatch(r"-(\w+)(:?)", value)
            if match:
                flags.append((match.group(1), bool(match.group(2)), line))
    return flags


SETUP_SCRIPTS = {name: _setup_flags((PLUGIN_DIR / name).read_text()) for name in ROLE_OF_SCRIPT}


def test_setup_is_run_with_flags():
    for name, flags in SETUP_SCRIPTS.items():
        assert {flag[0].lower() for flag in flags} >= {"unattend"}, name


MICROSOFT_SOURCES = sorted(key for key, source in SETUP["sources"].items() if source["microsoft"] is True)


def _setup_flag_problems(flag: str, with_value: bool, role: str) -> list[str]:
    """Why setup.exe -flag (written with a value or not) is not one Microsoft's install scripts pass for
    ``role``; empty when it is. A flag only a non-Microsoft source passes (the reference deployment,
    arjanvanbekkum/HPC) stays recorded in signatures.json for information and fails here.
    Limit: signatures.json records a flag's roles over all its sources, not per source; for every flag a
    Microsoft script passes, the recorded roles are the ones that script passes it for."""
    known = SETUP_FLAGS.get(flag.lower())
    if known is None:
        return [f"-{flag} is passed by none of {', '.join(SETUP['sources'])}"]
    canonical, info = known
    problems = []
    microsoft = [s for s in info["passed_by"] if s in MICROSOFT_SOURCES]
    if not microsoft:
        problems.append(
            f"-{canonical} is passed only by {', '.join(info['passed_by'])}, no Microsoft script"
            f" ({', '.join(MICROSOFT_SOURCES)})"
        )
    if info["value"] != with_value:
        form = "-Flag:value" if info["value"] else "-Flag without a value"
        problems.append(f"-{flag}: the install scripts pass it as {form}")
    if role not in info["roles"]:
        problems.append(f"-{canonical} is passed for {', '.join(info['roles'])}, not {role}")
    return problems


@pytest.mark.parametrize("script", sorted(ROLE_OF_SCRIPT))
def test_setup_flags_are_flags_the_install_scripts_pass(script):
    """Each flag must be one a Microsoft HPC Pack install script passes, in the same form (-Flag or
    -Flag:value) and for the same node role. The sources are recorded per flag in signatures.json."""
    problems = [
        f"plugins/plugin_utils/powershell/{script}:{line}: {problem}"
        for flag, with_value, line in SETUP_SCRIPTS[script]
        for problem in _setup_flag_problems(flag, with_value, ROLE_OF_SCRIPT[script])
    ]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("flag", "with_value", "role", "expected"),
    [
        ("SSLThumbprint", True, "headnode", None),
        ("sslthumbprint", True, "computenode", None),
        # Recorded from the reference deployment only: not a flag Microsoft's scripts pass.
        ("SSLPfxFilePath", True, "headnode", "passed only by reference-deployment, no Microsoft script"),
        ("SSLPfxFilePassword", True, "computenode", "no Microsoft script"),
        ("ClusterName", True, "computenode", "not computenode"),
        ("HeadNode", True, "headnode", "without a value"),
        ("Bogus", False, "headnode", "passed by none of"),
    ],
)
def test_the_setup_flag_rule_takes_microsofts_scripts_only(flag, with_value, role, expected):
    problems = _setup_flag_problems(flag, with_value, role)
    if expected is None:
        assert problems == []
    else:
        assert any(expected in p for p in problems), problems


def test_the_reference_deployments_flags_stay_recorded_for_information():
    assert SETUP["sources"]["reference-deployment"]["microsoft"] is False
    assert {"SSLPfxFilePath", "SSLPfxFilePassword"} <= set(SETUP["flags"])
    assert "hpcpack-template" in MICROSOFT_SOURCES and "cyclecloud-hpcpack" in MICROSOFT_SOURCES


def test_head_node_passes_every_remote_database_flag_of_the_hpc_pack_2016_scripts():
    passed = {flag[0].lower() for flag in SETUP_SCRIPTS["headnode_apply.ps1"]}
    expected = SETUP["headnode_remote_database_flags"]["hpcpack-template-2016"]
    assert [f for f in expected if f.lower() not in passed] == []


def test_every_setup_flag_names_its_sources():
    for name, info in SETUP["flags"].items():
        assert info["passed_by"] and set(info["passed_by"]) <= set(SETUP["sources"]), name
    for key, source in SETUP["sources"].items():
        assert source["repository"] and re.fullmatch(r"[0-9a-f]{40}", source["commit"]) and source["paths"], key
        assert isinstance(source["microsoft"], bool), key  # the flag rule counts Microsoft's scripts only
