"""The plan of ``scale.reproduce.plan`` submitted, run without Slurm, printed, or reported.

- ``submit``: one ``sbatch`` per job in plan order, each with ``--dependency`` on the jobs it
  needs (``afterok``; the report ``afterany``) and ``--kill-on-invalid-dep=yes``, so a failed
  or cancelled job takes its dependants with it instead of leaving them pending forever,
  and the report still runs and names them.
- ``run_local``: one job after another on this machine (a single big node, no Slurm); a job
  whose dependency failed is skipped; the report runs last.
- ``--resume``: a job whose every output is complete is skipped (a finished run dir:
  ``metrics.json`` complete; an SFT adapter: its ``sft.json``); the rest run again, resuming
  from what their run dirs hold.
- ``write_report``: the final report job: ``scale-report --paper`` per part over the run dirs
  that finished, and ``README.md`` naming every job and whether it finished.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from scale.errors import ConfigError, DataError
from scale.paths import REPO_ROOT
from scale.reproduce.plan import Job, Options, build_plan, plan_file, slurm_name


# -- what is done -------------------------------------------------------------------------------------
def output_done(path: str | Path) -> bool:
    """A run dir with complete metrics, or an SFT adapter folder with its sft.json."""
    from scale.rundir import RunDir

    p = Path(path)
    if (p / "sft.json").is_file() and (p / "adapter_config.json").is_file():
        return True
    run = RunDir(p)
    if not run.metrics.is_file():
        return False
    try:
        return run.read_metrics().complete
    except DataError:
        return False


def job_done(job: Job) -> bool:
    return job.kind != "report" and bool(job.outputs) and all(output_done(o) for o in job.outputs)


def resume_skips(jobs: list[Job]) -> set[str]:
    """Names of the jobs ``--resume`` skips: every output complete (an array and its finalize
    are one unit: both done or both run)."""
    return {j.name for j in jobs if job_done(j)}


# -- printing -------------------------------------------------------------------------------------------
def describe(jobs: list[Job], skipped: set[str] | None = None) -> str:
    """Every job, its resources, its dependencies and GPU-hours; the total at the end."""
    skipped = skipped or set()
    lines = [f"{'job':44} {'kind':8} {'resources':44} {'after':40} GPU-h"]
    total, counted, unknown = 0.0, 0, 0
    for job in jobs:
        deps = [f"ok:{d}" for d in job.after_ok] + ([f"any:{len(job.after_any)} jobs"] if job.after_any else [])
        hours = "–" if job.gpu_hours is None else f"{job.gpu_hours:g}"
        state = " (complete: skipped)" if job.name in skipped else ""
        resources = job.resources or f"(#SBATCH lines of {job.script.rsplit('/', 1)[-1]})"
        lines.append(f"{job.name:44} {job.kind:8} {resources:44} {(','.join(deps) or '-'):40} {hours}{state}")
        if job.name in skipped:
            continue
        if job.gpu_hours is not None:
            total += job.gpu_hours
            counted += 1
        elif job.kind not in ("report", "finalize"):
            unknown += 1
    run = len(jobs) - len(skipped & {j.name for j in jobs})
    lines.append(f"{run} jobs to run ({len(skipped)} complete, skipped)")
    lines.append(f"GPU-hours: {total:.1f} for the {counted} Table 1 cells (slurm/README.md's table); "
                 f"{unknown} other GPU jobs (controls, sweeps, Table 3) are not in the table")
    return "\n".join(lines)


# -- Slurm ----------------------------------------------------------------------------------------------
def _sbatch(args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(["sbatch", "--parsable", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise ConfigError(f"sbatch {' '.join(args[:6])} ... failed: {proc.stderr.strip()[-300:]}")
    return proc.stdout.strip().split(";")[0]


def live_jobs(key: str, env: dict[str, str]) -> dict[str, str]:
    """Slurm name -> id of this plan's jobs still pending or running (their comment: the root)."""
    proc = subprocess.run(["squeue", "--me", "-h", "-t", "PD,R,CF,CG", "-o", "%i|%j|%k"], env=env,
                          capture_output=True, text=True, check=False)
    out = {}
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        job, name, comment = [*line.split("|", 2), "", ""][:3]
        if comment == key and "_" not in job:  # an array's pending tasks show as ID_[...]: take the array id
            out[name] = job
        elif comment == key:
            out.setdefault(name, job.split("_", 1)[0])
    return out


