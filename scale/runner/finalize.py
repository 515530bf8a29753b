"""Finish a run: merge shard files, check every (problem, sample) is there once, write metrics.

``scale-finalize RUN_DIR`` runs this after a Slurm array; a single process and rank 0 of
an ``accelerate launch`` run it themselves at the end of ``run_eval``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from scale.data import Problem, load_from_config
from scale.errors import DataError, ScaleError
from scale.rundir import Metrics, Record, RunDir
from scale.rundir.metrics import compute_metrics
from scale.runner.summary import report_markdown

log = logging.getLogger(__name__)

_SHOWN = 10  # keys named in an error line


class IncompleteRun(ScaleError):
    """Attempts of the run's config have no record yet."""


def _names(keys: list[tuple[str, int]]) -> str:
    shown = ", ".join(f"{p}#{s}" for p, s in sorted(keys)[:_SHOWN])
    return shown + (f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else "")


def wait_for_shards(run_dir: RunDir, world: int, launch: str = "", timeout_s: float = 7 * 24 * 3600.0) -> None:
    """Block until every launcher rank of this launch has written its done marker.

    A marker holds its launch's id, so one left by an earlier launch (a rank that finished
    then, while rank 0 stopped) is not taken for this launch's.
    """
    deadline = time.time() + timeout_s

    def finished() -> int:
        return sum(m.read_text().strip() == (launch or "ok") for m in run_dir.done_markers(world))

    while finished() < world:
        if time.time() > deadline:
            raise IncompleteRun(f"{run_dir.path}: only {finished()} of {world} "
                                "ranks finished in time; rerun the launch to resume")
        time.sleep(1)


def finalize(path: str | Path, problems: list[Problem] | None = None, n_samples: int | None = None,
             allow_incomplete: bool = False) -> Metrics:
    """Merge, check and score the run in ``path``; returns its metrics.

    Without ``problems``/``n_samples`` they come from the run's config.json. A conflict
    (one attempt recorded twice with different content) always fails; missing attempts
    fail unless ``allow_incomplete`` (metrics then say ``complete: false``).
    """
    return finalize_run(path, problems, n_samples, allow_incomplete)[0]


def finalize_run(path: str | Path, problems: list[Problem] | None = None, n_samples: int | None = None,
                 allow_incomplete: bool = False) -> tuple[Metrics, list[Record]]:
    """:func:`finalize`, also returning the merged records in key order (for a tracker)."""
    run_dir = RunDir(path)
    if problems is None or n_samples is None:
        cfg = run_dir.read_config()
        problems = load_from_config(cfg.get("data"))
        n_samples = int(cfg.get("n_samples", 1))
    expected = {(p.id, s) for p in problems for s in range(n_samples)}
    collected = run_dir.collect()
    if collected.conflicts:
        raise DataError(f"{run_dir.path}: attempts recorded twice with different content: "
                        f"{_names(collected.conflicts)}")
    stray = [k for k in collected.records if k not in expected]
    if stray:
        raise DataError(f"{run_dir.path}: records for attempts outside this run's config: {_names(stray)}")
    missing = [k for k in expected if k not in collected.records]
    if missing and not allow_incomplete:
        raise IncompleteRun(f"{run_dir.path}: {len(missing)} of {len(expected)} attempts have no record: "
                            f"{_names(missing)} (rerun the evaluation to resume, or finalize with "
                            "--allow-incomplete)")
    records = collected.in_key_order()
    run_dir.write_merged(records)
    metrics = compute_metrics(records, expected_attempts=len(expected))
    run_dir.write_metrics(metrics)
    run_dir.report.write_text(report_markdown(run_dir.path, metrics), encoding="utf-8")
    log.info("finalized %s: %d of %d attempts", run_dir.path, len(records), len(expected))
    return metrics, records
