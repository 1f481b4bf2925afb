"""The light targets need neither the lab's Debian packages nor the pcluster venv.

`make -n -B` prints every recipe a target would run (prerequisites included, as if all were out of
date) without running any, so the test reads exactly what `make lint`, `make unit`,
`make docs-check`, `make changelog-lint` and `make collection-build` would do on a fresh machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

LAB_ONLY = ("packer", "slurm-wlm", "munge", "openssh-server", "iproute2", "mariadb-server", "mariadb-client",
            "libmariadb-java", ".venv-pcluster", "labctl.py up")


def dry_run(*targets: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", *targets],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("target", ["lint", "unit", "docs-check", "changelog-lint", "collection-build", "sanity"])
def test_light_target_needs_no_lab_package_and_no_pcluster(target):
    recipes = dry_run(target)
    assert "pip install" in recipes  # the venv is still made on a fresh machine
    debs = [line for line in recipes.splitlines() if "debian-deps.sh" in line]
    for line in debs:
        for name in LAB_ONLY:
            assert not re.search(rf"(?<![\w./-]){re.escape(name)}(?![\w-])", line), f"{target}: {line}"
    for name in (".venv-pcluster", "labctl.py up", "requirements/pcluster.txt"):
        assert name not in recipes, f"make {target} would run: {name}"


@pytest.mark.parametrize("target", ["lab-up", "integration", "test"])
def test_lab_targets_install_the_lab(target):
    recipes = dry_run(target)
    assert re.search(r"debian-deps\.sh packer slurm-wlm munge openssh-server iproute2", recipes)
    assert "requirements/pcluster.txt" in recipes
    assert "labctl.py up" in recipes
