"""Unit tests of plugins/module_utils/_packer.py (no Packer, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils import _packer, _progress

FIXTURES = Path(__file__).resolve().parents[3] / "unit" / "fixtures" / "packer"


def feed(name):
    output = _packer.BuildOutput()
    for line in (FIXTURES / name).read_text().splitlines(keepends=True):
        output.feed(line)
    return output


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("plain", "plain"),
        ("a%!(PACKER_COMMA)b", "a,b"),
        ("line1\\nline2", "line1\nline2"),
        ("", ""),
    ],
)
def test_decode(field, expected):
    assert _packer.decode(field) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("1,,ui,say,hello", {"timestamp": 1, "target": "", "type": "ui", "data": ["say", "hello"]}),
        ("2,amazon-ebs.x,artifact,0,id,us-east-1:ami-1", {"timestamp": 2, "target": "amazon-ebs.x", "type": "artifact",
                                                          "data": ["0", "id", "us-east-1:ami-1"]}),
        ("3,,error-count,1\n", {"timestamp": 3, "target": "", "type": "error-count", "data": ["1"]}),
        ("Error: not machine readable", None),
        ("", None),
    ],
)
def test_parse_line(line, expected):
    assert _packer.parse_line(line) == expected


@pytest.mark.parametrize(
    ("artifact_id", "expected"),
    [
        ("us-east-1:ami-0123abcd", {"us-east-1": "ami-0123abcd"}),
        ("us-east-1:ami-1,eu-west-1:ami-2", {"us-east-1": "ami-1", "eu-west-1": "ami-2"}),
        ("us-gov-west-1:ami-3", {"us-gov-west-1": "ami-3"}),
        ("some/file.box", {}),
        ("", {}),
    ],
)
def test_parse_artifact_id(artifact_id, expected):
    assert _packer.parse_artifact_id(artifact_id) == expected


def test_successful_build():
    output = feed("build-success.txt")
    assert output.amis() == {"amazon-ebs.image": {"us-east-1": "ami-7708071a14fff2f84"}}
    assert output.errors == {}
    steps = [s["step"] for s in output.steps]
    assert steps[0] == "Prevalidating any provided VPC information"
    assert "Creating AMI tags" in steps
    assert "No volumes to clean up, skipping" in steps
    assert all(s["build"] == "amazon-ebs.image" for s in output.steps)


def test_failed_build_keeps_packers_message_and_step():
    output = feed("build-no-source.txt")
    assert output.amis() == {}
    assert output.error_count == 1
    build, step, message = output.failure()
    assert build == "amazon-ebs.image"
    assert step == "Prevalidating AMI Name: pk-test-20261123124914"
    assert message.startswith("No AMI was found matching filters")
    assert 'Values: ["NoSuchImage-*"]' in message
    text = _packer.failure_message("sqlserver", "/p/sqlserver", 1, output)
    assert text.startswith("Packer build of image sqlserver (/p/sqlserver) failed (exit 1) in build amazon-ebs.image")
    assert "at step 'Prevalidating AMI Name" in text
    assert "No AMI was found matching filters" in text


def test_failure_without_machine_readable_error_uses_the_last_lines():
    output = _packer.BuildOutput()
    output.feed("Error: Failed to initialize build 'amazon-ebs.x'\n")
    output.feed("error initializing builder 'amazon-ebs': Unknown builder amazon-ebs\n")
    text = _packer.failure_message("computenode", "t", 1, output)
    assert "Unknown builder amazon-ebs" in text
    assert "(exit 1)" in text


def test_ui_step():
    assert _packer.ui_step("==> amazon-ebs.a: Creating AMI x") == ("amazon-ebs.a", "Creating AMI x")
    assert _packer.ui_step("Build 'amazon-ebs.a' finished") is None
    assert _packer.ui_step("\n==> Builds finished.") is None


@pytest.mark.parametrize(
    ("command", "kwargs", "expected"),
    [
        ("build", {}, ["packer", "build", "-machine-readable", "-color=false", "t"]),
        ("build", {"force": True, "only": ["amazon-ebs.a", "amazon-ebs.b"], "var_files": ["v1", "v2"]},
         ["packer", "build", "-machine-readable", "-color=false", "-force", "-var-file=v1", "-var-file=v2",
          "-only=amazon-ebs.a,amazon-ebs.b", "t"]),
        ("validate", {"var_files": ["v"], "force": True}, ["packer", "validate", "-var-file=v", "t"]),
    ],
)
def test_build_argv(command, kwargs, expected):
    assert _packer.build_argv("packer", command, "t", **kwargs) == expected


def test_build_argv_rejects_other_commands():
    with pytest.raises(_packer.PackerError, match="build or validate"):
        _packer.build_argv("packer", "init", "t")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text", '"text"'),
        ("has ${template} and %{directive}", '"has $${template} and %%{directive}"'),
        ('quote " and \\', '"quote \\" and \\\\"'),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (2.5, "2.5"),
        (None, "null"),
        (["a", 1], '["a", 1]'),
        ({"hpc:role": "sqlserver", "b": True}, '{ "b" = true, "hpc:role" = "sqlserver" }'),
        ({}, "{}"),
    ],
)
def test_hcl_value(value, expected):
    assert _packer.hcl_value(value) == expected


def test_hcl_value_rejects_unknown_types():
    with pytest.raises(_packer.PackerError, match="set"):
        _packer.hcl_value({1, 2})


def test_render_var_file_is_sorted_and_checks_names():
    text = _packer.render_var_file({"region": "us-east-1", "ami_name": "x"})
    assert text.splitlines()[1:] == ['ami_name = "x"', 'region = "us-east-1"']
    with pytest.raises(_packer.PackerError, match="not a valid Packer variable name"):
        _packer.render_var_file({"bad name": 1})


def test_secret_values_and_mask():
    secrets = _packer.secret_values({"winrm_password": "s3cret", "api_token": "", "region": "us-east-1",
                                     "sql_secret": 5})
    assert secrets == ["s3cret"]
    # one masking path: the progress writer's (the module adds the values to its no_log_values)
    assert _progress.mask("user x password s3cret", secrets) == "user x password ********"
