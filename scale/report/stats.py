"""Paired comparison of two methods on the same problems (vectorised bootstrap over problems).

For problems both cells have, d_i = acc_A(i) - acc_B(i) (each pass@1 averaged over that
method's samples). The difference is mean(d); its 95% CI is the percentile bootstrap of
mean(d) over resampled problems (``scale.rundir.metrics.bootstrap_ci``, the same resampling
as every accuracy CI); the two-sided p-value is the paired bootstrap test of mean(d) = 0:
the share of bootstrap means, centred on the observed one, at least as far from it as
the observed mean is from 0 ((count + 1) / (n_boot + 1), so never exactly 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scale.report.cells import Cell
from scale.rundir.metrics import bootstrap_ci, bootstrap_means

N_BOOT = 10_000


@dataclass
class Comparison:
    a: Cell
    b: Cell
    n_problems: int  # problems both cells have
    acc_a: float  # on those problems
    acc_b: float
    diff: float  # acc_a - acc_b
    ci95: tuple[float, float]
    p_value: float
    tok_ratio: float | None  # tok_paper A / B (None when B spent none)
    tok_total_ratio: float | None

    @property
    def label(self) -> str:
        return f"{self.a.method.label} vs {self.b.method.label}"


def paired_bootstrap(diffs: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> tuple[tuple[float, float], float]:
    """(95% CI of mean(diffs), two-sided p-value of mean = 0)."""
    if len(diffs) == 0:
        return (0.0, 0.0), 1.0
    observed = float(np.mean(diffs))
    means = bootstrap_means(diffs, n_boot, seed)
    extreme = int(np.count_nonzero(np.abs(means - observed) >= abs(observed) - 1e-12))
    return bootstrap_ci(diffs, n_boot, seed=seed), min(1.0, (extreme + 1) / (n_boot + 1))


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compare(a: Cell, b: Cell, n_boot: int = N_BOOT) -> Comparison:
    common = sorted(set(a.per_problem) & set(b.per_problem))
    xa = np.array([a.per_problem[p] for p in common])
    xb = np.array([b.per_problem[p] for p in common])
    ci, p = paired_bootstrap(xa - xb, n_boot)
    return Comparison(
        a=a, b=b, n_problems=len(common),
        acc_a=float(xa.mean()) if common else 0.0, acc_b=float(xb.mean()) if common else 0.0,
        diff=float((xa - xb).mean()) if common else 0.0, ci95=ci, p_value=p,
        tok_ratio=_ratio(a.metrics.tok_paper, b.metrics.tok_paper),
        tok_total_ratio=_ratio(a.metrics.tok_total, b.metrics.tok_total),
    )


def default_pairs(cells: list[Cell], table1_tau: float = 0.5) -> list[tuple[Cell, Cell]]:
    """SCALE (threshold at ``table1_tau``, or the fraction router) vs every baseline and
    random control of the same setting and dataset."""
    out = []
    for a in cells:
        if not a.method.is_scale or (a.method.kind == "scale" and a.method.param != table1_tau):
            continue
        for b in cells:
            if (b.setting, b.dataset) == (a.setting, a.dataset) and \
                    (b.method.is_baseline or b.method.kind == "random"):
                out.append((a, b))
    return out
