"""The collection's action group also carries amazon.aws's and community.aws's modules (meta/runtime.yml).

One ``module_defaults: {group/hpcops.aws_hpc.aws: {...}}`` gives the connection options to this collection's
modules and to amazon.aws and community.aws modules in the same play (amazon.aws documents the same pattern
for its own group, ``group/aws``). The region is taken out of the environment, so each module below finds
one only through the group's defaults. (This collection's own modules are covered by every playbook, which
set the group's defaults.)
"""

from __future__ import annotations

import sys

from conftest import play_recap

PLAY = """---
- name: One set of connection options for three collections
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/hpcops.aws_hpc.aws:
      region: us-east-1
  tasks:
    - name: A community.aws module
      community.aws.ecs_cluster:
        name: "{{ cluster }}"
        state: present
      register: _ecs

    - name: An amazon.aws module
      amazon.aws.aws_caller_info:
      register: _caller

    - name: Remove the ECS cluster
      community.aws.ecs_cluster:
        name: "{{ cluster }}"
        state: absent

    - name: Both found the region through the group
      ansible.builtin.assert:
        that:
          - _ecs.cluster.clusterName | default('') == cluster
          - _ecs.cluster.clusterArn | default('') is search(':us-east-1:')
          - _caller.account | default('') | length > 0
        quiet: true
"""


def test_action_group_gives_region_to_community_and_amazon_aws_modules(run_playbook, tmp_path):
    playbook = tmp_path / "group.yml"
    playbook.write_text(PLAY)
    env = {"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}
    inventory = tmp_path / "hosts"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    result = run_playbook("-i", str(inventory), "-e", "cluster=hpc-action-group", str(playbook), timeout=300,
                          extra_env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "requires a region" not in result.stdout
    recap = play_recap(result.stdout)
    assert recap["localhost"] == {"ok": 4, "changed": 2, "unreachable": 0, "failed": 0}
