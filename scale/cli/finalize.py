"""Finish a sharded run: ``scale-finalize RUN_DIR [RUN_DIR ...] [--allow-incomplete]``.

    scale-finalize runs/qwen3-aime24                 # after every Slurm array task is done
    python -m scale.cli.finalize runs/x --allow-incomplete

Merges the shard files into records.jsonl, checks that every (problem, sample) of the
run's config is there exactly once (naming the missing or conflicting ones), writes
metrics.json and report.md, prints the summary and hands the run to the configured logger
(``logger=wandb``). Exit status 1 when a run is incomplete.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scale.errors import ScaleError
from scale.rundir import RunDir
from scale.runner.finalize import IncompleteRun, finalize
from scale.runner.summary import print_summary
from scale.tracking import after_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scale-finalize", description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="write metrics for what exists (marked incomplete) instead of failing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    status = 0
    for run_dir in args.run_dirs:
        try:
            metrics = finalize(run_dir, allow_incomplete=args.allow_incomplete)
        except IncompleteRun as err:
            print(f"incomplete: {err}", file=sys.stderr)
            status = max(status, 1)
            continue
        except ScaleError as err:
            print(f"error: {err}", file=sys.stderr)
            status = 2
            continue
        print_summary(run_dir, metrics)
        after_run(RunDir(run_dir).read_config(), run_dir, metrics)  # logger=wandb: an array's run too
    return status


if __name__ == "__main__":
    sys.exit(main())
