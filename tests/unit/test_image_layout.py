"""The Packer image layout against the roles: every path a role or module default expects on the image is one
the bake puts there.

Read from the files themselves, not restated:

- the bake: the provisioners of packer/*/*.pkr.hcl (``script`` of the powershell provisioners, ``destination``
  of file provisioners) and, in each PowerShell script they run, what it creates - ``New-Item -ItemType
  Directory``, ``Expand-Archive -DestinationPath``, ``Set-Content``/``Copy-Item`` targets - and which files it
  checks after unpacking (``Test-Path -LiteralPath <file> -PathType Leaf`` that ends in ``throw``), with the
  script's own variables and ``Join-Path`` resolved (tree-sitter-powershell);
- the expectations: every Windows path among the defaults of roles/*/meta/argument_specs.yml and
  roles/*/defaults/main.yml, and of the Windows modules' argument specs (plugins/module_utils/_hpcpack_specs.py).

Every such path must be classified below, so a new path default cannot escape the check: either the image must
carry it (then a bake script for that image must put it there), or something at deployment creates it (then
the named apply script or role task must hold the statement that does). The head node's install share, where
the certificate is published, has no path default: win_hpc_headnode derives it from the HPC Pack version, and
HPC Pack setup creates it.
"""

from __future__ import annotations

import ntpath
import re
from pathlib import Path

import pytest
import yaml
from conftest import powershell_parser, walk

from ansible_collections.hpcops.aws_hpc.plugins.action.win_hpc_sqlserver import SQL_FILES
from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _hpcpack_specs as specs
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._winrun import SQL_DIR

ROOT = Path(__file__).resolve().parents[2]
PARSER = powershell_parser()
WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\")

# Which image each Packer template bakes (hpc:role of the AMI; the hpcpack template serves both HPC roles).
IMAGES = {"hpcpack": ("headnode", "computenode"), "sqlserver": ("sqlserver",)}

# Paths the image must carry: (where the default is, which option) -> the image role(s) that need it.
ON_IMAGE = {
    ("role headnode", "headnode_setup_path"): "headnode",
    ("role computenode", "computenode_setup_path"): "computenode",
    ("module win_hpc_headnode", "install.setup_path"): "headnode",
    ("module win_hpc_computenode", "setup_path"): "computenode",
    # The autogrow service runs on the head node (playbooks/autogrow.yml) with this Python.
    ("role autogrow_service", "autogrow_service_windows_python"): "headnode",
}

# Paths created at deployment: -> (the file that creates the folder, the statement in it that does).
APPLY = "plugins/plugin_utils/powershell/"
SQL_FOLDER = "'folder' {\n                try {\n                    New-Item -ItemType Directory -Path $object -Force"
AT_DEPLOYMENT = {
    ("role computenode", "computenode_certificate_dir"): (
        APPLY + "computenode_apply.ps1",
        "New-Item -ItemType Directory -Path $Params.certificate_dir",
    ),
    ("module win_hpc_computenode", "certificate_dir"): (
        APPLY + "computenode_apply.ps1",
        "New-Item -ItemType Directory -Path $Params.certificate_dir",
    ),
    ("module win_hpc_headnode", "certificate.pfx_path"): (
        APPLY + "headnode_apply.ps1",
        "New-Item -ItemType Directory -Path (Split-Path -Path $pfxPath -Parent)",
    ),
    ("role sqlserver", "sqlserver_data_path"): (
        APPLY + "sqlserver_apply.ps1",
        SQL_FOLDER,
    ),
    ("module win_hpc_sqlserver", "data_path"): (
        APPLY + "sqlserver_apply.ps1",
        SQL_FOLDER,
    ),
    ("role autogrow_service", "autogrow_service_windows_dir"): (
        "roles/autogrow_service/tasks/windows.yml",
        'ansible.windows.win_file:\n    path: "{{ autogrow_service_windows_dir }}"\n    state: directory',
    ),
}


MODULE_SPECS = {
    "module win_hpc_sqlserver": specs.SQLSERVER,
    "module win_hpc_headnode": specs.HEADNODE,
    "module win_hpc_computenode": specs.COMPUTENODE,
    "module win_hpc_domain_membership": specs.DOMAIN_MEMBERSHIP,
    "module win_hpc_cluster": specs.CLUSTER,
}


# --- the bake ----------------------------------------------------------------------------------------


def _blocks(text: str, kind: str):
    """(label, body) of every `kind "label" { ... }` block of an HCL file (braces matched, strings skipped)."""
    for match in re.finditer(kind + r'\s+"([^"]+)"\s*\{', text):
        depth, i, quoted = 1, match.end(), False
        while depth:
            char = text[i]
            if char == '"' and text[i - 1] != "\\":
                quoted = not quoted
            elif not quoted:
                depth += {"{": 1, "}": -1}.get(char, 0)
            i += 1
        yield match.group(1), text[match.end() : i - 1]


