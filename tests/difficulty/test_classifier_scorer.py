"""The classifier scorer: built from its config, scores in [0, 1] from one forward per batch of
problems in flight, zero generated tokens in the ledger, its threshold used by tau=null."""

from __future__ import annotations

import asyncio
import json

import pytest

from scale.build import build
from scale.data import Problem
from scale.ledger import Ledger
from scale.methods import Context
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import build_method, compose
from scale.train.artifact import AdapterError
from tests.train.synthetic import make_adapter

pytestmark = pytest.mark.tiny

STEPS = ["Count the apples Tom starts with.", "Add the apples he buys.", "State the total."]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("clf") / "adapter", tau=0.37)


def scorer(adapter, **extra):
    node = {**compose("difficulty=classifier", f"difficulty.adapter={adapter}")["difficulty"], **extra}
    return build(node, "difficulty")


def test_scores_in_unit_interval_with_one_ledger_call_and_no_generated_tokens(adapter):
    s = scorer(adapter)
    ledger = Ledger()
    scores = asyncio.run(s.score("Tom has 3 apples and buys 4. How many now?", STEPS, None, ledger))
    assert len(scores) == 3 and all(0.0 <= x.value <= 1.0 and x.how == "classifier" for x in scores)
    (call,) = ledger.calls
    assert (call.stage, call.mode, call.response_tokens, call.reasoning_tokens) == ("score", "classifier", 0, 0)
    assert call.prompt_tokens == sum(len(r) for r in s.encode("Tom has 3 apples and buys 4. How many now?", STEPS))
    assert call.seconds > 0
    assert asyncio.run(s.score("q", [], None, ledger)) == [] and len(ledger.calls) == 1


def test_problems_in_flight_share_one_forward_and_score_as_alone(adapter):
    s = scorer(adapter)
    problems = [f"Problem {i}: a shop sells {i + 2} pens. How many pens in {i + 3} shops?" for i in range(4)]
    alone = [[x.value for x in asyncio.run(s.score(p, STEPS[: 1 + i % 3], None, Ledger()))]
             for i, p in enumerate(problems)]
    forwards = s.batcher.forwards

    async def together():
        ledgers = [Ledger() for _ in problems]
        out = await asyncio.gather(*(s.score(p, STEPS[: 1 + i % 3], None, lg)
                                     for i, (p, lg) in enumerate(zip(problems, ledgers))))
        return out, ledgers

    out, ledgers = asyncio.run(together())
    assert s.batcher.forwards == forwards + 1  # one forward for the four problems
    for got, want in zip(out, alone):
        assert [x.value for x in got] == pytest.approx(want, abs=1e-6)
    shares = [lg.calls[0].seconds for lg in ledgers]
    assert all(x > 0 for x in shares)


def test_a_small_batch_cap_splits_forwards_but_never_a_problem(adapter):
    s = scorer(adapter, max_batch_size=3)

    async def together():
        return await asyncio.gather(*(s.score(f"P{i}", STEPS, None, Ledger()) for i in range(3)))

    out = asyncio.run(together())
    assert [len(scores) for scores in out] == [3, 3, 3]  # every problem scored on all its steps
    assert s.batcher.forwards == 3 and s.batcher.rows == 9


def test_threshold_router_uses_the_adapters_tau_unless_given(adapter):
    over = ("difficulty=classifier", f"difficulty.adapter={adapter}")
    assert build_method("scale", *over, "router.tau=null").router.tau == pytest.approx(0.37)
    assert build_method("scale", *over, "router.tau=0.8").router.tau == pytest.approx(0.8)


def test_scale_routed_by_the_classifier_generates_no_scoring_tokens(adapter):
    outline = json.dumps({f"step{i + 1}": s for i, s in enumerate(STEPS)})
    eng = ScriptedEngine([Rule(stage="decompose", reply=outline), Rule(stage="select", reply="Outline 1"),
                          Rule(stage="solve", reply="so \\boxed{7}")])
    method = build_method("scale", "difficulty=classifier", f"difficulty.adapter={adapter}", "router.tau=null",
                          "method.n_outlines=2")
    ctx = Context(systems=scripted_systems(eng), seed=0, n_attempts=1)
    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    method.prepare([problem], 1, ctx)
    attempt = asyncio.run(method.run(problem, 0, ctx))
    assert not eng.sent("score")  # no System 1 scoring call
    score_calls = [c for c in attempt.ledger.calls if c.stage == "score"]
    assert len(score_calls) == 1 and score_calls[0].mode == "classifier"
    assert attempt.ledger.summary()["by_stage"]["score"]["response_tokens"] == 0
    steps = attempt.trace["steps"]
    assert len(steps) == len(STEPS) == 3  # the outline's steps, each routed
    tau = method.router.tau
    for s in steps[:-1]:  # the last step keeps its pinned score
        assert s["mode"] == ("s2" if s["score"] > tau else "s1")


