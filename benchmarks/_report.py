"""What every benchmark does around its measurement: options, a scratch folder, the report, the exit status,
and the collection's module_utils files it measures."""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE_UTILS = ROOT / "plugins" / "module_utils"


def module_util(name):
    """A pure-Python file of plugins/module_utils (``_autogrow``), loaded on its own without Ansible."""
    spec = importlib.util.spec_from_file_location(f"hpcops_{name}", MODULE_UTILS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BenchmarkError(RuntimeError):
    """Something went wrong (as opposed to a missed target)."""


def add_report_options(parser):
    """``--json`` and ``--check-targets``, the options every benchmark's report takes."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check-targets", action="store_true", help="exit 2 when a target is missed")


def run_and_report(measure, args, print_table, prefix):
    """Call ``measure(scratch_folder)`` and print its report; the exit status for main().

    The report prints as JSON (``--json``) or with ``print_table``. A :class:`BenchmarkError`
    exits 1; with ``--check-targets`` a missed target (``report["targets"][...]["pass"]`` false)
    exits 2.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        try:
            report = measure(Path(tmp))
        except BenchmarkError as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if args.check_targets and not all(target["pass"] for target in report["targets"].values()):
        return 2
    return 0
