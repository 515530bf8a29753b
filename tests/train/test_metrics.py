"""Classifier figures against brute-force definitions, and the threshold rules."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from scale.errors import ConfigError
from scale.train import metrics as m


def brute_auroc(p, y):
    pos = [a for a, b in zip(p, y) if b == 1]
    neg = [a for a, b in zip(p, y) if b == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_equals_pairwise_count_with_ties(seed):
    rng = random.Random(seed)
    p = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9]) for _ in range(40)]  # many ties
    y = [rng.randint(0, 1) for _ in range(40)]
    assert m.auroc(p, y) == pytest.approx(brute_auroc(p, y), abs=1e-12)


def test_auroc_extremes_and_one_class():
    assert m.auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert m.auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert math.isnan(m.auroc([0.1, 0.2], [1, 1]))


def test_ece_brier_accuracy_by_hand():
    p, y = [0.05, 0.15, 0.95, 0.85], [0, 0, 1, 0]
    # bins: 0 -> {0.05: y0}, 1 -> {0.15: y0}, 8 -> {0.85: y0}, 9 -> {0.95: y1}
    assert m.ece(p, y) == pytest.approx((0.05 + 0.15 + 0.85 + 0.05) / 4)
    assert m.brier(p, y) == pytest.approx((0.05**2 + 0.15**2 + 0.05**2 + 0.85**2) / 4)
    assert m.accuracy(p, y, 0.5) == 0.75
    assert m.accuracy(p, y, 0.9) == 1.0  # the router's rule: hard when score > tau
    s = m.summary(p, y, 0.9)
    assert s["s2_fraction"] == 0.25 and s["positive_fraction"] == 0.25 and s["n"] == 4


def test_youden_threshold_sits_in_the_gap_and_separates():
    p, y = [0.01, 0.02, 0.03, 0.6, 0.7], [0, 0, 0, 1, 1]
    t = m.choose_threshold(p, y, "youden")
    assert 0.03 < t.value < 0.6 and t.value == pytest.approx(0.315)
    assert m.accuracy(p, y, t.value) == 1.0
    assert "Youden" in t.how and t.split == "validation"


def test_f1_threshold_and_fixed_rule():
    p, y = [0.1, 0.4, 0.45, 0.9], [0, 1, 0, 1]
    f1 = m.choose_threshold(p, y, "f1")
    assert f1.value == pytest.approx(0.25)  # both hard steps caught, one false alarm: F1 0.8
    assert m.choose_threshold(p, y, "fixed", fixed=0.3).value == 0.3


def test_one_class_validation_falls_back_and_says_so():
    t = m.choose_threshold([0.2, 0.3], [0, 0], "youden", fixed=0.5)
    assert (t.value, t.rule) == (0.5, "fixed") and "one class" in t.how


def test_unknown_rule_is_named():
    with pytest.raises(ConfigError, match="threshold.rule must be one of"):
        m.choose_threshold([0.1], [1], "best")
