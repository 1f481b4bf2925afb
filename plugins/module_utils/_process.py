# -*- coding: utf-8 -*-
# Copyright: hpcops developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a command and hand each output line to a callback as it arrives (private).

``AnsibleModule.run_command`` returns the output only when the command ends and runs one command
at a time; the bakery runs several Packer builds at once and reports their progress line by line,
which needs this small streaming runner.
"""

from __future__ import annotations

import subprocess
import threading


def stream_command(argv, on_line, cwd=None, env=None, timeout=None):
    """Run ``argv`` (a list, never a shell string), call ``on_line(line)`` for every line of its
    combined stdout/stderr, and return its exit code. After ``timeout`` seconds it is killed.
    ``OSError`` (for example a missing executable) propagates to the caller."""
    proc = subprocess.Popen(  # noqa: S603 - argv is a list built by the caller, no shell
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, bufsize=1,
    )
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    try:
        for line in proc.stdout:
            on_line(line)
        proc.wait()
    finally:
        if timer:
            timer.cancel()
        proc.stdout.close()
    return proc.returncode
