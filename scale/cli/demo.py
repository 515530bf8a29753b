"""The demo: SCALE on the demo set with the embedded SmolLM2, shown problem by problem.

    make demo                                   # = python -m scale.cli.demo
    python -m scale.cli.demo data=gsm8k data.limit=5 run_dir=runs/demo-gsm8k

Extra arguments are Hydra overrides of ``configs/experiment/demo.yaml``. It replaces
``runs/demo`` each time (overwrite=true), so it always shows a fresh run.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from scale.errors import ConfigError, ScaleError
from scale.paths import CONFIG_DIR
from scale.rundir import Record
from scale.runner.run import run_eval
from scale.runner.summary import print_summary


def render_record(rec: Record) -> Panel:
    """One finished attempt: outline, scores, routes, step answers, verdict."""
    trace = rec.trace
    table = Table(show_header=True, header_style="bold", expand=True)
    table.add_column("#", width=3)
    table.add_column("step")
    table.add_column("score", width=6)
    table.add_column("sys", width=4)
    table.add_column("answer", width=14)
    for i, step in enumerate(trace.get("steps", []), start=1):
        table.add_row(str(i), step["step"][:90], f"{step['score']:.2f}", step["mode"].upper(),
                      str(step["answer"])[:14])
    mark = "[green]correct[/]" if rec.correct else "[red]wrong[/]"
    note = " (fallback: no outline parsed)" if trace.get("fallback") else ""
    if rec.error is not None:
        note += f" [red]error {rec.error['kind']}: {rec.error['message']}[/]"
    cost = rec.cost
    footer = (f"answer {rec.answer!s} vs gold {rec.gold}: {mark}{note}   "
              f"tok_paper {cost.get('tok_paper', 0)}  tok_total {cost.get('tok_total', 0)}  "
              f"failures {', '.join(rec.failures) or 'none'}")
    body = Table.grid()
    body.add_row(rec.question)
    body.add_row(table)
    body.add_row(footer)
    return Panel(body, title=f"{rec.problem_id} (sample {rec.sample_idx})")


def compose_eval(overrides: list[str]) -> dict[str, Any]:
    """The resolved ``scale-eval OVERRIDES`` config; a bad override is a one-line ConfigError."""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
            cfg = compose(config_name="eval", overrides=overrides)
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(str(err).splitlines()[0]) from None


def main(argv: list[str] | None = None) -> int:
    overrides = ["experiment=demo", "run_dir=runs/demo", "overwrite=true", *(argv or sys.argv[1:])]
    console = Console()
    try:
        resolved = compose_eval(overrides)
    except ConfigError as err:  # a bad override: one line, no traceback
        console.print(f"[red]error:[/] {err}")
        return 2
    console.print(f"[bold]SCALE demo[/]: {resolved['systems']['engines']} on data={resolved['data']['name']}")
    start = time.perf_counter()
    try:
        metrics = run_eval(resolved, on_record=lambda rec: console.print(render_record(rec)))
    except ScaleError as err:
        console.print(f"[red]error:[/] {err}")
        return 2
    if metrics is not None:
        print_summary(resolved["run_dir"], metrics, console)
        console.print(f"wall time {time.perf_counter() - start:.1f} s; run dir {resolved['run_dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
