"""The run_lock module with arguments injected as Ansible does, against moto in-process.

Taking a free lock is a change, taking it again (same owner) renews it without a change, another owner fails naming
the holder, releasing is owner-checked, check mode writes nothing, wrong options fail naming the option. The
documentation lists exactly the module's options.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from conftest import ROOT
from moto import mock_aws

from ansible_collections.hpcops.aws_hpc.plugins.modules import run_lock

REGION = "us-east-1"
NAME = "/hpc/unit/locks/site"


def run(capsys, **args):
    with patch_module_args(dict(region=REGION, name=NAME, **args)), pytest.raises(SystemExit):
        run_lock.main()
    return json.loads(capsys.readouterr().out)


def warnings(result):
    """The warnings' texts (ansible-core 2.19 returns each as a WarningSummary dict, before it a string)."""
    return [item if isinstance(item, str) else item["event"]["msg"] for item in result.get("warnings") or []]


@pytest.fixture
def ssm(moto_credentials):
    with mock_aws():
        yield boto3.client("ssm", region_name=REGION)


def test_take_renew_refuse_and_release(ssm, capsys):
    taken = run(capsys, owner="run-a")
    assert taken["changed"] is True
    assert taken["action"] == "acquired"
    assert taken["holder"]["owner"] == "run-a"
    assert taken["holder"]["expires"] - taken["holder"]["started"] == 7200
    assert ssm.get_parameter(Name=NAME)["Parameter"]["Type"] == "String"

    again = run(capsys, owner="run-a", lease=60)
    assert again["changed"] is False
    assert again["action"] == "renewed"

    # a holder on this host whose process is alive (this test's) or elsewhere with a lease running: refused
    refused = run(capsys, owner="run-b")
    assert refused["failed"] is True
    assert refused["msg"].startswith(f"Lock {NAME} is held by run run-a on host ")
    assert refused["holder"]["owner"] == "run-a"

    not_mine = run(capsys, owner="run-b", state="absent")
    assert not_mine["changed"] is False
    assert not_mine["action"] == "none"
    assert any("left as it is" in warning for warning in warnings(not_mine))

    checked = run(capsys, owner="run-a", state="absent", _ansible_check_mode=True)
    assert checked["changed"] is True
    assert ssm.get_parameter(Name=NAME)

    released = run(capsys, owner="run-a", state="absent")
    assert released["changed"] is True
    assert released["action"] == "released"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=NAME)
    assert run(capsys, owner="run-a", state="absent")["changed"] is False


def test_break_lock_takes_over_with_a_warning(ssm, capsys):
    held = {"owner": "awx-job-41", "host": "awx-job-41-pod", "pid": 12, "pid_start": 1, "started": 1,
            "expires": 4102444800}
    ssm.put_parameter(Name=NAME, Value=json.dumps(held), Type="String")
    broken = run(capsys, owner="awx-job-42", break_lock=True)
    assert broken["action"] == "taken_over"
    assert broken["previous"]["owner"] == "awx-job-41"
    assert any("took over from run awx-job-41 on host awx-job-41-pod" in item for item in warnings(broken))


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "hpc/no-slash"}, "name must be an SSM parameter path"),
    ({"name": "/hpc/bad name"}, "name must be an SSM parameter path"),
    ({"owner": " "}, "owner must be a run id"),
    ({"lease": 0}, "lease must be 1 or more seconds, got 0"),
    ({"wait_timeout": -1}, "wait_timeout must be 0 or more seconds, got -1"),
])
def test_wrong_options_fail_naming_the_option(moto_credentials, capsys, args, message):
    options = {"owner": "run-a", **args}
    with patch_module_args(dict(region=REGION, **{"name": NAME, **options})), pytest.raises(SystemExit):
        run_lock.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True
    assert result["msg"].startswith(message)


def test_the_documentation_lists_the_options_and_returns():
    source = (ROOT / "plugins" / "modules" / "run_lock.py").read_text(encoding="utf-8")
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL).group(1))
    assert set(doc["options"]) == {"name", "state", "owner", "lease", "wait_timeout", "break_lock"}
    returned = yaml.safe_load(re.search(r'RETURN = r"""(.*?)"""', source, re.DOTALL).group(1))
    assert set(returned) == {"name", "action", "holder", "previous"}
    assert yaml.safe_load(re.search(r'EXAMPLES = r"""(.*?)"""', source, re.DOTALL).group(1))
