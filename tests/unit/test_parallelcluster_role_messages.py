"""The parallelcluster role reports the pcluster_cluster module's failures naming the role's variables.

The module names its options (``spec.queues[0]...``, ``allow_fleet_stop``); the role's rescue maps them with
``_parallelcluster_option_names`` (roles/parallelcluster/vars/main.yml). The table is checked here with Python's
re.sub (what Ansible's regex_replace runs), and once through ansible-playbook on localhost (no AWS call).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml
from conftest import ROOT, VENV_BIN

VARS = yaml.safe_load((ROOT / "roles" / "parallelcluster" / "vars" / "main.yml").read_text())


def role_message(msg):
    for pattern, replacement in VARS["_parallelcluster_option_names"]:
        msg = re.sub(pattern, replacement, msg)
    return msg


@pytest.mark.parametrize(
    ("module_msg", "role_msg"),
    [
        (
            "Invalid spec: spec.queues[0].compute_resources[0].max_count (2) is less than its min_count (5)",
            "Invalid cluster variables: parallelcluster_queues[0].compute_resources[0].max_count (2) is less than "
            "its min_count (5)",
        ),
        (
            "Invalid spec: spec.queues[0] (queue1) has no subnets: set spec.queues[0].subnet_ids or spec.subnet_ids",
            "Invalid cluster variables: parallelcluster_queues[0] (queue1) has no subnets: "
            "set parallelcluster_queues[0].subnet_ids or parallelcluster_subnet_ids",
        ),
        ("spec.head_node.instance_type 't3' is", "parallelcluster_head_node_instance_type 't3' is"),
        (
            "set spec.head_node.subnet_id or spec.subnet_ids",
            "set parallelcluster_head_node_subnet_id or parallelcluster_subnet_ids",
        ),
        ("spec.head_node.on_node_configured[0].script", "parallelcluster_head_node_on_node_configured[0].script"),
        ("spec.head_node.key_name", "parallelcluster_key_name"),
        ("spec.compute_on_node_configured[1].args", "parallelcluster_compute_on_node_configured[1].args"),
        ("spec.region is empty: set it", "parallelcluster_region is empty: set it (or hpc_aws_region)"),
        (
            "Set allow_fleet_stop: true to stop it ..., or set spec.queue_update_strategy (QueueUpdateStrategy)",
            "Set parallelcluster_allow_fleet_stop: true to stop it ..., or set parallelcluster_queue_update_strategy "
            "(QueueUpdateStrategy)",
        ),
        ("Set allow_replacement: true to delete", "Set parallelcluster_allow_replacement: true to delete"),
        ("pcluster_path /x is not an executable file", "parallelcluster_pcluster_path /x is not an executable file"),
        ("delete it (state: absent) and create it", "delete it (parallelcluster_state: absent) and create it"),
    ],
)
def test_option_names_become_role_variables(module_msg, role_msg):
    assert role_message(module_msg) == role_msg


def test_every_spec_key_maps_to_a_role_variable():
    """Each spec key the role passes maps to a variable of the role's argument spec."""
    specs = yaml.safe_load((ROOT / "roles" / "parallelcluster" / "meta" / "argument_specs.yml").read_text())
    variables = set(specs["argument_specs"]["main"]["options"])
    spec = VARS["_parallelcluster_spec"]
    paths = [f"spec.{key}" for key in spec if key != "head_node"]
    paths += [f"spec.head_node.{key}" for key in spec["head_node"]]
    for path in paths:
        assert role_message(path) in variables, path


def test_the_role_names_its_variables_through_ansible_playbook(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_role:\n        name: hpcops.aws_hpc.parallelcluster\n"
        "        tasks_from: validate.yml\n"
    )
    extra = {
        "ansible_python_interpreter": str(VENV_BIN / "python"),
        "parallelcluster_region": "eu-west-1",
        "parallelcluster_subnet_ids": ["subnet-12121212"],
        "parallelcluster_compute_on_node_configured": [],
        "parallelcluster_scaledown_idletime": 0,
        "parallelcluster_queues": [{"name": "q", "compute_resources": [{"name": "r", "instance_type": "c5.huge"}]}],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", json.dumps(extra)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "Invalid cluster variables: parallelcluster_scaledown_idletime must be a whole number" in out, out[-3000:]
    assert "parallelcluster_queues[0].compute_resources[0].instance_type 'c5.huge' has an unknown instance size" in out
