"""scale.reproduce.plan: the reproduction's job graph, without a cluster (tests/slurm/test_reproduce.py
submits it to a real one)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from scale.errors import ConfigError
from scale.paths import CONFIG_DIR, REPO_ROOT
from scale.reproduce.plan import (
    DATASETS,
    MODELS,
    Options,
    build_plan,
    gpu_hour_table,
)
from scale.reproduce.run import describe, resume_skips


def _readme_total() -> float:
    """The GPU-hour table of slurm/README.md summed here independently (every AIME/AMC column)."""
    total = 0.0
    for line in (REPO_ROOT / "slurm" / "README.md").read_text().splitlines():
        m = re.match(r"^\| ([^|]+?) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| [\d.]+ \|$", line)
        if m:
            total += sum(float(m[i]) for i in (2, 3, 4))
    return total


def by_name(jobs):
    return {j.name: j for j in jobs}


def test_whole_plan_shape():
    jobs = build_plan(Options())
    names = by_name(jobs)
    cells = [j for j in jobs if j.kind == "cell"]
    controls = [j for j in jobs if j.kind == "control"]
    assert len(cells) == 48 and len(controls) == 12  # 4 models x 3 datasets x 4 methods; one per SCALE cell
    for control in controls:  # afterok on the SCALE cell it matches, whose run dir it reads
        (scale,) = control.after_ok
        assert names[scale].name.endswith("_scale_" + control.name.rsplit("_", 1)[1])
        assert f"router.match_run={names[scale].outputs[0]}" in control.args
    assert {j.kind for j in jobs} == {"cell", "control", "sweep", "budget", "traces", "sft", "base", "tuned", "finalize",
                                     "report"}
    report = names["report"]
    assert jobs[-1] is report and set(report.after_any) == set(names) - {"report"}
    # Dependencies come first (sbatch needs their ids), and every one names a job of the plan.
    seen: set[str] = set()
    for job in jobs:
        assert set(job.after_ok) <= seen, job.name
        seen.add(job.name)
    # Table 3: traces -> SFT -> tuned array -> finalize; the base needs nothing.
    sft = names["table3/sft-qwen2.5-32b"]
    assert sft.after_ok == ["table3/traces"] and f"traces=[{names['table3/traces'].outputs[0]}]" in sft.args
    tuned = names["table3/qwen2.5-32b-aime24-tuned"]
    assert tuned.after_ok == [sft.name] and f"table3.adapter={sft.outputs[0]}" in tuned.args and tuned.array == "0-3"
    assert names["table3/qwen2.5-32b-aime24-tuned-finalize"].after_ok == [tuned.name]
    assert names["table3/qwen2.5-32b-aime24-base"].after_ok == []
    # Serve jobs never share a port (two may land on one node).
    ports = [j.args[j.args.index("--port") + 1] for j in jobs if "--port" in j.args]
    assert len(ports) == len(set(ports))


def _sbatch_lines(script: str) -> list[str]:
    return [line for line in (REPO_ROOT / script).read_text().splitlines() if line.startswith("#SBATCH")]


@pytest.mark.parametrize("rehearse", [False, True])
def test_majority_cell_is_a_cpu_job_after_its_cot_cell(rehearse):
    """The paper's MajVote votes over the CoT cell's samples: it waits for that cell and reads it,
    and since it generates nothing it runs on CPU: no GPU asked for, no server started."""
    names = by_name(build_plan(Options(only=("table1",), models=("qwq_32b",), datasets=("amc23",),
                                       rehearse=rehearse)))
    majority, cot = names["table1/qwq_32b_majority_amc23"], names["table1/qwq_32b_cot_amc23"]
    assert majority.after_ok == [cot.name] and not majority.after_any
    assert f"method.from_run={cot.outputs[0]}" in majority.args
    # No server: not serve_and_eval.sbatch, no model/port flags, and the same without Slurm.
    assert majority.script == "slurm/eval.sbatch" and cot.script == "slurm/serve_and_eval.sbatch"
    assert not {"--model", "--s1-model", "--s2-model", "--port", "--systems"} & set(majority.args)
    assert majority.local is not None and majority.local[0] == "scale-eval"
    assert not any("serve" in w for w in majority.local)
    assert majority.args[0] == "--" and majority.local[1:] == ["runner.progress=false", *majority.args[1:]]
    # No GPU: neither the job's resources nor the script's own #SBATCH lines ask for one.
    assert not any("gpu" in r for r in majority.sbatch) and any("gpu" in r for r in cot.sbatch)
    assert not any("gpu" in line for line in _sbatch_lines(majority.script))
    assert any("--gpus-per-node" in line for line in _sbatch_lines(cot.script))
    # GPU-hours: MajVote's are its CoT pair's, so its own are 0 in slurm/README.md's table.
    assert majority.gpu_hours == 0 and cot.gpu_hours > 0


def test_every_majvote_row_of_the_gpu_hour_table_is_zero_and_every_other_is_not():
    table = gpu_hour_table()
    assert len(table) == 48
    for (row, dataset), hours in table.items():
        assert (hours == 0) == row.endswith(" MajVote"), (row, dataset, hours)


def test_dry_run_total_equals_the_readme_table():
    jobs = build_plan(Options())
    text = describe(jobs)
    total = float(re.search(r"GPU-hours: ([\d.]+) for the 48 Table 1 cells", text)[1])
    assert total == pytest.approx(_readme_total()) and total > 0
    assert sum(gpu_hour_table().values()) == pytest.approx(_readme_total())
    for job in jobs:  # every job printed with its resources and dependencies
        line = next(line for line in text.splitlines() if line.startswith(job.name + " "))
        assert job.kind in line and all(d in line for d in job.after_ok)


def test_only_models_and_datasets_select():
    jobs = build_plan(Options(only=("table1",), models=("r1_llama_70b",), datasets=("aime25",)))
    assert [j.name for j in jobs] == [f"table1/r1_llama_70b_{m}_aime25" for m in ("cot", "inftythink", "majority",
                                                                                  "scale")] + \
        ["table1/r1_llama_70b_random_aime25", "report"]
    cell = jobs[0]
    assert cell.sbatch == ["--gpus-per-node=6"]
    assert cell.args[cell.args.index("--s1-tp") + 1] == "2" and cell.args[cell.args.index("--s2-tp") + 1] == "4"
    assert "--max-model-len 16384" in cell.args and "experiment=table1/r1_llama_70b_cot_aime25" in cell.args
    assert cell.gpu_hours == gpu_hour_table()[("R1-Distill-Llama-70B CoT", "aime25")]
    sweeps = build_plan(Options(only=("table2", "figure2"), datasets=("aime25",)))
    table2 = by_name(sweeps)["table2"]
    assert "data=aime25" in table2.args and "sweep=shared" in table2.args
    assert table2.outputs == [f"runs/table2/aime25-tau{t}" for t in ("0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8",
                                                                     "0.9")]
    assert "run_dir=runs/table2/${data.name}-tau${router.tau}" in table2.args
    # Figure 2: every budget of the experiment on the dataset, one job each (its own System 2 budget).
    budgets = [j for j in sweeps if j.kind == "budget"]
    assert [j.name for j in budgets] == [f"figure2/aime25-s2max{b}" for b in (4096, 8192, 16384, 32768)] or \
        len(budgets) == 6  # issue 19's grid: 6 budgets
    for job in budgets:
        budget = job.name.rsplit("s2max", 1)[1]
        assert f"systems.s2.sampling.max_new_tokens={budget}" in job.args and "data=aime25" in job.args


@pytest.mark.parametrize(("opts", "message"), [
    (Options(only=("table9",)), "--only table9: unknown table9"),
    (Options(models=("gpt",)), "--models gpt: unknown gpt"),
    (Options(datasets=()), "--datasets : unknown (empty)"),
])
def test_bad_options_name_the_value(opts, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_plan(opts)


def _compose(overrides: list[str], systems: str | None, openai: bool):
    """The run config a job's overrides make (as serve_and_eval.sbatch composes it before serving)."""
    head = ["engine=openai", f"systems={systems}"] if openai else []
    # Sweep jobs compose one point here (scale-eval composes each in the job).
    return compose(config_name="eval", overrides=[*head, *overrides])


