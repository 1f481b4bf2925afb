"""The execution environment: `ansible-builder create` makes the build context offline, and it
carries every dependency the collection's plugins need.

- every third-party module that plugins/**/*.py imports is a package of ee/requirements.txt;
- every program the modules run (packer, pcluster) and the ssh client of the workload's head node
  connection are installed by the build (bindep or the additional build steps);
- meta/execution-environment.yml (what ansible-builder reads from the installed collection) names
  the same files;
- the collections the roles and playbooks call (by FQCN) are in ee/requirements.yml.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN

EE_FILE = ROOT / "execution-environment.yml"
# import name -> distribution name (PyPI), where they differ
DISTRIBUTIONS = {"yaml": "pyyaml", "winrm": "pywinrm", "dateutil": "python-dateutil"}
# Programs the modules execute, and where they come from.
PROGRAMS = {"packer": "plugins/modules/packer_build.py", "pcluster": "plugins/modules/pcluster_cluster.py"}
# The connection of inventories/aws/group_vars/windows.yml and the program it runs on the controller.
SSM_CONNECTION = "amazon.aws.aws_ssm"
# Python packages the connection plugins of the Windows hosts need (not imported by plugins/).
CONNECTIONS = {"pywinrm", "pypsrp"}


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            names.add(re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def third_party_imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"ansible", "ansible_collections", "__future__"}:
                    continue
                found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.fixture(scope="module")
def ee():
    return yaml.safe_load(EE_FILE.read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory, ee):
    """`ansible-builder create` in a copy of the definition, with a freshly built collection tarball,
    and every proxy pointed at a closed port so that any network access would fail."""
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(EE_FILE, work / EE_FILE.name)
    shutil.copytree(ROOT / "ee", work / "ee")
    build = work / ".lab" / "build"
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(work),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        **{k: "http://127.0.0.1:9" for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
        "no_proxy": "",
    }
    subprocess.run(
        [str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(ROOT)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300,
    )
    result = subprocess.run(
        [str(VENV_BIN / "ansible-builder"), "create", "--file", EE_FILE.name, "--context", "context",
         "--output-filename", "Containerfile"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return work / "context"


def test_create_makes_the_build_context_offline(context):
    containerfile = (context / "Containerfile").read_text()
    assert containerfile.startswith("ARG EE_BASE_IMAGE=")
    for name in ("requirements.txt", "requirements.yml", "bindep.txt"):
        assert (context / "_build" / name).is_file(), name
    assert list((context / "_build" / "collection").glob("hpcops-aws_hpc-*.tar.gz")), "the collection tarball"
    assert "ansible-galaxy collection install --offline --no-deps" in containerfile
    assert "aws-parallelcluster==${PCLUSTER_VERSION}" in containerfile
    assert "releases.hashicorp.com/packer/" in containerfile and "sha256sum -c" in containerfile


def test_every_plugin_import_is_a_listed_python_requirement():
    listed = requirement_names(ROOT / "ee" / "requirements.txt")
    missing = {
        module: sorted(paths)
        for module, paths in third_party_imports().items()
        if DISTRIBUTIONS.get(module, module).lower() not in listed
    }
    assert not missing, f"imported by plugins/ but not in ee/requirements.txt: {missing}"
    assert listed >= CONNECTIONS


def test_python_requirements_agree_with_the_lab_pins():
    lab = {}
    pinned = (ROOT / "requirements" / "runtime.txt").read_text() + (ROOT / "requirements" / "lab.txt").read_text()
    for line in pinned.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line)
        if match:
            lab[match[1].lower()] = match[2]
    for line in (ROOT / "ee" / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)", line)
        if match and match[1].lower() in lab:
            assert lab[match[1].lower()] == match[2], f"{match[1]}: ee {match[2]} but lab {lab[match[1].lower()]}"


def test_programs_the_modules_run_are_installed(ee):
    steps = " ".join(" ".join(v) if isinstance(v, list) else v for v in ee["additional_build_steps"].values())
    bindep = (ROOT / "ee" / "bindep.txt").read_text()
    for program, module in PROGRAMS.items():
        assert re.search(rf"\b{program}\b", (ROOT / module).read_text()), f"{module} no longer runs {program}?"
        installed = rf"unzip -o \S+ {program} -d /usr/local/bin|ln -sf \S+/{program} /usr/local/bin/{program}"
        assert re.search(installed, steps), f"the build does not put {program} on PATH"
        assert f"{program} version" in steps, f"the build does not check that {program} runs"
    # the workload playbook reaches the ParallelCluster head node over SSH
    assert re.search(r"^openssh-clients? ", bindep, re.M)


def test_collections_called_by_fqcn_are_in_the_galaxy_requirements(ee):
    listed = {c["name"] for c in yaml.safe_load((ROOT / ee["dependencies"]["galaxy"]).read_text())["collections"]}
    used = set()
    for base in ("roles", "playbooks"):
        for path in (ROOT / base).rglob("*.yml"):
            used |= set(re.findall(r"^\s*-?\s*([a-z_]+\.[a-z_]+)\.[a-z_]+:\s*$", path.read_text(), re.M))
    used -= {"ansible.builtin", "hpcops.aws_hpc"}
    assert used <= listed, f"collections used but not in ee/requirements.yml: {sorted(used - listed)}"


def test_collection_metadata_names_the_same_files():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"]["python"] == "ee/requirements.txt"
    assert meta["dependencies"]["system"] == "ee/bindep.txt"


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_packer_amazon_plugin_is_pinned_and_meets_every_template(ee):
    """The image installs one pinned amazon plugin where every user finds it, and that version meets
    the required_plugins constraint of each template (Packer 1.7+ refuses to build otherwise)."""
    steps = ee["additional_build_steps"]["append_final"]
    text = "\n".join(steps)
    pinned = re.search(r"ARG PACKER_AMAZON_PLUGIN_VERSION=(\d+\.\d+\.\d+)\b", text)
    assert pinned, "the amazon plugin version is not pinned"
    assert "ENV PACKER_PLUGIN_PATH=" in text
    assert "packer plugins install github.com/hashicorp/amazon v${PACKER_AMAZON_PLUGIN_VERSION}" in text
    plugin = _version(pinned[1])
    templates = sorted(p for p in (ROOT / "packer").iterdir() if p.is_dir() and list(p.glob("*.pkr.hcl")))
    assert templates, "no Packer template directory found"
    for template in templates:
        versions = template / "versions.pkr.hcl"
        assert versions.is_file(), f"{template.name}: no versions.pkr.hcl"
        body = versions.read_text()
        assert 'source  = "github.com/hashicorp/amazon"' in body
        constraint = re.search(r'version = "([^"]+)"', body)[1]
        for clause in (c.strip() for c in constraint.split(",")):
            op, wanted = re.match(r"(>=|<=|<|>|=|~>)\s*(\S+)", clause).groups()
            assert op in (">=", "<"), f"{template.name}: unexpected constraint {clause}"
            ok = plugin >= _version(wanted) if op == ">=" else plugin < _version(wanted)
            assert ok, f"{template.name}: the pinned plugin {pinned[1]} does not meet {clause}"
        # the template file itself stays readable by Packer 1.6.6 (the lab and Debian users)
        main = template / f"{template.name}.pkr.hcl"
        assert main.is_file() and "required_plugins" not in main.read_text(), main


@pytest.mark.skipif(shutil.which("packer") is None, reason="Packer is not installed (make setup-test installs it)")
def test_packer_166_accepts_the_template_file_and_rejects_the_directory():
    """What the bakery relies on (roles/ami_bakery/tasks/build.yml): Packer before 1.7 rejects the
    required_plugins block, so it is given the template file alone. Checked with the Packer on PATH."""
    version = subprocess.run(["packer", "version"], capture_output=True, text=True, check=True,
                             env=dict(os.environ, CHECKPOINT_DISABLE="1")).stdout
    release = _version(re.search(r"v(\d+\.\d+\.\d+)", version)[1])
    if release >= (1, 7, 0):
        pytest.skip(f"Packer {version.strip()} reads required_plugins")
    for template in ("sqlserver", "hpcpack", "pcluster-linux"):
        env = dict(os.environ, CHECKPOINT_DISABLE="1")
        cwd = ROOT / "packer"
        whole = subprocess.run(["packer", "validate", "-syntax-only", template], cwd=cwd, env=env,
                               capture_output=True, text=True, check=False)
        assert whole.returncode != 0 and "required_plugins" in whole.stdout + whole.stderr
        alone = subprocess.run(["packer", "validate", "-syntax-only", f"{template}/{template}.pkr.hcl"],
                               cwd=cwd, env=env, capture_output=True, text=True, check=False)
        assert alone.returncode == 0, alone.stdout + alone.stderr


def test_session_manager_plugin_is_installed_when_the_example_inventory_uses_ssm(ee):
    """inventories/aws reaches the Windows hosts through amazon.aws.aws_ssm, which runs AWS's
    session-manager-plugin on the controller: the image must carry it, pinned."""
    windows = yaml.safe_load((ROOT / "inventories" / "aws" / "group_vars" / "windows.yml").read_text())
    if windows.get("ansible_connection") != SSM_CONNECTION:
        pytest.skip("the example inventory does not use Session Manager")
    text = "\n".join(ee["additional_build_steps"]["append_final"])
    assert re.search(r"ARG SSM_PLUGIN_VERSION=\d+\.\d+\.\d+\.\d+", text)
    assert "session-manager-downloads/plugin/${SSM_PLUGIN_VERSION}/" in text
    assert "session-manager-plugin --version" in text
