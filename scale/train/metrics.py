"""Classifier figures on p(hard) against 0/1 labels, and the validation threshold.

The router sends a step to System 2 when ``score > tau``; every figure here uses that rule.
- AUROC: the Mann-Whitney statistic (ties count one half); NaN when a class is absent.
- ECE: expected calibration error over ``bins`` equal-width bins of p(hard).
- Brier: mean squared error of p(hard).
- Threshold rules: ``youden`` (max TPR - FPR), ``f1`` (max F1 of the hard class),
  ``fixed`` (a given value); candidates lie midway between neighbouring scores, ties go to
  the threshold nearest 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np

from scale.checks import OneOf, check_args

RULES = ("youden", "f1", "fixed")


def _arrays(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.shape != y.shape:
        raise ValueError(f"{p.shape[0]} scores for {y.shape[0]} labels")
    return p, y


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float:
    p, y = _arrays(scores, labels)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p), dtype=np.float64)
    sorted_p = p[order]
    i = 0
    while i < len(p):  # average ranks over ties
        j = i
        while j + 1 < len(p) and sorted_p[j + 1] == sorted_p[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ece(scores: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    p, y = _arrays(scores, labels)
    if len(p) == 0:
        return math.nan
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() / len(p) * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def brier(scores: Sequence[float], labels: Sequence[int]) -> float:
    p, y = _arrays(scores, labels)
    return float(np.mean((p - y) ** 2)) if len(p) else math.nan


def accuracy(scores: Sequence[float], labels: Sequence[int], tau: float = 0.5) -> float:
    p, y = _arrays(scores, labels)
    return float(np.mean((p > tau) == (y == 1))) if len(p) else math.nan


def summary(scores: Sequence[float], labels: Sequence[int], tau: float = 0.5) -> dict[str, float]:
    p, y = _arrays(scores, labels)
    return {"auroc": auroc(p, y), "accuracy": accuracy(p, y, tau), "ece": ece(p, y), "brier": brier(p, y),
            "s2_fraction": float(np.mean(p > tau)) if len(p) else math.nan,
            "positive_fraction": float(np.mean(y == 1)) if len(y) else math.nan, "n": len(p),
            "tau": float(tau)}


@dataclass(frozen=True)
class Threshold:
    value: float
    rule: str
    how: str  # one sentence for difficulty.json
    split: str = "validation"


@check_args("threshold")
def choose_threshold(scores: Sequence[float], labels: Sequence[int], rule: Annotated[str, OneOf(RULES)] = "youden",
                     fixed: float = 0.5, split: str = "validation") -> Threshold:
    """The routing threshold ``tau`` (S2 when score > tau) chosen on held-out scores."""
    if rule == "fixed":
        return Threshold(float(fixed), rule, f"fixed at {fixed} (threshold.rule=fixed)", split)
    p, y = _arrays(scores, labels)
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return Threshold(float(fixed), "fixed",
                         f"{split} split has one class only ({n_pos} hard, {n_neg} easy): "
                         f"fell back to {fixed}", split)
    # Candidates: midway between neighbouring distinct scores (a threshold in a gap keeps
    # room on both sides), plus 0 (all hard) and the top score (all easy).
    distinct = np.unique(p)
    candidates = np.concatenate([[0.0], (distinct[:-1] + distinct[1:]) / 2, distinct[-1:]])
    best, best_key = 0.5, None
    for t in candidates:
        pred = p > t
        tp = int((pred & (y == 1)).sum())
        fp = int((pred & (y == 0)).sum())
        fn = n_pos - tp
        if rule == "youden":
            value = tp / n_pos - fp / n_neg
        else:
            value = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        key = (round(value, 12), -abs(float(t) - 0.5))
        if best_key is None or key > best_key:
            best, best_key = float(t), key
    assert best_key is not None
    name = "TPR - FPR (Youden's J)" if rule == "youden" else "F1 of the hard class"
    return Threshold(best, rule, f"maximises {name} = {best_key[0]:.4f} over the {len(p)} {split} "
                                 f"steps (S2 when score > tau; ties: nearest 0.5)", split)
