"""metrics.json from records: accuracy with a bootstrap CI, cost figures, failures by kind."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from typing import Any


def bootstrap_ci(values: list[float], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean, resampling problems (not samples)."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    lo = means[int(alpha / 2 * n_boot)]
    hi = means[min(n_boot - 1, int((1 - alpha / 2) * n_boot))]
    return (lo, hi)


def compute_metrics(records: list[dict[str, Any]], expected_attempts: int | None = None) -> dict[str, Any]:
    """Pass@1 averaged over samples (the paper's Acc), per-problem costs and their means."""
    per_problem: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        per_problem[r["problem_id"]].append(r)
    acc_per_problem = [sum(bool(r["correct"]) for r in rs) / len(rs) for rs in per_problem.values()]
    n = len(records) or 1
    cost_keys = ("tok_paper", "tok_total", "prompt_tokens", "reasoning_tokens", "seconds")
    cost = {k: sum(r["cost"][k] for r in records) / n for k in cost_keys}
    steps = sum(r["cost"]["n_steps"] for r in records)
    s2 = sum(r["cost"]["s2_steps"] for r in records)
    failures = Counter(f for r in records for f in r.get("failures", []))
    stage_seconds: Counter[str] = Counter()
    stage_tokens: Counter[str] = Counter()
    for r in records:
        for stage, s in r["cost"].get("by_stage", {}).items():
            stage_seconds[stage] += s["seconds"]
            stage_tokens[stage] += s["response_tokens"]
    accuracy = sum(acc_per_problem) / len(acc_per_problem) if acc_per_problem else 0.0
    lo, hi = bootstrap_ci(acc_per_problem)
    return {
        "n_problems": len(per_problem),
        "n_attempts": len(records),
        "complete": expected_attempts is None or len(records) == expected_attempts,
        "accuracy": accuracy,
        "accuracy_ci95": [lo, hi],
        **{k: v for k, v in cost.items()},
        "tpi": (sum(r["cost"]["tok_paper"] for r in records) / steps) if steps else 0.0,
        "steps_per_attempt": steps / n,
        "s2_fraction": s2 / steps if steps else 0.0,
        "failures": dict(sorted(failures.items())),
        "stage_seconds": dict(sorted(stage_seconds.items())),
        "stage_response_tokens_per_attempt": {k: v / n for k, v in sorted(stage_tokens.items())},
    }
