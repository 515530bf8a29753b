"""Paired comparison of two methods on the same problems.

For problems both cells have, d_i = acc_A(i) - acc_B(i) (each pass@1 averaged over that
method's samples). The difference is mean(d); its 95% CI is the percentile bootstrap of
mean(d) over resampled problems (``scale.rundir.metrics.bootstrap_ci``, the same resampling
as every accuracy CI). The two-sided p-value of mean(d) = 0 is a paired sign-flip
permutation test: under the null each d_i is as likely to be -d_i, so p is the share of
sign patterns whose |mean| reaches the observed one, exact (all 2^n patterns) up to
``EXACT_MAX`` problems and Monte Carlo beyond ((count + 1) / (draws + 1)). Unlike a
bootstrap p-value it stays honest for a handful of problems: one problem gives p = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scale.report.cells import Cell
from scale.rundir.metrics import bootstrap_ci

N_BOOT = 10_000
EXACT_MAX = 16  # problems up to which the sign-flip test enumerates every pattern


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


def sign_flip_p(diffs: np.ndarray, n_draws: int = N_BOOT, seed: int = 0) -> float:
    """Two-sided paired permutation p-value of mean(diffs) = 0 (module docstring)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    observed = abs(float(d.mean())) if n else 0.0
    if n == 0 or observed == 0.0:
        return 1.0
    if n <= EXACT_MAX:  # every sign pattern, as rows of a 2^n x n matrix of +-1
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        means = np.abs(signs @ d) / n
        return float(np.mean(means >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_draws, n))
    count = int(np.count_nonzero(np.abs(signs @ d) / n >= observed - 1e-12))
    return (count + 1) / (n_draws + 1)


def paired_bootstrap(diffs: np.ndarray, n_boot: int = N_BOOT, seed: int = 0) -> tuple[tuple[float, float], float]:
    """(95% bootstrap CI of mean(diffs), two-sided sign-flip p-value of mean = 0)."""
    if len(diffs) == 0:
        return (0.0, 0.0), 1.0
    return bootstrap_ci(diffs, n_boot, seed=seed), sign_flip_p(diffs, n_boot, seed)


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
    """SCALE (threshold at ``table1_tau`` or at its scorer's own, or the fraction router) vs every baseline and
    random control of the same setting and dataset."""
    out = []
    for a in cells:
        if not a.method.is_scale or (a.method.kind == "scale" and a.method.param not in (table1_tau, None)):
            continue
        for b in cells:
            if (b.setting, b.dataset) == (a.setting, a.dataset) and \
                    (b.method.is_baseline or b.method.kind == "random"):
                out.append((a, b))
    return out
