"""Metrics arithmetic: pass@1 over samples, both accuracies with errors, vectorised bootstrap."""

from __future__ import annotations

import pytest

from scale.rundir import Record
from scale.rundir.metrics import bootstrap_ci, compute_metrics, per_problem_accuracy


def _rec(pid: str, s: int, correct: bool, tok: int = 10, steps: int = 2, s2: int = 1,
         error: dict | None = None) -> Record:
    cost = {"tok_paper": tok, "tok_total": 2 * tok, "prompt_tokens": 5, "reasoning_tokens": 0,
            "seconds": 1.0, "n_steps": steps, "s2_steps": s2,
            "by_stage": {"solve": {"seconds": 1.0, "response_tokens": tok}}}
    return Record(problem_id=pid, sample_idx=s, method="m", question="q", gold="1", answer="1",
                  correct=correct, grade_reason="x", failures=["no_answer"] if not correct else [],
                  cost={} if error else cost, error=error)  # a failed attempt has no ledger


def test_metrics_pass1_averaged_over_samples():
    recs = [_rec("a", 0, True), _rec("a", 1, False), _rec("b", 0, True), _rec("b", 1, True)]
    m = compute_metrics(recs, expected_attempts=4)
    assert m.accuracy == pytest.approx(0.75) and m.complete
    assert m.tpi == pytest.approx(5.0) and m.s2_fraction == pytest.approx(0.5)
    assert m.failures == {"no_answer": 1}
    lo, hi = m.accuracy_ci95
    assert 0.5 <= lo <= 0.75 <= hi <= 1.0
    assert not compute_metrics(recs, expected_attempts=5).complete


def test_per_problem_accuracy_is_pass1_per_problem_in_first_seen_order():
    """One function for metrics.json and the report's cells (scale.report.cells)."""
    boom = {"kind": "engine", "message": "server gone"}
    recs = [_rec("b", 0, True), _rec("a", 0, True), _rec("b", 1, False, error=boom), _rec("a", 1, True),
            _rec("c", 0, False), _rec("b", 2, False)]
    acc = per_problem_accuracy(recs)
    assert list(acc) == ["b", "a", "c"] and acc == {"b": 1 / 3, "a": 1.0, "c": 0.0}
    assert compute_metrics(recs).accuracy == pytest.approx((1 / 3 + 1.0 + 0.0) / 3)
    assert per_problem_accuracy([]) == {}


def test_metrics_count_errors_and_give_both_accuracies():
    boom = {"kind": "engine", "message": "server gone"}
    recs = [_rec("a", 0, True), _rec("a", 1, False, error=boom), _rec("b", 0, True),
            _rec("b", 1, False, error=boom), _rec("c", 0, False, error={"kind": "timeout", "message": "t"})]
    m = compute_metrics(recs)
    assert m.n_errors == 3 and m.errors == {"engine": 2, "timeout": 1}
    assert m.accuracy == pytest.approx((0.5 + 0.5 + 0.0) / 3)  # errors count as wrong
    assert m.accuracy_completed == pytest.approx(1.0)  # a and b, over their finished attempts
    # Costs are over the two finished attempts: a failed one is not a free one.
    assert m.tok_paper == pytest.approx(10) and m.steps_per_attempt == pytest.approx(2)


def test_bootstrap_ci_brackets_the_mean_and_narrows():
    wide = bootstrap_ci([1.0, 0.0] * 5)
    narrow = bootstrap_ci([1.0, 0.0] * 200)
    assert wide[0] < 0.5 < wide[1] and narrow[0] < 0.5 < narrow[1]
    assert (narrow[1] - narrow[0]) < (wide[1] - wide[0])
    assert bootstrap_ci([1.0] * 7) == (1.0, 1.0)