def provisioners(text: str) -> list[dict]:
    found = []
    for kind, body in _blocks(text, "provisioner"):
        entry = {"type": kind}
        for key in ("script", "source", "destination"):
            value = re.search(r"^\s*" + key + r'\s*=\s*"([^"]*)"', body, re.M)
            if value:
                entry[key] = value.group(1)
        scripts = re.search(r"^\s*scripts\s*=\s*\[([^\]]*)\]", body, re.M)
        if scripts:
            entry["scripts"] = re.findall(r'"([^"]*)"', scripts.group(1))
        found.append(entry)
    return found


def _script_path(value: str) -> Path:
    assert value.startswith("${local.scripts}/"), value
    return ROOT / "packer" / "scripts" / "windows" / value.split("/", 1)[1]


class Resolver:
    """Constant paths of one script: string literals, its own variables, Join-Path."""

    def __init__(self):
        self.values: dict[str, str | None] = {}

    def text(self, expr: str) -> str | None:
        expr = expr.strip()
        while expr.startswith("(") and expr.endswith(")"):
            expr = expr[1:-1].strip()
        if re.fullmatch(r"'[^']*'", expr):
            return expr[1:-1]
        if re.fullmatch(r'"[^"`$]*"', expr):
            return expr[1:-1]
        if re.fullmatch(r"\$\w+", expr):
            return self.values.get(expr[1:].lower())
        join = re.fullmatch(r"Join-Path\s+(?:-Path\s+)?(\S+)\s+(?:-ChildPath\s+)?(.+)", expr, re.I)
        if join:
            parent, child = self.text(join.group(1)), self.text(join.group(2))
            return ntpath.join(parent, child) if parent and child else None
        return None


def _arguments(command) -> dict[str, str]:
    elements = next((c for c in command.children if c.type == "command_elements"), None)
    found, pending = {}, None
    for element in elements.children if elements else []:
        if element.type == "command_argument_sep":
            continue
        if element.type == "command_parameter":
            pending = element.text.decode().lstrip("-").lower()
            found[pending] = ""
        elif pending:
            found[pending] = element.text.decode()
            pending = None
    return found


def bake_layout(script: Path) -> dict[str, set[str]]:
    """What one bake script leaves on the image: folders it creates or unpacks into, files it writes, and files
    it checks for (and fails without) after unpacking."""
    tree = PARSER.parse(script.read_bytes())
    assert not tree.root_node.has_error, script
    resolve = Resolver()
    layout = {"folders": set(), "unpacked": set(), "files": set(), "checked": set()}
    for node in walk(tree.root_node):
        if node.type == "assignment_expression":
            name = node.children[0].text.decode().strip()
            if re.fullmatch(r"\$\w+", name):
                resolve.values[name[1:].lower()] = resolve.text(node.children[-1].text.decode())
            continue
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is None:
            continue
        name, args = name_node.text.decode().lower(), _arguments(node)
        if name == "new-item" and args.get("itemtype", "").lower() == "directory":
            layout["folders"].add(resolve.text(args.get("path", "")))
        elif name == "expand-archive":
            layout["unpacked"].add(resolve.text(args.get("destinationpath", "")))
        elif name == "set-content":
            layout["files"].add(resolve.text(args.get("path", "")))
        elif name == "copy-item" and "destination" in args:
            layout["files"].add(resolve.text(args["destination"]))
        elif name == "test-path" and args.get("pathtype", "").lower() == "leaf":
            guard = node.parent
            while guard is not None and guard.type != "if_statement":
                guard = guard.parent
            if guard is not None and "throw" in guard.text.decode():
                layout["checked"].add(resolve.text(args.get("literalpath") or args.get("path", "")))
    return {k: {p.lower() for p in v if p} for k, v in layout.items()}


def image_layouts() -> dict[str, dict[str, set[str]]]:
    """Per image role: the union of what the bake scripts and file provisioners of its template put there."""
    images = {}
    for template, roles in IMAGES.items():
        text = (ROOT / "packer" / template / f"{template}.pkr.hcl").read_text()
        layout = {"folders": set(), "unpacked": set(), "files": set(), "checked": set()}
        for provisioner in provisioners(text):
            if provisioner["type"] == "file":
                layout["files"].add(provisioner["destination"].lower())
            for value in [provisioner.get("script"), *provisioner.get("scripts", [])]:
                if value and value.endswith(".ps1"):
                    for key, paths in bake_layout(_script_path(value)).items():
                        layout[key] |= paths
        for role in roles:
            images[role] = layout
    return images


