"""Unit tests of the SWF parser of the autogrow simulator (benchmarks/_swf.py)."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("hpcops_bench_swf", ROOT / "benchmarks" / "_swf.py")
_swf = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_swf)

TRACE = ROOT.parent / "shared" / "traces" / "lublin_256.swf"

SAMPLE = """; Version: 2
; MaxNodes: 256
;   a comment line with no key
2    5170 -1       2   1 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1
1    5094 -1   12072  16 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1
3    6742 -1   24089  -1 -1 -1  4 -1 -1 1 -1 -1 -1 0 -1 -1 -1
4    6800 -1      -1   1 -1 -1 -1 -1 -1 1 -1 -1 -1 0 -1 -1 -1
"""


def test_parse_sample():
    trace = _swf.parse(SAMPLE.splitlines())
    assert [job.job_id for job in trace.jobs] == [1, 2, 3]
    assert trace.jobs[2].procs == 4  # requested processors when allocated is missing
    assert trace.skipped == 1  # negative run time
    assert trace.header["MaxNodes"] == "256"
    assert trace.max_procs == 256
    assert trace.jobs[0].nodes(cores_per_node=5) == 4


def test_bad_line_is_named():
    with pytest.raises(_swf.SWFError, match="line 2"):
        _swf.parse(["; Version: 2", "1 x -1 5 1"])


@pytest.mark.skipif(not TRACE.exists(), reason="shared trace not present")
def test_lublin_trace():
    trace = _swf.load(TRACE)
    assert len(trace.jobs) == 10_000
    assert max(job.procs for job in trace.jobs) <= 256
