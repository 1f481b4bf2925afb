"""The streaming command runner used by packer_build."""

from __future__ import annotations

import sys
import time

import pytest

from ansible_collections.hpcops.aws_hpc.plugins.module_utils._process import stream_command


def test_lines_arrive_in_order_with_the_exit_code():
    lines = []
    script = "import sys; print('one'); print('two', file=sys.stderr, flush=True); sys.exit(3)"
    assert stream_command([sys.executable, "-c", script], lines.append) == 3
    assert [line.strip() for line in lines] == ["one", "two"]


def test_timeout_kills_the_command():
    started = time.monotonic()
    code = stream_command([sys.executable, "-c", "import time; time.sleep(30)"], lambda line: None, timeout=0.5)
    assert code != 0
    assert time.monotonic() - started < 10


def test_missing_executable_raises_oserror():
    with pytest.raises(OSError):
        stream_command(["/nonexistent/packer"], lambda line: None)
