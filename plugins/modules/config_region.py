#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: config_region
short_description: AWS Config in one region - recorder (recording), delivery channel and managed rules
version_added: 0.1.0
description:
  - Makes sure a region has the AWS Config configuration recorder O(recorder_name) with O(role_arn), recording
    every supported resource type (global ones too when O(include_global_resource_types)), a delivery channel to
    O(bucket), that the recorder is recording, and that the managed rules O(rules) exist as given.
  - Rules named in O(remove_rules) are deleted when they exist.
  - With O(state=absent) the rules of O(rules) and O(remove_rules) are deleted, the recorder is stopped, and the
    delivery channel and the recorder are deleted.
  - Used by the C(hpcops.aws_hpc.guardrails) role. C(community.aws.config_recorder) never starts recording and
    compares the recorder with every key AWS returns (C(recordingStrategy), ...), so it changes on every run;
    C(community.aws.config_rule) fails on a rerun when the answer lacks C(EvaluationModes) and compares
    C(InputParameters) as text; neither they nor C(community.aws.config_delivery_channel) support check mode.
  - Compares only the fields it sets, so a rerun reports no change.
options:
  state:
    description: V(present) or V(absent).
    type: str
    choices: [present, absent]
    default: present
  recorder_name:
    description: Name of the recorder and of the delivery channel (a region has at most one of each).
    type: str
    default: default
  role_arn:
    description: IAM role AWS Config assumes to read the resources and write to O(bucket). Required when present.
    type: str
  include_global_resource_types:
    description: Record global resources (IAM) too; true in one region only, or each is recorded (and billed) twice.
    type: bool
    default: false
  bucket:
    description: S3 bucket of the delivery channel. Required when present.
    type: str
  key_prefix:
    description: Prefix of the delivered objects in O(bucket).
    type: str
    default: ""
  kms_key_arn:
    description: KMS key that encrypts the delivered objects; empty for the bucket's default.
    type: str
    default: ""
  delivery_frequency:
    description: How often AWS Config delivers a configuration snapshot.
    type: str
    choices: [One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours]
    default: TwentyFour_Hours
  rules:
    description: AWS managed rules that must exist.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Rule name.
        type: str
        required: true
      identifier:
        description: The managed rule's identifier (C(ENCRYPTED_VOLUMES), ...).
        type: str
        required: true
      input_parameters:
        description: The rule's parameters (values are sent as strings).
        type: dict
        default: {}
      resource_types:
        description: Resource types the rule evaluates (its scope); empty for a periodic rule.
        type: list
        elements: str
        default: []
      maximum_execution_frequency:
        description: How often a periodic rule runs.
        type: str
  remove_rules:
    description: Names of rules to delete when they exist.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - hpcops.aws_hpc.attributes
  - hpcops.aws_hpc.attributes.aws
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    details:
      - Check mode reads the recorder, its status, the delivery channel and the rules, and changes nothing.
  diff_mode:
    support: full
    details:
      - The diff shows the recorder, the delivery channel, whether it records, and the rules (the fields the
        module sets).
  idempotent:
    support: full
author: hpcops developers (@hpcops)
"""

EXAMPLES = r"""
- name: AWS Config in eu-west-1 with one rule
  hpcops.aws_hpc.config_region:
    region: eu-west-1
    role_arn: arn:aws:iam::123456789012:role/hpc-guardrails-config
    bucket: hpc-guardrails-trail-123456789012
    key_prefix: config
    rules:
      - name: hpc-guardrails-encrypted-volumes
        identifier: ENCRYPTED_VOLUMES
        resource_types: ["AWS::EC2::Volume"]
"""

RETURN = r"""
recorder:
  description: The recorder after the run (empty when absent).
  returned: always
  type: dict
delivery_channel:
  description: The delivery channel after the run (empty when absent).
  returned: always
  type: dict
recording:
  description: Whether the recorder records after the run.
  returned: always
  type: bool
changes:
  description: What the run changed (or, in check mode, would change), such as C(recorder) or C(rule <name>).
  returned: always
  type: list
  elements: str
rules:
  description: Names of the rules of O(rules) that exist after the run.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._aws import (
    ModuleFailure,
    aws_call,
    client_from_module,
    run_module,
)
from ansible_collections.hpcops.aws_hpc.plugins.module_utils._config import (
    channel_view,
    expected_after,
    expected_rule_view,
    recorder_view,
    rule_view,
    wanted_channel,
    wanted_recorder,
    wanted_rule,
)

NO_RECORDER = ("NoSuchConfigurationRecorderException",)
NO_CHANNEL = ("NoSuchDeliveryChannelException",)
NO_RULE = ("NoSuchConfigRuleException",)