def submit(jobs: list[Job], skipped: set[str], env: dict[str, str], key: str) -> dict[str, str]:
    """sbatch every job not skipped, in order; returns job name -> Slurm id. A job of the same
    plan (``key``: the root, in each job's comment) still queued or running is kept, not
    submitted twice: its dependants wait for it (``--resume`` while the graph still runs)."""
    ids: dict[str, str] = {}
    live = live_jobs(key, env)
    for job in jobs:
        if job.name in skipped:
            continue
        if job.kind != "report" and slurm_name(job) in live:
            ids[job.name] = live[slurm_name(job)]
            print(f"{ids[job.name]:>10} {job.name} (still queued or running: kept)", flush=True)
            continue
        deps = [f"afterok:{ids[d]}" for d in job.after_ok if d in ids]
        deps += [f"afterany:{ids[d]}" for d in job.after_any if d in ids]
        args = [f"--job-name={slurm_name(job)}", f"--comment={key}", "--kill-on-invalid-dep=yes", *job.sbatch]
        if job.array:
            args.append(f"--array={job.array}")
        if deps:
            args.append("--dependency=" + ",".join(deps))
        ids[job.name] = _sbatch([*args, job.script, *job.args], env)
        print(f"{ids[job.name]:>10} {job.name}", flush=True)
    return ids


# -- without Slurm --------------------------------------------------------------------------------------
def run_local(jobs: list[Job], skipped: set[str], env: dict[str, str], log_dir: Path) -> dict[str, int]:
    """Each job's command in order on this machine; returns job name -> exit status."""
    log_dir.mkdir(parents=True, exist_ok=True)
    status: dict[str, int] = {}
    for job in jobs:
        if job.name in skipped:
            continue
        failed = [d for d in job.after_ok if status.get(d, 0) != 0]
        if failed:
            status[job.name] = -1
            print(f"skipped {job.name}: {failed[0]} did not succeed", flush=True)
            continue
        if job.local is None:
            status[job.name] = 0
            continue
        log = log_dir / f"{slurm_name(job)}.log"
        t0 = time.monotonic()
        with log.open("w") as fh:
            status[job.name] = subprocess.run(job.local, cwd=REPO_ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                              check=False).returncode
        print(f"{'ok' if status[job.name] == 0 else 'FAILED':6} {job.name} ({time.monotonic() - t0:.0f} s, log {log})",
              flush=True)
    return status


