"""Baselines: majority voting and InftyThink (pure helpers, tiny Qwen3, SmolLM2)."""

from __future__ import annotations

import asyncio
import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import OmegaConf

from scale.errors import ConfigError
from scale.grading import Grader
from scale.methods.base import Context
from scale.methods.inftythink import InftyThink, pick_summary
from scale.methods.majority import Majority, exact_equivalent, group_answers, winning_group
from scale.paths import CONFIG_DIR as CONFIGS
from scale.testing.config import build_method

# --------------------------------------------------------------------------- config checks


@pytest.mark.parametrize(("cls", "kwargs", "named"), [
    (Majority, {"k": 0}, "0"),
    (Majority, {"system": "s3"}, "'s3'"),
    (InftyThink, {"max_rounds": 0}, "max_rounds"),
    (InftyThink, {"segment_tokens": 0}, "segment_tokens"),
    (InftyThink, {"summary_tokens": 0}, "summary_tokens"),
    (InftyThink, {"summary_system": "s9"}, "'s9'"),
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
        method = build_method(name)
        assert method.name == name
        assert method.prompts.label == "default"
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


def test_summary_is_the_summary_calls_visible_text_else_a_counted_tail():
    s = pick_summary("  x = 3 and y = 4.  ", "thought", "partial", max_chars=100)
    assert (s.text, s.source, s.written) == ("x = 3 and y = 4.", "summary", True)
    assert pick_summary("z" * 50, "", "", max_chars=10).text == "z" * 10  # the head of a long one
    s = pick_summary("", "0123456789", "partial", max_chars=3)  # cut while thinking: its thought's tail
    assert (s.text, s.source, s.written) == ("789", "tail_summary_reasoning", False)
    s = pick_summary(" ", "", "abcdef", max_chars=4)
    assert (s.text, s.source) == ("cdef", "tail_partial")
    assert pick_summary("", "", "", 5).source == "empty"


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
    method = InftyThink(max_rounds=2, segment_tokens=16, summary_tokens=12)
    ctx = Context(systems=tiny_systems, seed=0)
    attempt = asyncio.run(method.run(_problem(), 0, ctx))
    calls = attempt.ledger.calls
    # Round 0, the same model's summary of it, round 1 (no summary after the last round).
    assert [(c.stage, c.step, c.mode) for c in calls] == [("solve", 0, "s2"), ("summarize", None, "s2"),
                                                          ("solve", 1, "s2")]
    assert [c.response_tokens <= n for c, n in zip(calls, (16, 12, 16))] == [True] * 3
    assert "max_rounds" in attempt.failures
    trace = attempt.trace
    assert trace["n_rounds"] == 2 and not trace["boxed"]
    assert [r["boxed"] for r in trace["rounds"]] == [False, False]
    first = trace["rounds"][0]
    assert attempt.failures.count("summary_missing") == (first["summary_source"] != "summary")
    assert trace["rounds"][1]["summary_in"] == first["summary_out"]
    assert first["summary_tokens"] == calls[1].response_tokens
    cost = attempt.ledger.summary()
    assert cost["n_steps"] == 2 and cost["s2_steps"] == 2
    # The summary is the method's own output: it counts in tok_paper (and so in Tpi).
    assert cost["tok_paper"] == sum(c.response_tokens for c in calls)
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
    methods = [Majority(k=2), InftyThink(max_rounds=2, segment_tokens=64, summary_tokens=64)]
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
        assert all(c["stage"] in ("solve", "summarize") for c in rec.ledger)
        assert rec.cost["tok_paper"] > 0
        if method.name == "majority":
            assert len(rec.ledger) == 2 and rec.trace["equivalence"] == "grader"
            assert len(rec.trace["answers"]) == 2
        else:
            steps = [c["step"] for c in rec.ledger if c["stage"] == "solve"]
            assert steps == list(range(len(steps))) and 1 <= len(steps) <= 2
            assert sum(c["stage"] == "summarize" for c in rec.ledger) == len(steps) - 1
            assert all(c["response_tokens"] <= 64 for c in rec.ledger)
            assert rec.trace["n_rounds"] == len(steps)
            assert rec.trace["boxed"] == ("max_rounds" not in rec.failures)


# -- MajVote over a CoT run (issue 19 item 6) ----------------------------------------------------


@pytest.mark.tiny
def test_majority_from_run_votes_over_a_real_cot_runs_samples_without_generating(tmp_path, monkeypatch):
    """method.from_run: a real CoT run (tiny Qwen3, engine=hf) then MajVote over its records.
    Attempt s votes over CoT samples s*k .. s*k+k-1; its ledger is theirs (Tok = k x CoT) and no
    model is loaded (build_systems gets no system to load)."""
    from scale.rundir import RunDir
    from scale.runner.run import run_eval
    from scale.testing.config import compose
    from tests.helpers.shard_env import clear_shard_env

    clear_shard_env(monkeypatch)
    small = ["systems=tiny_qwen3", "engine=hf", "data=demo", "data.limit=2", "runner.progress=false"]
    cot_dir, vote_dir = tmp_path / "cot", tmp_path / "vote"
    run_eval(compose(*small, "method=cot_s2", "n_samples=4", f"run_dir={cot_dir}"))
    cot = RunDir(cot_dir).collect().records
    cfg = compose(*small, "method=majority", "method.k=2", "n_samples=2", f"method.from_run={cot_dir}",
                  f"run_dir={vote_dir}")
    assert build_method("majority", f"method.from_run={cot_dir}").uses_systems == set()
    run_eval(cfg)
    votes = RunDir(vote_dir).collect().records
    assert len(votes) == 4
    for (pid, s), rec in votes.items():
        mine = [cot[(pid, s * 2 + i)] for i in range(2)]
        assert rec.trace["cot_samples"] == [s * 2, s * 2 + 1]
        assert rec.trace["answers"] == [None if r.error else r.answer for r in mine]
        assert rec.ledger == [c for r in mine for c in r.ledger]  # the CoT calls, none new
        assert rec.cost["tok_paper"] == sum(r.cost["tok_paper"] for r in mine)
        answered = [a for a in rec.trace["answers"] if a is not None]
        assert rec.answer == (answered[0] if answered else None) or rec.answer in answered
    # Refused in one line: too few samples, another method's run, a run of other data.
    with pytest.raises(ConfigError, match=r"ran n_samples=4; voting over method.k x n_samples = 8 samples"):
        run_eval(compose(*small, "method=majority", "method.k=4", "n_samples=2", f"method.from_run={cot_dir}",
                         f"run_dir={tmp_path / 'v2'}"))
    with pytest.raises(ConfigError, match=r"is a run of method 'majority' on 's2'; MajVote votes over a CoT run"):
        run_eval(compose(*small, "method=majority", "n_samples=1", "method.k=1", f"method.from_run={vote_dir}",
                         f"run_dir={tmp_path / 'v3'}"))
    from scale.errors import DataError

    with pytest.raises(DataError, match=r"has no record of problem 'gsm8k-"):
        run_eval(compose("systems=tiny_qwen3", "engine=hf", "data=gsm8k", "data.limit=1", "method=majority",
                         "method.k=2", "n_samples=1", f"method.from_run={cot_dir}", f"run_dir={tmp_path / 'v4'}",
                         "runner.progress=false"))
