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
from pathlib import Path

from scale.errors import ConfigError, ScaleError
from scale.outputs import check_not_inside, check_output_dir, distinct_folders
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


def check_args(args: argparse.Namespace) -> list[Path]:
    """The run dirs, each once; a bad fraction or --out is refused before anything is read."""
    for flag, value in (("--val-fraction", args.val_fraction), ("--test-fraction", args.test_fraction)):
        if not 0 <= value < 1:
            raise ConfigError(f"{flag} {value}: must be at least 0 and below 1 (a share of the problems)")
    if args.val_fraction + args.test_fraction >= 1:
        raise ConfigError(f"--val-fraction {args.val_fraction} + --test-fraction {args.test_fraction}: must be "
                          "below 1 (the rest of the problems is the training split)")
    run_dirs, repeated = distinct_folders(args.run_dirs)
    for path in repeated:  # a run given twice would put every row in twice
        print(f"warning: {path} given more than once; its records are counted once", file=sys.stderr)
    check_output_dir(args.out, "--out")
    check_not_inside(args.out, run_dirs, "--out", "the run dir", above_too=True)
    return run_dirs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python scripts/build_traces.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    try:
        run_dirs = check_args(args)
        built = traces.build(run_dirs, label=args.label, tau=args.tau, val_fraction=args.val_fraction,
                             test_fraction=args.test_fraction, seed=args.seed)
        folder = traces.save(built, args.out, command, overwrite=args.overwrite)
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for name, rows in built.splits.items():
        b = traces.balance(rows)
        print(f"{name}: {b['rows']} steps ({b['hard']} hard, {b['easy']} easy) from {b['problems']} problems")
    train = traces.balance(built.splits["train"])["problems"]
    n = len({r["group"] for rows in built.splits.values() for r in rows})
    if train < n / 2:
        print(f"warning: the training split holds {train} of {n} problems (--val-fraction {args.val_fraction}, "
              f"--test-fraction {args.test_fraction})", file=sys.stderr)
    if built.skipped:
        print("left out: " + ", ".join(f"{k} {v}" for k, v in sorted(built.skipped.items())))
    print(f"wrote {folder} (card: {folder}/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
