"""Server credentials never reach a file (issue 22, item 5).

A run against the simulated server that checks the Bearer key (``scale.testing.sim_server``,
a real HTTP server on 127.0.0.1): the key comes from the environment, the run succeeds
(so the key was sent), and no file of the run dir — config.json, env.json, Hydra's
.hydra/*.yaml, records, the offline W&B files — holds it. A key on the command line is
refused before anything is written; a key in a config (here a dict handed to run_eval) is
redacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scale.errors import ConfigError
from scale.rundir import RunDir
from scale.runner.run import run_eval
from scale.secrets import REDACTED, check_argv, redact
from scale.testing.config import compose
from scale.testing.sim_server import SimProcess, sim_question
from tests.helpers.shard_env import clear_shard_env

KEY = "sk-test-5ecret-do-not-write-0123456789"
REPO = Path(__file__).resolve().parents[2]


def _data(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "sim.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "question": sim_question(i, str(10 + i)),
                                        "answer": str(10 + i)}) + "\n" for i in range(n)))
    return path


def _files_holding(root: Path, secret: str) -> list[str]:
    hits = []
    for f in root.rglob("*"):
        if f.is_file() and secret.encode() in f.read_bytes():
            hits.append(str(f.relative_to(root)))
    return hits


@pytest.fixture(scope="module")
def keyed_server():
    with SimProcess(env={"SIM_KEY": KEY}, api_key_env="SIM_KEY", time_scale=1000, length_scale=0.01) as sim:
        yield sim


def _argv(tmp_path: Path, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scale.cli.eval", "method=cot_s2", f"data.path={_data(tmp_path)}",
            "systems=qwen3_32b", "engine=openai", f"systems.engines.main.base_url={url}", "n_samples=2",
            f"run_dir={tmp_path / 'run'}", "runner.progress=false", "engine.backoff_s=0.01", *extra]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    return {**env, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline",
            "WANDB_SILENT": "true", **extra}


@pytest.mark.slow
def test_a_key_from_the_environment_is_sent_and_written_nowhere(tmp_path, keyed_server):
    argv = _argv(tmp_path, keyed_server.url, "logger=wandb", "logger.plots=false")
    done = subprocess.run(argv, env=_env(OPENAI_API_KEY=KEY), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert KEY not in done.stdout + done.stderr  # never logged
    run = tmp_path / "run"
    records = RunDir(run).collect().records
    assert len(records) == 6 and all(r.error is None for r in records.values())
    # The files a search must cover are there: config, env (argv), Hydra's, W&B's offline run.
    assert (run / "config.json").is_file() and (run / "env.json").is_file()
    assert list(run.rglob(".hydra/*.yaml")) and list(run.rglob("wandb/offline-run-*/**/*.wandb"))
    assert _files_holding(run, KEY) == []


@pytest.mark.slow
def test_without_the_key_the_server_refuses_and_the_run_records_errors(tmp_path, keyed_server):
    argv = _argv(tmp_path, keyed_server.url, "runner.max_error_fraction=1.0", "engine.max_retries=0")
    done = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    records = RunDir(tmp_path / "run").collect().records
    assert {r.error["kind"] for r in records.values()} == {"engine"}
    assert all("HTTP 401" in r.error["message"] for r in records.values())


def test_a_key_on_the_command_line_is_refused_before_anything_is_written(tmp_path):
    argv = _argv(tmp_path, "http://127.0.0.1:9/v1", f"engine.api_key={KEY}")
    done = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "OPENAI_API_KEY" in lines[0] and KEY not in lines[0], done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("arg", [f"engine.api_key={KEY}", f"+systems.engines.main.api_key={KEY}",
                                 f"api_key={KEY}", f"++engine.api_key='{KEY}'"])
def test_check_argv_refuses_every_spelling(arg):
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        check_argv(["method=cot", arg])


@pytest.mark.parametrize("arg", ["engine.api_key=null", "engine.api_key_env=MY_KEY", "api_key="])
def test_check_argv_lets_nulls_and_the_variable_name_through(arg):
    check_argv(["method=cot", arg])


def test_a_key_in_a_config_is_redacted_from_config_and_env(tmp_path, monkeypatch):
    """run_eval with the key in the config dict (as from a config file): nothing holds it."""
    clear_shard_env(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["scale-eval", f"systems.engines.main.api_key={KEY}"])
    with SimProcess(env={"SIM_KEY": KEY}, api_key_env="SIM_KEY", time_scale=1000, length_scale=0.01) as sim:
        cfg = compose("method=cot_s2", f"data.path={_data(tmp_path, 2)}", "systems=qwen3_32b", "engine=openai",
                      f"run_dir={tmp_path / 'run'}", "runner.progress=false", "engine.api_key_env=NO_SUCH_VAR")
        cfg["systems"]["engines"]["main"].update(base_url=sim.url, api_key=KEY)
        metrics = run_eval(cfg)
        assert metrics.n_errors == 0  # the key reached the server
        run_eval(cfg)  # a resume compares configs: the redacted one on disk matches
    saved = RunDir(tmp_path / "run").read_config()
    assert saved["systems"]["engines"]["main"]["api_key"] == REDACTED
    assert _files_holding(tmp_path / "run", KEY) == []


def test_redact_replaces_keys_and_their_copies():
    cfg = {"engine": {"api_key": KEY, "note": f"x{KEY}y"}, "argv": [f"engine.api_key={KEY}"], "n": 3}
    assert KEY not in json.dumps(redact(cfg))
    assert redact(cfg)["n"] == 3 and redact({"api_key": None}) == {"api_key": None}


@pytest.mark.slow
def test_a_key_in_a_users_config_file_is_scrubbed_from_hydras_files(tmp_path, keyed_server):
    """scale-eval --config-dir DIR with the key in DIR's systems file: sent, and no file keeps it."""
    systems = (REPO / "configs" / "systems" / "qwen3_32b.yaml").read_text()
    mine = tmp_path / "my_configs" / "systems"
    mine.mkdir(parents=True)
    (mine / "keyed.yaml").write_text(systems.replace("base_url: null", f"base_url: null, api_key: {KEY}", 1))
    argv = _argv(tmp_path, keyed_server.url, "systems=keyed", "engine.api_key_env=NO_SUCH_VAR")
    argv[3:3] = ["--config-dir", str(tmp_path / "my_configs")]
    done = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "run"
    records = RunDir(run).collect().records
    assert len(records) == 6 and all(r.error is None for r in records.values())  # the key reached the server
    assert list(run.rglob(".hydra/config.yaml"))
    assert _files_holding(run, KEY) == []