# --- what the roles and modules expect ------------------------------------------------------------------


def _spec_paths(argument_spec: dict, prefix: str = ""):
    for name, option in argument_spec.items():
        default = option.get("default")
        if isinstance(default, str) and WINDOWS_PATH.match(default):
            yield prefix + name, default
        if option.get("options"):
            yield from _spec_paths(option["options"], prefix + name + ".")


def expected_paths() -> dict[tuple[str, str], str]:
    found = {}
    for spec_file in sorted((ROOT / "roles").glob("*/meta/argument_specs.yml")):
        role = spec_file.parts[-3]
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        defaults = yaml.safe_load((spec_file.parents[1] / "defaults" / "main.yml").read_text()) or {}
        for name, option in options.items():
            for value in (option.get("default"), defaults.get(name)):
                if isinstance(value, str) and WINDOWS_PATH.match(value):
                    assert option.get("default") == defaults.get(name), (role, name, "argument_specs vs defaults")
                    found[(f"role {role}", name)] = value
    for module, spec in MODULE_SPECS.items():
        for name, value in _spec_paths(spec["argument_spec"]):
            found[(module, name)] = value
    return found


EXPECTED = expected_paths()
IMAGES_BAKED = image_layouts()


# --- the tests -------------------------------------------------------------------------------------------


def test_the_parsers_find_what_the_bake_does():
    hpcpack = provisioners((ROOT / "packer" / "hpcpack" / "hpcpack.pkr.hcl").read_text())
    assert {"type": "powershell", "script": "${local.scripts}/install-hpcpack.ps1"} in hpcpack
    layout = bake_layout(ROOT / "packer" / "scripts" / "windows" / "install-hpcpack.ps1")
    assert layout["unpacked"] == {"c:\\hpcpack\\setup"}
    assert "c:\\hpcpack" in layout["folders"] and "c:\\hpcpack\\image-role.txt" in layout["files"]
    sample = 'build {\n  provisioner "file" {\n    source = "x.cer"\n    destination = "C:\\\\Certs\\\\x.cer"\n  }\n}'
    assert provisioners(sample) == [{"type": "file", "source": "x.cer", "destination": "C:\\\\Certs\\\\x.cer"}]


def test_every_windows_path_default_is_classified():
    classified = set(ON_IMAGE) | set(AT_DEPLOYMENT)
    assert set(EXPECTED) == classified, {
        "unclassified (say where it comes from)": sorted(set(EXPECTED) - classified),
        "gone (drop from the tables)": sorted(classified - set(EXPECTED)),
    }


@pytest.mark.parametrize(("where", "option"), sorted(ON_IMAGE), ids=str)
def test_paths_expected_on_the_image_are_baked(where, option):
    path = EXPECTED[(where, option)].lower()
    layout = IMAGES_BAKED[ON_IMAGE[(where, option)]]
    # Written by the bake, or a file of an archive or installer the bake fails without (checked after it ran).
    baked = layout["files"] | layout["folders"] | layout["checked"]
    assert path in baked, f"{where} {option}: {path} is not on the {ON_IMAGE[(where, option)]} image"


def test_setup_exe_comes_from_the_unpacked_installer():
    for role in ("headnode", "computenode"):
        assert specs.SETUP_PATH.lower() in IMAGES_BAKED[role]["checked"]
        assert ntpath.dirname(specs.SETUP_PATH.lower()) in IMAGES_BAKED[role]["unpacked"]


def test_the_setup_path_has_one_default():
    setup = {value for (where, option), value in EXPECTED.items() if option.endswith("setup_path")}
    assert setup == {specs.SETUP_PATH}


@pytest.mark.parametrize(("where", "option"), sorted(AT_DEPLOYMENT), ids=str)
def test_paths_created_at_deployment_are_created_by_the_apply(where, option):
    source, statement = AT_DEPLOYMENT[(where, option)]
    assert statement in (ROOT / source).read_text(), f"{where} {option}: {source}"


def test_no_sql_script_is_expected_on_the_sql_server_image():
    # The T-SQL travels with the module (plugins/plugin_utils/sql/), so the SQL Server image needs none: no
    # default points at a .sql file or a folder of them, and every script the module sends is shipped.
    assert not [k for k, v in EXPECTED.items() if v.lower().endswith(".sql") or "installdata\\sql" in v.lower()]
    assert all((Path(SQL_DIR) / f"{name}.sql").is_file() for name in SQL_FILES)
    assert not [o for o in specs.SQLSERVER["argument_spec"]["hpc_login"]["options"] if "script" in o]
