"""Bad input as a new user gives it (issue 24): one line and exit 2, or a healed file; never a
traceback, never finished work lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scale.cli.report import main as report_main
from scale.paths import REPO_ROOT
from scale.rundir import read_records
from tests.helpers.eval_cli import DEBUG, eval_command, eval_env, run_eval_cli


def one_line_error(proc, *names: str) -> str:
    """The single ``error: ...`` line of a refused command, which names every one of ``names``."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.tiny
def test_a_rerun_heals_a_torn_last_line_that_ends_with_a_newline(tmp_path):
    run = tmp_path / "D"
    assert run_eval_cli(run).returncode == 0
    records = run / "records.jsonl"
    kept = records.read_text().splitlines()[:1]  # one attempt done, the second torn mid-write
    records.write_text(kept[0] + '\n{"problem_id": "demo-apples", "sam\n')
    rerun = run_eval_cli(run)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "1 attempts to run, 1 already done" in rerun.stdout + rerun.stderr
    lines = records.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line) for line in lines)  # the torn line is gone
    assert len(read_records(records)) == 2
    again = run_eval_cli(run)  # and the run dir stays readable for every later command
    assert again.returncode == 0 and "0 attempts to run, 2 already done" in again.stdout + again.stderr


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory) -> Path:
    """A finished probe run over scripted systems (tests/train/test_probe_and_traces.py)."""
    from tests.train.test_probe_and_traces import run

    return run(tmp_path_factory.mktemp("probe"), "probe", "method.probe=true")[0].path


def build_traces(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/build_traces.py", *args], capture_output=True, text=True,
                          timeout=300, check=False, env=eval_env())


def test_a_run_given_twice_to_build_traces_counts_once(probe_run, tmp_path):
    once = build_traces(str(probe_run), "--out", str(tmp_path / "once"))
    assert once.returncode == 0, once.stderr[-2000:]
    twice = build_traces(str(probe_run), f"{probe_run}/", "--out", str(tmp_path / "twice"))
    assert twice.returncode == 0, twice.stderr[-2000:]
    assert f"warning: {probe_run} given more than once; its records are counted once" in twice.stderr
    meta = [json.loads((tmp_path / t / "scale_traces.json").read_text()) for t in ("once", "twice")]
    assert meta[1]["balance"] == meta[0]["balance"] and len(meta[1]["sources"]) == 1
    assert once.stdout.splitlines()[:3] == twice.stdout.splitlines()[:3]  # the same rows in the same splits


@pytest.mark.parametrize(("args", "message"), [
    (["--val-fraction", "1.5"], "error: --val-fraction 1.5: must be at least 0 and below 1"),
    (["--test-fraction", "-0.1"], "error: --test-fraction -0.1: must be at least 0 and below 1"),
    (["--val-fraction", "0.5", "--test-fraction", "0.5"],
     "error: --val-fraction 0.5 + --test-fraction 0.5: must be below 1"),
])
def test_build_traces_refuses_fractions_that_leave_no_training_split(probe_run, tmp_path, args, message):
    proc = build_traces(str(probe_run), "--out", str(tmp_path / "t"), *args)
    assert one_line_error(proc).startswith(message)
    assert not (tmp_path / "t").exists()


def test_build_traces_warns_when_the_training_split_is_small(probe_run, tmp_path):
    proc = build_traces(str(probe_run), "--out", str(tmp_path / "t"), "--val-fraction", "0.45",
                        "--test-fraction", "0.45")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: the training split holds 2 of 12 problems" in proc.stderr


