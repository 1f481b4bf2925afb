"""packer_build runs a build again when it failed on AWS throttling or a 5xx answer, and only then.

A stand-in ``packer`` script plays Packer 1.6.6's machine-readable output: it fails its first runs with the
error text Packer printed when the lab's fault proxy throttled it, then succeeds with an AMI artifact.
"""

from __future__ import annotations

import json
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._packer import retryable_error
from ansible_collections.hpcops.aws_hpc.plugins.modules import packer_build

THROTTLED = ("Error querying AMI: RequestLimitExceeded: Rate exceeded\\n\tstatus code: 503%!(PACKER_COMMA) "
             "request id: a1eb")
UNAVAILABLE = ("Error launching source instance: Unavailable: try again\\n\tstatus code: 503%!(PACKER_COMMA) "
               "request id: 1")
OTHER = "Error querying AMI: InvalidAMIID.Malformed: Invalid id: \"ami-x\"\\n\tstatus code: 400"

FAKE = """#!/bin/sh
[ "$1" = build ] || exit 0
count=$(cat "{counter}" 2>/dev/null || echo 0); count=$((count + 1)); echo $count > "{counter}"
if [ $count -le {failures} ]; then
  echo "1,,ui,say,==> amazon-ebs.x: Prevalidating AMI Name: x"
  echo "1,amazon-ebs.x,error,{error}"
  echo "1,,error-count,1"
  exit 1
fi
echo "2,amazon-ebs.x,artifact,0,id,us-east-1:ami-0123456789abcdef0"
exit 0
"""


@pytest.mark.parametrize(("text", "cause"), [
    ("Error querying AMI: RequestLimitExceeded: Rate exceeded\n\tstatus code: 503, request id: a",
     "RequestLimitExceeded"),
    ("Error creating AMI: Throttling: Rate exceeded\n\tstatus code: 400", "Throttling"),
    ("Error uploading: SlowDown: Please reduce your request rate.", "SlowDown"),
    ("Error waiting for AMI: ServiceUnavailable: try later", "ServiceUnavailable"),
    ("Error launching source instance: InternalError: something\n\tstatus code: 500, request id: b", "InternalError"),
    ("Error describing subnet: SerializationError: failed\n\tstatus code: 502, request id: c", "HTTP 502"),
])
def test_retryable_errors_are_recognised(text, cause):
    assert retryable_error(text) == cause


@pytest.mark.parametrize("text", [
    "Error querying AMI: InvalidAMIID.Malformed: Invalid id\n\tstatus code: 400",
    "Error launching source instance: UnauthorizedOperation: You are not authorized\n\tstatus code: 403",
    "Error launching source instance: InstanceLimitExceeded: You have requested more instances",
    "Error: Failed to prepare build: template: unknown variable",
    "status code: 501, request id: d",
    "AccountThrottling: is not a code we know",
    "",
    None,
])
def test_other_failures_are_not_retried(text):
    assert retryable_error(text) is None


def fake_packer(tmp_path, failures, error):
    script = tmp_path / "packer"
    script.write_text(FAKE.format(counter=tmp_path / "count", failures=failures, error=error))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def run_module(capsys, tmp_path, script, **extra):
    template = tmp_path / "t.pkr.hcl"
    template.write_text("# stand-in\n")
    args = {"template": str(template), "name": "img", "packer_path": str(script), "throttle_retry_delay": 0, **extra}
    with patch_module_args(args), pytest.raises(SystemExit):
        packer_build.main()
    return json.loads(capsys.readouterr().out)


def runs(tmp_path):
    return int((tmp_path / "count").read_text())


@pytest.mark.parametrize("error", [THROTTLED, UNAVAILABLE])
def test_a_throttled_build_is_run_again_and_succeeds(tmp_path, capsys, error):
    result = run_module(capsys, tmp_path, fake_packer(tmp_path, 2, error))
    assert not result.get("failed"), result
    assert result["amis"] == {"us-east-1": "ami-0123456789abcdef0"}
    build = result["builds"][0]
    assert build["attempts"] == 3 and runs(tmp_path) == 3
    assert build["retried_on"] == ["RequestLimitExceeded" if error == THROTTLED else "Unavailable"] * 2


def test_retries_are_bounded(tmp_path, capsys):
    result = run_module(capsys, tmp_path, fake_packer(tmp_path, 5, THROTTLED), throttle_retries=1)
    assert result["failed"] and "RequestLimitExceeded" in result["msg"]
    assert result["builds"][0]["attempts"] == 2 and runs(tmp_path) == 2


def test_other_failures_run_once(tmp_path, capsys):
    result = run_module(capsys, tmp_path, fake_packer(tmp_path, 1, OTHER))
    assert result["failed"] and "InvalidAMIID.Malformed" in result["msg"]
    assert result["builds"][0]["attempts"] == 1 and runs(tmp_path) == 1


def test_zero_retries_runs_once(tmp_path, capsys):
    result = run_module(capsys, tmp_path, fake_packer(tmp_path, 1, THROTTLED), throttle_retries=0)
    assert result["failed"] and result["builds"][0]["attempts"] == 1 and runs(tmp_path) == 1


def test_negative_retries_are_refused(tmp_path, capsys):
    result = run_module(capsys, tmp_path, fake_packer(tmp_path, 0, THROTTLED), throttle_retries=-1)
    assert result["failed"] and "throttle_retries" in result["msg"]
