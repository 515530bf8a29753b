"""The one input template: the current step is never cut, the context loses its left end."""

from __future__ import annotations

import pytest

from scale.errors import ConfigError
from scale.train.template import StepInput, Template, problem_inputs

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def tok(tiny_model_dir):
    from scale.train.model import load_tokenizer_for

    return load_tokenizer_for(tiny_model_dir)


def decode(tok, ids):
    return tok.decode(ids)


def test_short_input_is_the_whole_template(tok):
    inp = StepInput("Tom has 3 apples.", ("Count the apples",), "Add two more", ("3",))
    ids = Template(max_length=512).encode(tok, inp)
    assert decode(tok, ids) == ("Problem: Tom has 3 apples.\n\nEarlier steps:\nStep 1: Count the apples\n\n"
                                "Current step: Add two more")
    with_answers = decode(tok, Template(max_length=512, answers=True).encode(tok, inp))
    assert "Step 1: Count the apples\nAnswer: 3\n" in with_answers


def test_long_context_is_cut_from_the_left_and_the_step_kept(tok):
    problem = " ".join(f"word{i}" for i in range(400))
    inp = StepInput(problem, ("first step", "second step"), "the current step to rate")
    ids = Template(max_length=64).encode(tok, inp)
    text = decode(tok, ids)
    assert len(ids) == 64
    assert text.endswith("Step 1: first step\nStep 2: second step\n\nCurrent step: the current step to rate")
    assert "word399" in text and "word0 " not in text and not text.startswith("Problem:")


def test_a_step_longer_than_the_budget_keeps_its_end(tok):
    step = " ".join(f"s{i}" for i in range(200))
    ids = Template(max_length=32).encode(tok, StepInput("p", (), step))
    assert len(ids) == 32 and decode(tok, ids).endswith("s199")


def test_problem_inputs_carry_earlier_descriptions_only():
    inputs = problem_inputs("P", ["a", "b", "c"])
    assert [(i.previous, i.step) for i in inputs] == [((), "a"), (("a",), "b"), (("a", "b"), "c")]
    assert all(i.previous_answers == () for i in inputs)


def test_template_settings_are_checked():
    with pytest.raises(ConfigError, match="max_length must be >= 16"):
        Template(max_length=4)
    with pytest.raises(ConfigError, match="unknown to this code"):
        Template.from_dict({"name": "other-v9"})
