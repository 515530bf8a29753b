"""Weights & Biases for one finished run: config, metrics, a per-attempt table, the figures.

    scale-eval experiment=debug logger=wandb                     # offline: <run_dir>/wandb/offline-run-*
    scale-eval experiment=debug logger=wandb logger.mode=online  # to the W&B server
    wandb sync runs/debug/wandb/offline-run-*                    # upload an offline run later

Logged: the resolved config; every scalar of metrics.json (summary, and one history step);
table ``attempts`` with one row per (problem, sample): answer, gold, correct, tokens,
System 2 share of its steps, error; the report's figures for this run (needs matplotlib).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import wandb

from scale.checks import OneOf, check_args
from scale.rundir import Metrics, Record, RunDir

log = logging.getLogger(__name__)

MODES = ("offline", "online", "disabled")
COLUMNS = ["problem", "sample", "answer", "gold", "correct", "tok_paper", "tok_total", "s2_share",
           "steps", "error"]


def flat_metrics(metrics: Metrics) -> dict[str, float]:
    """metrics.json as ``key`` / ``key/sub`` scalars (W&B plots numbers, not nested dicts)."""
    out: dict[str, float] = {}
    for key, value in metrics.to_dict().items():
        if isinstance(value, bool):
            out[key] = float(value)
        elif isinstance(value, int | float):
            out[key] = value
        elif isinstance(value, dict):
            out.update({f"{key}/{k}": v for k, v in value.items() if isinstance(v, int | float)})
        elif key == "accuracy_ci95":
            out["accuracy_ci95_lo"], out["accuracy_ci95_hi"] = value
    return out


def attempt_row(r: Record) -> list[Any]:
    steps = int(r.cost.get("n_steps", 0))
    share = r.cost.get("s2_steps", 0) / steps if steps else None
    return [r.problem_id, r.sample_idx, r.answer, r.gold, r.correct, r.cost.get("tok_paper", 0),
            r.cost.get("tok_total", 0), share, steps, (r.error or {}).get("kind")]


class WandbLogger:
    name = "wandb"

    @check_args("logger")
    def __init__(self, project: str = "scale", entity: str | None = None,
                 mode: Annotated[str, OneOf(MODES)] = "offline", group: str | None = None,
                 tags: Sequence[str] = (), dir: str | None = None, plots: bool = True) -> None:
        self.project, self.entity, self.mode, self.group = project, entity, mode, group
        self.tags, self.dir, self.plots = list(tags), dir, plots

    def log_run(self, cfg: dict[str, Any], run_dir: Path, metrics: Metrics,
                records: Sequence[Record] | None = None) -> None:
        """Log a finished run; ``records`` in key order (None: read from ``run_dir``)."""
        if records is None:
            records = RunDir(run_dir).collect().in_key_order()
        where = Path(self.dir) if self.dir else run_dir
        where.mkdir(parents=True, exist_ok=True)
        run = wandb.init(project=self.project, entity=self.entity, mode=self.mode, group=self.group,
                         tags=self.tags, name=str(cfg.get("name") or run_dir.name), dir=str(where),
                         config=cfg, job_type="eval")
        try:
            scalars = flat_metrics(metrics)
            table = wandb.Table(columns=COLUMNS, data=[attempt_row(r) for r in records])
            with tempfile.TemporaryDirectory() as tmp:  # the figures live until they are logged
                run.log({**scalars, "attempts": table, **self._figures(run_dir, Path(tmp))})
            run.summary.update(scalars)
        finally:
            run.finish()
        log.info("wandb (%s): logged %s with %d attempts", self.mode, run_dir, len(records))

    def _figures(self, run_dir: Path, tmp: Path) -> dict[str, Any]:
        if not self.plots:
            return {}
        try:
            import matplotlib  # noqa: F401  - the report's figures need the [report] extra
        except ImportError:
            log.warning("wandb: no figures (matplotlib missing: pip install 'scale-tts[report]')")
            return {}
        from scale.report.cells import make_cells
        from scale.report.plots import all_plots
        from scale.report.runs import load_run

        # The report's figures only: no tables, no paired comparisons (they are not logged).
        figures = all_plots(make_cells([load_run(run_dir)]), tmp / "figures")
        return {f"figures/{p.stem}": wandb.Image(str(p)) for p in figures if p.suffix == ".png"}
