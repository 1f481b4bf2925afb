"""Release hygiene: what galaxy.yml declares is what the collection uses, every plugin says it is new in
the version galaxy.yml releases, and `antsibull-changelog release` lists every new module and plugin.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN

GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
FQCN = re.compile(r"\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\.[a-z_][a-z0-9_]*\b")
# namespaces.collection names that are not collections (Python and Jinja names seen in YAML)
NOT_COLLECTIONS = {"ansible.builtin", "hpcops.aws_hpc", "ansible.legacy"}
PLUGIN_DIRS = ("modules", "inventory", "action", "lookup", "filter", "connection", "callback")


def _plugin_docs():
    """(path, DOCUMENTATION as YAML) of every module and plugin that carries documentation."""
    found = []
    for kind in PLUGIN_DIRS:
        for path in sorted((ROOT / "plugins" / kind).glob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "DOCUMENTATION" for t in node.targets):
                    found.append((path, yaml.safe_load(node.value.value)))
    return found


def _used_collections() -> set[str]:
    """Collections called by FQCN from roles, playbooks and site.yml (module/role names, not prose)."""
    used = set()
    for path in [
        *ROOT.glob("roles/*/tasks/*.yml"),
        *ROOT.glob("roles/*/handlers/*.yml"),
        *ROOT.glob("playbooks/*.yml"),
        ROOT / "site.yml",
    ]:
        data = yaml.safe_load(path.read_text()) or []
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                for key, value in item.items():
                    match = FQCN.fullmatch(str(key))
                    if match:
                        used.add(f"{match[1]}.{match[2]}")
                    if key in ("name", "role") and isinstance(value, str) and FQCN.fullmatch(value):
                        used.add(".".join(value.split(".")[:2]))
                    stack.append(value)
            elif isinstance(item, list):
                stack.extend(item)
    for path in (ROOT / "plugins").rglob("*.py"):
        for match in re.finditer(r"extends_documentation_fragment:\n((?:\s+- \S+\n)+)", path.read_text()):
            for fragment in re.findall(r"- (\S+)", match[1]):
                if fragment.count(".") >= 2:
                    used.add(".".join(fragment.split(".")[:2]))
    return used - NOT_COLLECTIONS


def test_every_plugin_is_new_in_the_galaxy_version():
    docs = _plugin_docs()
    assert len(docs) >= 15
    for path, doc in docs:
        found = str(doc.get("version_added"))
        assert found == GALAXY["version"], (
            f"{path.relative_to(ROOT)}: version_added {found}, galaxy.yml {GALAXY['version']}"
        )


def test_galaxy_dependencies_are_exactly_the_collections_used():
    declared = set(GALAXY["dependencies"])
    used = _used_collections()
    assert used - declared == set(), f"used but not declared in galaxy.yml: {sorted(used - declared)}"
    assert declared - used == set(), f"declared in galaxy.yml but unused: {sorted(declared - used)}"
    for name, spec in GALAXY["dependencies"].items():
        assert re.search(r"<\s*\d", spec), f"galaxy.yml dependency {name} {spec!r} has no upper bound"


def test_execution_environment_collections_match_galaxy():
    ee = yaml.safe_load((ROOT / "ee" / "requirements.yml").read_text())
    listed = {c["name"]: c["version"] for c in ee["collections"]}
    assert listed == GALAXY["dependencies"]


def test_build_ships_the_collection_readme_not_the_repository_one():
    readme = ROOT / GALAXY["readme"]
    assert readme.is_file() and readme != ROOT / "README.md"
    text = readme.read_text()
    assert "ansible-playbook hpcops.aws_hpc.site" in text
    assert "make lab" not in text and "make test" not in text
    ignored = GALAXY["build_ignore"]
    for development_only in ("Makefile", "requirements", "lab", "benchmarks", "README.md"):
        assert development_only in ignored, development_only


@pytest.mark.skipif(not (VENV_BIN / "antsibull-changelog").exists(), reason="antsibull-changelog is not installed")
def test_changelog_release_lists_every_new_module_and_plugin(tmp_path):
    """`antsibull-changelog release` in a copy of the tracked tree laid out as ansible_collections/ns/name."""
    copy = tmp_path / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_CONFIG", None)
    result = subprocess.run(
        [str(VENV_BIN / "antsibull-changelog"), "release", "--version", GALAXY["version"], "--date", "2026-12-01"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    changes = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())
    release = changes["releases"][GALAXY["version"]]
    new_modules = {m["name"] for m in release.get("modules", [])}
    modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.stem != "__init__"}
    assert new_modules == modules
    new_plugins = {(kind, p["name"]) for kind, plugins in release.get("plugins", {}).items() for p in plugins}
    assert ("inventory", "hpc_ec2") in new_plugins
    rst = (copy / "CHANGELOG.rst").read_text()
    for module in modules:
        assert f"hpcops.aws_hpc.{module}" in rst, module
    # every fragment went into the release
    assert not list((copy / "changelogs" / "fragments").glob("*.yml"))
    assert Path(copy / "CHANGELOG.rst").stat().st_size > 0
