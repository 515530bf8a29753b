"""SCALE end to end with real models: tiny Qwen3 (tier 2) and SmolLM2 on real problems (tier 3)."""

from __future__ import annotations

import asyncio

import pytest
from omegaconf import OmegaConf

from scale.data import load_benchmark
from scale.errors import ConfigError
from scale.grading import Grader
from scale.methods import Context
from scale.paths import CONFIG_DIR
from scale.rundir import RecordWriter
from scale.rundir.metrics import compute_metrics
from scale.runner.run import run_items
from scale.systems import build_systems
from scale.testing.config import build_method


def _systems(name: str, **s_overrides):
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "systems" / f"{name}.yaml"))
    for key, value in s_overrides.items():
        system, field = key.split("__")
        cfg[system]["sampling"][field] = value
    return build_systems(cfg, {"_target_": "scale.engine.hf_engine.HFEngine", "max_batch_size": 16})


def _run(method, problems, systems, tmp_path, n_samples=1):
    ctx = Context(systems=systems, seed=0, n_attempts=len(problems) * n_samples)
    method.prepare(problems, n_samples, ctx)
    items = [(p, s) for p in problems for s in range(n_samples)]
    writer = RecordWriter(tmp_path / "records.jsonl")
    with Grader(timeout_s=5) as grader:
        ctx.grader = grader
        records = asyncio.run(run_items(method, items, ctx, grader, writer, 16, False))
    writer.close()
    return records


@pytest.fixture(scope="module")
def tiny_systems(tiny_model_dir):
    return _systems("tiny_qwen3")


@pytest.mark.tiny
@pytest.mark.parametrize("router, s2_fraction", [("all_s1", 0.0), ("all_s2", 1.0), ("threshold", 1.0)])
def test_tiny_unparseable_outlines_fall_back_and_route(tmp_path, tiny_systems, router, s2_fraction):
    method = build_method("scale", f"router={router}", n_outlines=2, outline_max_tokens=16,
                          resample_rounds=1)
    problems = load_benchmark("demo", limit=2)
    records = _run(method, problems, tiny_systems, tmp_path)
    assert len(records) == 2
    for rec in records:
        assert rec.trace["fallback"] is True
        # Gibberish outlines: 2 sampled + 2 re-sampled, all counted, then the fallback.
        assert rec.failures.count("outline_parse") == 4 and "outline_fallback" in rec.failures
        stages = [c["stage"] for c in rec.ledger]
        assert stages.count("decompose") == 4 and stages.count("solve") == 1
        assert [s["mode"] for s in rec.trace["steps"]] == (["s2"] if s2_fraction else ["s1"])
    metrics = compute_metrics(records)
    assert metrics.s2_fraction == s2_fraction
    assert metrics.failures["outline_fallback"] == 2


@pytest.mark.tiny
def test_tiny_uses_thinking_only_on_system2(tmp_path, tiny_systems):
    method = build_method("scale", "router=all_s2", n_outlines=1, outline_max_tokens=8,
                          resample_rounds=0)
    (rec,) = _run(method, load_benchmark("demo", limit=1), tiny_systems, tmp_path)
    solve = [c for c in rec.ledger if c["stage"] == "solve"]
    decompose = [c for c in rec.ledger if c["stage"] == "decompose"]
    assert solve[0]["mode"] == "s2" and solve[0]["reasoning_tokens"] > 0  # budget-forced thought
    assert decompose[0]["mode"] == "s1" and decompose[0]["reasoning_tokens"] == 0


@pytest.mark.parametrize(
    "kwargs, word",
    [({"n_outlines": 0}, "n_outlines"), ({"split": "llm"}, "llm"), ({"last_step_score": 2.0}, "2.0"), ({"max_steps": 0}, "max_steps"),
     ({"resample_rounds": -1}, "resample_rounds"), ({"router": {"_target_": "scale.routing.ThresholdRouter", "tau": 7}}, "7"),
     ({"difficulty": {"_target_": "scale.difficulty.prompted.PromptedScorer", "max_new_tokens": 0}}, "max_new_tokens"),
     ({"difficulty": {"_target_": "scale.difficulty.oracle.Oracle"}}, "'scale.difficulty.oracle'"),
     ({"bogus": 1}, "bogus"), ({"n_outlines": "8"}, "method.n_outlines: expected an integer, got '8'")],
)
def test_bad_scale_config_named(kwargs, word):
    with pytest.raises(ConfigError, match=word):
        build_method("scale", **kwargs)


