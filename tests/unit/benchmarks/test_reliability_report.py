"""Unit tests of the reliability report (benchmarks/reliability.py) and the record it reads (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import json

import conftest
from conftest import ROOT

_SPEC = importlib.util.spec_from_file_location("hpcops_bench_reliability", ROOT / "benchmarks" / "reliability.py")
reliability = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(reliability)


def _records(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "RELIABILITY_DIR", tmp_path)
    conftest.reliability_record(
        "faults", "site.yml", "rc 0, changed 41", "rc 0, rerun changed 0", True, injected=12, survived=12
    )
    conftest.reliability_record("faults", "bake.yml", "1 AMI", "1 AMI", True, injected=3, survived=3)
    conftest.reliability_record(
        "crash", "site.yml: in the foundation", "converged", "converged", True, points=1, converged=1
    )
    conftest.reliability_record("bad_input", "site.yml", "rc 0", "20/20 refused, 0 changes", False, refused=19)
    return tmp_path


def test_record_is_one_file_per_case_rewritten_by_a_later_run(tmp_path, monkeypatch):
    folder = _records(tmp_path, monkeypatch)
    conftest.reliability_record("faults", "site.yml", "rc 0", "rc 0", True, injected=5, survived=5)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "bad-input-site-yml.json",
        "crash-site-yml-in-the-foundation.json",
        "faults-bake-yml.json",
        "faults-site-yml.json",
    ]
    assert json.loads((folder / "faults-site-yml.json").read_text())["injected"] == 5


def test_summary_sums_the_counts_per_area(tmp_path, monkeypatch):
    totals = reliability.summary(reliability.read_records(_records(tmp_path, monkeypatch)))
    assert totals["faults"] == {"cases": 2, "held": 2, "injected": 15, "survived": 15}
    assert totals["crash"] == {"cases": 1, "held": 1, "points": 1, "converged": 1}
    assert totals["bad_input"] == {"cases": 1, "held": 0, "refused": 19}


def test_table_puts_the_clean_run_beside_this_run(tmp_path, monkeypatch, capsys):
    folder = _records(tmp_path, monkeypatch)
    assert reliability.main(["--results", str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.index("API faults") < out.index("Crash and resume") < out.index("Bad input")
    row = next(line for line in out.splitlines() if line.startswith("site.yml  "))
    assert "rc 0, changed 41" in row and "rc 0, rerun changed 0" in row and row.rstrip().endswith("yes")
    assert "2/2 held; injected 15, survived 15" in out
    assert "0/1 held; refused 19" in out


def test_exit_status(tmp_path, monkeypatch, capsys):
    folder = _records(tmp_path, monkeypatch)
    assert reliability.main(["--results", str(folder), "--check-targets"]) == 2
    assert reliability.main(["--results", str(tmp_path / "none")]) == 1
    assert "no record" in capsys.readouterr().err
    assert reliability.main(["--results", str(folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["faults"]["injected"] == 15 and len(report["records"]) == 4
