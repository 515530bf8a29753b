"""A run's figures as a terminal table (rich) and as the run dir's report.md."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from scale.rundir import Metrics


def summary_rows(metrics: Metrics) -> list[tuple[str, str]]:
    lo, hi = metrics.accuracy_ci95
    fails = ", ".join(f"{k}={v}" for k, v in metrics.failures.items()) or "none"
    errors = ", ".join(f"{k}={v}" for k, v in metrics.errors.items()) or "none"
    expected = "" if metrics.expected_attempts is None else f" of {metrics.expected_attempts}"
    return [
        ("attempts", f"{metrics.n_attempts}{expected} ({metrics.n_problems} problems)"
                     + ("" if metrics.complete else "  [INCOMPLETE]")),
        ("accuracy", f"{100 * metrics.accuracy:.2f}%  (95% CI {100 * lo:.1f}-{100 * hi:.1f})"),
        ("accuracy, completed attempts", f"{100 * metrics.accuracy_completed:.2f}%"),
        ("errors", errors),
        ("tok_paper / attempt", f"{metrics.tok_paper:.1f}"),
        ("tpi (tokens / step)", f"{metrics.tpi:.1f}"),
        ("tok_total / attempt", f"{metrics.tok_total:.1f}"),
        ("prompt tokens / attempt", f"{metrics.prompt_tokens:.1f}"),
        ("steps / attempt", f"{metrics.steps_per_attempt:.2f}"),
        ("s2_fraction", f"{metrics.s2_fraction:.3f}"),
        ("failures", fails),
        ("seconds by stage", ", ".join(f"{k}={v:.1f}" for k, v in metrics.stage_seconds.items())),
    ]


def print_summary(run_dir: str | Path, metrics: Metrics, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"run {run_dir}", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    for k, v in summary_rows(metrics):
        table.add_row(k, v)
    console.print(table)


def report_markdown(run_dir: str | Path, metrics: Metrics) -> str:
    lines = ["| metric | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in summary_rows(metrics))]
    return f"# Run {run_dir}\n\n" + "\n".join(lines) + "\n"
