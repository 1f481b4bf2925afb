"""Credentials and the all-group variable of hpcops.aws_hpc.hpc_ec2; no network.

The pure choice of credentials (``choose_credentials``) and the cache identity are tested directly.
The plugin itself runs with a real InventoryData and DataLoader. Its options are registered the
way the plugin loader does, from the documentation ``ansible-doc`` renders (the collection loader
resolves amazon.aws's doc fragments there, in its own process). Every botocore request is made to
fail the test, so these runs stop at option checking or are served from a seeded cache.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import botocore.endpoint
import pytest
from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _inventory as inv

PLUGIN = "hpcops.aws_hpc.hpc_ec2"
ROOT = Path(__file__).resolve().parents[4]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLETOKEN0123456789"


# ---------------------------------------------------------------------------- choose_credentials

def _values(**values):
    return {name: values.get(name) for name in ("profile", "access_key", "secret_key", "session_token")}


@pytest.mark.parametrize(("values", "sources", "expected", "description"), [
    # keys in the file win over an environment profile and environment keys
    ({"access_key": "AKF", "secret_key": "SKF", "profile": "envprof"},
     {"access_key": "file", "secret_key": "file", "profile": "env:AWS_PROFILE"},
     {"access_key": "AKF", "secret_key": "SKF"}, "options access_key/secret_key of the inventory file"),
    ({"access_key": "AKF", "secret_key": "SKF", "session_token": "T"},
     {"access_key": "file", "secret_key": "file", "session_token": "file"},
     {"access_key": "AKF", "secret_key": "SKF", "session_token": "T"},
     "options access_key/secret_key/session_token of the inventory file"),
    # a token from the environment does not belong to keys from the file
    ({"access_key": "AKF", "secret_key": "SKF", "session_token": "T"},
     {"access_key": "file", "secret_key": "file", "session_token": "env:AWS_SESSION_TOKEN"},
     {"access_key": "AKF", "secret_key": "SKF"}, "options access_key/secret_key of the inventory file"),
    # a profile in the file wins over keys from the environment
    ({"profile": "ops", "access_key": "AKE", "secret_key": "SKE"},
     {"profile": "file", "access_key": "env:AWS_ACCESS_KEY_ID", "secret_key": "env:AWS_SECRET_ACCESS_KEY"},
     {"profile": "ops"}, "profile 'ops' (from the inventory file)"),
    # between environment variables the profile wins, as AWS_PROFILE always did for this plugin
    ({"profile": "ops", "access_key": "AKE", "secret_key": "SKE"},
     {"profile": "env:AWS_PROFILE", "access_key": "env:AWS_ACCESS_KEY_ID", "secret_key": "env:AWS_SECRET_ACCESS_KEY"},
     {"profile": "ops"}, "profile 'ops' (from AWS_PROFILE)"),
    ({"access_key": "AKE", "secret_key": "SKE", "session_token": "T"},
     {"access_key": "env:AWS_ACCESS_KEY_ID", "secret_key": "env:AWS_SECRET_KEY",
      "session_token": "env:AWS_SESSION_TOKEN"},
     {"access_key": "AKE", "secret_key": "SKE", "session_token": "T"},
     "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_KEY, AWS_SESSION_TOKEN)"),
    # a token alone is no credential: boto3's chain decides
    ({"session_token": "T"}, {"session_token": "env:AWS_SESSION_TOKEN"}, {}, "boto3's default credential chain"),
    ({}, {}, {}, "boto3's default credential chain"),
])
def test_choose_credentials(values, sources, expected, description):
    chosen = inv.choose_credentials(_values(**values), sources)
    assert chosen == {**_values(**expected), "description": description}


@pytest.mark.parametrize(("values", "sources", "message"), [
    ({"profile": "ops", "access_key": "AKF", "secret_key": SECRET},
     {"profile": "file", "access_key": "file", "secret_key": "file"},
     "option profile: cannot be combined with access_key/secret_key in the inventory file; set one or the other"),
    ({"access_key": "AKF"}, {"access_key": "file"},
     "option secret_key: must be set in the inventory file together with access_key"),
    ({"access_key": "AKE", "secret_key": SECRET}, {"access_key": "env:AWS_ACCESS_KEY_ID", "secret_key": "file"},
     "option access_key: must be set in the inventory file together with secret_key"),
    ({"session_token": TOKEN}, {"session_token": "file"},
     "option access_key: must be set in the inventory file together with session_token"),
    ({"access_key": "AKE"}, {"access_key": "env:AWS_ACCESS_KEY_ID"},
     "option secret_key: is not set although access_key is (from AWS_ACCESS_KEY_ID); set both"),
])
def test_choose_credentials_rejects(values, sources, message):
    with pytest.raises(inv.InventoryOptionError) as err:
        inv.choose_credentials(_values(**values), sources)
    assert str(err.value) == message
    assert SECRET not in str(err.value) and TOKEN not in str(err.value)


def test_credentials_identity_holds_no_secret():
    keys = {"access_key": "AKIAEXAMPLE", "secret_key": SECRET, "session_token": TOKEN, "profile": None}
    identity = inv.credentials_identity(keys, "arn:aws:iam::1:role/r")
    text = json.dumps(identity)
    assert "AKIAEXAMPLE" not in text and SECRET not in text and TOKEN not in text
    assert identity["assume_role_arn"] == "arn:aws:iam::1:role/r"
    # a refreshed token is the same identity; another key is another
    assert inv.credentials_identity({**keys, "session_token": "other"}, "arn:aws:iam::1:role/r") == identity
    assert inv.credentials_identity({**keys, "access_key": "AKIAOTHER"}, "arn:aws:iam::1:role/r") != identity
    expected = {"profile": "ops", "access_key_sha256": None, "assume_role_arn": None}
    assert inv.credentials_identity({"profile": "ops"}) == expected


def test_redact():
    assert inv.redact(f"bad {SECRET} and {TOKEN}", [SECRET, TOKEN, None, ""]) == "bad ******** and ********"
    assert inv.redact("nothing to hide", [None]) == "nothing to hide"


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("eu-west-1", "eu-west-1")])
def test_validate_region(value, expected):
    assert inv.validate_region(value) == expected


def test_validate_region_rejects():
    with pytest.raises(inv.InventoryOptionError, match="option region: invalid region name 'EU west'"):
        inv.validate_region("EU west")


# ---------------------------------------------------------------------------- the plugin

@pytest.fixture(scope="module")
def plugin_doc():
    """The plugin's documentation as ansible-doc renders it, doc fragments merged."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "inventory", PLUGIN, "--json"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[PLUGIN]["doc"]


