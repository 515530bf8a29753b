"""The learned router end to end on CPU with the embedded SmolLM2 (tier 3, ~2 min):

probe SCALE on gsm8k_train problems -> scripts/build_traces.py -> a few LoRA training steps
(tiny Qwen3 base) -> experiment=classifier_route on SmolLM2 -> a run dir whose ledger shows
the classifier's scoring with zero generated tokens.

Traces are built with ``--label prompted`` (the probe's own step scores, distilled): measured
labels need both systems' step answers boxed (docs/classifier.md), and SmolLM2 at these budgets
boxes too few for a training split; the measured rule has its own tests in test_probe_and_traces.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.testing.config import compose
from scale.train.config import TrainConfig
from scale.train.data import load_traces
from scale.train.run import train

pytestmark = pytest.mark.slow

SMALL = ["method.n_outlines=1", "method.select=false", "method.outline_max_tokens=64", "method.max_steps=3",
         "runner.progress=false"]
PROBE = ["experiment=demo", "data=gsm8k", "data.name=gsm8k_train", "data.limit=8", "method.probe=true",
         "systems.s1.sampling.max_new_tokens=40", "systems.s2.sampling.max_new_tokens=64",
         "systems.s2.sampling.temperature=0", "systems.s2.system_prompt=null"]


def test_probe_traces_train_route(shared_data, smollm2_dir, tmp_path):
    probe_dir = tmp_path / "probe"
    run_eval(compose(*PROBE, *SMALL, f"run_dir={probe_dir}"))
    records = list(RunDir(probe_dir).collect().records.values())
    assert len(records) == 8 and all(r.error is None for r in records)
    probed = [s for r in records for s in r.trace["steps"]]
    assert all(s["probe"]["s1"]["finish_reason"] in ("stop", "length") for s in probed)
    assert sum(c["stage"] == "probe" for r in records for c in r.ledger) == len(probed)

    traces = tmp_path / "traces"
    proc = subprocess.run([sys.executable, "scripts/build_traces.py", str(probe_dir), "--out", str(traces),
                           "--label", "prompted", "--val-fraction", "0.2", "--test-fraction", "0"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Class balance" in (traces / "README.md").read_text()
    loaded = load_traces(traces)
    easy, hard = loaded.splits["train"].counts
    assert easy and hard, f"the probe gave one label only ({easy} easy, {hard} hard): the test needs both"

    adapter = tmp_path / "adapter"
    done = train(TrainConfig.from_dict({"model": "tiny-qwen3", "traces": str(traces), "output_dir": str(adapter),
                                        "report_to": "none", "max_length": 256,
                                        "train": {"max_steps": 4, "batch_size": 4, "logging_steps": 1}}))
    assert done.card.label["kind"] == "prompted" and done.card.training["global_steps"] == 4

    routed_dir = tmp_path / "routed"
    metrics = run_eval(compose("experiment=classifier_route", "systems=smollm2", "data=gsm8k", "data.limit=2", "name=routed",
                               f"difficulty.adapter={adapter}", "systems.s1.sampling.max_new_tokens=32",
                               "systems.s2.sampling.max_new_tokens=48", *SMALL, f"run_dir={routed_dir}"))
    assert metrics is not None and metrics.n_attempts == 2
    routed = list(RunDir(routed_dir).collect().records.values())
    score_calls = [c for r in routed for c in r.ledger if c["stage"] == "score"]
    assert score_calls and all(c["mode"] == "classifier" for c in score_calls)
    assert sum(c["response_tokens"] for c in score_calls) == 0 and all(c["prompt_tokens"] > 0 for c in score_calls)
    for r in routed:  # one batched scoring call per problem with steps to score (the last one is pinned)
        scored = sum(not s["fixed"] for s in r.trace["steps"])
        assert sum(c["stage"] == "score" for c in r.ledger) == (1 if scored else 0)
    tau = done.card.tau
    for r in routed:
        for s in r.trace["steps"]:
            if not s["fixed"]:
                assert s["mode"] == ("s2" if s["score"] > tau else "s1")
