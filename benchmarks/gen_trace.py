"""Write the synthetic SWF traces of the autogrow benchmark (deterministic: same seed, same file).

    benchmarks/gen_trace.py            # benchmarks/traces/lublin_synth_a.swf and lublin_synth_b.swf
    benchmarks/gen_trace.py --seed 7 --jobs 3000 --nodes 64 --load 0.8 --out FILE.swf

The model and its citations: benchmarks/_lublin.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _lublin  # benchmarks/ is the script's own directory
import _swf

TRACES = Path(__file__).resolve().parent / "traces"
# name -> (seed, jobs, nodes, load)
DEFAULT_TRACES = {"lublin_synth_a.swf": (1, 2500, 128, 0.85), "lublin_synth_b.swf": (2, 2500, 64, 0.6)}


def write(path, seed, n_jobs, nodes, load):
    jobs, header = _lublin.generate(seed, n_jobs, nodes, load)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        _swf.dump(jobs, header, handle)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--jobs", type=int, default=2500)
    parser.add_argument("--nodes", type=int, default=128)
    parser.add_argument("--load", type=float, default=0.85)
    parser.add_argument("--out", help="one trace to this file (with --seed)")
    args = parser.parse_args(argv)
    if args.out or args.seed is not None:
        targets = {Path(args.out or f"lublin_synth_{args.seed}.swf"): (args.seed or 1, args.jobs, args.nodes,
                                                                       args.load)}
    else:
        targets = {TRACES / name: spec for name, spec in DEFAULT_TRACES.items()}
    for path, spec in targets.items():
        print(write(path, *spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
