"""The tag keys and resource names of _tags.py, and that nothing else spells a different one."""

from __future__ import annotations

import re
from pathlib import Path

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _tags

ROOT = Path(__file__).resolve().parents[4]
# Keys the collection only reads, set by the user (hpc:primary marks the primary head node, hpc:hostname is an
# example of the inventory plugin's hostnames option)
# or by the benchmarks on their own instances.
READ_ONLY = {"hpc:primary", "hpc:hostname", "hpc:benchmark"}


def test_names():
    assert _tags.compute_group_name("prod") == "hpc-prod-computenode"
    assert _tags.tier_name("prod", "headnode") == "hpc-prod-headnode"
    assert _tags.cluster_filters("prod") == [{"Name": "tag:hpc:cluster", "Values": ["prod"]}]
    assert _tags.cluster_filters("prod", "computenode") == [
        {"Name": "tag:hpc:cluster", "Values": ["prod"]}, {"Name": "tag:hpc:role", "Values": ["computenode"]}]


def test_every_tag_key_in_the_tree_is_defined_once():
    defined = [value for name, value in vars(_tags).items() if name.endswith("_TAG")]
    assert len(defined) == len(set(defined))
    seen = {}
    for folder in ("plugins", "roles", "playbooks", "lab", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".yml", ".j2", ".ps1") or not path.is_file():
                continue
            for key in re.findall(r"\bhpc:[a-z][a-z-]*[a-z]\b", path.read_text(encoding="utf-8")):
                seen.setdefault(key, str(path.relative_to(ROOT)))
    unknown = {key: where for key, where in seen.items() if key not in defined and key not in READ_ONLY}
    assert not unknown, f"tag keys not defined in _tags.py: {unknown}"


def test_no_module_defines_its_own_tag_constant():
    pattern = re.compile(r"^[A-Z_]*TAG\s*=\s*[\"']hpc:", re.MULTILINE)
    offenders = [str(path.relative_to(ROOT)) for folder in ("plugins", "roles", "lab")
                 for path in (ROOT / folder).rglob("*.py")
                 if path.name != "_tags.py" and pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
