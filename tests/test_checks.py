"""The declared range and choice rules: each fails on a bad value with one line naming the
key and the value, passes a good one, and reaches through subclasses and ``scale.build``."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import pytest

from scale.build import build, check_dataclass
from scale.checks import NonNegative, OneOf, Positive, Range, ZeroToOne, check_args, check_fields
from scale.errors import ConfigError


@dataclass(frozen=True)
class Knobs:
    count: Positive = 1
    margin: NonNegative = 0
    score: ZeroToOne = 0.5
    top_p: Annotated[float, Range(gt=0, le=1)] = 1.0
    dropout: Annotated[float, Range(ge=0, lt=1)] = 0.0
    lr: Annotated[float, Range(gt=0)] = 1e-3
    cap: Annotated[float, Range(le=10)] = 0.0
    floor: Annotated[float, Range(lt=10)] = 0.0
    limit: Positive | None = None
    kind: Annotated[str, OneOf(("rule", "model"))] = "rule"
    free: int = -5  # no rule: anything of its type

    def __post_init__(self) -> None:
        check_fields(self, "knobs")


@dataclass(frozen=True)
class Knobs2(Knobs):
    count: int = 3  # a new default; the base's rule still holds


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"count": 0}, "knobs.count must be >= 1, got 0"),
        ({"count": 1.5}, "knobs.count must be an integer >= 1, got 1.5"),
        ({"count": True}, "knobs.count must be an integer >= 1, got True"),
        ({"margin": -1}, "knobs.margin must be >= 0, got -1"),
        ({"score": 1.5}, "knobs.score must be in [0, 1], got 1.5"),
        ({"score": -0.1}, "knobs.score must be in [0, 1], got -0.1"),
        ({"score": "high"}, "knobs.score must be in [0, 1], got 'high'"),
        ({"top_p": 0}, "knobs.top_p must be in (0, 1], got 0"),
        ({"top_p": 1.5}, "knobs.top_p must be in (0, 1], got 1.5"),
        ({"dropout": 1.0}, "knobs.dropout must be in [0, 1), got 1.0"),
        ({"lr": 0.0}, "knobs.lr must be > 0, got 0.0"),
        ({"cap": 11}, "knobs.cap must be <= 10, got 11"),
        ({"floor": 10}, "knobs.floor must be < 10, got 10"),
        ({"limit": 0}, "knobs.limit must be >= 1 or null, got 0"),
        ({"kind": "llm"}, "knobs.kind must be one of ('rule', 'model'), got 'llm'"),
    ],
)
def test_a_bad_value_is_named_in_one_line(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Knobs(**kwargs)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {
            "count": 7,
            "margin": 0,
            "score": 0,
            "top_p": 1,
            "dropout": 0.99,
            "lr": 2e-4,
            "cap": 10,
            "floor": 9.5,
        },
        {"score": 1},
        {"limit": None},
        {"limit": 3},
        {"kind": "model"},
        {"free": -100},
        {"count": np.int64(4), "score": np.float32(0.25)},
    ],
)
def test_a_good_value_passes(kwargs):
    knobs = Knobs(**kwargs)
    assert all(getattr(knobs, k) == v for k, v in kwargs.items())


def test_a_subclass_that_redeclares_a_field_keeps_the_rule():
    assert Knobs2().count == 3
    with pytest.raises(ConfigError, match=r"^knobs.count must be >= 1, got 0$"):
        Knobs2(count=0)


def test_an_empty_prefix_names_the_bare_key():
    @dataclass(frozen=True)
    class Top:
        report_to: Annotated[str, OneOf(("none", "wandb"))] = "none"

        def __post_init__(self) -> None:
            check_fields(self, "")

    with pytest.raises(
        ConfigError, match=r"^report_to must be one of \('none', 'wandb'\), got 'mlflow'$"
    ):
        Top(report_to="mlflow")


class Part:
    @check_args("part")
    def __init__(self, size: Positive = 2, tau: ZeroToOne | None = 0.5, label: str = "x") -> None:
        self.size, self.tau, self.label = size, tau, label


def test_check_args_checks_arguments_positional_keyword_and_default():
    assert Part(3, tau=None).size == 3
    with pytest.raises(ConfigError, match=r"^part.size must be >= 1, got 0$"):
        Part(0)
    with pytest.raises(ConfigError, match=r"^part.tau must be in \[0, 1\] or null, got 2$"):
        Part(tau=2)


def test_check_args_keeps_what_build_reads():
    """build sees the real signature and types (not the wrapper's): it names an unknown key
    and a wrong type itself, and a value out of range comes from the declared rule."""
    assert list(inspect.signature(Part).parameters) == ["size", "tau", "label"]
    node = {"_target_": f"{__name__}.Part"}
    assert build({**node, "size": 4}, "part").size == 4
    with pytest.raises(ConfigError, match=r"^part: unknown key\(s\) \['sise'\]"):
        build({**node, "sise": 4}, "part")
    with pytest.raises(ConfigError, match=r"^part.size: expected an integer, got '4'$"):
        build({**node, "size": "4"}, "part")
    with pytest.raises(ConfigError, match=r"^part.size must be >= 1, got -4$"):
        build({**node, "size": -4}, "part")
    with pytest.raises(ConfigError, match=r"^knobs.score must be in \[0, 1\], got 3.0$"):
        check_dataclass(Knobs, {"score": 3}, "knobs")  # the int widened to a float, then checked


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrency": 0}, "engine.max_concurrency must be >= 1, got 0"),
        ({"timeout_s": 0}, "engine.timeout_s must be > 0, got 0"),
        ({"max_retries": -1}, "engine.max_retries must be >= 0, got -1"),
        ({"backoff_max_s": -1.0}, "engine.backoff_max_s must be >= 0, got -1.0"),
        ({"budget_forcing": "x"}, "engine.budget_forcing must be one of ('auto', 'completions', "
                                  "'continue_final_message'), got 'x'"),
    ],
)
def test_openai_engine_declares_its_ranges(kwargs, message):
    from scale.engine.openai_engine import OpenAIEngine

    with pytest.raises(ConfigError) as err:
        OpenAIEngine("http://127.0.0.1:9/v1", "m", **kwargs)
    assert str(err.value) == message


def test_run_settings_name_the_config_key():
    """A runner setting's rule names the key the user sets (runner.*), not the field."""
    from scale.runner.run import RunSettings

    with pytest.raises(ConfigError, match=r"^runner\.max_error_fraction must be in \[0, 1\], got 2.0$"):
        RunSettings.from_config({"run_dir": "r", "runner": {"max_error_fraction": 2}})
    with pytest.raises(ConfigError, match=r"^n_samples must be >= 1, got 0$"):
        RunSettings.from_config({"run_dir": "r", "n_samples": 0})
