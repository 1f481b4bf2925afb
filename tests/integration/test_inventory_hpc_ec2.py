"""hpcops.aws_hpc.hpc_ec2 against the embedded lab endpoint (AWS_ENDPOINT_URL from the env or .lab/env).

The real plugin is driven with a real InventoryData and DataLoader. The instances live in a cluster
name unique to this run (in two regions) and are terminated at the end.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import botocore.endpoint
import botocore.exceptions
import pytest
from ansible import constants as C
from ansible.errors import AnsibleError, AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

PLUGIN = "hpcops.aws_hpc.hpc_ec2"
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def aws(lab_env):
    """Point boto3 and the plugin at the lab for this module (restored afterwards)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in lab_env.items() if k.startswith("AWS_")})
    yield lab_env
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]
    os.environ.update(saved)


def _image(ec2, pattern):
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [pattern]}])["Images"]
    assert images, f"the lab has no AMI named {pattern}"
    return images[0]["ImageId"]


def _launch(ec2, image, name, role, cluster, *, extra=None, instance_type="t3.large"):
    tags = {"Name": name, "hpc:role": role, "hpc:cluster": cluster, **(extra or {})}
    response = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType=instance_type,
                                 TagSpecifications=[{"ResourceType": "instance",
                                                     "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
    return response["Instances"][0]["InstanceId"]


@pytest.fixture(scope="module")
def fleet(aws):
    """A small cluster in two regions; returns {"cluster": name, "ids": {label: instance id}}."""
    cluster = f"it-hpcec2-{uuid.uuid4().hex[:8]}"
    east = boto3.client("ec2", region_name=REGION)
    west = boto3.client("ec2", region_name=OTHER_REGION)
    win, linux = _image(east, "Windows_Server-2016-English-Full-Base*"), _image(east, "amzn2-ami-hvm*")
    ids = {}
    created = {REGION: [], OTHER_REGION: []}
    try:
        ids["sql"] = _launch(east, win, "SQL-01", "sqlserver", cluster,
                             extra={"CostCenter": "HPC-Ops", "Templ": "{{ 7 * 6 }}"}, instance_type="r5.xlarge")
        ids["head"] = _launch(east, win, "HN-01", "headnode", cluster)
        ids["cn1"] = _launch(east, win, "CN-DUP", "computenode", cluster)
        ids["cn2"] = _launch(east, win, "CN-DUP", "computenode", cluster)
        ids["slurm"] = _launch(east, linux, "slurm-head", "pcluster", cluster)
        ids["stopped"] = _launch(east, linux, "slurm-stopped", "pcluster", cluster)
        ids["gone"] = _launch(east, linux, "slurm-gone", "pcluster", cluster)
        created[REGION].extend(ids.values())
        west_linux = _image(west, "amzn2-ami-hvm*")
        ids["west"] = _launch(west, west_linux, "slurm-eu-01", "pcluster", cluster)
        created[OTHER_REGION].append(ids["west"])
        east.stop_instances(InstanceIds=[ids["stopped"]])
        east.terminate_instances(InstanceIds=[ids["gone"]])
        yield {"cluster": cluster, "ids": ids}
    finally:
        for region, client in ((REGION, east), (OTHER_REGION, west)):
            if created[region]:
                client.terminate_instances(InstanceIds=created[region])


@pytest.fixture(scope="module")
def plugin_module():
    module = importlib.import_module("ansible_collections.hpcops.aws_hpc.plugins.inventory.hpc_ec2")
    # what the plugin loader does: register the documented options, doc fragments merged (ansible-doc
    # resolves amazon.aws's fragments through the collection loader, in its own process)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    result = subprocess.run([str(Path(sys.executable).parent / "ansible-doc"), "-t", "inventory", PLUGIN, "--json"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    doc = json.loads(result.stdout)[PLUGIN]["doc"]
    C.config.initialize_plugin_configuration_definitions("inventory", PLUGIN, doc["options"])
    return module


def _plugin(plugin_module):
    plugin = plugin_module.InventoryModule()
    plugin._load_name = PLUGIN
    return plugin


@pytest.fixture
def run(plugin_module, tmp_path, aws):
    """Parse an inventory file with the given options; returns (InventoryData, plugin)."""

    def _run(options, cache=True, filename="test.hpc_ec2.yml"):
        path = tmp_path / filename
        path.write_text(json.dumps({"plugin": PLUGIN, **options}))
        inventory = InventoryData()
        plugin = _plugin(plugin_module)
        assert plugin.verify_file(str(path))
        plugin.parse(inventory, DataLoader(), str(path), cache=cache)
        if options.get("cache"):
            plugin.update_cache_if_changed()  # what InventoryManager does after parse()
        return inventory, plugin

    return _run


def members(inventory, group):
    return sorted(h.name for h in inventory.groups[group].get_hosts()) if group in inventory.groups else []


def hostvars(inventory, name):
    return inventory.get_host(name).get_vars()


# ---------------------------------------------------------------------------- tests

def test_groups_hostvars_and_two_regions(run, fleet):
    ids = fleet["ids"]
    inventory, _plugin = run({"regions": [REGION, OTHER_REGION], "cluster": fleet["cluster"]})

    names = sorted(inventory.hosts)
    # CN-DUP is claimed twice: both computenodes are named by their instance ids
    assert names == sorted(["SQL-01", "HN-01", ids["cn1"], ids["cn2"], "slurm-head", "slurm-stopped",
                            "slurm-eu-01"])
    assert members(inventory, "sqlserver") == ["SQL-01"]
    assert members(inventory, "headnode") == ["HN-01"]
    assert members(inventory, "computenode") == sorted([ids["cn1"], ids["cn2"]])
    assert members(inventory, "pcluster") == ["slurm-eu-01", "slurm-head", "slurm-stopped"]
    assert members(inventory, "windows") == sorted(["SQL-01", "HN-01", ids["cn1"], ids["cn2"]])
    assert members(inventory, "linux") == ["slurm-eu-01", "slurm-head", "slurm-stopped"]

    sql = hostvars(inventory, "SQL-01")
    assert sql["ec2_instance_id"] == ids["sql"]
    assert sql["ec2_image_id"].startswith("ami-")
    assert sql["ec2_instance_type"] == "r5.xlarge"
    assert sql["ec2_state"] == "running"
    assert sql["ec2_platform"] == "windows"
    assert sql["ec2_region"] == REGION
    assert sql["ec2_availability_zone"].startswith(REGION)
    assert sql["ec2_launch_time"].endswith("+00:00")
    assert sql["ansible_host"] == sql["ec2_private_ip_address"]
    assert sql["ec2_tags"] == {"Name": "SQL-01", "hpc:role": "sqlserver", "hpc:cluster": fleet["cluster"],
                               "CostCenter": "HPC-Ops", "Templ": "{{ 7 * 6 }}"}
    # nothing connection-specific on Windows hosts: that is group_vars/windows.yml's business
    for name in members(inventory, "windows"):
        assert not {"ansible_connection", "ansible_port", "ansible_shell_type", "ansible_user"} & set(
            hostvars(inventory, name))
    assert hostvars(inventory, "slurm-eu-01")["ec2_region"] == OTHER_REGION
    assert hostvars(inventory, "slurm-stopped")["ec2_state"] == "stopped"
    assert "slurm-gone" not in inventory.hosts  # terminated: outside the default states


def test_state_filter_is_overridable(run, fleet):
    inventory, _plugin = run({"regions": [REGION], "cluster": fleet["cluster"],
                              "filters": {"instance-state-name": ["terminated"]}})
    assert sorted(inventory.hosts) == ["slurm-gone"]


def test_hostnames_and_ansible_host_options(run, fleet):
    ids = fleet["ids"]
    inventory, _plugin = run({"regions": [REGION], "cluster": fleet["cluster"], "hostnames": ["instance-id"],
                              "ansible_host": ["public_ip_address", "private_dns_name"]})
    assert ids["sql"] in inventory.hosts and "SQL-01" not in inventory.hosts
    sql = hostvars(inventory, ids["sql"])
    assert sql["ansible_host"]  # moto gives running instances a public IP
    stopped = hostvars(inventory, ids["stopped"])
    assert stopped["ansible_host"] in (stopped.get("ec2_private_ip_address"),) or stopped["ansible_host"].endswith(
        ".internal")

    inventory, _plugin = run({"regions": [REGION], "cluster": fleet["cluster"],
                              "hostnames": ["private-ip-address"], "ansible_host": []})
    sql_ip = [n for n in inventory.hosts if hostvars(inventory, n)["ec2_instance_id"] == ids["sql"]]
    assert sql_ip and sql_ip[0].count(".") == 3
    assert all("ansible_host" not in hostvars(inventory, n) for n in inventory.hosts)


def test_compose_groups_and_keyed_groups(run, fleet):
    inventory, _plugin = run({
        "regions": [REGION], "cluster": fleet["cluster"],
        "compose": {"cost_center": "ec2_tags.CostCenter | default('none')", "templ": "ec2_tags.Templ | default('')"},
        "groups": {"big_memory": "ec2_instance_type.startswith('r5')"},
        "keyed_groups": [{"key": "ec2_tags['hpc:cluster']", "prefix": "cluster"}],
    })
    assert hostvars(inventory, "SQL-01")["cost_center"] == "HPC-Ops"
    assert hostvars(inventory, "HN-01")["cost_center"] == "none"
    # tag values are data, never templates
    assert hostvars(inventory, "SQL-01")["templ"] == "{{ 7 * 6 }}"
    assert members(inventory, "big_memory") == ["SQL-01"]
    keyed = "cluster_" + fleet["cluster"].replace("-", "_")
    assert len(members(inventory, keyed)) == len(inventory.hosts) == 6


def test_cache_round_trip_makes_no_aws_call(run, fleet, tmp_path, monkeypatch):
    options = {"regions": [REGION], "cluster": fleet["cluster"], "cache": True,
               "cache_plugin": "jsonfile", "cache_connection": str(tmp_path / "cache"),
               "cache_timeout": 600}
    first, _plugin = run(options, cache=True)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1
    stored = json.loads(files[0].read_text())
    stored = json.loads(stored["__payload__"]) if "__payload__" in stored else stored
    assert stored["format"] == 1 and len(stored["hosts"]) == len(first.hosts)
    assert set(stored["hosts"][0]) == {"name", "groups", "vars"}  # host records, not API output

    def no_network(*args, **kwargs):
        raise AssertionError("the cached parse called AWS")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", no_network)
    second, _plugin = run(options, cache=True)
    assert sorted(second.hosts) == sorted(first.hosts)
    for group in ("sqlserver", "headnode", "computenode", "pcluster", "windows", "linux"):
        assert members(second, group) == members(first, group)
    assert hostvars(second, "SQL-01")["ec2_tags"] == hostvars(first, "SQL-01")["ec2_tags"]

    # other options, other records: the cache entry is not reused (and AWS would be called)
    with pytest.raises(AssertionError, match="the cached parse called AWS"):
        run({**options, "hostnames": ["instance-id"]}, cache=True)
    # cache=False (--flush-cache) always asks AWS
    with pytest.raises(AssertionError, match="the cached parse called AWS"):
        run(options, cache=False)


def test_full_hostvars_level(run, fleet):
    inventory, _plugin = run({"regions": [REGION], "cluster": fleet["cluster"], "hostvars_level": "full"})
    sql = hostvars(inventory, "SQL-01")
    assert sql["ec2_vpc_id"].startswith("vpc-")
    assert isinstance(sql["ec2_network_interfaces"], list)
    assert sql["ec2_tags"]["CostCenter"] == "HPC-Ops"
    lean, _plugin = run({"regions": [REGION], "cluster": fleet["cluster"]})
    assert sorted(inventory.hosts) == sorted(lean.hosts)
    assert "ec2_vpc_id" not in hostvars(lean, "SQL-01")


@pytest.mark.parametrize(("options", "fragment"), [
    ({"hostnames": ["bogus"]}, "hpc_ec2: option hostnames: unknown entry 'bogus'"),
    ({"ansible_host": ["ipv6"]}, "hpc_ec2: option ansible_host: unknown source 'ipv6'"),
    ({"filters": {"instance-type": [{"a": 1}]}}, "hpc_ec2: option filters:"),
    ({"cluster": "a", "filters": {"tag:hpc:cluster": "b"}}, "hpc_ec2: option cluster:"),
    ({"regions": ["not a region"]}, "hpc_ec2: option regions: invalid region name"),
    ({"page_size": 5000}, "hpc_ec2: option page_size:"),
    ({"max_threads": 0}, "hpc_ec2: option max_threads:"),
    ({"max_attempts": 0}, "hpc_ec2: option max_attempts:"),
    ({"hostvars_level": "medium"}, "hostvars_level"),
])
def test_bad_option_names_the_option(run, options, fragment):
    with pytest.raises(AnsibleParserError) as err:
        run({"regions": [REGION], **options})
    assert fragment in str(err.value)


def test_aws_error_names_the_region(run):
    with pytest.raises(AnsibleError, match=r"hpc_ec2: DescribeInstances failed in eu-west-1: .*127\.0\.0\.1:9"):
        run({"regions": [OTHER_REGION], "endpoint_url": "http://127.0.0.1:9", "max_attempts": 1})


def test_client_error_message(plugin_module):
    class Failing:
        def get_paginator(self, name):
            return self

        def paginate(self, **kwargs):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AuthFailure", "Message": "AWS was not able to validate the credentials"}},
                "DescribeInstances")

    with pytest.raises(AnsibleError) as err:
        plugin_module.InventoryModule._describe(Failing(), "eu-west-1", {"filters": [], "page_size": 1000})
    assert str(err.value).startswith(
        "hpc_ec2: DescribeInstances failed in eu-west-1: AuthFailure AWS was not able to validate the credentials")


@pytest.mark.parametrize(("name", "accepted"), [
    ("hpc_ec2.yml", True), ("hpc_ec2.yaml", True), ("prod.hpc_ec2.yml", True), ("a.b.hpc_ec2.yaml", True),
    ("prod.aws_ec2.yml", False), ("hpc_ec2.json", False), ("myhpc_ec2.yml", False), ("inventory.yml", False),
])
def test_verify_file(plugin_module, tmp_path, name, accepted):
    path = tmp_path / name
    path.write_text("plugin: hpcops.aws_hpc.hpc_ec2\n")
    assert _plugin(plugin_module).verify_file(str(path)) is accepted
    assert _plugin(plugin_module).verify_file(str(tmp_path / "missing.hpc_ec2.yml")) is False


def test_ansible_inventory_cli(ansible_env, fleet, tmp_path):
    path = tmp_path / "lab.hpc_ec2.yml"
    path.write_text(f"plugin: {PLUGIN}\nregions: [{REGION}]\ncluster: {fleet['cluster']}\n")
    result = subprocess.run([str(Path(ansible_env["PATH"].split(os.pathsep)[0]) / "ansible-inventory"),
                             "-i", str(path), "--list"], cwd=ROOT, env=ansible_env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    assert listing["sqlserver"]["hosts"] == ["SQL-01"]
    assert sorted(listing["linux"]["hosts"]) == ["slurm-head", "slurm-stopped"]
    assert "ec2_tags" in listing["_meta"]["hostvars"]["HN-01"]
