"""The learned router end to end on the demo set with the embedded SmolLM2, on CPU.

    make demo-router                            # = python -m scale.cli.demo_router
    python -m scale.cli.demo_router --out runs/demo-router data.limit=6

Five stages, each the tool a user would run, written under ``--out`` (default runs/demo-router):

1. ``probe/``: SCALE on the demo set with every step solved on both systems and labelled
   (``scale-eval experiment=demo method.probe=true``);
2. ``traces/``: those steps as a datasets folder (``python scripts/build_traces.py --label prompted``:
   the prompted score distilled, since the 135M model boxes too few step answers for measured labels);
3. ``adapter/``: the LoRA classifier trained on them by a real ``accelerate launch
   scripts/train_difficulty.py model=smollm2-135m-instruct`` (one CPU process, log in
   ``train.log``; it trains while stage 4's prompted run routes);
4. ``prompted/`` and ``learned/``: the demo set routed by the prompted scorer and by the adapter
   (``difficulty=classifier``, at the threshold it chose on validation);
5. ``report/``: ``scale-report`` with the two compared on the same problems (table + figure).

Extra arguments are Hydra overrides given to every ``scale-eval`` run (on top of
``experiment=demo`` and BUDGETS). Budgets are ``experiment=demo``'s cut further by BUDGETS (K=2
outlines of <= 96 tokens, <= 3 steps, System 1 <= 64 and System 2 <= 96 new tokens), the same
for all three runs; training is TRAIN below and runs beside the prompted run, so the whole
pipeline takes about 4 minutes on 2 CPU cores (benchmarks/RESULTS.md). The figures are a
toy's: ten word problems, a 135M model, a classifier trained and evaluated on the same problems.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from scale.cli.demo import compose_eval
from scale.errors import ScaleError
from scale.paths import REPO_ROOT
from scale.runner.run import run_eval

MODEL = "smollm2-135m-instruct"  # the embedded model: the probe's systems and the classifier's base
# The three SCALE runs (probe, prompted, learned) are sequential decoding on CPU: three steps
# and a shorter System 2 answer shorten each run's longest chain of decode steps, which sets the
# wall time. K=2 outlines stay: with one, half the probe's problems fall back to a one-step
# outline (unparsed) and leave the classifier almost nothing to learn from.
BUDGETS = ["method.max_steps=3", "systems.s2.sampling.max_new_tokens=96"]
# One CPU process, short inputs, no tracker: the demo's steps are a sentence or two.
TRAIN = ["train.epochs=3", "max_length=256", "report_to=none", "overwrite=true"]
ACCELERATE = ["--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
# The probe's prompted scores, distilled: a 135M model boxes too few step answers for measured
# labels (both systems' answers boxed, docs/classifier.md), which leave the demo no labelled step.
LABEL = "prompted"
VAL_FRACTION = 0.3  # 3 of the 10 problems choose the threshold; no test split (the report is the test)


def _stage(console: Console, n: int, title: str, command: str) -> float:
    console.rule(f"[bold]{n}/5 {title}")
    console.print(f"[dim]$ {command}[/]")
    return time.perf_counter()


def _eval(console: Console, overrides: list[str]) -> None:
    cfg = compose_eval(["experiment=demo", "overwrite=true", "runner.progress=false", *BUDGETS, *overrides])
    metrics = run_eval(cfg)
    if metrics is not None:
        console.print(f"accuracy {metrics.accuracy:.2f}, System 2 share {metrics.s2_fraction:.2f}, "
                      f"tok_paper {metrics.tok_paper:.0f} -> {cfg['run_dir']}")


def train_command(traces: Path, adapter: Path) -> list[str]:
    """The real ``accelerate launch scripts/train_difficulty.py`` (model= always given)."""
    script = REPO_ROOT / "scripts" / "train_difficulty.py"
    if not script.is_file():
        raise ScaleError(f"{script}: not found (make demo-router runs from a checkout of the repository)")
    return [sys.executable, "-m", "accelerate.commands.launch", *ACCELERATE, str(script), f"model={MODEL}",
            f"traces={traces}", f"output_dir={adapter}", *TRAIN]


def run(out: Path, overrides: list[str], console: Console) -> Path:
    """All five stages; returns the report's folder."""
    from scale.report import make_report
    from scale.train import traces as traces_mod

    probe, traces, adapter = out / "probe", out / "traces", out / "adapter"
    prompted, learned, report = out / "prompted", out / "learned", out / "report"
    extra = " ".join(shlex.quote(o) for o in [*BUDGETS, *overrides])

    t = _stage(console, 1, "probe: every step on both systems, labelled",
               f"scale-eval experiment=demo method.probe=true run_dir={probe} {extra}")
    _eval(console, ["method.probe=true", f"run_dir={probe}", *overrides])
    console.print(f"{time.perf_counter() - t:.0f} s")

    t = _stage(console, 2, "traces", f"python scripts/build_traces.py {probe} --out {traces} --label {LABEL} "
                                     f"--val-fraction {VAL_FRACTION} --test-fraction 0 --overwrite")
    built = traces_mod.build([probe], label=LABEL, val_fraction=VAL_FRACTION, test_fraction=0.0)
    traces_mod.save(built, traces, f"python -m scale.cli.demo_router (stage 2) {probe}", overwrite=True)
    for name, rows in built.splits.items():
        b = traces_mod.balance(rows)
        console.print(f"{name}: {b['rows']} steps ({b['hard']} hard, {b['easy']} easy) from {b['problems']} problems")

    cmd = train_command(traces, adapter)
    t = _stage(console, 3, "train the classifier (its own process; the prompted run routes meanwhile)",
               "accelerate launch " + " ".join(
                   shlex.quote(c) for c in [*ACCELERATE, str(Path(cmd[len(ACCELERATE) + 3]).relative_to(REPO_ROOT)),
                                            *cmd[len(ACCELERATE) + 4:]]))
    # The prompted run needs no adapter, so it routes while the training process starts and trains:
    # two processes on two cores instead of one after the other. Training gets one torch thread
    # (it is mostly start-up), the routing keeps its own; its output goes to a file, not a pipe
    # nobody reads until the end.
    train_log = out / "train.log"
    with train_log.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        t4 = _stage(console, 4, "route the demo set: prompted scores (while training), then the adapter",
                    f"scale-eval experiment=demo run_dir={prompted} {extra}; scale-eval experiment=demo "
                    f"difficulty=classifier difficulty.adapter={adapter} router.tau=null run_dir={learned} {extra}")
        _eval(console, [f"run_dir={prompted}", *overrides])
        code = proc.wait()
    finally:
        if proc.poll() is None:  # the prompted run failed or was interrupted: stop the training too
            proc.kill()
            proc.wait()
    lines = train_log.read_text(errors="replace").strip().splitlines()
    if code != 0:
        raise ScaleError(f"accelerate launch scripts/train_difficulty.py exited {code}: "
                         f"{lines[-1] if lines else 'no output'} (log {train_log})")
    console.print(f"training: {lines[-1] if lines else f'wrote {adapter}'} ({time.perf_counter() - t:.0f} s "
                  "from its start)")
    _eval(console, ["difficulty=classifier", f"difficulty.adapter={adapter}", "router.tau=null",
                    f"run_dir={learned}", *overrides])
    console.print(f"{time.perf_counter() - t4:.0f} s")

    _stage(console, 5, "report", f"scale-report {prompted} {learned} --out {report} --compare {prompted} {learned}")
    made = make_report([str(prompted), str(learned)], report, compare_runs=[(str(prompted), str(learned))])
    for table in made.tables:
        console.print(table.markdown(), markup=False)
    for warning in made.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scale.cli.demo_router", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[2:]))
    parser.add_argument("--out", default="runs/demo-router", help="folder for every stage's output")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every scale-eval run")
    args = parser.parse_args(argv)
    console = Console()
    start = time.perf_counter()
    try:
        report = run(Path(args.out), args.overrides, console)
    except ScaleError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    console.print(f"wall time {time.perf_counter() - start:.0f} s; report {report}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
