"""SCALE's main path, exactly, over a scripted engine (logic only; real models: test_scale_method).

What each stage sends, that thinking never leaks into later steps, routes for given scores,
ledger sums per stage, and the failure counters.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from scale.data import Problem
from scale.methods import Context
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import build_method
from scale.testing.scripted import prompt_text, words

PROBLEM = Problem(id="apples", question="Tom has 3 apples and buys 4 more. How many apples does Tom have now?",
                  answer="7")
STEPS = ["Name the apples Tom starts with a.", "Add the bought apples to a, call it b.",
         "State b as the count."]
OUTLINE = json.dumps({f"step{i + 1}": s for i, s in enumerate(STEPS)})
THOUGHT = "SECRET-THOUGHT about apples"
ANSWERS = {STEPS[0]: "a = 3, so \\boxed{3}", STEPS[1]: "b = a + 4 = \\boxed{7}",
           "How many apples does Tom have now?": "Tom has \\boxed{7} apples."}


def current(request) -> str:
    """The step a solve request asks about: the one mentioned last in its prompt."""
    text = prompt_text(request)
    return max(ANSWERS, key=text.rfind)


def solve_reply(request) -> str:
    return ANSWERS[current(request)]


def engine(scores=("0.2", "0.7"), outline=OUTLINE, select="Outline 1", extra=()) -> ScriptedEngine:
    return ScriptedEngine([
        *extra,
        Rule(stage="decompose", reply=outline),
        Rule(stage="select", reply=select),
        Rule(stage="score", pattern=r"Current step:\s*" + STEPS[0][:10], reply=scores[0]),
        Rule(stage="score", pattern=r"Current step:\s*" + STEPS[1][:10], reply=scores[1]),
        Rule(stage="solve", reply=solve_reply, reasoning=THOUGHT),
    ])


def run(eng: ScriptedEngine, *overrides: str, **values):
    method = build_method("scale", *overrides, **values)
    ctx = Context(systems=scripted_systems(eng), seed=0, n_attempts=1)
    method.prepare([PROBLEM], 1, ctx)
    return asyncio.run(method.run(PROBLEM, 0, ctx))


def test_each_stage_sends_what_the_paper_describes():
    eng = engine()
    attempt = run(eng, "method.n_outlines=3")
    decompose = eng.sent("decompose")
    assert len(decompose) == 3  # K outline samples, System 1, sampled with distinct seeds
    assert all(not r.thinking and r.sampling.temperature == 0.7 for r in decompose)
    assert len({r.sampling.seed for r in decompose}) == 3
    assert all(PROBLEM.question in prompt_text(r) for r in decompose)
    (select,) = eng.sent("select")
    assert prompt_text(select).count(STEPS[1]) == 3  # every candidate is shown
    scores = eng.sent("score")
    assert len(scores) == 2  # the last step is pinned at 0.9, not scored
    for i, r in enumerate(scores):
        text = prompt_text(r)
        assert PROBLEM.question in text and f"Current step:\n{STEPS[i]}" in text
        assert all(s in text for s in STEPS[:i])  # earlier step descriptions, never their answers
        assert "\\boxed" not in text and r.sampling.max_new_tokens == 64 and not r.thinking
    solve = eng.sent("solve")
    assert [current(r) for r in solve] == [*STEPS[:2], "How many apples does Tom have now?"]
    assert "Tom has 3 apples and buys 4 more." in prompt_text(solve[0])  # the given conditions
    for i, r in enumerate(solve):
        for j in range(i):  # each earlier step with its visible answer is carried forward
            assert STEPS[j] in prompt_text(r) and ANSWERS[STEPS[j]] in prompt_text(r)
    assert attempt.answer == "7"
    assert [s["step"] for s in attempt.trace["steps"]][-1] == "How many apples does Tom have now?"


def test_thinking_never_leaks_into_later_steps_or_the_trace():
    eng = engine(scores=("0.9", "0.9"))  # every step on System 2, which thinks
    attempt = run(eng)
    solve = eng.sent("solve")
    assert all(r.thinking for r in solve)
    assert all(THOUGHT not in prompt_text(r) for r in solve)
    assert all(THOUGHT not in s["visible"] for s in attempt.trace["steps"])
    assert THOUGHT not in attempt.response
    assert [c.reasoning_tokens for c in attempt.ledger.calls if c.stage == "solve"] == [words(THOUGHT)] * 3


@pytest.mark.parametrize(("scores", "overrides", "modes"), [
    (("0.2", "0.7"), [], ["s1", "s2", "s2"]),  # tau 0.5, last step pinned at 0.9
    (("0.2", "0.7"), ["router.tau=0.8"], ["s1", "s1", "s2"]),
    (("0.5", "0.51"), [], ["s1", "s2", "s2"]),  # strictly greater than tau
    (("0.9", "0.9"), ["router=all_s1"], ["s1", "s1", "s1"]),
    (("0.1", "0.1"), ["router=all_s2"], ["s2", "s2", "s2"]),
    (("0.2", "0.7"), ["method.last_step_score=0.1"], ["s1", "s2", "s1"]),
])
def test_routes_follow_scores_and_router(scores, overrides, modes):
    eng = engine(scores=scores)
    attempt = run(eng, *overrides)
    assert [s["mode"] for s in attempt.trace["steps"]] == modes
    solve = eng.sent("solve")
    assert [r.thinking for r in solve] == [m == "s2" for m in modes]
    assert [c.mode for c in attempt.ledger.calls if c.stage == "solve"] == modes


def test_ledger_sums_per_stage_match_the_calls():
    eng = engine()
    attempt = run(eng, "method.n_outlines=2")
    summary = attempt.ledger.summary()
    by_stage = summary["by_stage"]
    assert {k: v["calls"] for k, v in by_stage.items()} == {"decompose": 2, "select": 1, "score": 2, "solve": 3}
    solve_tokens = sum(words(a) for a in ANSWERS.values()) + 2 * words(THOUGHT)  # steps 2, 3 on S2
    assert summary["tok_paper"] == by_stage["solve"]["response_tokens"] == solve_tokens
    assert summary["tok_total"] == sum(v["response_tokens"] for v in by_stage.values())
    assert summary["prompt_tokens"] == sum(words(prompt_text(r)) for r in eng.requests)
    assert summary["n_steps"] == 3 and summary["s2_steps"] == 2
    assert summary["tpi"] == pytest.approx(solve_tokens / 3)


def test_failures_are_counted_by_kind():
    bad = Rule(stage="decompose", reply="I would first think about apples.", times=2)
    eng = engine(scores=("zero point two", "0.7"), select="the second one, probably", extra=[bad])
    attempt = run(eng, "method.n_outlines=2")
    assert attempt.failures.count("outline_parse") == 2  # two unparseable samples, re-sampled
    assert "select_parse" in attempt.failures
    assert attempt.failures.count("score_parse") == 1
    assert len(eng.sent("decompose")) == 4  # 2 failed + 2 re-sampled


def test_no_outline_falls_back_to_one_system2_step():
    eng = engine(outline="no json here")
    attempt = run(eng, "method.n_outlines=2", "method.resample_rounds=1")
    assert attempt.trace["fallback"] and "outline_fallback" in attempt.failures
    assert attempt.failures.count("outline_parse") == 4
    (solve,) = eng.sent("solve")
    assert solve.thinking and eng.sent("score") == []


def test_truncated_step_and_missing_answer_are_counted():
    def rambling(request) -> str:  # the last step never ends: cut at its budget, no box
        return "Tom has seven " + "apples " * 300 if current(request).startswith("How") else solve_reply(request)

    eng = engine(extra=[Rule(stage="solve", reply=rambling)])
    attempt = run(eng)
    assert "step_truncated" in attempt.failures and "no_answer" in attempt.failures
    assert attempt.answer is None


def test_a_request_the_script_does_not_answer_stops_the_run():
    """An incomplete script fails loudly (a ScaleError), never as a quiet error record."""
    from scale.errors import ScaleError

    eng = ScriptedEngine([Rule(stage="decompose", reply=OUTLINE)])
    with pytest.raises(ScaleError, match="no scripted reply for stage 'select'"):
        run(eng, "method.n_outlines=2")
