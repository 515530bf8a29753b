"""Run dirs in, the paper's tables and figures out: ``make_report(patterns, out)``.

Writes into ``out``: ``table1``/``table2``/``table3``/``comparisons`` as ``.md``, ``.tex``
and ``.csv`` (those the runs can fill), ``figures/*.png|pdf``, and ``report.md`` that
gathers the tables, the figures and the list of runs with their state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from scale.errors import DataError
from scale.report.cells import Cell, make_cells
from scale.report.runs import LoadedRun, expand, load_run, load_runs
from scale.report.shapes import comparisons_table, table1, table2, table3
from scale.report.stats import compare, default_pairs
from scale.report.tables import Table

log = logging.getLogger(__name__)


@dataclass
class Report:
    runs: list[LoadedRun]
    cells: list[Cell]
    tables: list[Table]
    files: list[Path] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _cell_of(cells: list[Cell], path: Path) -> Cell:
    for c in cells:
        if any(r.path.resolve() == path.resolve() for r in c.runs):
            return c
    raise DataError(f"{path}: not among the runs of this report")


def _one_run(pattern: str, what: str) -> Path:
    """The run dir ``pattern`` names; a folder or glob of several runs is refused in one line."""
    found = expand([pattern])
    if len(found) != 1:
        raise DataError(f"--{what} {pattern}: matches {len(found)} runs ({', '.join(map(str, found))}); "
                        "name one run dir on each side")
    return found[0]


def _pairs(specs: list[tuple[str, str]], cells: list[Cell], what: str) -> list[tuple[Cell, Cell]]:
    out = []
    for a, b in specs:
        out.append((_cell_of(cells, _one_run(a, what)), _cell_of(cells, _one_run(b, what))))
    for x, y in out:
        if what == "tuned" and x.dataset != y.dataset:
            raise DataError(f"--tuned {x.paths}={y.paths}: different datasets ({x.dataset} vs {y.dataset})")
    return out


def make_report(patterns: list[str], out: str | Path, paper: bool = False,
                tuned: list[tuple[str, str]] | None = None, compare_runs: list[tuple[str, str]] | None = None,
                table1_tau: float = 0.5, plots: bool = True) -> Report:
    """Load, group, tabulate and plot. ``tuned``: (base run, tuned run) pairs for Table 3;
    ``compare_runs``: extra (A, B) run pairs to compare besides SCALE vs each baseline."""
    out = Path(out)
    tuned, compare_runs = tuned or [], compare_runs or []
    runs = load_runs(patterns)
    extra = [p for pair in [*tuned, *compare_runs] for p in pair]
    known = {r.path.resolve() for r in runs}
    for path in expand(extra) if extra else []:  # runs named only in --tuned / --compare
        if path.resolve() not in known:
            runs.append(load_run(path))
            known.add(path.resolve())
    cells = make_cells(runs)
    pairs = default_pairs(cells, table1_tau) + [p for p in _pairs(compare_runs, cells, "compare")]
    comps = [compare(a, b) for a, b in pairs]
    tables = [t for t in (table1(cells, paper, table1_tau), table2(cells, paper),
                          table3(_pairs(tuned, cells, "tuned"), paper), comparisons_table(comps)) if t]
    report = Report(runs, cells, tables)
    out.mkdir(parents=True, exist_ok=True)
    for table in tables:
        report.files += table.write(out)
    if plots:
        try:
            from scale.report.plots import all_plots
        except ImportError as err:  # matplotlib is the [report] extra
            report.warnings.append(f"no figures: {err} (pip install 'scale-tts[report]')")
        else:
            report.figures = all_plots(cells, out / "figures", paper, table1_tau)
    report.warnings += [f"{r.path}: incomplete, {r.attempts_note}" for r in runs if not r.complete]
    index = out / "report.md"
    index.write_text(_index(report, out), encoding="utf-8")
    report.files.append(index)
    return report


def _index(report: Report, out: Path) -> str:
    lines = ["# SCALE report", ""]
    for table in report.tables:
        lines += [table.markdown(), ""]
    pngs = [p for p in report.figures if p.suffix == ".png"]
    if pngs:
        lines += ["## Figures", ""] + [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in pngs] + [""]
    lines += ["## Runs", "", "| run | model | dataset | method | samples | attempts |", "|---|---|---|---|---|---|"]
    for r in report.runs:
        m = r.metrics
        state = f"{m.n_attempts} of {m.expected_attempts if m.expected_attempts is not None else '?'}"
        state += "" if r.complete else " (incomplete)"
        i = r.identity
        lines.append(f"| {r.path} | {i.setting.label} | {i.dataset} | {i.method.label} | {i.n_samples} | {state} |")
    if report.warnings:
        lines += ["", "## Warnings", "", *(f"- {w}" for w in report.warnings)]
    return "\n".join(lines) + "\n"
