"""metrics.json from records: accuracy with a bootstrap CI, cost figures, failures and errors by kind."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from scale.rundir.schema import Metrics, Record


def bootstrap_means(values: Sequence[float], n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of ``values``, one per row; vectorised.

    Resampling per-problem values resamples problems, not samples. The report's paired test
    passes per-problem differences, so both methods see the same resampled problems.
    """
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    return data[rng.integers(0, len(data), size=(n_boot, len(data)))].mean(axis=1)


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling problems (not samples); vectorised."""
    if len(values) == 0:
        return (0.0, 0.0)
    lo, hi = np.quantile(bootstrap_means(values, n_boot, seed), [alpha / 2, 1 - alpha / 2])
    return (float(lo), float(hi))


def per_problem_accuracy(records: Iterable[Record]) -> dict[str, float]:
    """Pass@1 per problem id, averaged over its samples (an error record counts as wrong),
    in the order the problems first appear."""
    hits: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        hits[r.problem_id].append(bool(r.correct))
    return {pid: sum(v) / len(v) for pid, v in hits.items()}


def compute_metrics(records: list[Record], expected_attempts: int | None = None) -> Metrics:
    """Pass@1 averaged over samples then problems (the paper's Acc), per-attempt costs, counts.

    Accuracy counts a failed attempt as wrong; costs are means over the attempts that
    finished (a failed attempt's record has no ledger, and counting it as zero tokens would
    make a method that fails more often look cheaper).
    """
    acc_per_problem = list(per_problem_accuracy(records).values())
    completed = [r for r in records if r.error is None]
    acc_completed = list(per_problem_accuracy(completed).values())
    n = len(completed) or 1
    cost_keys = ("tok_paper", "tok_total", "prompt_tokens", "reasoning_tokens", "seconds")
    cost = {k: sum(r.cost.get(k, 0) for r in completed) / n for k in cost_keys}
    steps = sum(r.cost.get("n_steps", 0) for r in completed)
    s2 = sum(r.cost.get("s2_steps", 0) for r in completed)
    failures = Counter(f for r in records for f in r.failures)
    errors = Counter(r.error["kind"] for r in records if r.error is not None)
    stage_seconds: Counter[str] = Counter()
    stage_tokens: Counter[str] = Counter()
    for r in completed:
        for stage, s in r.cost.get("by_stage", {}).items():
            stage_seconds[stage] += s["seconds"]
            stage_tokens[stage] += s["response_tokens"]
    lo, hi = bootstrap_ci(acc_per_problem)
    return Metrics(
        n_problems=len(acc_per_problem),
        n_attempts=len(records),
        expected_attempts=expected_attempts,
        complete=expected_attempts is None or len(records) == expected_attempts,
        accuracy=float(np.mean(acc_per_problem)) if acc_per_problem else 0.0,
        accuracy_ci95=[lo, hi],
        accuracy_completed=float(np.mean(acc_completed)) if acc_completed else 0.0,
        n_errors=sum(errors.values()),
        errors=dict(sorted(errors.items())),
        **cost,
        tpi=sum(r.cost.get("tok_paper", 0) for r in completed) / steps if steps else 0.0,
        steps_per_attempt=steps / n,
        s2_fraction=s2 / steps if steps else 0.0,
        failures=dict(sorted(failures.items())),
        stage_seconds=dict(sorted(stage_seconds.items())),
        stage_response_tokens_per_attempt={k: v / n for k, v in sorted(stage_tokens.items())},
    )