@pytest.mark.slow
def test_smollm2_scale_on_real_gsm8k_problems(tmp_path, smollm2_dir):
    """Real model, real problems: outlines parse (or are counted), steps are rated, routed, solved."""
    systems = _systems("smollm2", s1__max_new_tokens=64, s2__max_new_tokens=96)
    method = build_method("scale", "difficulty.max_new_tokens=8", "router.tau=0.5", n_outlines=2,
                          outline_max_tokens=128, resample_rounds=1, max_steps=4)
    problems = load_benchmark("gsm8k", limit=3)
    records = _run(method, problems, systems, tmp_path)
    assert len(records) == 3
    multi = [r for r in records if not r.trace["fallback"]]
    assert multi, f"no outline parsed for any problem: {[r.trace['unparsed_outlines'] for r in records]}"
    for rec in multi:
        steps = rec.trace["steps"]
        assert steps[-1]["step"] == rec.trace["question"]  # last step is the problem's question
        assert steps[-1]["score"] == 0.9 and steps[-1]["score_how"] == "fixed"
        for s in steps:
            assert 0.0 <= s["score"] <= 1.0
            assert s["mode"] == ("s2" if s["score"] > 0.5 else "s1")
        n_scored = sum(c["stage"] == "score" for c in rec.ledger)
        assert n_scored == len(steps) - 1
        # Carried context: a later step's prompt is longer than the first step's.
        solve = [c for c in rec.ledger if c["stage"] == "solve"]
        if len(solve) > 1:
            assert solve[-1]["prompt_tokens"] > solve[0]["prompt_tokens"]
    metrics = compute_metrics(records)
    assert metrics.tok_total > metrics.tok_paper > 0


@pytest.mark.tiny
def test_model_split_falls_back_to_rule_when_not_verbatim(tmp_path, tiny_systems):
    method = build_method("scale", "router=all_s1", n_outlines=1, outline_max_tokens=8, resample_rounds=0,
                          split="model")
    (rec,) = _run(method, load_benchmark("demo", limit=1), tiny_systems, tmp_path)
    assert [c["stage"] for c in rec.ledger].count("split") == 1
    assert "split_fallback" in rec.failures  # gibberish is never a verbatim sentence
    assert rec.trace["question"] == "How many apples does Mia have now?"


@pytest.mark.tiny
def test_tiny_prompt_that_fills_the_context_is_a_counted_failure(tmp_path, tiny_model_dir):
    """The real HF engine caps every call at context_length - prompt - margin; a prompt that
    leaves no room comes back as context_overflow, and the methods count it (never crash)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "systems" / "tiny_qwen3.yaml"))
    cfg["s2"].update(context_length=64, context_margin=8)  # smaller than any S2 prompt here
    systems = build_systems(cfg, {"_target_": "scale.engine.hf_engine.HFEngine", "max_batch_size": 16})
    problems = load_benchmark("demo", limit=2)
    scale = build_method("scale", "router=all_s2", n_outlines=1, outline_max_tokens=8, resample_rounds=0)
    records = _run(scale, problems, systems, tmp_path)
    cot = _run(build_method("cot_s2"), problems, systems, tmp_path / "cot")
    for rec in records + cot:
        assert rec.error is None and rec.answer is None
        solve = [c for c in rec.ledger if c["stage"] == "solve"]
        assert solve and {c["finish_reason"] for c in solve} == {"context_overflow"}
        assert all(c["response_tokens"] == 0 and c["prompt_tokens"] > 56 for c in solve)
        assert rec.failures.count("context_overflow") == len(solve)
    # System 1 (context 4096) still answered its calls: only System 2's window was too small.
    assert all(c["finish_reason"] != "context_overflow" for r in records for c in r.ledger if c["mode"] == "s1")
