"""Reliability report: what the integration tests of issue "Reliability you can show" measured, side by side with
the clean run.

Each scenario test (tests/integration/test_faults.py, test_crash_resume.py, test_concurrent.py, test_bad_inputs.py,
test_failsafe.py) keeps one record per case in .lab/reliability/ (``reliability_record`` in tests/conftest.py): the
area, the case, what the clean run showed, what this run showed, whether the test's assertions held, and counts
(faults injected and survived, crash points, cases refused). This script prints them as one table per area, and a
summary:

- faults injected and survived (API throttling and 5xx in each protocol's own shape, through lab/faultproxy.py);
- crash points tried and converged (site.yml, bake.yml, a pool round, killed with SIGKILL, then rerun);
- concurrent-run outcomes (two site.yml, two bakes, two autogrow steps at once);
- bad inputs rejected with no AWS change (the corpus tests/integration/bad_inputs.yml);
- fail-safe autoscaling (an unreadable scheduler: nothing stopped, nothing started).

    python benchmarks/reliability.py            # print the records of the last run (`make test` or `make reliability`)
    python benchmarks/reliability.py --run      # start the lab if needed, run the five test files, then print
    python benchmarks/reliability.py --json     # the records and the summary as JSON

Exit status: 0 when every record held, 2 when one did not (``--check-targets``), 1 when there is no record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".lab" / "reliability"
TESTS = ("test_faults.py", "test_crash_resume.py", "test_concurrent.py", "test_bad_inputs.py", "test_failsafe.py")
AREAS = {
    "faults": "API faults (throttling, 5xx) injected",
    "crash": "Crash and resume (SIGKILL, then rerun)",
    "concurrent": "Concurrent runs",
    "bad_input": "Bad input",
    "failsafe": "Fail-safe autoscaling",
}
COUNTS = ("injected", "survived", "refused", "cases", "mutations", "points", "converged")


def read_records(folder: Path) -> list[dict]:
    """The records kept in ``folder``, by area then case."""
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"reliability: {path.name} is not a record: {exc}") from exc
        if {"area", "case", "ok"} <= set(record):
            records.append(record)
    order = list(AREAS)
    return sorted(records, key=lambda r: (order.index(r["area"]) if r["area"] in order else len(order), r["case"]))


def summary(records: list[dict]) -> dict:
    """Per area: cases, cases that held, and the sum of every count the records carry."""
    found = {}
    for record in records:
        area = found.setdefault(record["area"], {"cases": 0, "held": 0})
        area["cases"] += 1
        area["held"] += 1 if record["ok"] else 0
        for key in COUNTS:
            if isinstance(record.get(key), int) and key != "cases":
                area[key] = area.get(key, 0) + record[key]
    return found


def _cell(value, width):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(records: list[dict], totals: dict) -> None:
    """One table per area: case | clean run | this run | held, then the area's totals."""
    widths = (44, 34, 44, 5)
    for area, title in list(AREAS.items()) + [(a, a) for a in totals if a not in AREAS]:
        rows = [r for r in records if r["area"] == area]
        if not rows:
            continue
        print(f"\n{title}")
        header = ("case", "clean run", "this run", "held")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for record in rows:
            cells = (
                record["case"],
                record.get("clean", ""),
                record.get("observed", ""),
                "yes" if record["ok"] else "NO",
            )
            print("  ".join(_cell(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)))
        counts = ", ".join(f"{k} {v}" for k, v in totals[area].items() if k not in ("cases", "held"))
        print(f"  {totals[area]['held']}/{totals[area]['cases']} held" + (f"; {counts}" if counts else ""))


def run_tests() -> int:
    """Start the lab if it is down and run the scenario test files (the records are rewritten)."""
    subprocess.run(["make", "--no-print-directory", "lab-up"], cwd=ROOT, check=True)
    sys.path.insert(0, str(ROOT / "lab"))
    import labctl  # lab/ joins the path just above

    env = {**os.environ, **labctl.read_env()}
    files = [
        str(ROOT / "tests" / "integration" / name) for name in TESTS if (ROOT / "tests" / "integration" / name).exists()
    ]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files], check=False, cwd=ROOT, env=env
    ).returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="folder of the records (default .lab/reliability)"
    )
    parser.add_argument("--run", action="store_true", help="run the scenario tests first (needs the lab: make setup)")
    parser.add_argument("--json", action="store_true", help="print the records and the summary as JSON")
    parser.add_argument("--check-targets", action="store_true", help="exit 2 when a record did not hold")
    args = parser.parse_args(argv)
    if args.run:
        run_tests()
    records = read_records(args.results) if args.results.is_dir() else []
    if not records:
        print(
            f"reliability: no record in {args.results}: run `make reliability` or the tests it names", file=sys.stderr
        )
        return 1
    totals = summary(records)
    if args.json:
        print(json.dumps({"summary": totals, "records": records}, indent=2, sort_keys=True, default=str))
    else:
        print_table(records, totals)
    if args.check_targets and not all(r["ok"] for r in records):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
