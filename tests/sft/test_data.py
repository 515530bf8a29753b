"""SCALE traces -> SFT examples: the staged response, the CoT prompt, every filter counted."""

from __future__ import annotations

import json

import pytest

from scale.errors import ConfigError, DataError
from scale.prompts import Prompts
from scale.rundir import RunDir
from scale.sft import SFTSettings, build_examples, staged_solution, write_dataset
from scale.sft.config import DataSettings
from tests.sft.conftest import EXPECTED

PROMPTS = Prompts.from_config(None)


def test_correct_attempts_become_staged_chats_and_every_drop_is_counted(scale_traces):
    examples, card = build_examples([scale_traces], DataSettings(), PROMPTS)
    assert card.records == 12 and card.kept == EXPECTED["kept"] == len(examples)
    assert {k: v for k, v in card.dropped.items()} == {k: v for k, v in EXPECTED.items() if k != "kept"}
    assert card.problems == 2 and {e["problem_id"] for e in examples} == {"demo-apples", "demo-pencils"}
    assert card.modes == {"s1": 4, "s2": 4}  # step 1 rated easy, the last step pinned hard
    records = RunDir(scale_traces).collect().records
    for ex in examples:
        rec = records[(ex["problem_id"], ex["sample_idx"])]
        assert rec.correct and rec.error is None
        # The prompt is exactly what method=cot_s1 sends; the response is every step, in order.
        assert ex["prompt"] == PROMPTS.chat("cot_system", "cot_user", question=rec.question)
        (reply,) = ex["completion"]
        assert reply["role"] == "assistant"
        steps = rec.trace["steps"]
        assert len(steps) == 2
        assert reply["content"] == (f"Step 1: {steps[0]['step']}\n{steps[0]['visible']}\n\n"
                                    f"Step 2: {steps[1]['step']}\n{steps[1]['visible']}")
        assert reply["content"].endswith(f"\\boxed{{{rec.gold}}}")  # the graded answer closes it
        assert steps[1]["step"] == rec.trace["question"]  # the last step is the problem's question


def test_filters_can_be_relaxed_and_duplicates_are_kept_once(scale_traces):
    relaxed = DataSettings(only_correct=False, skip_fallback=False, drop_failures=())
    examples, card = build_examples([scale_traces], relaxed, PROMPTS)
    assert card.dropped == {"error": 2} and len(examples) == 10  # a failed attempt is never data
    one = build_examples([scale_traces], DataSettings(max_per_problem=1), PROMPTS)[1]
    assert one.kept == 2 and one.dropped["over_max_per_problem"] == 2
    twice = build_examples([scale_traces, scale_traces], DataSettings(), PROMPTS)[1]
    assert twice.kept == EXPECTED["kept"] and twice.dropped["duplicate"] == EXPECTED["kept"]
    steps = build_examples([scale_traces], DataSettings(min_steps=3), PROMPTS)[1]
    assert steps.kept == 0 and steps.dropped["too_few_steps"] == EXPECTED["kept"]


def test_token_limit_uses_the_chat_template(scale_traces, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    _, card = build_examples([scale_traces], DataSettings(), PROMPTS, tok)
    longest = max(card.tokens)
    assert len(card.tokens) == EXPECTED["kept"] and longest > 20
    _, short = build_examples([scale_traces], DataSettings(max_tokens=longest - 1), PROMPTS, tok)
    assert short.dropped["too_long"] >= 1 and short.kept == EXPECTED["kept"] - short.dropped["too_long"]


def test_other_methods_are_not_scale_traces(scale_traces, cot_traces):
    _, card = build_examples([cot_traces, scale_traces], DataSettings(), PROMPTS)
    assert card.dropped["not_scale"] == 2 and card.kept == EXPECTED["kept"]
    assert [s.kept for s in card.sources] == [0, EXPECTED["kept"]]
    assert card.sources[1].method == "scale" and card.sources[1].data == "demo"


def test_card_and_data_files(scale_traces, tmp_path):
    settings = DataSettings()
    examples, card = build_examples([scale_traces], settings, PROMPTS)
    write_dataset(tmp_path, examples, card, settings)
    lines = (tmp_path / "sft_data.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == examples
    md = (tmp_path / "dataset_card.md").read_text()
    assert "4 of 12 attempts kept (2 problems)" in md
    for name, count in EXPECTED.items():
        if name != "kept":
            assert f"| {name} |" in md and f"| {count} |" in md
    assert json.loads((tmp_path / "dataset_card.json").read_text())["dropped"]["incorrect"] == 2


def test_staged_solution_format_is_configurable():
    steps = [{"step": "Find a", "visible": "a = 2"}, {"step": "Find b", "visible": "b = \\boxed{3}"}]
    out = staged_solution(steps, DataSettings(step_format="({index}) {step} -> {solution}", step_join="\n"))
    assert out == "(1) Find a -> a = 2\n(2) Find b -> b = \\boxed{3}"
    with pytest.raises(ConfigError, match="data.step_format must hold {solution}"):
        DataSettings(step_format="{step}")


def test_bad_inputs_fail_in_one_line(tmp_path):
    with pytest.raises(DataError, match="not a run directory"):
        build_examples([tmp_path], DataSettings(), PROMPTS)
    with pytest.raises(ConfigError, match="traces: give at least one run dir"):
        SFTSettings.from_dict({"base": "tiny-qwen3", "traces": [], "output_dir": "x"})
    with pytest.raises(ConfigError, match=r"train.lr: expected"):
        SFTSettings.from_dict({"base": "b", "traces": ["r"], "output_dir": "x", "train": {"lr": "fast"}})
    with pytest.raises(ConfigError, match=r"data: unknown key\(s\) \['only_right'\]"):
        SFTSettings.from_dict({"base": "b", "traces": "r", "output_dir": "x", "data": {"only_right": True}})
    cfg = SFTSettings.from_dict({"base": "b", "traces": "runs/a", "output_dir": "x",
                                 "lora": {"target_modules": ["q_proj"]}})
    assert cfg.traces == ("runs/a",) and cfg.lora.target_modules == ("q_proj",)