def test_classifier_route_sends_the_last_step_to_system2_above_any_threshold(tmp_path):
    """Issue 19 item 8: an adapter whose own tau (0.95) is above the pinned 0.9 would route the
    step that answers the question to System 1; classifier_route sends it to System 2 by rule."""
    high = make_adapter(tmp_path / "adapter", tau=0.95)
    c = compose("experiment=classifier_route", f"difficulty.adapter={high}")
    assert (c["method"]["last_step_s2"], c["method"]["last_step_score"], c["router"]["tau"]) == (True, 0.9, None)
    outline = json.dumps({f"step{i + 1}": s for i, s in enumerate(STEPS)})
    eng = ScriptedEngine([Rule(stage="decompose", reply=outline), Rule(stage="select", reply="Outline 1"),
                          Rule(stage="solve", reply="so \\boxed{7}")])
    problem = Problem(id="p", question="Tom has 3 apples and buys 4 more. How many apples now?", answer="7")
    modes = {}
    for last_s2 in (True, False):
        method = build({**c["method"], "n_outlines": 1, "last_step_s2": last_s2}, "method")
        assert method.router.tau == pytest.approx(0.95)
        ctx = Context(systems=scripted_systems(eng), seed=0, n_attempts=1)
        method.prepare([problem], 1, ctx)
        steps = asyncio.run(method.run(problem, 0, ctx)).trace["steps"]
        assert steps[-1]["score"] == 0.9 and all(s["mode"] == "s1" for s in steps[:-1] if s["score"] <= 0.95)
        modes[last_s2] = steps[-1]["mode"]
    assert modes == {True: "s2", False: "s1"}  # without the rule, the pin at 0.9 loses to tau 0.95


def test_bad_adapter_folders_fail_in_one_line(adapter, tmp_path):
    with pytest.raises(AdapterError, match=r"no such folder"):
        scorer(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterError, match=r"no difficulty.json \(not a folder written by"):
        scorer(tmp_path / "empty")
    with pytest.raises(AdapterError, match=r"trained on base model 'tiny-qwen3', but difficulty.base_model "
                                           r"is 'smollm2-135m-instruct'"):
        scorer(adapter, base_model="smollm2-135m-instruct")
    assert scorer(adapter, base_model="tiny-qwen3").threshold == pytest.approx(0.37)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "difficulty.json").write_text('{"base_model": "tiny-qwen3",')
    with pytest.raises(AdapterError, match=r"difficulty.json: malformed JSON"):
        scorer(broken)


def test_an_adapter_trained_with_answers_is_refused(tmp_path):
    with pytest.raises(AdapterError, match="trained with answers=true"):
        scorer(make_adapter(tmp_path / "answers", answers=True))


def test_a_warning_when_the_runs_systems_are_not_the_ones_that_measured_the_labels(adapter, tmp_path, caplog):
    import shutil

    from scale.systems import build_systems

    def with_systems(name, systems):
        folder = shutil.copytree(adapter, tmp_path / name)
        card = json.loads((folder / "difficulty.json").read_text())
        card["label"]["systems"] = systems
        (folder / "difficulty.json").write_text(json.dumps(card))
        return folder

    other = with_systems("other", {"s1": ["Qwen/Qwen3-0.6B"], "s2": ["Qwen/Qwen3-0.6B", "tiny-qwen3"]})
    same = with_systems("same", {"s1": ["tiny-qwen3"], "s2": ["tiny-qwen3"]})
    cfg = compose("systems=tiny_qwen3")
    systems = build_systems(cfg["systems"], cfg["engine"])  # real engines: their model names are compared
    ctx = Context(systems=systems, seed=0)

    def warnings(folder, context):
        caplog.clear()
        s = scorer(folder)
        for _ in range(2):  # said once per scorer, not once per problem
            asyncio.run(s.score("Tom has 3 apples. How many?", STEPS, context, Ledger()))
        return [r.getMessage() for r in caplog.records if r.name == "scale.difficulty.classifier"]

    with caplog.at_level("WARNING", logger="scale.difficulty.classifier"):
        (warned,) = warnings(other, ctx)
        assert warnings(same, ctx) == []
        assert warnings(adapter, ctx) == []  # the card does not say which systems: nothing to compare
        assert warnings(other, None) == []  # no systems reachable
    asyncio.run(systems.aclose())
    assert warned == (f"classifier adapter {other}: its labels were measured with other systems than this run's "
                      "(s1: tiny-qwen3, labels measured with Qwen/Qwen3-0.6B); its scores and threshold may not "
                      "fit them")
