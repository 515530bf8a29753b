"""Baselines: majority voting and InftyThink (pure helpers, tiny Qwen3, SmolLM2)."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from scale.build import build
from scale.errors import ConfigError
from scale.grading import Grader
from scale.methods.base import Context
from scale.methods.inftythink import InftyThink, after_marker, extract_summary
from scale.methods.majority import Majority, exact_equivalent, group_answers, winning_group
from scale.paths import CONFIG_DIR as CONFIGS

# --------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(("cls", "kwargs", "named"), [
    (Majority, {"k": 0}, "0"),
    (Majority, {"system": "s3"}, "'s3'"),
    (InftyThink, {"max_rounds": 0}, "max_rounds"),
    (InftyThink, {"segment_tokens": 0}, "segment_tokens"),
    (InftyThink, {"system": "s3"}, "'s3'"),
    (InftyThink, {"summary_chars": -5}, "-5"),
])
def test_bad_config_is_refused_by_value(cls, kwargs, named):
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert named in str(err.value)
    (value,) = kwargs.values()
    assert repr(value) in str(err.value)


def test_registered_and_built_from_yaml():
    for name in ("majority", "inftythink"):
        cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / "method" / f"{name}.yaml"))
        method = build(cfg, "method")
        assert method.name == name
    with open(CONFIGS / "method" / "majority.yaml") as f:
        assert f.readline().startswith("# Used by: scale-eval method=majority")


# --------------------------------------------------------------------------- vote grouping


@pytest.fixture(scope="module")
def grader():
    with Grader(timeout_s=10) as g:
        yield g


def test_group_answers_with_real_grader(grader):
    answers = ["1/2", "0.5", "\\frac{1}{2}", "3", None]
    groups = group_answers(answers, grader.equivalent)
    assert groups == [[0, 1, 2], [3]]
    assert winning_group(groups) == [0, 1, 2]


def test_group_answers_exact_fallback_and_ties():
    answers = ["7", " 7 ", "8", "8", "0.5", "1/2"]
    groups = group_answers(answers, exact_equivalent)
    assert groups == [[0, 1], [2, 3], [4], [5]]
    assert winning_group(groups) == [0, 1]  # tie with [2, 3]: the first group wins
    assert group_answers([None, None], exact_equivalent) == []
    assert winning_group([]) is None


@given(st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", " 2", "x"])), max_size=12))
def test_groups_partition_the_answered_indices(answers):
    groups = group_answers(answers, exact_equivalent)
    flat = sorted(i for g in groups for i in g)
    assert flat == [i for i, a in enumerate(answers) if a is not None]
    assert [g[0] for g in groups] == sorted(g[0] for g in groups)
    for g in groups:
        assert len({answers[i].strip() for i in g}) == 1


# --------------------------------------------------------------------------- summaries


def test_summary_after_last_marker():
    text = "work... Summary: first try\nmore work\n**Summary:** x = 3 and y = 4.\n"
    assert after_marker(text) == "x = 3 and y = 4."
    assert after_marker("no marker here") is None
    assert after_marker("ends with SUMMARY:  ") is None  # empty summary = no summary
    s = extract_summary("Let x = 3.\nsummary : we know x = 3", "thinking")
    assert (s.text, s.source, s.from_marker) == ("we know x = 3", "marker_visible", True)


def test_summary_fallbacks():
    s = extract_summary("", "long thinking... Summary: a = 1")
    assert (s.text, s.source) == ("a = 1", "marker_reasoning")
    s = extract_summary("abcdefghij", "reasoning", max_chars=4)
    assert (s.text, s.source, s.from_marker) == ("ghij", "tail_visible", False)
    s = extract_summary("  ", "0123456789", max_chars=3)
    assert (s.text, s.source) == ("789", "tail_reasoning")
    assert extract_summary("", "").source == "empty"
    s = extract_summary("Summary: " + "z" * 50, max_chars=10)
    assert s.text == "z" * 10 and s.from_marker


# --------------------------------------------------------------------------- tiny Qwen3 (tier 2)


@pytest.fixture(scope="module")
def tiny_systems(tiny_model_dir):
    from scale.systems import build_systems

    cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / "systems" / "tiny_qwen3.yaml"))
    cfg = copy.deepcopy(cfg)
    cfg["s2"]["sampling"]["temperature"] = 0.8  # sampled, so seeds matter
    cfg["s2"]["sampling"]["max_new_tokens"] = 16  # short calls keep tier 2 quick
    cfg["s2"].pop("budget", None)
    systems = build_systems(cfg, {"_target_": "scale.engine.hf_engine.HFEngine", "max_batch_size": 16})
    yield systems
    asyncio.run(systems.aclose())


def _problem():
    from scale.data.problem import Problem

    return Problem(id="p1", question="What is 2 + 3?", answer="5")


@pytest.mark.tiny
def test_majority_tiny_runs_k_calls_reproducibly(tiny_systems):
    method = Majority(k=3)
    ctx = Context(systems=tiny_systems, seed=0)
    first = asyncio.run(method.run(_problem(), 0, ctx))
    again = asyncio.run(method.run(_problem(), 0, ctx))
    calls = first.ledger.calls
    assert [c.stage for c in calls] == ["solve"] * 3
    assert all(c.mode == "s2" for c in calls)
    seeds = first.trace["seeds"]
    assert len(set(seeds)) == 3
    assert seeds == [ctx.seed_for(_problem(), 0, salt=i) for i in range(3)]
    assert len(first.trace["answers"]) == 3
    assert first.trace["answers"] == again.trace["answers"]
    assert (first.answer, first.response) == (again.answer, again.response)
    assert [c.response_tokens for c in calls] == [c.response_tokens for c in again.ledger.calls]
    assert first.trace["equivalence"] == "exact"  # no grader in this context
    assert sum(first.trace["group_sizes"]) == first.trace["n_answered"]
    if first.answer is None:
        assert "no_answer" in first.failures
    else:
        assert first.trace["vote_share"] == max(first.trace["group_sizes"]) / 3
    assert first.failures.count("truncated") == sum(c.finish_reason == "length" for c in calls)
    assert first.ledger.summary()["tok_paper"] == sum(c.response_tokens for c in calls)


@pytest.mark.tiny
def test_inftythink_tiny_runs_max_rounds(tiny_systems):
    method = InftyThink(max_rounds=2, segment_tokens=16)
    ctx = Context(systems=tiny_systems, seed=0)
    attempt = asyncio.run(method.run(_problem(), 0, ctx))
    calls = attempt.ledger.calls
    assert [(c.stage, c.step, c.mode) for c in calls] == [("solve", 0, "s2"), ("solve", 1, "s2")]
    assert all(c.response_tokens <= 16 for c in calls)
    assert "max_rounds" in attempt.failures
    assert attempt.failures.count("summary_missing") == 1  # only round 0 seeds another round
    trace = attempt.trace
    assert trace["n_rounds"] == 2 and not trace["boxed"]
    assert [r["boxed"] for r in trace["rounds"]] == [False, False]
    assert trace["rounds"][0]["summary_source"].startswith("tail_")
    assert trace["rounds"][1]["summary_in"] == trace["rounds"][0]["summary_out"]
    cost = attempt.ledger.summary()
    assert cost["n_steps"] == 2
    assert cost["tpi"] == pytest.approx(cost["tok_paper"] / 2)


# --------------------------------------------------------------------------- SmolLM2 (tier 3)


@pytest.mark.slow
def test_baselines_on_smollm2_demo(smollm2_dir, grader):
    from scale.data import load_benchmark
    from scale.rundir import Record
    from scale.runner.run import to_record
    from scale.systems import build_systems

    cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / "systems" / "smollm2.yaml"))
    cfg["s2"]["sampling"]["max_new_tokens"] = 32
    systems = build_systems(cfg, {"_target_": "scale.engine.hf_engine.HFEngine", "max_batch_size": 16})
    problems = load_benchmark("demo", limit=2)
    methods = [Majority(k=2), InftyThink(max_rounds=2, segment_tokens=64)]
    ctx = Context(systems=systems, seed=0, grader=grader)

    async def go():
        try:
            return await asyncio.gather(*(m.run(p, 0, ctx) for m in methods for p in problems))
        finally:
            await systems.aclose()

    attempts = asyncio.run(go())
    for i, attempt in enumerate(attempts):
        method, problem = methods[i // len(problems)], problems[i % len(problems)]
        # Through JSON and back, as a run dir stores it.
        raw = json.loads(json.dumps(to_record(problem, 0, method, attempt, False, "x", 0.0).to_dict()))
        rec = Record.from_dict(raw, "test")
        assert rec.method == method.name
        assert rec.answer is None or isinstance(rec.answer, str)
        assert isinstance(rec.response, str)
        assert all(c["stage"] == "solve" for c in rec.ledger)
        assert rec.cost["tok_paper"] > 0
        if method.name == "majority":
            assert len(rec.ledger) == 2 and rec.trace["equivalence"] == "grader"
            assert len(rec.trace["answers"]) == 2
        else:
            steps = [c["step"] for c in rec.ledger]
            assert steps == list(range(len(steps))) and 1 <= len(steps) <= 2
            assert all(c["response_tokens"] <= 64 for c in rec.ledger)
            assert rec.trace["n_rounds"] == len(steps)
            assert rec.trace["boxed"] == ("max_rounds" not in rec.failures)
