"""Every benchmark gold answer grades correct against itself and wrong against a perturbation."""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from scale.grading import Grader, Verdict, normalize_gold

DATA_DIR = Path(
    os.environ.get(
        "SCALE_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    )
)
# file -> expected row count
FILES = {
    "aime24.jsonl": 30,
    "aime25.jsonl": 30,
    "amc23.jsonl": 40,
    "math500.jsonl": 500,
    "gsm8k.jsonl": 1319,
    "gsm8k_train.jsonl": 7473,
}
SAMPLED = {"gsm8k_train.jsonl": 500}  # fixed random sample keeps the run short
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")


def _golds(name: str) -> list[str]:
    path = DATA_DIR / name
    if not DATA_DIR.is_dir():
        pytest.skip(f"benchmark data not found at {DATA_DIR}; set SCALE_SHARED_DATA")
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    assert len(rows) == FILES[name]
    golds = [normalize_gold(row["answer"]) for row in rows]
    if name in SAMPLED:
        golds = random.Random(0).sample(golds, SAMPLED[name])
    return golds


def _perturb(gold: str) -> str:
    """A response whose boxed answer is mathematically different from ``gold``."""
    if _NUMBER_RE.fullmatch(gold):
        return "\\boxed{" + str(Decimal(gold) + 1) + "}"
    return "\\boxed{" + gold + "+1}"


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(timeout_s=5, max_workers=2) as g:
        yield g


def _grade_all(grader: Grader, pairs: list[tuple[str, str]]) -> list[Verdict]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda p: grader.grade(*p), pairs))


@pytest.mark.parametrize("name", list(FILES))
def test_gold_grades_against_itself(grader: Grader, name: str) -> None:
    golds = _golds(name)
    same = _grade_all(grader, [("\\boxed{" + g + "}", g) for g in golds])
    wrong = _grade_all(grader, [(_perturb(g), g) for g in golds])
    not_self = [(v.gold, v.reason) for v in same if not v.correct]
    # A timeout would make "not correct" pass for the wrong reason.
    not_rejected = [
        (v.gold, v.predicted, v.reason) for v in wrong if v.correct or v.reason == "timeout"
    ]
    assert not_self == []
    assert not_rejected == []


def test_math500_golds_self_equal_under_math_verify_alone(grader: Grader) -> None:
    """The fast path must not be hiding golds that Math-Verify itself cannot parse."""
    golds = _golds("math500.jsonl")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda g: grader._pool_equivalent(g, g), golds))
    assert [(g, r) for g, r in zip(golds, results, strict=True) if r != (True, "equal")] == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("70", "70", id="str"),
        pytest.param(" 70\n", "70", id="whitespace"),
        pytest.param("025", "25", id="aime-leading-zero"),
        pytest.param(27.0, "27", id="float-integral"),
        pytest.param(0.5, "0.5", id="float"),
        pytest.param(-1.0, "-1", id="negative-float"),
        pytest.param(12, "12", id="int"),
        pytest.param("She pays 3 + 4 = <<3+4=7>>7.\n#### 1,234", "1234", id="gsm8k-trailer"),
        pytest.param("#### -5", "-5", id="gsm8k-negative"),
        pytest.param(r"$\frac{1}{2}$", r"\frac{1}{2}", id="dollars"),
        pytest.param(
            r"\left( 3, \frac{\pi}{2} \right)", r"\left( 3, \frac{\pi}{2} \right)", id="latex"
        ),
    ],
)
def test_normalize_gold(raw: object, expected: str) -> None:
    assert normalize_gold(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "$$", "#### ", float("nan"), True, [1]])
def test_normalize_gold_rejects(raw: object) -> None:
    with pytest.raises(ValueError, match="gold answer"):
        normalize_gold(raw)
