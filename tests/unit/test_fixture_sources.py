"""The scripted Windows host's fixtures name where each of their keys comes from.

Every fixture under tests/unit/fixtures/hpcpack/ carries ``_sources``: one entry per data key, starting with
``documented:`` (a Microsoft or AWS page, or a MicrosoftDocs/awsdocs repository path), ``observed:`` (real
published output) or ``assumed:`` (nothing documents it). The scripted host drops ``_comment`` and ``_sources``
and hands every other key over unchanged, and the property names in the fixtures are the ones the probes emit.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "unit" / "fixtures" / "hpcpack"
PROBES = ROOT / "plugins" / "plugin_utils" / "powershell"
PREFIXES = ("documented:", "observed:", "assumed:")
META = ("_comment", "_sources")
# A page (URL) or a repository path: "Owner/repo some/path/page.md" (optionally followed by @commit).
REFERENCE = re.compile(r"https://\S+|\b[\w.-]+/[\w.-]+ [\w./-]+\.(?:md|xml|ps1)\b")

NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def raw(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def data_keys(data: dict) -> list[str]:
    return [key for key in data if key not in META]


def test_every_fixture_is_covered():
    assert len(NAMES) == 6, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_sources_cover_every_data_key(name):
    data = raw(name)
    sources = data.get("_sources")
    assert isinstance(sources, dict), f"{name}.json has no _sources object"
    assert "_comment" in data, f"{name}.json lost its _comment"
    keys = data_keys(data)
    assert [k for k in keys if not k.startswith("_")], f"{name}.json has no probe data"
    missing = [key for key in keys if key not in sources]
    stale = [key for key in sources if key not in keys]
    assert not missing, f"{name}.json: no _sources entry for {missing}"
    assert not stale, f"{name}.json: _sources names keys the fixture does not have: {stale}"


@pytest.mark.parametrize("name", NAMES)
def test_sources_say_documented_observed_or_assumed(name):
    for key, text in raw(name)["_sources"].items():
        assert isinstance(text, str) and text.startswith(PREFIXES), (
            f"{name}.json _sources.{key} must start with one of {PREFIXES}: {text!r}"
        )
        if text.startswith(("documented:", "observed:")):
            assert REFERENCE.search(text), f"{name}.json _sources.{key} names no page or repository path: {text!r}"
        else:
            assert len(text) > len("assumed: ") + 10, f"{name}.json _sources.{key} gives no reason: {text!r}"


@pytest.mark.parametrize("name", NAMES)
def test_scripted_host_loads_fixture_unchanged(name):
    sys.path.insert(0, str(ROOT / "tests" / "unit" / "plugins" / "action"))
    try:
        from scripted_host import fixture
    finally:
        sys.path.pop(0)
    data = raw(name)
    loaded = fixture(name)
    assert not set(META) & set(loaded)
    assert loaded == {key: data[key] for key in data_keys(data)}


def probe_keys(probe: str) -> set[str]:
    """Names the probe writes: ``Name = ...`` inside [ordered]@{} and ``$Result.Name = ...``."""
    text = (PROBES / probe).read_text()
    return (
        set(re.findall(r"^\s*(?:\[ordered\]@\{\s*)?(\w+) = ", text, re.M))
        | set(re.findall(r"\$Result\.(\w+) = ", text))
        | set(re.findall(r"\[ordered\]@\{ (\w+) = ", text))
        | set(re.findall(r"; (\w+) = ", text))
    )


def test_disk_volume_and_acl_names_are_the_probe_output():
    emitted = probe_keys("sqlserver_probe.ps1")
    for name in ("sqlserver_fresh", "sqlserver_reattached"):
        data = raw(name)
        for disk in data["volume"]["disks"]:
            assert set(disk) <= emitted, (name, set(disk) - emitted)
            # Get-Disk's strings: RAW/MBR/GPT (New-Partition.md, Initialize-Disk.md) and Online/Offline (MSFT_Disk).
            assert disk["PartitionStyle"] in ("RAW", "MBR", "GPT"), disk
            assert disk["OperationalStatus"] in ("Online", "Offline"), disk
            assert disk["OperationalStatus"] == ("Offline" if disk["IsOffline"] else "Online"), disk
        for volume in data["volume"]["volumes"]:
            assert set(volume) <= emitted, (name, set(volume) - emitted)
        names = {row["name"] for row in data["sql"]["databases"]}
        assert {"master", "model", "msdb", "tempdb"} <= names, (name, names)  # system-databases.md
        assert all(row["state_desc"] == "ONLINE" for row in data["sql"]["databases"])
    for rule in raw("sqlserver_reattached")["_disk_acl"]:
        assert set(rule) <= emitted, set(rule) - emitted


def test_cluster_and_domain_names_are_the_probe_output():
    cluster = raw("cluster_installed")
    emitted = probe_keys("cluster_probe.ps1")
    assert set(data_keys(cluster)) <= emitted, set(data_keys(cluster)) - emitted
    for record in [cluster["node"], cluster["network"], *cluster["interfaces"], *cluster["members"]]:
        assert set(record) <= emitted, set(record) - emitted
    # Get-HpcNode.md documents these values for -State and -Health.
    states = ("Unknown", "Provisioning", "Offline", "Starting", "Online", "Draining", "Rejected")
    health = ("OK", "Unreachable", "OngoingOperation", "DiagnosticFailed", "ProvisioningFailed")
    assert cluster["node"]["NodeState"] in states
    assert cluster["node"]["NodeHealth"] in health
    domain = raw("domain_workgroup")
    assert set(data_keys(domain)) <= probe_keys("domain_probe.ps1")
    for name, probe in (("computenode_fresh", "computenode_probe.ps1"), ("headnode_fresh", "headnode_probe.ps1")):
        data = raw(name)
        assert set(data_keys(data)) <= probe_keys(probe), (name, set(data_keys(data)) - probe_keys(probe))
