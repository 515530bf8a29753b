"""Probe runs (or ordinary SCALE runs) -> labelled step traces for the difficulty classifier.

    python scripts/build_traces.py runs/probe-gsm8k_train --out runs/traces
    python scripts/build_traces.py runs/scale-a runs/scale-b --out runs/traces-prompted --label prompted

``--label measured`` (default) reads probe runs (``scale-eval method=scale method.probe=true``):
each step was solved by System 1 and System 2 from the same context and labelled by the
grader's equivalence. ``--label prompted`` distils the prompted score of ordinary SCALE runs
(hard when above ``--tau``). Writes a ``datasets`` DatasetDict (train / validation / test,
split by problem) with a dataset card (README.md) and scale_traces.json into ``--out``.
Then: accelerate launch scripts/train_difficulty.py traces=OUT.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from scale.errors import ScaleError
from scale.train import traces


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dirs", nargs="+", help="run directories (read through scale.rundir)")
    p.add_argument("--out", required=True, help="folder for the dataset (save_to_disk) and its card")
    p.add_argument("--label", choices=traces.LABELS, default="measured",
                   help="measured: probe runs' labels; prompted: the prompted score > --tau")
    p.add_argument("--tau", type=float, default=0.5, help="--label prompted: hard when the score is above this")
    p.add_argument("--val-fraction", type=float, default=0.15, help="share of problems in validation")
    p.add_argument("--test-fraction", type=float, default=0.15, help="share of problems in test (0: no test split)")
    p.add_argument("--seed", type=int, default=0, help="which problems go to which split")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python scripts/build_traces.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        built = traces.build(args.run_dirs, label=args.label, tau=args.tau, val_fraction=args.val_fraction,
                             test_fraction=args.test_fraction, seed=args.seed)
        folder = traces.save(built, args.out, command, overwrite=args.overwrite)
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, rows in built.splits.items():
        b = traces.balance(rows)
        print(f"{name}: {b['rows']} steps ({b['hard']} hard, {b['easy']} easy) from {b['problems']} problems")
    if built.skipped:
        print("left out: " + ", ".join(f"{k} {v}" for k, v in sorted(built.skipped.items())))
    print(f"wrote {folder} (card: {folder}/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