class ConfigState:
    """What one region's AWS Config holds, read once."""

    def __init__(self, client, params):
        self.client = client
        name = params["recorder_name"]
        recorders = aws_call("describe the configuration recorders", client.describe_configuration_recorders)
        recorders = recorders.get("ConfigurationRecorders") or []
        others = [r["name"] for r in recorders if r.get("name") != name]
        if others and params["state"] == "present":
            raise ModuleFailure(
                f"recorder_name: the region already has the configuration recorder '{others[0]}' (AWS Config allows "
                f"one per region); set recorder_name to '{others[0]}' to manage it, or delete it first"
            )
        self.recorder = next((r for r in recorders if r.get("name") == name), None)
        channels = aws_call("describe the delivery channels", client.describe_delivery_channels)
        self.channel = next((c for c in channels.get("DeliveryChannels") or [] if c.get("name") == name), None)
        self.recording = False
        if self.recorder:
            status = aws_call(
                f"read the status of the configuration recorder {name}",
                client.describe_configuration_recorder_status,
                ConfigurationRecorderNames=[name],
                ignore=NO_RECORDER,
                default={},
            )
            self.recording = any(s.get("recording") for s in status.get("ConfigurationRecordersStatus") or [])
        self.rules = {}
        names = [r["name"] for r in params["rules"]] + list(params["remove_rules"])
        for rule_name in names:
            found = aws_call(
                f"describe the config rule {rule_name}",
                client.describe_config_rules,
                ConfigRuleNames=[rule_name],
                ignore=NO_RULE,
                default={},
            )
            for rule in found.get("ConfigRules") or []:
                self.rules[rule["ConfigRuleName"]] = rule

    def view(self, params):
        return {
            "recorder": recorder_view(self.recorder),
            "delivery_channel": channel_view(self.channel),
            "recording": self.recording,
            "rules": {name: rule_view(rule) for name, rule in sorted(self.rules.items())},
        }


def ensure_present(module, client, state):
    """Apply the differences; returns the names of what changed (nothing is called in check mode)."""
    params = module.params
    changes = []
    recorder = wanted_recorder(params)
    if recorder_view(state.recorder) != recorder_view(recorder):
        changes.append("recorder")
        if not module.check_mode:
            aws_call(f"put the configuration recorder {recorder['name']}", client.put_configuration_recorder,
                     ConfigurationRecorder=recorder)
    channel = wanted_channel(params)
    if channel_view(state.channel) != channel_view(channel):
        changes.append("delivery_channel")
        if not module.check_mode:
            aws_call(f"put the delivery channel {channel['name']} to bucket {channel['s3BucketName']}",
                     client.put_delivery_channel, DeliveryChannel=channel)
    if not state.recording:
        changes.append("recording")
        if not module.check_mode:
            aws_call(f"start the configuration recorder {recorder['name']}", client.start_configuration_recorder,
                     ConfigurationRecorderName=recorder["name"])
    for rule in params["rules"]:
        current = state.rules.get(rule["name"])
        if current is None or rule_view(current) != expected_rule_view(rule):
            changes.append(f"rule {rule['name']}")
            if not module.check_mode:
                aws_call(f"put the config rule {rule['name']} ({rule['identifier']})", client.put_config_rule,
                         ConfigRule=wanted_rule(rule))
    for name in params["remove_rules"]:
        if name in state.rules and name not in {r["name"] for r in params["rules"]}:
            changes.append(f"remove rule {name}")
            if not module.check_mode:
                aws_call(f"delete the config rule {name}", client.delete_config_rule, ConfigRuleName=name,
                         ignore=NO_RULE)
    return changes


def ensure_absent(module, client, state):
    params = module.params
    name = params["recorder_name"]
    changes = []
    for rule_name in sorted(state.rules):
        changes.append(f"remove rule {rule_name}")
        if not module.check_mode:
            aws_call(f"delete the config rule {rule_name}", client.delete_config_rule, ConfigRuleName=rule_name,
                     ignore=NO_RULE)
    if state.recording:
        changes.append("stop recording")
        if not module.check_mode:
            aws_call(f"stop the configuration recorder {name}", client.stop_configuration_recorder,
                     ConfigurationRecorderName=name, ignore=NO_RECORDER)
    if state.channel:
        changes.append("remove delivery_channel")
        if not module.check_mode:
            aws_call(f"delete the delivery channel {name}", client.delete_delivery_channel,
                     DeliveryChannelName=name, ignore=NO_CHANNEL)
    if state.recorder:
        changes.append("remove recorder")
        if not module.check_mode:
            aws_call(f"delete the configuration recorder {name}", client.delete_configuration_recorder,
                     ConfigurationRecorderName=name, ignore=NO_RECORDER)
    return changes


def ensure(module):
    params = module.params
    if params["state"] == "present":
        missing = [name for name in ("role_arn", "bucket") if not params[name]]
        if missing:
            raise ModuleFailure(f"state is present but {' and '.join(missing)} is empty")
    client = client_from_module(module, "config")
    state = ConfigState(client, params)
    before = state.view(params)
    if params["state"] == "present":
        changes = ensure_present(module, client, state)
        after = expected_after(params, before)
    else:
        changes = ensure_absent(module, client, state)
        after = {"recorder": {}, "delivery_channel": {}, "recording": False, "rules": {}}
    result = {
        "changed": bool(changes),
        "changes": changes,
        "recorder": after["recorder"],
        "delivery_channel": after["delivery_channel"],
        "recording": after["recording"],
        "rules": [r["name"] for r in params["rules"]] if params["state"] == "present" else [],
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    return result


def main():
    rule_spec = dict(
        name=dict(type="str", required=True),
        identifier=dict(type="str", required=True),
        input_parameters=dict(type="dict", default={}),
        resource_types=dict(type="list", elements="str", default=[]),
        maximum_execution_frequency=dict(type="str"),
    )
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        recorder_name=dict(type="str", default="default"),
        role_arn=dict(type="str"),
        include_global_resource_types=dict(type="bool", default=False),
        bucket=dict(type="str"),
        key_prefix=dict(type="str", default="", no_log=False),
        kms_key_arn=dict(type="str", default="", no_log=False),
        delivery_frequency=dict(
            type="str",
            choices=["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"],
            default="TwentyFour_Hours",
        ),
        rules=dict(type="list", elements="dict", options=rule_spec, default=[]),
        remove_rules=dict(type="list", elements="str", default=[]),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    run_module(module, lambda: ensure(module))


if __name__ == "__main__":
    main()
