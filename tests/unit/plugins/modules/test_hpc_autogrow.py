"""The hpc_autogrow module with arguments injected as Ansible does: the pool's option and trim, against moto in-process.

Check mode reports the stopped instances it would terminate and terminates none; the real run terminates them; the
same run again changes nothing. A wrong ``pool_ebs_ratio`` fails with a message naming it.
"""

from __future__ import annotations

import datetime
import json
import re

import boto3
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from conftest import ROOT
from moto import mock_aws

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _autogrow, _fleet, _tags
from ansible_collections.hpcops.aws_hpc.plugins.modules import hpc_autogrow

REGION = "us-east-1"
CLUSTER = "unit"


def run(capsys, **args):
    with patch_module_args(dict(region=REGION, cluster=CLUSTER, max_nodes=2, **args)), pytest.raises(SystemExit):
        hpc_autogrow.main()
    return json.loads(capsys.readouterr().out)


def documentation(name):
    source = (ROOT / "plugins" / "modules" / "hpc_autogrow.py").read_text(encoding="utf-8")
    return yaml.safe_load(re.search(rf'{name} = r"""(.*?)"""', source, re.DOTALL).group(1))


def test_pool_ebs_ratio_is_documented_with_the_actuators_default_and_the_collections_version():
    option = documentation("DOCUMENTATION")["options"]["pool_ebs_ratio"]
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))
    assert option["type"] == "float"
    assert option["default"] == _fleet.POOL_EBS_RATIO == hpc_autogrow.POOL_OPTIONS["pool_ebs_ratio"]["default"]
    assert option["version_added"] == galaxy["version"]
    returned = documentation("RETURN")
    assert returned["terminated"]["returned"] == "always"
    assert returned["recheck_at"]["returned"] == "always"


@pytest.mark.parametrize(("value", "message"), [
    (-1, "pool_ebs_ratio must be a finite number, 0 or more (0: keep stopped instances), got -1.0"),
    ("nan", "pool_ebs_ratio must be a finite number, 0 or more (0: keep stopped instances), got nan"),
])
def test_a_wrong_pool_ebs_ratio_fails_naming_the_option(moto_credentials, capsys, value, message):
    result = run(capsys, pool_ebs_ratio=value)
    assert result["failed"] is True
    assert result["msg"] == f"Invalid autogrow settings for cluster {CLUSTER}: {message}"


def test_check_mode_reports_the_trim_the_run_does_it_and_a_rerun_changes_nothing(moto_credentials, capsys,
                                                                                 monkeypatch):
    moto_credentials.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        tags = [{"Key": _tags.CLUSTER_TAG, "Value": CLUSTER}, {"Key": _tags.ROLE_TAG, "Value": _tags.COMPUTE_ROLE}]
        ids = [item["InstanceId"] for item in ec2.run_instances(
            ImageId=image, MinCount=2, MaxCount=2, InstanceType="c5.large",
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"]]
        keep = _autogrow.pool_keep_time(600, 60, 0.1)
        old = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(seconds=keep + 60)
        with monkeypatch.context() as patch:
            patch.setattr("moto.ec2.models.instances.utcnow", lambda: old)
            ec2.stop_instances(InstanceIds=[ids[0]])
        ec2.stop_instances(InstanceIds=[ids[1]])  # just now: kept

        check = run(capsys, pool_ebs_ratio=0.1, _ansible_check_mode=True)
        assert check["changed"] is True
        assert check["terminated"] == [ids[0]]
        assert check["policy"]["pool_keep_time"] == pytest.approx(keep)
        live = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        assert sorted(item["State"]["Name"] for reservation in live for item in reservation["Instances"]) == [
            "stopped", "stopped"]

        done = run(capsys, pool_ebs_ratio=0.1)
        assert done["changed"] is True
        assert done["terminated"] == [ids[0]]
        assert done["recheck_at"] is not None
        states = {item["InstanceId"]: item["State"]["Name"]
                  for reservation in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                  for item in reservation["Instances"]}
        assert states == {ids[0]: "terminated", ids[1]: "stopped"}

        again = run(capsys, pool_ebs_ratio=0.1)
        assert again["changed"] is False
        assert again["terminated"] == []
