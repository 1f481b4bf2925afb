"""hpcops.aws_hpc.instance_type_info against moto in-process (DescribeInstanceTypeOfferings): no network.

moto answers DescribeInstanceTypeOfferings from the offerings it ships per region and zone
(moto/ec2/resources/instance_type_offerings/); us-east-1 offers m5.xlarge and c5.xlarge, and no m5.gigantic.
"""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.modules import instance_type_info


def run(capsys, **args):
    with patch_module_args(dict(region="us-east-1", **args)), pytest.raises(SystemExit):
        instance_type_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def moto_ec2(moto_credentials):
    from moto import mock_aws

    with mock_aws():
        yield


def test_names_the_types_the_region_does_not_offer(moto_ec2, capsys):
    result = run(capsys, instance_types=["m5.gigantic", "m5.xlarge", "m5.xlarge"])
    assert not result.get("failed"), result
    assert result["changed"] is False
    assert result["offered"] == ["m5.xlarge"]
    assert result["not_offered"] == ["m5.gigantic"]
    assert result["all_offered"] is False
    assert "m5.gigantic" in result["message"] and "us-east-1" in result["message"]
    assert result["zones"] == {}


def test_zones_of_each_offered_type(moto_ec2, capsys):
    result = run(capsys, instance_types=["c5.xlarge"], zones=True)
    assert result["all_offered"] is True
    assert result["message"] == ""
    assert result["zones"]["c5.xlarge"]
    assert all(zone.startswith("us-east-1") for zone in result["zones"]["c5.xlarge"])


def test_check_mode_reads_all_the_same(moto_ec2, capsys):
    result = run(capsys, instance_types=["c5.xlarge"], _ansible_check_mode=True)
    assert result["all_offered"] is True


def test_no_type_given_says_so(moto_ec2, capsys):
    result = run(capsys, instance_types=[""])
    assert result["all_offered"] is False
    assert "instance_types" in result["message"]