@pytest.fixture(scope="module")
def plugin_module(plugin_doc):
    module = importlib.import_module("ansible_collections.hpcops.aws_hpc.plugins.inventory.hpc_ec2")
    C.config.initialize_plugin_configuration_definitions("inventory", PLUGIN, plugin_doc["options"])
    return module


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No AWS environment, no shared files, and any botocore request fails the test."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    def no_network(*args, **kwargs):
        raise AssertionError("the plugin called AWS")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", no_network)


@pytest.fixture
def run(plugin_module, tmp_path, offline):
    """Parse an inventory file with the given options; returns (InventoryData, plugin)."""

    def _run(options, cache=True):
        path = tmp_path / "unit.hpc_ec2.yml"
        path.write_text(json.dumps({"plugin": PLUGIN, **options}))
        inventory = InventoryData()
        plugin = plugin_module.InventoryModule()
        plugin._load_name = PLUGIN
        assert plugin.verify_file(str(path))
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        plugin.update_cache_if_changed()
        return inventory, plugin

    return _run


def test_options_come_from_amazon_aws_fragments(plugin_doc):
    doc = plugin_doc
    options = doc["options"]
    assert set(options["access_key"]["aliases"]) == {"aws_access_key_id", "aws_access_key"}
    assert {e["name"] for e in options["secret_key"]["env"]} == {"AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"}
    assert options["session_token"]["aliases"] == ["aws_session_token"]
    assert {e["name"] for e in options["profile"]["env"]} == {"AWS_PROFILE", "AWS_DEFAULT_PROFILE"}
    assert options["assume_role_arn"]["aliases"] == ["iam_role_arn"]
    assert options["region"]["aliases"] == ["aws_region"]
    # the plugin's own endpoint_url keeps AWS_ENDPOINT_URL next to the fragment's AWS_URL
    assert [e["name"] for e in options["endpoint_url"]["env"]] == ["AWS_URL", "AWS_ENDPOINT_URL"]
    assert options["endpoint_url"]["aliases"] == ["aws_endpoint_url"]
    assert any(r.startswith("boto3 >= ") for r in doc["requirements"])