@pytest.mark.parametrize("inside", ["", "tables"])
def test_build_traces_and_a_report_never_write_into_a_run_dir(probe_run, tmp_path, capsys, inside):
    out = probe_run / inside if inside else probe_run
    before = {p: p.read_bytes() for p in probe_run.rglob("*") if p.is_file()}
    assert report_main([str(probe_run), "--out", str(out), "--no-plots"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: --out {out}: is {'inside ' if inside else ''}the run dir {probe_run}; "
                   "choose a folder outside the run dirs")
    proc = build_traces(str(probe_run), "--out", str(out), "--overwrite")
    assert one_line_error(proc, f"--out {out}", str(probe_run))
    above = build_traces(str(probe_run), "--out", str(probe_run.parent), "--overwrite")  # would rmtree the run
    assert one_line_error(above, f"--out {probe_run.parent}: holds the run dir {probe_run}")
    assert {p: p.read_bytes() for p in probe_run.rglob("*") if p.is_file()} == before


def script(name: str, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, f"scripts/{name}", *overrides], capture_output=True, text=True,
                          timeout=300, check=False, env=eval_env())


def test_an_output_path_that_is_a_file_is_refused_before_anything_loads(probe_run, tmp_path, capsys):
    file = tmp_path / "FILE"
    file.write_text("mine\n")
    assert report_main([str(probe_run), "--out", str(file)]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out={file}: is a file, not a folder"
    assert report_main([str(probe_run), "--out", str(file / "sub")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --out={file / 'sub'}: is inside {file}, which is a file, " \
                                              "not a folder"
    proc = subprocess.run(eval_command("experiment=debug", f"run_dir={file}"), capture_output=True, text=True,
                          timeout=300, check=False, env=eval_env())
    assert one_line_error(proc) == f"error: run_dir={file}: is a file, not a folder"
    train = script("train_difficulty.py", "model=tiny-qwen3", f"traces={tmp_path}", f"output_dir={file}",
                   "report_to=none")
    assert one_line_error(train) == f"error: output_dir={file}: is a file, not a folder"
    sft = script("sft_on_traces.py", f"traces=[{probe_run}]", f"output_dir={file}", "report_to=none")
    assert one_line_error(sft) == f"error: output_dir={file}: is a file, not a folder"
    assert file.read_text() == "mine\n"


@pytest.mark.parametrize(("command", "message"), [
    (["-m", "scale.cli.eval", "n_sample=2"], "error: n_sample=2: no key 'n_sample' in the config; closest: n_samples"),
    (["-m", "scale.cli.eval", "runner.max_concurency=2"],
     "error: runner.max_concurency=2: no key 'runner.max_concurency' in the config; closest: runner.max_concurrency"),
    (["-m", "scale.cli.eval", "bogus_key=1"],
     "error: bogus_key=1: no key 'bogus_key' in the config; the keys at the top level: data, difficulty, engine,"),
    (["scripts/train_difficulty.py", "train.bogus=1"],
     "error: train.bogus=1: no key 'train.bogus' in the config; the keys in train: batch_size, bf16,"),
    (["scripts/train_difficulty.py", "train.max_step=1"],
     "error: train.max_step=1: no key 'train.max_step' in the config; closest: train.max_steps"),
    (["scripts/sft_on_traces.py", "data.min_len=1"], "error: data.min_len=1: no key 'data.min_len' in the config;"),
    (["-m", "scale.cli.eval", "data=nope"],
     "error: In 'eval': Could not find 'data/nope'; Available options in 'data': aime24, aime25, amc23, demo,"),
])
def test_an_unknown_key_or_option_is_one_line_naming_the_closest(tmp_path, command, message):
    proc = subprocess.run([sys.executable, *command, f"run_dir={tmp_path / 'run'}"] if command[0] == "-m"
                          else [sys.executable, *command], capture_output=True, text=True, timeout=300, check=False,
                          env=eval_env())
    assert one_line_error(proc).startswith(message)
    assert not (tmp_path / "run").exists()


def test_a_refused_eval_config_leaves_no_folder_behind(tmp_path):
    proc = run_eval_cli(tmp_path / "run", "n_samples=0")
    assert one_line_error(proc) == "error: n_samples must be >= 1, got 0"
    assert not (tmp_path / "run").exists()  # Hydra's run_dir/.hydra_run is gone, and the folder made for it
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("x")
    assert run_eval_cli(tmp_path / "kept", "n_samples=0").returncode == 2
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["mine.txt"]


@pytest.mark.tiny
def test_sft_prints_its_own_error_only(tmp_path):
    proc = script("sft_on_traces.py", f"traces=[{tmp_path / 'none'}]", f"output_dir={tmp_path / 'out'}",
                  "report_to=none", "base=tiny-qwen3")
    assert one_line_error(proc) == f"error: {tmp_path / 'none'}: not a run directory (no config.json)"
    assert "Warning" not in proc.stderr, proc.stderr


@pytest.mark.tiny
def test_ctrl_c_during_scale_eval_is_one_line_and_a_rerun_resumes(tmp_path):
    run = tmp_path / "run"
    N = 10  # attempts (the whole demo set): interrupted after its first record, far from its last
    # SIGINT as a terminal's Ctrl-C delivers it: a test run in the background (nohup, `&`) inherits
    # SIGINT ignored, and Python installs no KeyboardInterrupt handler where it starts ignored.
    proc = subprocess.Popen(eval_command(*DEBUG, f"data.limit={N}", f"run_dir={run}", "runner.max_concurrency=1"),
                            env=eval_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    records = run / "records.jsonl"
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if records.is_file() and records.read_text().count("\n") >= 1:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    done = len(read_records(records))
    assert proc.returncode == 130 and 1 <= done < N
    assert err.strip().splitlines()[-1] == (f"interrupted: {done} of {N} attempts recorded in {run}; "
                                            "rerun the same command to resume")
    assert "Traceback" not in err and "CancelledError" not in err
    resumed = run_eval_cli(run, f"data.limit={N}", "runner.max_concurrency=1")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{N - done} attempts to run, {done} already done" in resumed.stdout + resumed.stderr
    assert len(read_records(records)) == N


@pytest.mark.tiny
def test_a_truncated_classifier_adapter_stops_scale_eval_at_once_naming_the_file(tmp_path):
    from scale.train.artifact import ADAPTER_WEIGHTS
    from tests.train.synthetic import make_adapter

    adapter = make_adapter(tmp_path / "adapter")
    weights = adapter / ADAPTER_WEIGHTS
    data = weights.read_bytes()
    weights.write_bytes(data[:-1000])
    start = time.perf_counter()
    proc = run_eval_cli(tmp_path / "run", "difficulty=classifier", f"difficulty.adapter={adapter}")
    assert one_line_error(proc) == (f"error: {weights}: truncated or padded: its header says {len(data)} bytes, "
                                    f"the file holds {len(data) - 1000}; copy or train the adapter again")
    assert "attempts to run" not in proc.stdout + proc.stderr  # refused before the run started
    assert time.perf_counter() - start < 60


@pytest.mark.parametrize("command", [["slurm/serve_and_eval.sbatch", "--systems", "bogus_sys", "--model", "m"],
                                     ["slurm/submit_eval.sh", "--shards", "2", "--run-dir", "r", "--",
                                      "systems=bogus_sys"]])
def test_the_slurm_scripts_list_every_available_option(command):
    from tests.slurm.test_scripts import run

    proc = run(*command, env={"SERVER_CMD": "true"})
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert proc.returncode == 2 and line.endswith(
        "the overrides do not compose: In 'eval': Could not find 'systems/bogus_sys'; Available options in "
        "'systems': " + ", ".join(sorted(p.stem for p in (REPO_ROOT / "configs" / "systems").glob("*.yaml")))), line


def test_a_probe_run_is_tagged_in_the_report(probe_run, tmp_path, capsys):
    assert report_main([str(probe_run), "--out", str(tmp_path / "report"), "--no-plots"]) == 0
    capsys.readouterr()
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"| {probe_run} | " in text and "| SCALE [probe] τ=0.5 |" in text, text
