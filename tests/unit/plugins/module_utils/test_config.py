"""What config_region wants of AWS Config, and that AWS's answers compare equal to it (no change on a rerun).

The answers follow the AWS Config API reference response syntax:
DescribeConfigurationRecorders (ConfigurationRecorders[].name/roleARN/recordingGroup, plus recordingMode and
recordingStrategy that the module does not set), DescribeDeliveryChannels (DeliveryChannels[].name/s3BucketName/
s3KeyPrefix/s3KmsKeyArn/configSnapshotDeliveryProperties) and DescribeConfigRules (ConfigRules[].ConfigRuleName/
Source/InputParameters as a JSON string/Scope/MaximumExecutionFrequency, plus ConfigRuleArn, ConfigRuleId,
ConfigRuleState and EvaluationModes). https://docs.aws.amazon.com/config/latest/APIReference/
"""

from __future__ import annotations

import json

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _config

PARAMS = {
    "recorder_name": "default", "role_arn": "arn:aws:iam::123456789012:role/hpc-guardrails-config",
    "include_global_resource_types": True, "bucket": "hpc-guardrails-trail", "key_prefix": "config",
    "kms_key_arn": "", "delivery_frequency": "TwentyFour_Hours", "remove_rules": ["old-rule"],
    "rules": [{"name": "hpc-restricted-ports", "identifier": "RESTRICTED_INCOMING_TRAFFIC",
               "input_parameters": {"blockedPort1": 22, "blockedPort2": 3389},
               "resource_types": ["AWS::EC2::SecurityGroup"]}],
}

RECORDER_ANSWER = {
    "name": "default", "roleARN": "arn:aws:iam::123456789012:role/hpc-guardrails-config",
    "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True, "resourceTypes": [],
                       "exclusionByResourceTypes": {"resourceTypes": []},
                       "recordingStrategy": {"useOnly": "ALL_SUPPORTED_RESOURCE_TYPES"}},
    "recordingMode": {"recordingFrequency": "CONTINUOUS", "recordingModeOverrides": []},
}

CHANNEL_ANSWER = {"name": "default", "s3BucketName": "hpc-guardrails-trail", "s3KeyPrefix": "config",
                  "configSnapshotDeliveryProperties": {"deliveryFrequency": "TwentyFour_Hours"}}

RULE_ANSWER = {
    "ConfigRuleName": "hpc-restricted-ports",
    "ConfigRuleArn": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-abc123",
    "ConfigRuleId": "config-rule-abc123",
    "Source": {"Owner": "AWS", "SourceIdentifier": "RESTRICTED_INCOMING_TRAFFIC"},
    # AWS stores the parameters as sent; another key order or numbers as strings are the same rule
    "InputParameters": '{"blockedPort2":"3389","blockedPort1":"22"}',
    "Scope": {"ComplianceResourceTypes": ["AWS::EC2::SecurityGroup"]},
    "ConfigRuleState": "ACTIVE",
    "EvaluationModes": [{"Mode": "DETECTIVE"}],
}


def test_the_answers_compare_equal_to_what_the_module_sets():
    assert _config.recorder_view(RECORDER_ANSWER) == _config.recorder_view(_config.wanted_recorder(PARAMS))
    assert _config.channel_view(CHANNEL_ANSWER) == _config.channel_view(_config.wanted_channel(PARAMS))
    assert _config.rule_view(RULE_ANSWER) == _config.expected_rule_view(PARAMS["rules"][0])


def test_a_difference_in_a_field_the_module_sets_counts():
    other_role = dict(RECORDER_ANSWER, roleARN="arn:aws:iam::123456789012:role/other")
    assert _config.recorder_view(other_role) != _config.recorder_view(_config.wanted_recorder(PARAMS))
    no_global = dict(RECORDER_ANSWER, recordingGroup=dict(RECORDER_ANSWER["recordingGroup"],
                                                          includeGlobalResourceTypes=False))
    assert _config.recorder_view(no_global) != _config.recorder_view(_config.wanted_recorder(PARAMS))
    other_port = dict(RULE_ANSWER, InputParameters='{"blockedPort1":"22","blockedPort2":"3390"}')
    assert _config.rule_view(other_port) != _config.expected_rule_view(PARAMS["rules"][0])


def test_request_bodies():
    rule = _config.wanted_rule(PARAMS["rules"][0])
    assert rule["Source"] == {"Owner": "AWS", "SourceIdentifier": "RESTRICTED_INCOMING_TRAFFIC"}
    assert json.loads(rule["InputParameters"]) == {"blockedPort1": "22", "blockedPort2": "3389"}
    channel = _config.wanted_channel(PARAMS)
    assert "s3KmsKeyArn" not in channel  # empty kms_key_arn: not sent
    assert channel["s3KeyPrefix"] == "config"


def test_missing_answers_read_as_empty():
    assert _config.recorder_view(None) == {}
    assert _config.channel_view({}) == {}
    assert _config.channel_view({"name": "default", "s3BucketName": "b"})["configSnapshotDeliveryProperties"] == {
        "deliveryFrequency": "TwentyFour_Hours"}  # AWS's default when the answer omits it


def test_expected_after_drops_removed_rules_and_adds_the_wanted_ones():
    before = {"recorder": {}, "delivery_channel": {}, "recording": False,
              "rules": {"old-rule": {"name": "old-rule"}, "kept": {"name": "kept"}}}
    after = _config.expected_after(PARAMS, before)
    assert after["recording"] is True
    assert list(after["rules"]) == ["hpc-restricted-ports", "kept"]
    assert before["recording"] is False  # the view before is not changed
