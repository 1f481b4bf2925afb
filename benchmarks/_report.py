"""What every benchmark does with its report: print it (table or JSON) and say whether targets held."""

from __future__ import annotations

import json


def finish(report, args, print_table):
    """Print ``report`` as JSON (``--json``) or with ``print_table``; the exit status for main().

    With ``--check-targets`` a missed target (``report["targets"][...]["pass"]`` false) exits 2.
    """
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    if args.check_targets and not all(target["pass"] for target in report["targets"].values()):
        return 2
    return 0
