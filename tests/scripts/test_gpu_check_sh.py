"""scripts/gpu_check.sh: its --prepare and --dry-run paths, and its argument errors (tier 2).

    pytest tests/scripts/test_gpu_check_sh.py

The GPU stages themselves need a GPU (whoever has one runs the script); here the carried
folder is made (the tiny model; wheels left out: no package index needed), and the dry run
installs nothing new, prints the versions, collects the engine tests it would run (the
selection must not be empty) and prints each stage's command.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from scale.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "gpu_check.sh"


def _run(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHON": sys.executable, "TMPDIR": str(tmp_path), **env}
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO_ROOT, env=full, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.tiny
def test_prepare_then_dry_run(tmp_path, tiny_model_dir):
    carry = tmp_path / "carry"
    prep = _run(["--prepare", str(carry)], tmp_path, NO_WHEELS="1")
    assert prep.returncode == 0, prep.stderr
    assert (carry / "cache" / "models" / "tiny-qwen3-v2" / "config.json").is_file()
    assert re.search(r"carried folder .*: \d+ MB", prep.stdout)

    out = tmp_path / "out"
    dry = _run(["--dry-run", str(carry), str(out)], tmp_path)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    text = dry.stdout
    assert re.search(r"python \S+  torch \S+", text) and re.search(r"transformers \d", text)
    collected = re.search(r"(\d+)(?:/\d+)? tests? collected", text)
    assert collected and int(collected.group(1)) > 0, text
    assert "benchmarks/gpu_check_difficulty.py" in text
    assert "bench_engine.py --arch qwen3-1.7b --random-init --dtype bfloat16 --device cuda" in text
    assert "--concurrency 1,16,64,256" in text
    assert (out / "versions.txt").is_file()


@pytest.mark.parametrize(("args", "message"), [
    ([], "bash scripts/gpu_check.sh --prepare"),
    (["no-such-folder"], "no-such-folder is not a carried folder"),
])
def test_bad_arguments_exit_2(tmp_path, args, message):
    proc = _run(args, tmp_path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