def _settings(plugin_module, tmp_path, options):
    """Read an inventory file and check its options the way parse() does; returns the plugin's settings."""
    path = tmp_path / "unit.hpc_ec2.yml"
    path.write_text(json.dumps({"plugin": PLUGIN, **options}))
    plugin = plugin_module.InventoryModule()
    plugin._load_name = PLUGIN
    plugin.inventory, plugin.loader = InventoryData(), DataLoader()
    plugin._read_config_data(str(path))
    return plugin, path, plugin._settings()


def test_environment_endpoint_and_profile_still_apply(plugin_module, offline, monkeypatch, tmp_path):
    (tmp_path / "no-config").write_text("[profile ops]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_PROFILE", "ops")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    _plugin, _path, settings = _settings(plugin_module, tmp_path, {})
    assert settings["endpoint_url"] == "http://127.0.0.1:9"
    assert settings["credentials"]["profile"] == "ops" and settings["credentials"]["access_key"] is None
    assert settings["regions"] == ["eu-north-1"]  # the profile's region
    assert settings["credentials_from"] == "profile 'ops' (from AWS_PROFILE)"


def test_region_option_and_keys_from_the_file(plugin_module, offline, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    monkeypatch.setenv("AWS_URL", "http://127.0.0.1:8")
    _plugin, _path, settings = _settings(plugin_module, tmp_path, {
        "aws_access_key": "AKIAFILE", "aws_secret_key": SECRET, "aws_session_token": TOKEN,
        "validate_certs": False, "aws_config": {"connect_timeout": 3}})
    assert settings["regions"] == ["ap-south-1"]
    assert settings["endpoint_url"] == "http://127.0.0.1:8"
    credentials = settings["session"].get_credentials()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("AKIAFILE", SECRET, TOKEN)
    assert settings["validate_certs"] is False and settings["aws_config"] == {"connect_timeout": 3}


def test_profile_and_keys_in_the_file_name_the_option_not_the_secret(run):
    with pytest.raises(AnsibleParserError) as err:
        run({"regions": ["us-east-1"], "profile": "ops", "access_key": "AKIAEXAMPLE", "secret_key": SECRET})
    assert "hpc_ec2: option profile: cannot be combined with access_key/secret_key" in str(err.value)
    assert SECRET not in str(err.value)


def test_half_a_key_pair_names_the_missing_option(run):
    with pytest.raises(AnsibleParserError, match="hpc_ec2: option secret_key: must be set in the inventory file"):
        run({"regions": ["us-east-1"], "aws_access_key_id": "AKIAEXAMPLE"})


def test_without_any_region_names_regions(run):
    with pytest.raises(AnsibleParserError) as err:
        run({"access_key": "AKIAEXAMPLE", "secret_key": SECRET, "assume_role_arn": "arn:aws:iam::1:role/r"})
    assert "hpc_ec2: option regions: is empty and no default region is configured" in str(err.value)
    assert SECRET not in str(err.value)


def test_bad_template_names_the_option(run):
    with pytest.raises(AnsibleParserError, match="hpc_ec2: option secret_key: cannot be templated"):
        run({"regions": ["us-east-1"], "access_key": "AKIAEXAMPLE", "secret_key": "{{ undefined_secret_var }}"})


def test_bad_region_names_the_option(run):
    with pytest.raises(AnsibleParserError, match="hpc_ec2: option region: invalid region name"):
        run({"region": "Not A Region"})


RECORDS = [{"name": "head-01", "groups": ["pcluster", "linux"],
            "vars": {"ec2_instance_id": "i-0123456789abcdef0", "ec2_region": "us-east-1", "ec2_platform": "linux"}}]


def _write_cache(plugin_module, tmp_path, options):
    """Seed the jsonfile cache for these options with RECORDS the way the plugin stores them."""
    plugin, path, settings = _settings(plugin_module, tmp_path, options)
    plugin._cache[plugin.get_cache_key(str(path))] = inv.cache_payload(RECORDS, settings["fingerprint"])
    plugin.update_cache_if_changed()


def test_cluster_variable_on_all_and_cache_tied_to_identity(run, plugin_module, tmp_path):
    options = {"regions": ["us-east-1"], "cluster": "bench-a", "access_key": "AKIAEXAMPLE", "secret_key": SECRET,
               "session_token": TOKEN, "cache": True, "cache_plugin": "jsonfile",
               "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600}
    _write_cache(plugin_module, tmp_path, options)

    inventory, _plugin = run(options)  # served from the cache: no AWS call
    assert sorted(inventory.hosts) == ["head-01"]
    assert inventory.groups["all"].get_vars()["hpc_inventory_cluster"] == "bench-a"
    assert "hpc_inventory_cluster" not in inventory.get_host("head-01").get_vars()
    # the cache holds no credential
    stored = "".join(p.read_text() for p in (tmp_path / "cache").iterdir())
    assert "AKIAEXAMPLE" not in stored and SECRET not in stored and TOKEN not in stored

    # a new session token is the same identity: still cached
    inventory, _plugin = run({**options, "session_token": "another-token"})
    assert sorted(inventory.hosts) == ["head-01"]
    # another access key is another identity: the entry is not reused (AWS would be asked)
    with pytest.raises(AssertionError, match="the plugin called AWS"):
        run({**options, "access_key": "AKIAOTHER"})
    with pytest.raises(AssertionError, match="the plugin called AWS"):
        run({**options, "assume_role_arn": "arn:aws:iam::1:role/r"})


def test_cached_run_with_a_role_asks_neither_sts_nor_ec2(run, plugin_module, tmp_path):
    options = {"regions": ["us-east-1"], "cluster": "bench-a", "access_key": "AKIAEXAMPLE", "secret_key": SECRET,
               "assume_role_arn": "arn:aws:iam::1:role/r", "cache": True, "cache_plugin": "jsonfile",
               "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600}
    _write_cache(plugin_module, tmp_path, options)
    inventory, _plugin = run(options)
    assert sorted(inventory.hosts) == ["head-01"]
    assert inventory.groups["all"].get_vars()["hpc_inventory_cluster"] == "bench-a"
    # --flush-cache: the role is assumed (STS is asked first)
    with pytest.raises(AssertionError, match="the plugin called AWS"):
        run(options, cache=False)


def test_no_cluster_no_variable(run, plugin_module, tmp_path):
    options = {"regions": ["us-east-1"], "cache": True, "cache_plugin": "jsonfile",
               "cache_connection": str(tmp_path / "cache"), "cache_timeout": 600}
    _write_cache(plugin_module, tmp_path, options)
    inventory, _plugin = run(options)
    assert sorted(inventory.hosts) == ["head-01"]
    assert "hpc_inventory_cluster" not in inventory.groups["all"].get_vars()
