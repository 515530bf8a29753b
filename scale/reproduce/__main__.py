"""``python -m scale.reproduce`` (what ``slurm/reproduce.sh`` runs): the paper as one job graph.

    python -m scale.reproduce --dry-run                       # every job, its resources, dependencies, GPU-hours
    python -m scale.reproduce                                 # submit it all (sbatch --dependency)
    python -m scale.reproduce --only table1 --models qwen3_32b --resume
    python -m scale.reproduce --rehearse --datasets aime24    # the same graph at toy scale, minutes
    python -m scale.reproduce --local --only table2           # one job after another, no Slurm
    python -m scale.reproduce report runs/reproduce/plan.json # the final report job's command

Exit status 2 with one line on bad options.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from scale.errors import ScaleError
from scale.reproduce.plan import DATASETS, MODELS, PARTS, Options


def _list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from scale.reproduce.run import reproduce, write_report

    if argv[:1] == ["report"]:
        if len(argv) != 2:
            print("error: usage: python -m scale.reproduce report PLAN_JSON", file=sys.stderr)
            return 2
        try:
            return write_report(argv[1])
        except (ScaleError, OSError, ValueError) as err:
            print(f"error: report: {err}", file=sys.stderr)
            return 2
    parser = argparse.ArgumentParser(prog="slurm/reproduce.sh", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("--only", type=_list, default=PARTS, help=f"parts, comma-separated ({','.join(PARTS)})")
    parser.add_argument("--models", type=_list, default=tuple(MODELS),
                        help=f"Table 1's models ({','.join(MODELS)})")
    parser.add_argument("--datasets", type=_list, default=DATASETS, help=f"datasets ({','.join(DATASETS)})")
    parser.add_argument("--root", default=None, help="where every run dir goes (default runs; --rehearse: "
                                                     "runs/rehearsal)")
    parser.add_argument("--dry-run", action="store_true", help="print the jobs and GPU-hours; submit nothing")
    parser.add_argument("--resume", action="store_true", help="skip jobs whose run dirs are complete")
    parser.add_argument("--rehearse", action="store_true", help="the same graph at toy scale (tiny model, CPU)")
    parser.add_argument("--local", action="store_true", help="run the jobs one after another here, without Slurm")
    parser.add_argument("--table3-data", default=None, metavar="FILE",
                        help="Table 3's LIMOPro-style problems (the SCALE traces the SFT learns from)")
    parser.add_argument("--sbatch", default="", metavar="ARGS", help="more sbatch options for every job")
    parser.add_argument("--port", type=int, default=18000, help="first server port (each serve job gets its own)")
    args = parser.parse_args(argv)
    opts = Options(only=args.only, models=args.models, datasets=args.datasets,
                   root=args.root or ("runs/rehearsal" if args.rehearse else "runs"), rehearse=args.rehearse,
                   table3_data=args.table3_data, extra_sbatch=tuple(shlex.split(args.sbatch)), port=args.port)
    mode = "dry-run" if args.dry_run else "local" if args.local else "slurm"
    try:
        return reproduce(opts, mode, args.resume)
    except ScaleError as err:
        print(f"error: reproduce: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
