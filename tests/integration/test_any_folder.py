"""The lab from a clone in a folder only root may enter (a clone under /root or `mktemp -d`, mode 0700).

munged runs as user munge, which cannot enter such a folder; the lab keeps munged's key, socket, pid and
log in a root-owned folder under /run, one per checkout, and `down` removes it. This test clones the
repository into a fresh 0700 folder, brings the clone's Slurm lab up there (its own bridge, subnet and
namespace names, so it never touches a lab of this checkout), runs a job through munge-authenticated
Slurm, brings the clone's portal host up with its MariaDB (socket in the same root-owned folder), and takes it all
down again.

Needs root and Debian's slurm-wlm, munge, openssh-server (make setup-test installs them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and a 0700 folder of root need root"),
    pytest.mark.skipif(shutil.which("git") is None, reason="git is needed to clone the repository"),
]

# Names that differ from the defaults of lab/slurmlab.py, so a lab of this checkout may be up meanwhile.
CLONE_LAB = {
    "LAB_SLURM_BRIDGE": "hpcanyf0",
    "LAB_SLURM_SUBNET": "10.213.79.0/24",
    "LAB_SLURM_NS_PREFIX": "hpcanyf-",
    "LAB_SLURM_VETH_PREFIX": "ha",
}


def run(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300, **kwargs)


@pytest.fixture
def private_clone():
    top = Path(tempfile.mkdtemp(prefix="hpcops-anyfolder-"))  # mode 0700, like /root
    clone = top / "p"
    try:
        result = run(["git", "clone", "-q", str(ROOT), str(clone)])
        assert result.returncode == 0, result.stderr
        yield clone
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_slurm_lab_starts_from_a_clone_only_root_can_enter(private_clone):
    top = private_clone.parent
    assert stat.S_IMODE(top.stat().st_mode) == 0o700
    # the case this test is about: user munge cannot even enter the clone's parent
    assert run(["runuser", "-u", "munge", "--", "test", "-x", str(top)]).returncode != 0

    env = dict(os.environ, **CLONE_LAB)
    slurmlab = [sys.executable, str(private_clone / "lab" / "slurmlab.py")]
    portallab = [sys.executable, str(private_clone / "lab" / "portallab.py")]
    runtime = Path("/run") / ("hpcops-lab-" + hashlib.sha256(str(private_clone).encode()).hexdigest()[:12])
    try:
        up = run([*slurmlab, "up", "--computes", "1"], cwd=private_clone, env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "slurmlab: up" in up.stdout

        # munged's files are outside the checkout, in a folder munge reaches
        socket = runtime / "munge" / "munge.socket"
        assert socket.exists()
        assert stat.S_IMODE(runtime.stat().st_mode) == 0o755
        assert runtime.stat().st_uid == 0
        assert not (private_clone / ".lab" / "slurm" / "munge").exists()
        conf = private_clone / ".lab" / "slurm" / "etc" / "slurm.conf"
        assert f"AuthInfo=socket={socket}" in conf.read_text()

        # a credential made by the clone's munged decodes; then a real job runs through Slurm
        cred = run(["munge", "-n", f"--socket={socket}"])
        assert cred.returncode == 0, cred.stderr
        decoded = run(["unmunge", f"--socket={socket}"], input=cred.stdout)
        assert decoded.returncode == 0 and "STATUS:          Success" in decoded.stdout, decoded.stdout
        job = run(
            ["srun", "--immediate=60", "-N", "1", "hostname"],
            env=dict(env, SLURM_CONF=str(conf)),
        )
        assert job.returncode == 0, job.stdout + job.stderr
        assert job.stdout.strip() == "compute-dy-c5large-1"

        # the portal host's MariaDB too: its data under the clone, its socket in the same root-owned folder
        portal = run([*portallab, "up"], cwd=private_clone, env=env)
        assert portal.returncode == 0, portal.stdout + portal.stderr
        query = run(["mariadb", f"--socket={runtime / 'portal' / 'mysqld.sock'}", "-u", "root", "-N", "-e",
                     "SELECT CURRENT_USER()"])
        assert query.returncode == 0 and query.stdout.strip() == "root@localhost", query.stdout + query.stderr
    finally:
        portal_down = run([*portallab, "down"], cwd=private_clone, env=env)
        down = run([*slurmlab, "down"], cwd=private_clone, env=env)
    assert portal_down.returncode == 0, portal_down.stdout + portal_down.stderr
    assert down.returncode == 0, down.stdout + down.stderr
    assert not runtime.exists(), f"{runtime} is left behind"
    namespaces = run(["ip", "netns", "list"]).stdout
    assert CLONE_LAB["LAB_SLURM_NS_PREFIX"] not in namespaces
    assert "hpcanyfportal" not in namespaces
    assert run(["ip", "link", "show", CLONE_LAB["LAB_SLURM_BRIDGE"]]).returncode != 0
