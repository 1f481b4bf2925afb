"""The controller-side progress tail and action base (plugins/plugin_utils/_progress.py).

The module is replaced by a fake ``_execute_module`` that writes to the progress file the way the
modules do; tests/integration/test_progress.py runs the real module, Packer and ansible-playbook.
"""

from __future__ import annotations

import os
import threading
import time
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleConnectionFailure

from ansible_collections.hpcops.aws_hpc.plugins.action.packer_build import ActionModule as PackerAction
from ansible_collections.hpcops.aws_hpc.plugins.action.pcluster_cluster import ActionModule as PclusterAction
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils import _progress
from ansible_collections.hpcops.aws_hpc.plugins.plugin_utils._progress import (
    PROGRESS_OPTION,
    ProgressTail,
    run_with_progress,
)

WAIT = 5.0


def wait_for(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def append(path, data):
    with open(path, "ab") as handle:
        handle.write(data)


def tail_threads():
    return [t for t in threading.enumerate() if t.name == "hpcops-progress"]


# --------------------------------------------------------------------------- ProgressTail
def test_tail_emits_complete_lines_once(tmp_path):
    path = tmp_path / "p.log"
    path.touch()
    seen = []
    tail = ProgressTail(str(path), seen.append)
    assert tail.poll() == 0
    append(path, b"one\ntwo\n")
    assert tail.poll() == 2
    assert tail.poll() == 0
    append(path, b"three\n")
    tail.poll()
    assert seen == ["one", "two", "three"]


def test_tail_waits_for_the_rest_of_a_split_line_and_character(tmp_path):
    path = tmp_path / "p.log"
    path.touch()
    seen = []
    tail = ProgressTail(str(path), seen.append)
    word = "Größe".encode()
    append(path, b"packer[a] " + word[:3])  # ends inside the two-byte "ö"
    tail.poll()
    assert seen == []
    append(path, word[3:] + b" ok\r\n")
    tail.poll()
    assert seen == ["packer[a] Größe ok"]


def test_tail_finish_emits_a_last_line_without_newline_and_skips_blank_lines(tmp_path):
    path = tmp_path / "p.log"
    path.write_bytes(b"a\n\n\nb")
    seen = []
    tail = ProgressTail(str(path), seen.append)
    tail.finish()
    assert seen == ["a", "b"]
    assert tail.emitted == 2


def test_tail_of_a_missing_file_emits_nothing(tmp_path):
    seen = []
    tail = ProgressTail(str(tmp_path / "gone.log"), seen.append)
    tail.finish()
    assert seen == []


# --------------------------------------------------------------------------- run_with_progress
def test_lines_show_while_the_work_still_runs(tmp_path):
    path = tmp_path / "p.log"
    path.touch()
    seen = []

    def work():
        append(path, b"first\n")
        # The tail must show the line before the work returns.
        shown_while_running = wait_for(lambda: seen == ["first"])
        append(path, b"last")
        return {"changed": True, "shown_while_running": shown_while_running}

    result = run_with_progress(work, str(path), seen.append, interval=0.02)
    assert result == {"changed": True, "shown_while_running": True}
    assert seen == ["first", "last"]
    assert tail_threads() == []


def test_an_exception_stops_the_tail_and_propagates(tmp_path):
    path = tmp_path / "p.log"
    path.touch()
    seen = []

    def work():
        append(path, b"before the failure\n")
        raise AnsibleConnectionFailure("connection lost")

    with pytest.raises(AnsibleConnectionFailure, match="connection lost"):
        run_with_progress(work, str(path), seen.append, interval=0.02)
    assert seen == ["before the failure"]
    assert tail_threads() == []


# --------------------------------------------------------------------------- the action base
class Recorder:
    def __init__(self):
        self.lines = []

    def display(self, msg, **_kwargs):
        self.lines.append(msg)


@pytest.fixture
def shown(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(_progress, "display", recorder)
    return recorder


def make_action(cls, args, transport="local", become=None, async_val=0):
    task = MagicMock()
    task.args = dict(args)
    task.async_val = async_val
    task.check_mode = False
    task.diff = False
    connection = MagicMock()
    connection.transport = transport
    connection.become = become
    connection.has_native_async = False
    connection._shell.tmpdir = None
    action = cls(task, connection, MagicMock(), loader=MagicMock(), templar=MagicMock(), shared_loader_obj=MagicMock())
    calls = []

    def fake_execute(module_name=None, module_args=None, task_vars=None, wrap_async=False, **_kwargs):
        args_seen = dict(module_args if module_args is not None else task.args)
        calls.append({"args": args_seen, "wrap_async": wrap_async})
        progress = args_seen.get(PROGRESS_OPTION)
        if progress:
            append(progress, b"packer[sqlserver] ==> amazon-ebs.windows: Creating temporary keypair...\n")
            calls[-1]["file_mode"] = oct(os.stat(progress).st_mode & 0o777)
        return action.module_result

    action._execute_module = fake_execute
    action.module_result = {"changed": True, "amis": {"eu-west-1": "ami-0123456789abcdef0"}}
    return action, calls


def test_local_task_gets_a_progress_file_shown_live_and_removed(shown):
    action, calls = make_action(PackerAction, {"template": "/t", "log_path": "/var/log/bake.log"})
    result = action.run(task_vars={"inventory_hostname": "bakery"})
    assert result["changed"] is True and result["amis"] == {"eu-west-1": "ami-0123456789abcdef0"}
    assert PROGRESS_OPTION not in result
    [call] = calls
    path = call["args"][PROGRESS_OPTION]
    assert call["args"]["template"] == "/t" and call["args"]["log_path"] == "/var/log/bake.log"
    assert call["file_mode"] == "0o600"  # mkstemp: only the controller user reads it
    assert not os.path.exists(path)
    assert shown.lines == ["[bakery] packer[sqlserver] ==> amazon-ebs.windows: Creating temporary keypair..."]
    assert PROGRESS_OPTION not in action._task.args  # the task's own arguments are left alone


def test_a_failed_module_result_comes_back_unchanged(shown):
    action, calls = make_action(PclusterAction, {"name": "demo"})
    action.module_result = {"failed": True, "msg": "Cluster demo reached CREATE_FAILED", "status": "CREATE_FAILED"}
    result = action.run(task_vars={"inventory_hostname": "localhost"})
    assert result["failed"] is True
    assert result["msg"] == "Cluster demo reached CREATE_FAILED" and result["status"] == "CREATE_FAILED"
    assert not os.path.exists(calls[0]["args"][PROGRESS_OPTION])
    assert tail_threads() == []


def test_an_exception_in_the_module_call_removes_the_file(shown):
    action, _calls = make_action(PackerAction, {"template": "/t"})
    paths = []

    def broken(module_name=None, module_args=None, task_vars=None, **_kwargs):
        paths.append(module_args[PROGRESS_OPTION])
        append(paths[0], b"packer[x] started\n")
        raise AnsibleConnectionFailure("the worker lost its connection")

    action._execute_module = broken
    with pytest.raises(AnsibleConnectionFailure):
        action.run(task_vars={"inventory_hostname": "localhost"})
    assert not os.path.exists(paths[0])
    assert shown.lines == ["[localhost] packer[x] started"]
    assert tail_threads() == []


@pytest.mark.parametrize("transport", ["ssh", "winrm", "amazon.aws.aws_ssm"])
def test_remote_connection_runs_the_module_without_progress(shown, transport):
    action, calls = make_action(PackerAction, {"template": "/t"}, transport=transport)
    result = action.run(task_vars={"inventory_hostname": "builder"})
    assert result["changed"] is True
    assert PROGRESS_OPTION not in calls[0]["args"]
    assert shown.lines == []


def test_async_task_runs_the_module_without_progress(shown):
    action, calls = make_action(PackerAction, {"template": "/t"}, async_val=7200)
    action.run(task_vars={"inventory_hostname": "localhost"})
    assert calls[0]["wrap_async"] is True
    assert PROGRESS_OPTION not in calls[0]["args"]


@pytest.mark.parametrize(("user", "streams"), [("root", True), (None, True), ("nobody", False)])
def test_become_streams_only_to_a_user_who_can_write_the_file(shown, user, streams):
    become = MagicMock()
    become.get_option.return_value = user
    action, calls = make_action(PackerAction, {"template": "/t"}, become=become)
    action.run(task_vars={"inventory_hostname": "localhost"})
    assert (PROGRESS_OPTION in calls[0]["args"]) is streams
