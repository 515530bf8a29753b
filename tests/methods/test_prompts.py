"""Prompts are data: the ``prompts`` config group, checked at start-up, swapped with one override."""

from __future__ import annotations

import asyncio

import pytest

from scale.data import Problem
from scale.errors import ConfigError
from scale.methods import Context
from scale.prompts import TEMPLATES, Prompts, default_prompts
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import build_method, compose
from scale.testing.scripted import prompt_text

PROBLEM = Problem(id="p", question="What is {step} plus 2?", answer="3")  # braces stay literal


def _solve(method, eng):
    ctx = Context(systems=scripted_systems(eng), seed=0, n_attempts=1)
    method.prepare([PROBLEM], 1, ctx)
    return asyncio.run(method.run(PROBLEM, 0, ctx))


def _engine():
    return ScriptedEngine([Rule(stage="decompose", reply='{"step1": "Find the sum", "step2": "Answer"}'),
                           Rule(stage="score", reply="0.2"), Rule(stage="solve", reply="\\boxed{3}")])


def test_the_default_wording_is_the_shipped_file_and_every_method_gets_it():
    prompts = default_prompts()
    assert set(prompts.templates) == set(TEMPLATES)
    assert "\\boxed{}" in prompts["solve_system"]  # literal braces, no escaping
    assert '{"step1": "...", "step2": "...", ...}' in prompts["decompose_user"]
    for option in ("scale", "cot_s1", "cot_s2", "majority", "inftythink"):
        method = build_method(option)
        assert method.prompts.templates == prompts.templates, option
    assert build_method("scale").scorer.prompts.templates == prompts.templates


def test_filling_is_one_pass_and_only_of_known_placeholders():
    p = default_prompts()
    text = p.fill("solve_user", condition="x = {step}", process="(none)", step="Find {condition}")
    assert "x = {step}" in text and "Find {condition}" in text


def test_one_override_replaces_a_template():
    eng = _engine()
    _solve(build_method("scale", "prompts.solve_user='GIVEN {condition} DONE {process} NOW {step}'",
                        n_outlines=1), eng)
    for r in eng.sent("solve"):
        assert prompt_text(r).split("\n", 1)[1].startswith("GIVEN What is {step} plus 2? DONE ")


def test_a_users_prompts_file_is_one_override(tmp_path, monkeypatch):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "mine.yaml").write_text(
        "# Used by: scale-eval --config-dir my_configs prompts=mine\n"
        "defaults: [default, _self_]\nname: mine\n"
        "solve_system: Please reason step by step, and put your final answer within \\boxed{}.\n"
        "score_system: Rate the next step between 0 and 1.\n")
    monkeypatch.setenv("SCALE_CONFIG_DIR", str(tmp_path))  # what scale-eval --config-dir sets
    c = compose("prompts=mine")
    assert c["method"]["prompts"]["name"] == "mine"
    method = build_method("scale", "prompts=mine", n_outlines=1)
    eng = _engine()
    _solve(method, eng)
    systems = [r.messages[0]["content"] for r in eng.sent("solve")]
    assert systems and set(systems) == {"Please reason step by step, and put your final answer within \\boxed{}."}
    assert {r.messages[0]["content"] for r in eng.sent("score")} == {"Rate the next step between 0 and 1."}
    assert method.prompts["decompose_user"] == default_prompts()["decompose_user"]  # the rest inherited


@pytest.mark.parametrize("override, message", [
    ("prompts.solve_user='Solve {step}.'", "prompts.solve_user: template lacks the placeholder {condition}"),
    ("prompts.cot_user='Just answer.'", "prompts.cot_user: template lacks the placeholder {question}"),
    ("prompts.select_outline='Outline {index}'", "prompts.select_outline: template lacks a placeholder ({steps} or {json})"),
    ("+prompts.solve_sistem=x", "unknown template(s) ['solve_sistem']"),
])
def test_a_broken_template_stops_the_run_at_start_up_naming_it(override, message):
    for option in ("scale", "cot_s2"):
        with pytest.raises(ConfigError) as err:
            build_method(option, override)
        assert message in str(err.value)


def test_a_prompts_node_missing_a_template_is_named():
    node = dict(default_prompts().templates)
    del node["infty_next"]
    with pytest.raises(ConfigError, match=r"missing template\(s\) \['infty_next'\]"):
        Prompts.from_config(node)
