"""The paper's tables and figures from run dirs: ``scale-report RUN_DIR... --out DIR``.

    scale-report runs/table1 runs/table2 --out reports/paper --paper   # folders holding run dirs
    scale-report 'runs/table1/qwen3_32b_*' --out reports/qwen3        # globs (quoted or not)
    scale-report runs/a runs/b --out reports/ab --compare runs/a runs/b
    scale-report runs/base-aime24 runs/sft-aime24 --out reports/t3 --tuned runs/base-aime24=runs/sft-aime24
    python -m scale.cli.report runs/demo --out reports/demo

Writes table1/table2/table3/comparisons as .md, .tex (booktabs) and .csv, figures/*.png|pdf
and report.md (docs/report.md). Accuracies carry 95% bootstrap CIs over problems; SCALE is
compared with each baseline and the random control on the same problems (paired bootstrap).
Exit status 2 with one line when runs cannot be reported together.
"""

from __future__ import annotations

import argparse
import logging
import sys

from scale.errors import ScaleError


def _pair(text: str) -> tuple[str, str]:
    base, sep, tuned = text.partition("=")
    if not sep or not base or not tuned:
        raise argparse.ArgumentTypeError(f"expected BASE_RUN=TUNED_RUN, got {text!r}")
    return base, tuned


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scale-report", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR",
                        help="run dirs, globs, or folders holding run dirs")
    parser.add_argument("--out", required=True, metavar="DIR", help="where the tables and figures go")
    parser.add_argument("--paper", action="store_true", help="the paper's own numbers beside ours")
    parser.add_argument("--compare", nargs=2, action="append", default=[], metavar=("RUN_A", "RUN_B"),
                        help="also compare these two runs on their common problems (repeatable)")
    parser.add_argument("--tuned", type=_pair, action="append", default=[], metavar="BASE_RUN=TUNED_RUN",
                        help="a Table 3 pair: the base model's run and the fine-tuned model's (repeatable)")
    parser.add_argument("--table1-tau", type=float, default=0.5,
                        help="SCALE's threshold shown in Table 1 (other taus go to Table 2; default 0.5)")
    parser.add_argument("--no-plots", action="store_true", help="tables only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from scale.outputs import check_not_inside, check_output_dir
    from scale.report import make_report
    from scale.report.runs import expand

    try:
        # Before anything is loaded: --out must be a folder, and outside every run it reads
        # (a run's own report.md is the run's summary).
        check_output_dir(args.out, "--out")
        named = [*args.runs, *(p for pair in [*args.tuned, *args.compare] for p in pair)]
        check_not_inside(args.out, expand(named), "--out", "the run dir")
        report = make_report(args.runs, args.out, paper=args.paper, tuned=args.tuned,
                             compare_runs=[tuple(p) for p in args.compare], table1_tau=args.table1_tau,
                             plots=not args.no_plots)
    except ScaleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(report.runs)} runs in {len(report.cells)} cells -> {args.out}/report.md")
    for path in report.files + report.figures:
        print(f"  {path}")
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
