"""SCALE run dirs to fine-tune on: the real SCALE method and runner over a scripted engine.

The engine is scripted (the traces' *content* is not under test here, the SFT data built from
them is), so the run holds, on purpose: correct attempts, an incorrect one, a failed one (an
engine error), an outline fallback and a truncated step, each problem twice (n_samples=2).
"""

from __future__ import annotations

import re

import pytest

from scale.errors import EngineError
from scale.runner.run import run_eval
from scale.testing import Rule, ScriptedEngine, scripted_systems
from scale.testing.config import compose
from scale.testing.scripted import prompt_text
from tests.helpers.shard_env import single_process_env

# demo problem -> what the scripted solver answers in its \boxed{} (the gold answer when correct)
ANSWERS = {"Mia has 12 apples": "15", "A box holds 24 pencils": "22", "A train travels": "999",
           "Lena saves 7 dollars": "27", "A rectangular garden": "78"}
EXPECTED = {"kept": 4, "incorrect": 2, "error": 2, "fallback": 2, "failure:step_truncated": 2}


def _solve(request) -> str:
    text = prompt_text(request)
    if "Sam bakes 4 trays" in text:
        raise AssertionError("unreachable: the error rule answers first")
    for key, answer in ANSWERS.items():
        if key in text:
            step = re.search(r"Current question:\n(.*?)\n\nSolve", text, re.S)
            what = step[1].strip() if step else "the problem"
            tail = " and more" * 150 if "garden" in key else ""  # over every step budget: truncated
            # A sampled (System 2) step says which draw it is, so the two samples differ.
            draw = "" if request.sampling.seed is None else f" (draw {request.sampling.seed % 997})"
            return f"Working on: {what}{draw}. The result is \\boxed{{{answer}}}{tail}"
    raise AssertionError(f"no scripted answer for {text[:80]!r}")


def scripted_engine() -> ScriptedEngine:
    return ScriptedEngine([
        Rule(stage="decompose", pattern="Lena saves", reply="no outline here"),  # -> fallback
        Rule(stage="decompose", reply='{"step1": "Find the quantity after the first change", '
                                      '"step2": "Find the final quantity"}'),
        Rule(stage="score", reply="0.3"),  # step 1 on System 1; the last step is pinned at 0.9: System 2
        Rule(stage="solve", pattern="Sam bakes 4 trays", error=EngineError("server gone")),
        Rule(stage="solve", reply=_solve),
    ])


@pytest.fixture(scope="session")
def scale_traces(tmp_path_factory) -> str:
    """A finished SCALE run dir over 6 demo problems x 2 samples (see the module docstring)."""
    run_dir = tmp_path_factory.mktemp("traces") / "scale-demo"
    with single_process_env():
        run_eval(compose("data=demo", "data.limit=6", "method=scale", "method.n_outlines=1", "n_samples=2",
                         "runner.progress=false", "runner.max_error_fraction=1.0", f"run_dir={run_dir}"),
                 systems=scripted_systems(scripted_engine()))
    return str(run_dir)


@pytest.fixture(scope="session")
def cot_traces(tmp_path_factory) -> str:
    """A CoT run dir: no staged traces, so nothing in it is SFT data."""
    run_dir = tmp_path_factory.mktemp("traces") / "cot-demo"
    engine = ScriptedEngine([Rule(stage="solve", reply="so \\boxed{15}")])
    with single_process_env():
        run_eval(compose("data=demo", "data.limit=2", "method=cot_s1", "runner.progress=false", f"run_dir={run_dir}"),
                 systems=scripted_systems(engine))
    return str(run_dir)
