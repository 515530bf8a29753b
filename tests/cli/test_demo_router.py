"""``make demo-router`` (= python -m scale.cli.demo_router): probe, traces, a real
``accelerate launch`` of the classifier's training, prompted and learned routing, the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from scale.cli.demo_router import MODEL, train_command
from scale.paths import REPO_ROOT

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "WANDB_MODE": "offline",
       "PYTHONPATH": str(REPO_ROOT)}


def test_training_is_a_real_accelerate_launch_with_the_model_named(tmp_path):
    cmd = train_command(tmp_path / "traces", tmp_path / "adapter")
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[cmd.index(str(REPO_ROOT / "scripts" / "train_difficulty.py")) + 1] == f"model={MODEL}"


@pytest.mark.slow
def test_demo_router_writes_every_stage_and_a_report_naming_both_routings(tmp_path):
    out = tmp_path / "demo-router"
    proc = subprocess.run([sys.executable, "-m", "scale.cli.demo_router", "--out", str(out)], cwd=REPO_ROOT,
                          env=ENV, capture_output=True, text=True, timeout=1800, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for run in ("probe", "prompted", "learned"):
        assert (out / run / "metrics.json").is_file(), run
        config = json.loads((out / run / "config.json").read_text())  # the same cut budgets in all three
        assert config["method"]["max_steps"] == 3 and config["method"]["n_outlines"] == 2, run
        assert config["systems"]["s2"]["sampling"]["max_new_tokens"] == 96, run
    assert "wrote" in (out / "train.log").read_text()  # the accelerate launch's own output
    assert (out / "traces" / "dataset_dict.json").is_file()
    card = json.loads((out / "adapter" / "difficulty.json").read_text())
    assert card["base_model"] == MODEL
    learned = json.loads((out / "learned" / "config.json").read_text())
    assert learned["difficulty"]["name"] == "classifier" and learned["difficulty"]["adapter"] == str(out / "adapter")
    report = (out / "report" / "report.md").read_text()
    # Both routings appear as rows: the prompted scorer's "SCALE" and the adapter's "SCALE [classifier]".
    assert "SCALE [classifier]" in report
    assert re.search(r"\| SCALE(?! \[classifier\])", report), report[:2000]
    assert list((out / "report" / "figures").glob("*.png"))
