"""packer_build writes every progress line to progress_file, labelled and masked, and log_path still works.

Runs the module in-process with the real Packer (the built-in ``null`` builder with ``communicator =
"none"`` and a ``shell-local`` provisioner: no cloud, about a second); skipped when Packer is missing.
"""

from __future__ import annotations

import json
import shutil

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.hpcops.aws_hpc.plugins.modules import packer_build

PACKER = shutil.which("packer")
pytestmark = pytest.mark.skipif(PACKER is None, reason="packer is not installed")

TEMPLATE = """
variable "db_password" {
  type = string
}

source "null" "progress" {
  communicator = "none"
}

build {
  sources = ["source.null.progress"]
  provisioner "shell-local" {
    environment_vars = ["DB_PASSWORD=${var.db_password}"]
    inline           = ["echo step-one", "echo connecting with $DB_PASSWORD", "echo step-two"]
  }
}
"""


def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit):
        packer_build.main()
    return json.loads(capsys.readouterr().out)


def test_progress_lines_are_labelled_masked_and_log_path_still_works(tmp_path, capsys):
    template = tmp_path / "null.pkr.hcl"
    template.write_text(TEMPLATE)
    progress = tmp_path / "progress.log"
    progress.touch()
    log_path = tmp_path / "bake.log"
    result = run_module(
        capsys,
        template=str(template),
        name="marker",
        packer_path=PACKER,
        variables={"db_password": "Sup3r-s3cret-pw"},
        progress_file=str(progress),
        log_path=str(log_path),
    )
    # The null builder makes no AMI, which the module reports; Packer itself succeeded.
    assert result["builds"][0]["rc"] == 0, result
    lines = progress.read_text().splitlines()
    assert lines, "no progress line written"
    assert all(line.startswith("packer[marker] ") for line in lines), lines
    assert lines[0].startswith("packer[marker] running ")
    assert "packer[marker]     null.progress: step-one" in lines
    assert "packer[marker]     null.progress: connecting with ********" in lines
    assert lines.index("packer[marker]     null.progress: step-one") < lines.index(
        "packer[marker]     null.progress: step-two"
    )
    assert "Sup3r-s3cret-pw" not in progress.read_text()
    # log_path gets the same messages (with its own timestamp and label format)
    logged = log_path.read_text()
    assert "[marker]     null.progress: step-two" in logged and "Sup3r-s3cret-pw" not in logged