def test_every_rehearsal_job_composes(tmp_path):
    """Each job's scale-eval overrides compose (a typo in the plan fails here, not in a queued job)."""
    jobs = build_plan(Options(rehearse=True, root=str(tmp_path), models=tuple(MODELS), datasets=DATASETS))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base=None):
        for job in jobs:
            if job.script == "slurm/eval.sbatch":  # MajVote: no server, so no engine=openai
                overrides = [o for o in job.args[1:] if not o.startswith("method.from_run=")]
                cfg = _compose(overrides, None, openai=False)
                assert cfg.method.name == "majority" and cfg.data.limit == 2, job.name
                assert cfg.method.k * cfg.n_samples == 2, job.name  # the paired CoT cell's two samples
            elif job.script == "slurm/serve_and_eval.sbatch":
                overrides = job.args[job.args.index("--") + 1:]
                systems = job.args[job.args.index("--systems") + 1]
                overrides = [o for o in overrides if not o.startswith(("router.match_run=", "method.from_run="))]
                cfg = _compose(overrides, systems, openai=True)
                cot = "_cot_" in job.name or job.name.endswith("-base")  # two samples: MajVote votes over them
                assert cfg.data.limit == 2 and cfg.n_samples == (2 if cot else 1), job.name
                assert cfg.method.name != "majority", job.name  # MajVote runs without a server
                assert cfg.engine.send_top_k is False
            elif job.kind == "tuned":
                cfg = _compose(job.args[job.args.index("--") + 1:], None, openai=False)
                assert cfg.systems.engines.main.adapter == job.args[job.args.index("--") + 1:][3].split("=", 1)[1]
            if job.kind == "cell":
                assert OmegaConf.select(cfg, "run_dir") == job.outputs[0]


