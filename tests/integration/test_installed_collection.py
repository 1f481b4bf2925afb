"""The collection as a user gets it: built into its tarball, installed with `ansible-galaxy`, run as
`ansible-playbook hpcops.aws_hpc.site` from a folder outside the checkout, in a venv that holds only
requirements/runtime.txt (no moto, no test tools, no ansible.cfg of the checkout).

It provisions a cluster of its own against the lab with the lab's variables and checks the end state
`make lab`'s site step reaches (three tiers, their groups and instances, DNS records, secrets, the
bucket, the Windows configuration skipped with its reason), a rerun with changed=0, and teardown.
A second test runs the clone route without make: a fresh clone, the collection installed where
Ansible looks by default, `ansible-playbook site.yml` from the clone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, cluster_inventory, lab_client, play_recap

RUNTIME = ROOT / "requirements" / "runtime.txt"
# what the runtime venv must not have: the lab's and the tests' packages
NOT_RUNTIME = ("moto", "pytest", "ansible_lint", "molecule")


def run(argv, **kwargs):
    kwargs.setdefault("timeout", 900)
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, **kwargs)


@pytest.fixture(scope="module")
def user_side(tmp_path_factory):
    """A runtime-only venv and the collection installed from its tarball, both outside the checkout."""
    top = tmp_path_factory.mktemp("user")
    venv = top / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)])
    assert made.returncode == 0, made.stdout
    pip = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(RUNTIME)],
        timeout=1200,
    )
    assert pip.returncode == 0, pip.stdout
    for module in NOT_RUNTIME:
        probe = run([str(venv / "bin" / "python"), "-c", f"import {module}"], cwd=top)
        assert probe.returncode != 0, f"{module} is installed by requirements/runtime.txt"

    build = top / "build"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AWS_"))}
    env["HOME"] = str(top / "home")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    built = run(
        [str(venv / "bin" / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(ROOT)],
        cwd=top,
        env=env,
    )
    assert built.returncode == 0, built.stdout
    tarball = next(build.glob("hpcops-aws_hpc-*.tar.gz"))
    collections = top / "collections"
    installed = run(
        [
            str(venv / "bin" / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            "--no-deps",
            "-p",
            str(collections),
            str(tarball),
        ],
        cwd=top,
        env=env,
    )
    assert installed.returncode == 0, installed.stdout
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return {"top": top, "venv": venv, "env": env, "tarball": tarball, "collections": collections}


@pytest.fixture(scope="module")
def user_inventory(user_side):
    """The lab's variables for a cluster of this test's own, in a folder outside the checkout."""
    name = f"iu{uuid.uuid4().hex[:8]}"
    inventory = cluster_inventory(user_side["top"] / f"inventory-{name}", name)
    summary = inventory / "summary.txt"
    return {"name": name, "path": inventory, "summary": summary}


def _playbook(user_side, lab_env, *args, cwd=None):
    env = dict(user_side["env"], **lab_env)
    env["ANSIBLE_NOCOLOR"] = "1"
    return run([str(user_side["venv"] / "bin" / "ansible-playbook"), *args], cwd=cwd or user_side["top"], env=env)


def _client(lab_env, service):
    return lab_client(lab_env, service)


def test_installed_collection_runs_site_from_outside_the_checkout(user_side, user_inventory, lab_env):
    assert not (user_side["top"] / "ansible.cfg").exists()
    assert ROOT not in user_side["top"].parents
    name = user_inventory["name"]
    inventory = str(user_inventory["path"])
    try:
        first = _playbook(user_side, lab_env, "hpcops.aws_hpc.site", "-i", inventory)
        assert first.returncode == 0, first.stdout[-6000:]
        # the roles ran from the installed copy, not from the checkout
        installed_root = user_side["collections"] / "ansible_collections" / "hpcops" / "aws_hpc"
        assert (installed_root / "playbooks" / "site.yml").is_file()
        assert str(ROOT) not in first.stdout

        # the end state make lab's site step reaches, for this cluster
        lines = user_inventory["summary"].read_text().splitlines()
        assert lines[0].startswith(f"cluster {name}, private zone ")
        assert "instances: sqlserver=1, headnode=1, computenode=2" in lines
        assert any(line.startswith("DNS: ") and "mssql" in line and "headnode" in line for line in lines), lines
        assert any(line.startswith("payload bucket: ") and "(not created)" not in line for line in lines), lines
        assert any(line.startswith("Windows configuration skipped: the lab has no Windows hosts") for line in lines)
        asgs = _client(lab_env, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
        ours = {
            g["AutoScalingGroupName"]: g["DesiredCapacity"]
            for g in asgs
            if g["AutoScalingGroupName"].startswith(f"hpc-{name}-")
        }
        assert ours == {f"hpc-{name}-sqlserver": 1, f"hpc-{name}-headnode": 1, f"hpc-{name}-computenode": 2}
        params = _client(lab_env, "ssm").get_parameters_by_path(Path=f"/hpc/{name}", Recursive=True)["Parameters"]
        assert {p["Type"] for p in params} >= {"SecureString"} and len(params) >= 3

        again = _playbook(user_side, lab_env, "hpcops.aws_hpc.site", "-i", inventory)
        assert again.returncode == 0, again.stdout[-6000:]
        recap = play_recap(again.stdout)
        assert recap and all(host["changed"] == 0 for host in recap.values()), recap
    finally:
        down = _playbook(
            user_side,
            lab_env,
            "hpcops.aws_hpc.teardown",
            "-i",
            inventory,
            "-e",
            '{"teardown_delete_bucket": true, "teardown_delete_secrets": true}',
        )
    assert down.returncode == 0, down.stdout[-6000:]
    asgs = _client(lab_env, "autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert not [g for g in asgs if g["AutoScalingGroupName"].startswith(f"hpc-{name}-")]


def test_clone_without_make_finds_the_installed_collection(user_side, user_inventory, lab_env):
    """ansible.cfg of a clone keeps Ansible's default collection paths: with no .lab/collections link
    (only make creates it), the collection installed in ~/.ansible/collections resolves, module_defaults
    group included."""
    clone = user_side["top"] / "clone"
    cloned = run(["git", "clone", "-q", str(ROOT), str(clone)])
    assert cloned.returncode == 0, cloned.stdout
    assert not (clone / ".lab").exists()
    home = Path(user_side["env"]["HOME"])
    default_path = home / ".ansible" / "collections"
    installed = run(
        [
            str(user_side["venv"] / "bin" / "ansible-galaxy"),
            "collection",
            "install",
            "--offline",
            "--no-deps",
            str(user_side["tarball"]),
        ],
        # installed the usual way, from outside the clone: into Ansible's default path
        cwd=user_side["top"],
        env={k: v for k, v in user_side["env"].items() if k != "ANSIBLE_COLLECTIONS_PATH"},
    )
    assert installed.returncode == 0, installed.stdout
    assert (default_path / "ansible_collections" / "hpcops" / "aws_hpc" / "galaxy.yml").exists() or (
        default_path / "ansible_collections" / "hpcops" / "aws_hpc" / "MANIFEST.json"
    ).exists()
    env = {k: v for k, v in user_side["env"].items() if k != "ANSIBLE_COLLECTIONS_PATH"}
    env.update(lab_env)
    env["ANSIBLE_CONFIG"] = str(clone / "ansible.cfg")
    check = run(
        [
            str(user_side["venv"] / "bin" / "ansible-playbook"),
            "site.yml",
            "-i",
            str(user_inventory["path"]),
            "--syntax-check",
        ],
        cwd=clone,
        env=env,
    )
    assert check.returncode == 0, check.stdout[-4000:]
    assert "could not resolve" not in check.stdout
    # the validation play runs for real (it touches no AWS resource) and resolves the action group
    listed = run(
        [
            str(user_side["venv"] / "bin" / "ansible-playbook"),
            "site.yml",
            "-i",
            str(user_inventory["path"]),
            "--list-tasks",
        ],
        cwd=clone,
        env=env,
    )
    assert listed.returncode == 0, listed.stdout[-4000:]
    assert "Check the inputs of every play before any AWS change" in listed.stdout