# -- the final report ----------------------------------------------------------------------------------
REPORTED = ("cell", "control", "sweep", "budget", "base", "tuned")  # job kinds whose run dirs the tables show
def _scale_report(args: list[str]) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "scale.cli.report", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=False)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def write_report(plan_path: str | Path) -> int:
    """``scale-report --paper`` per part over what finished; ``README.md`` lists every job."""
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    jobs = [Job(**j) for j in plan["jobs"]]
    out = Path(plan["root"]) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    done = {j.name: job_done(j) for j in jobs if j.kind not in ("report", "finalize")}  # finalize: its array's
    lines = ["# The paper, reproduced" + (" (REHEARSAL: a tiny random model under the paper's names; "
                                           "the numbers mean nothing)" if plan.get("rehearse") else ""), ""]
    rc = 0
    for part in ("table1", "table2", "figure2", "table3"):
        part_jobs = [j for j in jobs if j.part == part and j.kind != "finalize"]
        if not part_jobs:
            continue
        finished = [o for j in part_jobs if done[j.name] and j.kind in REPORTED for o in j.outputs]
        args = [*finished, "--out", str(out / part), "--paper"]
        if part == "table3":
            pairs = [(j.outputs[0], t.outputs[0]) for j in part_jobs if j.kind == "base" and done[j.name]
                     for t in part_jobs if t.kind == "tuned" and done[t.name]
                     and t.name.replace("-tuned", "") == j.name.replace("-base", "")]
            args += [a for b, t in pairs for a in ("--tuned", f"{b}={t}")]
        if finished:
            code, text = _scale_report(args)
            rc = rc or code
            state = f"[{part}/report.md]({part}/report.md)" if code == 0 else f"scale-report failed: {text[-300:]}"
        else:
            state = "nothing finished"
        lines += [f"## {part}: {state}", "", "| job | state | output |", "|---|---|---|"]
        lines += [f"| {j.name} | {'finished' if done[j.name] else 'MISSING'} | {', '.join(j.outputs)} |"
                  for j in part_jobs]
        lines.append("")
    missing = [n for n, ok in done.items() if not ok]
    lines += [f"{len(done) - len(missing)} of {len(done)} jobs finished."
              + (f" Missing: {', '.join(missing)} (rerun: slurm/reproduce.sh ... --resume)" if missing else "")]
    (out / "README.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"reports -> {out}/README.md; {len(done) - len(missing)} of {len(done)} jobs finished")
    for name in missing:
        print(f"missing: {name}")
    return rc


# -- the entry --------------------------------------------------------------------------------------------
def served_models(jobs: list[Job]) -> set[str]:
    """Every model name a serve job starts a server for."""
    names = set()
    for job in jobs:
        for flag in ("--model", "--s1-model", "--s2-model"):
            if flag in job.args:
                names.add(job.args[job.args.index(flag) + 1])
    return names


def rehearse_env(env: dict[str, str], jobs: list[Job], aliases: Path) -> dict[str, str]:
    """At toy scale the paper's model names are folders under ``aliases`` that link to the tiny
    model; ``transformers serve NAME`` started there loads that folder and answers to NAME
    (a server pinned to one model refuses every other name). SERVER_CMD, when set, wins."""
    from scale.models import resolve_model
    from scale.reproduce.plan import REHEARSE_MODEL

    tiny = Path(resolve_model(REHEARSE_MODEL)).resolve()
    for name in served_models(jobs):
        link = aliases / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(tiny, target_is_directory=True)
    if not env.get("SERVER_CMD"):
        env["SERVER_CMD"] = (f'cd {shlex.quote(str(aliases.resolve()))} && exec transformers serve "$MODEL" '
                             '--host 127.0.0.1 --port "$PORT" --device cpu --log-level warning')
    return env


def reproduce(opts: Options, mode: str, resume: bool) -> int:
    """mode: dry-run | slurm | local."""
    jobs = build_plan(opts)
    if "table3" in opts.only and not opts.rehearse and mode != "dry-run":
        data = opts.table3_data
        if not data or not Path(data).exists():
            raise ConfigError(f"Table 3's traces need a LIMOPro-style problem file: --table3-data FILE "
                              f"({data or 'not given'}{'' if not data else ': not found'}); or leave table3 out "
                              "with --only")
    skipped = resume_skips(jobs) if resume else set()
    if mode == "dry-run":
        print(describe(jobs, skipped))
        return 0
    path = Path(plan_file(opts.root))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"root": opts.root, "rehearse": opts.rehearse, "jobs": [j.to_dict() for j in jobs]},
                               indent=1) + "\n", encoding="utf-8")
    env = dict(os.environ)
    if opts.rehearse:
        env = rehearse_env(env, jobs, path.parent / "models")
    print(describe(jobs, skipped), flush=True)
    if mode == "slurm":
        (REPO_ROOT / "logs").mkdir(exist_ok=True)
        ids = submit(jobs, skipped, env, str(Path(opts.root).resolve()))
        print(f"{len(ids)} jobs submitted; the report: {path.parent.parent}/reports/README.md once job "
              f"{ids.get('report')} ends (squeue --me to watch)")
        return 0
    status = run_local(jobs, skipped, env, path.parent / "logs")
    return 0 if all(v == 0 for v in status.values()) else 1