def test_resume_skips_complete_run_dirs(tmp_path):
    jobs = build_plan(Options(only=("table1",), models=("qwen3_32b",), datasets=("aime24",), root=str(tmp_path)))
    cot = by_name(jobs)["table1/qwen3_32b_cot_aime24"]
    run = tmp_path / "table1" / "qwen3_32b_cot_aime24"
    run.mkdir(parents=True)
    metrics = {"complete": False}
    (run / "metrics.json").write_text(json.dumps(metrics))
    assert resume_skips(jobs) == set()  # unreadable or incomplete: rerun
    from scale.rundir import Metrics, RunDir

    m = Metrics.from_dict(_metrics(complete=True), "t")
    RunDir(run).write_metrics(m)
    assert resume_skips(jobs) == {cot.name}
    m.complete = False
    RunDir(run).write_metrics(m)
    assert resume_skips(jobs) == set()


def _metrics(complete: bool) -> dict:
    from scale.rundir.metrics import compute_metrics

    d = compute_metrics([], expected_attempts=0).to_dict()
    d["complete"] = complete
    return d


def test_cli_dry_run_and_bad_option():
    env = {"PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "scale.reproduce", "--dry-run", "--only", "table1",
                           "--models", "qwen3_32b", "--datasets", "aime24"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    # Qwen3-32B's four AIME24 cells, read off slurm/README.md's table here (not through the plan)
    rows = re.findall(r"^\| Qwen3-32B \w+ \| ([\d.]+) \|", (REPO_ROOT / "slurm" / "README.md").read_text(), re.M)
    assert len(rows) == 4
    expected = f"GPU-hours: {sum(float(r) for r in rows):.1f} for the 4 Table 1 cells"
    assert "table1/qwen3_32b_random_aime24" in proc.stdout and expected in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "scale.reproduce", "--dry-run", "--models", "qwen3_33b"],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: reproduce: --models qwen3_33b: unknown qwen3_33b (choose from qwen3_32b,qwq_32b,r1_qwen_32b,"
        "r1_llama_70b)"]


def test_slurm_readme_gpu_hour_table_is_what_the_cost_model_prints():
    """The table the plan charges from (slurm/README.md) is `bench_serving.py --gpu-hours`'s
    output, row for row: a change to the cost model or the paper's figures shows here."""
    out = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "bench_serving.py"), "--gpu-hours"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    printed = [line for line in out.splitlines() if line.startswith("| ")]
    text = (REPO_ROOT / "slurm" / "README.md").read_text(encoding="utf-8")
    start = text.index("| model / method |")
    readme = [line for line in text[start:].split("\n\n")[0].splitlines() if line.startswith("| ")]
    assert len(printed) == 17 and printed == readme  # the header and 16 rows
