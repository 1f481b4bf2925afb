"""Progress of a real Packer build shows while the task runs, in ansible-playbook and in ansible-runner events.

The playbook calls hpcops.aws_hpc.packer_build on the controller with a template that uses Packer's
built-in ``null`` builder (``communicator = "none"``) and a ``shell-local`` provisioner: it echoes a
marker, sleeps, echoes a second marker. Each output line is stamped with ``time.monotonic()`` when it
arrives; the first marker must arrive seconds before the task's result. No AWS endpoint is needed.

The null builder makes no AMI, so the module reports "succeeded but reported no AMI"; the task's
``failed_when`` fails it only when Packer itself failed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import ROOT, VENV_BIN

PACKER = shutil.which("packer")
SLEEP_S = 4
MIN_LEAD_S = 3.0
MARKER_ONE = "hpcops-progress-marker-one"
MARKER_TWO = "hpcops-progress-marker-two"
RESULT_LINE = "changed: [localhost]"

if PACKER is None:
    pytest.skip("packer is not installed (bash lab/debian-deps.sh packer)", allow_module_level=True)

TEMPLATE = f"""
source "null" "progress" {{
  communicator = "none"
}}

build {{
  sources = ["source.null.progress"]
  provisioner "shell-local" {{
    inline = ["echo {MARKER_ONE}", "sleep {SLEEP_S}", "echo {MARKER_TWO}"]
  }}
}}
"""

PLAYBOOK = """
- name: A Packer build that takes a few seconds
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Bake with the null builder
      hpcops.aws_hpc.packer_build:
        template: "{template}"
        name: progress
        packer_path: "{packer}"
      register: _bake
      failed_when: _bake.builds is not defined or _bake.builds[0].rc != 0
"""


@pytest.fixture
def project(tmp_path):
    template = tmp_path / "progress.pkr.hcl"
    template.write_text(TEMPLATE)
    playbook = tmp_path / "progress.yml"
    playbook.write_text(PLAYBOOK.format(template=template, packer=PACKER))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    return {"playbook": playbook, "inventory": inventory, "dir": tmp_path}


@pytest.fixture
def env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ANSIBLE_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def first(stamped, predicate, what):
    for arrived, text in stamped:
        if predicate(text):
            return arrived
    pytest.fail(f"no {what} in the output:\n" + "\n".join(text for _stamp, text in stamped))


def test_packer_progress_shows_in_the_playbook_output_before_the_task_ends(project, env):
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(project["inventory"]), str(project["playbook"])]
    stamped = []
    with subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            stamped.append((time.monotonic(), line.rstrip("\n")))
        rc = proc.wait(timeout=120)
    output = "\n".join(text for _stamp, text in stamped)
    assert rc == 0, output

    marker = first(stamped, lambda t: MARKER_ONE in t, "first marker")
    second = first(stamped, lambda t: MARKER_TWO in t, "second marker")
    result = first(stamped, lambda t: t.startswith(RESULT_LINE), "task result line")
    # The marker line is the module's progress line, shown through Display with the host and the build label.
    marker_line = next(text for _stamp, text in stamped if MARKER_ONE in text)
    assert marker_line.startswith("[localhost] packer[progress] "), marker_line
    assert result - marker >= MIN_LEAD_S, f"marker only {result - marker:.2f} s before the result:\n{output}"
    assert marker < second <= result


def test_packer_progress_lines_are_ansible_runner_events_before_runner_on_ok(project, env, monkeypatch):
    """The way AWX runs a job: each progress line is its own event, emitted before the task's runner_on_ok."""
    ansible_runner = pytest.importorskip("ansible_runner")
    for key in [k for k in os.environ if k.startswith(("AWS_", "ANSIBLE_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PATH", env["PATH"])  # ansible-runner looks ansible-playbook up on PATH
    events = []

    def on_event(event):
        events.append((time.monotonic(), event))
        return True

    private = project["dir"] / "runner"
    (private / "project").mkdir(parents=True)
    run = ansible_runner.run(
        private_data_dir=str(private),
        playbook=str(project["playbook"]),
        inventory=str(project["inventory"]),
        envvars={k: env[k] for k in ("ANSIBLE_CONFIG", "ANSIBLE_NOCOLOR", "PYTHONUNBUFFERED")},
        event_handler=on_event,
        quiet=True,
        timeout=120,
    )
    summary = "\n".join(f"{e['event']}: {e.get('stdout', '')}" for _stamp, e in events)
    assert run.status == "successful", summary

    names = [e["event"] for _stamp, e in events]
    ok = names.index("runner_on_ok")
    ok_event = events[ok][1]
    assert ok_event["event_data"]["task"] == "Bake with the null builder"
    progress = [(i, at, e) for i, (at, e) in enumerate(events) if "packer[progress]" in (e.get("stdout") or "")]
    assert progress, summary
    assert all(e["event"] == "verbose" for _stamp, _line, e in progress)
    marker = next((i, at) for i, at, e in progress if MARKER_ONE in e["stdout"])
    second = next((i, at) for i, at, e in progress if MARKER_TWO in e["stdout"])
    assert marker[0] < second[0] < ok, summary
    # by arrival: the handler saw the first marker seconds before the task's result event
    assert events[ok][0] - marker[1] >= MIN_LEAD_S, summary
