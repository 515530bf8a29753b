"""Grader: tricky equivalences, hard timeouts with worker restart, and concurrent use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from scale.grading import Grader, Verdict

# (response, gold, expected correct)
CASES = [
    pytest.param(r"so $\boxed{\frac{1}{2}}$", "0.5", True, id="frac-vs-decimal"),
    pytest.param(r"\boxed{0.5}", r"\frac{1}{2}", True, id="decimal-vs-frac"),
    pytest.param(r"\boxed{\frac12}", "0.5", True, id="frac-shorthand"),
    pytest.param(r"\boxed{\dfrac{3}{4}}", r"\frac{3}{4}", True, id="dfrac"),
    pytest.param(r"\boxed{\dfrac{4}{3}}", r"\frac{3}{4}", False, id="dfrac-inverted"),
    pytest.param(r"\boxed{\frac{10}{4}}", r"\frac{5}{2}", True, id="unreduced-frac"),
    pytest.param(r"\boxed{-\frac{1}{2}}", r"\frac{-1}{2}", True, id="minus-placement"),
    pytest.param(r"\boxed{\boxed{7}}", "7", True, id="nested-boxes"),
    pytest.param(r"\boxed{5\text{ cm}}", "5", True, id="units-in-prediction"),
    pytest.param(r"\boxed{5}", r"5\text{ cm}", True, id="units-in-gold"),
    pytest.param(r"\boxed{6\text{ cm}}", "5", False, id="units-wrong-number"),
    pytest.param(r"\boxed{30^\circ}", "30", True, id="degrees-circ"),
    pytest.param(r"\boxed{30^{\circ}}", "30", True, id="degrees-braced"),
    pytest.param(r"\boxed{30°}", "30", True, id="degrees-unicode"),
    pytest.param(r"\boxed{(1, 2)}", "(1,2)", True, id="interval-spacing"),
    pytest.param(r"\boxed{[1,2)}", "(1,2)", False, id="interval-half-open"),
    pytest.param(r"\boxed{[2, \infty)}", r"[2,\infty)", True, id="interval-infinity"),
    pytest.param(r"\boxed{\{2,1\}}", r"\{1,2\}", True, id="set-order"),
    pytest.param(r"\boxed{\{1,3\}}", r"\{1,2\}", False, id="set-different"),
    pytest.param(
        r"\boxed{\left( 3, \frac{\pi}{2} \right)}",
        r"(3,\frac{\pi}{2})",
        True,
        id="tuple-left-right",
    ),
    pytest.param(r"\boxed{(3, 1)}", "(1, 3)", False, id="tuple-order"),
    pytest.param(r"\boxed{50\%}", "50", True, id="percent-in-prediction"),
    pytest.param(r"\boxed{50}", r"50\%", True, id="percent-in-gold"),
    pytest.param(r"\boxed{1,234}", "1234", True, id="thousands-in-prediction"),
    pytest.param(r"\boxed{1234}", "1,234", True, id="thousands-in-gold"),
    pytest.param(r"\boxed{5,\!000}", "5000", True, id="thousands-thin-space"),
    pytest.param(r"\boxed{12,34}", "1234", False, id="not-a-thousands-pattern"),
    pytest.param(r"\boxed{-3}", "3", False, id="negative-vs-positive"),
    pytest.param(r"\boxed{-3}", "-3", True, id="negative"),
    pytest.param(r"\boxed{3} no wait \boxed{4}", "4", True, id="several-boxes-last-right"),
    pytest.param(r"\boxed{4} no wait \boxed{3}", "4", False, id="several-boxes-first-right"),
    pytest.param("The final answer is 42.", "42", True, id="no-box-phrase"),
    pytest.param("so in total we get 17 marbles", "17", True, id="no-box-last-number"),
    pytest.param("I do not know", "5", False, id="no-answer"),
    pytest.param(r"\boxed{2\sqrt{2}}", r"\sqrt{8}", True, id="sqrt-forms"),
    pytest.param(r"\boxed{2\sqrt{3}}", r"\sqrt{8}", False, id="sqrt-wrong"),
    pytest.param(r"\boxed{\frac{\sqrt{2}}{2}}", r"\frac{1}{\sqrt{2}}", True, id="rationalised"),
    pytest.param(r"\boxed{\pi \cdot 2}", r"2\pi", True, id="pi-commuted"),
    pytest.param(r"\boxed{3.14}", r"\pi", False, id="pi-rough-decimal"),
    pytest.param(r"\boxed{x=5}", "5", True, id="equation-vs-value"),
    pytest.param(r"\boxed{x = 5}", "x=5", True, id="equation-vs-equation"),
    pytest.param(r"\boxed{x=6}", "5", False, id="equation-wrong"),
    pytest.param(r"\boxed{12}", "21", False, id="digits-swapped"),
    pytest.param(r"\boxed{0.25}", r"\frac{1}{5}", False, id="similar-fraction"),
    pytest.param(r"\boxed{x^2+2x+1}", "(x+1)^2", True, id="expanded-polynomial"),
    pytest.param(r"\boxed{x^2+1}", "(x+1)^2", False, id="wrong-polynomial"),
    pytest.param(r"\boxed{\text{Evelyn}}", r"\text{Evelyn}", True, id="text-answer"),
    pytest.param(r"\boxed{\text{Bob}}", r"\text{Evelyn}", False, id="text-answer-wrong"),
    pytest.param(r"\boxed{12}", "$12$", True, id="dollar-gold"),
    pytest.param(r"\boxed{12.}", "12", True, id="trailing-period"),
    pytest.param(r"\boxed{3}", "3.0", True, id="int-vs-float"),
    pytest.param(r"\boxed{1000000}", "10^6", True, id="power-of-ten"),
    pytest.param(r"\fbox{9}", "9", True, id="fbox"),
    pytest.param(r"\boxed{025}", "25", True, id="leading-zero"),
]


@pytest.fixture(scope="module")
def grader() -> Iterator[Grader]:
    with Grader(timeout_s=5) as g:
        yield g


@pytest.mark.parametrize(("response", "gold", "expected"), CASES)
def test_tricky_pairs(grader: Grader, response: str, gold: str, expected: bool) -> None:
    verdict = grader.grade(response, gold)
    assert verdict.correct is expected, verdict
    # A wrong answer must be rejected on the merits, not by a timeout or a parse failure.
    assert verdict.reason in (("equal",) if expected else ("not_equal", "no_answer")), verdict


def test_enough_hand_written_cases() -> None:
    assert len(CASES) >= 40
    assert {c.values[2] for c in CASES} == {True, False}


def test_verdict_fields(grader: Grader) -> None:
    assert grader.grade(r"\boxed{\dfrac{1}{2}}", "0.5") == Verdict(
        True, "equal", r"\dfrac{1}{2}", "0.5"
    )
    assert grader.grade(r"\boxed{12}", "21") == Verdict(False, "not_equal", "12", "21")
    assert grader.grade("no idea", "#### 1,234") == Verdict(False, "no_answer", None, "1234")


def test_equivalent_direct(grader: Grader) -> None:
    assert grader.equivalent(r"\frac{1}{2}", "0.5") == (True, "equal")
    assert grader.equivalent("(1,2)", "[1,2)") == (False, "not_equal")


def test_fast_path_needs_no_worker() -> None:
    with Grader() as g:
        assert g.grade(r"\boxed{1,234\text{ m}}", "1234").correct
        assert g.grade(r"\boxed{\left(\dfrac{1}{2}\right)^\circ.}", r"(\frac{1}{2})").correct
        assert not g.grade(r"\boxed{12}", "21").correct
        assert not g._live  # no worker was ever started


PATHOLOGICAL = (r"\boxed{9^{9^{9^{9^{9}}}}}", "9^{9^{9^{9^{8}}}}")


def _worker_pids(g: Grader) -> set[int | None]:
    return {w.process.pid for w in g._live}


@pytest.mark.parametrize(
    ("timeout_s", "worker_survives"),
    [
        # 1 s: no whole second left for Math-Verify's own alarm, so the parent kills the worker.
        pytest.param(1.0, False, id="hard-kill"),
        # 3 s: Math-Verify's alarm (2 s) fires first and the worker stays usable.
        pytest.param(3.0, True, id="inner-alarm"),
    ],
)
def test_pathological_input_times_out(timeout_s: float, worker_survives: bool) -> None:
    with Grader(timeout_s=timeout_s) as g:
        assert g.grade(r"\boxed{\frac{2}{4}}", "0.5").correct  # start the worker outside the clock
        before = _worker_pids(g)
        start = time.monotonic()
        verdict = g.grade(*PATHOLOGICAL)
        elapsed = time.monotonic() - start
        assert verdict == Verdict(False, "timeout", PATHOLOGICAL[0][7:-1], PATHOLOGICAL[1])
        assert elapsed < timeout_s + 3
        assert (_worker_pids(g) == before) is worker_survives
        # Still grades correctly afterwards, with a fresh worker where the old one was killed.
        assert g.grade(r"\boxed{\sqrt{8}}", r"2\sqrt{2}").correct
        assert not g.grade(r"\boxed{\sqrt{8}}", r"3\sqrt{2}").correct


def test_recovers_from_a_dead_worker() -> None:
    with Grader() as g:
        assert g.grade(r"\boxed{\frac{2}{4}}", "0.5").correct
        (worker,) = g._live
        worker.process.kill()  # e.g. the OOM killer
        worker.process.join()
        assert g.grade(r"\boxed{\frac{3}{4}}", "0.75").correct
        assert worker not in g._live


def test_closed_grader_refuses() -> None:
    g = Grader()
    g.close()
    with pytest.raises(RuntimeError, match="closed"):
        g.grade(r"\boxed{\frac{1}{2}}", "0.5")


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Grader(timeout_s=0)
    with pytest.raises(ValueError, match="max_workers"):
        Grader(max_workers=0)


_BATCH = [(c.values[0], c.values[1]) for c in CASES[:20]]


def test_concurrent_threads_and_asyncio_match_sequential() -> None:
    with Grader(timeout_s=5, max_workers=2) as g:
        sequential = [g.grade(r, gold) for r, gold in _BATCH]
        with ThreadPoolExecutor(max_workers=4) as pool:
            threaded = list(pool.map(lambda item: g.grade(*item), _BATCH))

        async def gather() -> list[Verdict]:
            return await asyncio.gather(*(g.agrade(r, gold) for r, gold in _BATCH))

        awaited = asyncio.run(gather())
    assert threaded == sequential
    assert awaited == sequential
    assert sum(v.correct for v in sequential) not in (0, len(_BATCH))
