# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the config_region module wants of AWS Config and how it reads AWS's answers (private: not a public API).

Each ``*_view`` keeps only the fields the module sets, from the shapes of the AWS Config API
(DescribeConfigurationRecorders, DescribeDeliveryChannels, DescribeConfigRules), so a rerun compares
like with like and reports no change; ``wanted_*`` builds the request bodies from the module's options.
"""

from __future__ import annotations

import json


def wanted_recorder(params):
    return {
        "name": params["recorder_name"],
        "roleARN": params["role_arn"],
        "recordingGroup": {
            "allSupported": True,
            "includeGlobalResourceTypes": params["include_global_resource_types"],
            "resourceTypes": [],
        },
    }


def recorder_view(recorder):
    """The fields this module sets, from a DescribeConfigurationRecorders item."""
    if not recorder:
        return {}
    group = recorder.get("recordingGroup") or {}
    return {
        "name": recorder.get("name"),
        "roleARN": recorder.get("roleARN"),
        "recordingGroup": {
            "allSupported": bool(group.get("allSupported")),
            "includeGlobalResourceTypes": bool(group.get("includeGlobalResourceTypes")),
            "resourceTypes": list(group.get("resourceTypes") or []),
        },
    }


def wanted_channel(params):
    channel = {
        "name": params["recorder_name"],
        "s3BucketName": params["bucket"],
        "configSnapshotDeliveryProperties": {"deliveryFrequency": params["delivery_frequency"]},
    }
    if params["key_prefix"]:
        channel["s3KeyPrefix"] = params["key_prefix"]
    if params["kms_key_arn"]:
        channel["s3KmsKeyArn"] = params["kms_key_arn"]
    return channel


def channel_view(channel):
    if not channel:
        return {}
    keys = ("name", "s3BucketName", "s3KeyPrefix", "s3KmsKeyArn")
    view = {key: channel[key] for key in keys if channel.get(key)}
    frequency = (channel.get("configSnapshotDeliveryProperties") or {}).get("deliveryFrequency")
    view["configSnapshotDeliveryProperties"] = {"deliveryFrequency": frequency or "TwentyFour_Hours"}
    return view


def wanted_rule(rule):
    wanted = {
        "ConfigRuleName": rule["name"],
        "Source": {"Owner": "AWS", "SourceIdentifier": rule["identifier"]},
    }
    if rule.get("input_parameters"):
        wanted["InputParameters"] = json.dumps({k: str(v) for k, v in sorted(rule["input_parameters"].items())})
    if rule.get("resource_types"):
        wanted["Scope"] = {"ComplianceResourceTypes": list(rule["resource_types"])}
    if rule.get("maximum_execution_frequency"):
        wanted["MaximumExecutionFrequency"] = rule["maximum_execution_frequency"]
    return wanted


def rule_view(rule):
    """The fields this module sets, from a DescribeConfigRules item (parameters parsed, so order does not count)."""
    source = rule.get("Source") or {}
    params = rule.get("InputParameters")
    return {
        "name": rule.get("ConfigRuleName"),
        "identifier": source.get("SourceIdentifier") if source.get("Owner") == "AWS" else None,
        "input_parameters": {k: str(v) for k, v in json.loads(params).items()} if params else {},
        "resource_types": sorted((rule.get("Scope") or {}).get("ComplianceResourceTypes") or []),
        "maximum_execution_frequency": rule.get("MaximumExecutionFrequency"),
    }


def expected_rule_view(rule):
    return rule_view(wanted_rule(rule))


def expected_after(params, before):
    """The view after a present run (what check mode reports)."""
    after = dict(before)
    after["recorder"] = recorder_view(wanted_recorder(params))
    after["delivery_channel"] = channel_view(wanted_channel(params))
    after["recording"] = True
    rules = {k: v for k, v in before["rules"].items() if k not in params["remove_rules"]}
    rules.update({r["name"]: expected_rule_view(r) for r in params["rules"]})
    after["rules"] = dict(sorted(rules.items()))
    return after
