# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Live progress of long-running modules (private: no compatibility promise).

Base of the action plugins of modules that run for minutes or hours on the controller
(hpcops.aws_hpc.packer_build, hpcops.aws_hpc.pcluster_cluster). When the task runs on the
controller (the ``local`` connection, which includes ``delegate_to: localhost``), the action:

1. creates an empty temporary file on the controller and passes its path to the module as the
   documented ``progress_file`` option;
2. runs the module with ``_execute_module`` while a helper thread tails that file and shows every
   new line with ``Display().display()``, prefixed with the host (``[localhost] packer[sqlserver]
   ==> ...``), as it is written;
3. stops the tail when the module returns or raises, shows the last lines, removes the file and
   returns the module's result as it is.

Why the lines appear *live*: the action plugin runs in a WorkerProcess (a fork of ansible-playbook).
ansible-core 2.19's WorkerProcess._run calls ``display.set_queue(self._final_q)``
(executor/process/worker.py), and every ``Display.display`` call in that process is wrapped by
``Display._proxy`` (utils/display.py), which puts a ``DisplaySend`` on the final queue at once
instead of writing to the worker's stdout. The strategy's ``results_thread_main``
(plugins/strategy/__init__.py) runs in a thread of the main process for the whole play, takes each
``DisplaySend`` off the queue as it arrives and calls ``display.display`` there - not at the end of
the task. That main-process call is also what ansible-runner's ``awx_display`` callback wraps, so
each line becomes its own ``verbose`` job event in AWX while the task still runs.

The module runs in the calling thread and the tail in a helper thread (not the other way round):
the worker enters ansible-core's ``TaskContext`` (a ``contextvars`` context that a new thread does
not inherit) around the task, and its SIGINT/SIGTERM handlers run in the main thread, so running the
module there keeps both; the display proxy is a multiprocessing queue, safe to use from any thread.

On any other connection (ssh, winrm, aws_ssm, ...) the module runs where the connection leads, where
a controller file cannot be written: the action then just runs the module, without ``progress_file``
and without tailing; the module's own logging (and ``log_path`` of packer_build) still works there.
The same applies to ``async`` tasks and to ``become`` to a user other than the controller's own user
or root (that user could not write the controller user's temporary file).

Secrets: the modules mask their lines before writing them, with their ``no_log_values``
(module_utils/_progress.py's ``ProgressWriter``; packer_build adds Packer's secret variables to
them); the action shows the lines as written and adds nothing to the result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import getpass
import os
import tempfile
import threading

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

PROGRESS_OPTION = "progress_file"
LOCAL_TRANSPORTS = ("local", "ansible.builtin.local")


class ProgressTail:
    """Reads the lines appended to ``path`` since the last read and hands each complete one to ``emit``.

    Works on bytes so that a line (or a multi-byte character) written in two pieces is emitted once,
    whole; a last line without a newline is emitted by :meth:`finish`.
    """

    def __init__(self, path, emit):
        self.path = path
        self.emit = emit
        self.offset = 0
        self.partial = b""
        self.emitted = 0

    def poll(self):
        """Emit the complete lines written since the last call; return how many."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return 0
        if not data:
            return 0
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        for line in lines:
            self._emit(line)
        return len(lines)

    def finish(self):
        """Emit what is left, including a last line without its newline."""
        self.poll()
        if self.partial:
            line, self.partial = self.partial, b""
            self._emit(line)

    def _emit(self, raw):
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if text:
            self.emitted += 1
            self.emit(text)

    def follow(self, stop, interval):
        """Poll every ``interval`` seconds until ``stop`` (a threading.Event) is set, then finish."""
        while not stop.wait(interval):
            self.poll()
        self.finish()


def run_with_progress(execute, path, emit, interval=0.25):
    """Run ``execute()`` while a helper thread tails ``path`` into ``emit``; return its result.

    The tail stops - and shows the lines still unread - whether ``execute`` returns or raises;
    its exception propagates unchanged.
    """
    tail = ProgressTail(path, emit)
    stop = threading.Event()
    follower = threading.Thread(target=tail.follow, args=(stop, interval), name="hpcops-progress", daemon=True)
    follower.start()
    try:
        return execute()
    finally:
        stop.set()
        follower.join()


class ProgressAction(ActionBase):
    """Runs the task's module; on the controller, shows its ``progress_file`` lines live (see the module doc)."""

    TRANSFERS_FILES = False
    POLL_INTERVAL = 0.25

    _supports_check_mode = True
    _supports_async = True

    def progress_reachable(self):
        """Whether the module runs on this controller as a user who can write our temporary file."""
        if getattr(self._connection, "transport", None) not in LOCAL_TRANSPORTS:
            return False
        become = getattr(self._connection, "become", None)
        if become is None:
            return True
        try:
            user = become.get_option("become_user", playcontext=self._play_context)
        except KeyError:  # a become plugin without a become_user option
            user = None
        return user in (None, "", "root", getpass.getuser())

    def run(self, tmp=None, task_vars=None):
        result = super(ProgressAction, self).run(tmp, task_vars)
        del tmp
        wrap_async = bool(self._task.async_val) and not self._connection.has_native_async
        if wrap_async or not self.progress_reachable():
            outcome = self._execute_module(task_vars=task_vars, wrap_async=wrap_async)
        else:
            outcome = self._run_streaming(task_vars)
        result = merge_hash(result, outcome)
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result

    def _run_streaming(self, task_vars):
        host = (task_vars or {}).get("inventory_hostname", "localhost")
        handle, path = tempfile.mkstemp(prefix="hpcops-progress-", suffix=".log")
        os.close(handle)
        args = dict(self._task.args)
        args[PROGRESS_OPTION] = path

        def emit(line):
            display.display(f"[{host}] {line}")

        def execute():
            return self._execute_module(module_args=args, task_vars=task_vars)

        try:
            return run_with_progress(execute, path, emit, interval=self.POLL_INTERVAL)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
