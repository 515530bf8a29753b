"""Run directories for the report, read only through ``scale.rundir``.

Arguments may be run dirs, globs, or folders holding run dirs (searched for ``config.json``).
A finished run's figures come from its ``metrics.json``; a run that was never finalized (or
was resumed after it) is scored from its records and marked incomplete, never averaged
silently with complete ones.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scale.errors import DataError, ScaleError
from scale.report.identity import RunIdentity, identify
from scale.rundir import Metrics, Record, RunDir
from scale.rundir.metrics import compute_metrics

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    path: Path
    config: dict[str, Any]
    metrics: Metrics  # metrics.json, or computed from the records when that is missing or stale
    records: list[Record]
    identity: RunIdentity
    from_metrics_file: bool  # False: metrics computed here from records

    @property
    def complete(self) -> bool:
        return self.metrics.complete and self.metrics.expected_attempts is not None

    @property
    def attempts_note(self) -> str:
        """``n of N attempts`` for an incomplete run, else empty."""
        if self.complete:
            return ""
        expected = self.metrics.expected_attempts
        return f"{self.metrics.n_attempts} of {expected if expected is not None else '?'} attempts"


def expand(patterns: list[str]) -> list[Path]:
    """Run dirs named by ``patterns`` (paths, globs, or folders that hold run dirs), in order, once."""
    out: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise DataError(f"{pattern}: matches no file")
        for match in matches:
            path = Path(match)
            if (path / "config.json").is_file():
                found = [path]
            elif path.is_dir():
                found = sorted(p.parent for p in path.rglob("config.json"))
                if not found:
                    raise DataError(f"{path}: not a run directory and holds none (no config.json)")
            else:
                raise DataError(f"{path}: no such run directory")
            known = {p.resolve() for p in out}  # runs/a and ./runs/a/ are one run
            out.extend(p for p in found if p.resolve() not in known)
    return out


def _expected(cfg: dict[str, Any]) -> int | None:
    """Attempts the run's config asks for (problems x samples), None when its data is not here."""
    from scale.data import load_from_config

    try:
        return len(load_from_config(cfg.get("data"))) * int(cfg.get("n_samples", 1))
    except (ScaleError, OSError, ValueError) as err:
        log.warning("cannot count the expected attempts (%s)", err)
        return None


def load_run(path: str | Path) -> LoadedRun:
    run = RunDir(path)
    cfg = run.read_config()
    collected = run.collect()
    if collected.conflicts:
        raise DataError(f"{run.path}: attempts recorded twice with different content "
                        f"(run scale-finalize {run.path} to see which)")
    records = collected.in_key_order()
    metrics: Metrics | None = run.read_metrics() if run.metrics.is_file() else None
    from_file = metrics is not None and metrics.n_attempts == len(records)
    if not from_file:
        # Never finalized, or resumed after finalize: score what is there, marked incomplete.
        expected = metrics.expected_attempts if metrics is not None else _expected(cfg)
        metrics = compute_metrics(records, expected_attempts=expected)
        if expected is None:
            metrics.complete = False
    assert metrics is not None
    ident = identify(cfg, str(run.config))
    return LoadedRun(run.path, cfg, metrics, records, ident, from_file)


def load_runs(patterns: list[str]) -> list[LoadedRun]:
    paths = expand(patterns)
    if not paths:
        raise DataError("no run directories given")
    return [load_run(p) for p in paths]
