"""Runs grouped into table cells: one (setting, dataset, method) each.

A cell usually holds one run; several runs of the same cell (replicates with other seeds)
are pooled: their records average per problem, as if they were more samples. Runs that
cannot share a cell are refused with one line naming both and what differs: another
benchmark (data name, file, limit), another sample count, another schema version, or any
other key that defines what a run computes. Only seeds may differ.
"""

from __future__ import annotations

import copy
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from scale.errors import DataError
from scale.report.identity import MethodId, SettingId
from scale.report.runs import LoadedRun
from scale.rundir import Metrics
from scale.rundir.metrics import compute_metrics, per_problem_accuracy

# Keys that define what a run computes (as scale.runner.run.IDENTITY_KEYS); seeds may differ.
_COMPARED = ("data", "n_samples", "systems", "method", "difficulty", "router")


@dataclass
class Cell:
    setting: SettingId
    dataset: str
    method: MethodId
    runs: list[LoadedRun]
    metrics: Metrics  # the run's metrics.json for a one-run cell; pooled records otherwise
    per_problem: dict[str, float] = field(default_factory=dict)  # problem id -> accuracy

    @property
    def complete(self) -> bool:
        return all(r.complete for r in self.runs)

    @property
    def attempts_note(self) -> str:
        """``n of N attempts`` when some attempts are missing (shown in every table)."""
        if self.complete:
            return ""
        expected = [r.metrics.expected_attempts for r in self.runs]
        total = "?" if None in expected else str(sum(e for e in expected if e is not None))
        return f"{self.metrics.n_attempts} of {total} attempts"

    @property
    def paths(self) -> str:
        return ", ".join(str(r.path) for r in self.runs)

    @property
    def order(self) -> tuple:
        return (self.setting.s2_model, self.setting.s1_model, self.setting.s2_max_tokens or 0,
                self.method.order, self.dataset)


def _without_seeds(cfg: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy({k: cfg.get(k) for k in _COMPARED})
    for node in (out.get("router"), (out.get("method") or {}).get("router")):
        if isinstance(node, dict):
            node.pop("seed", None)
    return out


def _first_difference(a: Any, b: Any, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    return None if a == b else f"{prefix.rstrip('.')}: {a!r} vs {b!r}"


def check_compatible(a: LoadedRun, b: LoadedRun) -> None:
    """One line naming both runs and what differs, when they cannot share a cell."""
    head = f"refusing to put {a.path} and {b.path} in one cell"
    if a.metrics.schema_version != b.metrics.schema_version:
        raise DataError(f"{head}: schema versions {a.metrics.schema_version} vs {b.metrics.schema_version}")
    diff = _first_difference(a.config.get("data"), b.config.get("data"), "data.")
    if diff:
        raise DataError(f"{head}: different benchmarks ({diff})")
    if a.identity.n_samples != b.identity.n_samples:
        raise DataError(f"{head}: different sample counts (n_samples {a.identity.n_samples} vs "
                        f"{b.identity.n_samples})")
    diff = _first_difference(_without_seeds(a.config), _without_seeds(b.config))
    if diff:
        raise DataError(f"{head}: different settings ({diff})")
    if a.config.get("seed") == b.config.get("seed") and \
            _first_difference(a.config.get("router"), b.config.get("router")) is None:
        raise DataError(f"{head}: they are the same run (same config and seed), pooling would count it twice")


def make_cells(runs: list[LoadedRun]) -> list[Cell]:
    groups: dict[tuple, list[LoadedRun]] = defaultdict(list)
    for run in runs:
        groups[run.identity.cell].append(run)
    cells = []
    for (setting, dataset, method), members in groups.items():
        for a, b in itertools.combinations(members, 2):  # every pair: two identical replicates too
            check_compatible(a, b)
        records = [r for run in members for r in run.records]
        if len(members) == 1:
            metrics = members[0].metrics
        else:
            expected = [m.metrics.expected_attempts for m in members]
            metrics = compute_metrics(sorted(records, key=lambda r: r.key),
                                      None if None in expected else sum(e for e in expected if e))
            metrics.complete = all(m.complete for m in members)
        cells.append(Cell(setting, dataset, method, members, metrics, per_problem_accuracy(records)))
    return sorted(cells, key=lambda c: c.order)


def datasets_of(cells: list[Cell]) -> list[str]:
    """Datasets in the paper's column order, others after them alphabetically."""
    known = ("aime24", "aime25", "amc23", "math500", "gsm8k")
    names = {c.dataset for c in cells}
    return [d for d in known if d in names] + sorted(names - set(known))
