"""The evaluation runner: problems x samples, bounded concurrency, shards, resume, metrics.

Each finished attempt is graded and appended as one flushed JSON line; a rerun skips
what is done, so a killed run resumes and ends with the same records as an
uninterrupted one (greedy decoding). Only rank 0 writes shared outputs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from scale.data import Problem, load_benchmark
from scale.engine.registry import Systems, build_systems
from scale.errors import ConfigError
from scale.grading import Grader
from scale.methods.base import Attempt, Context, Method, build_method
from scale.runner.env import environment
from scale.runner.metrics import compute_metrics
from scale.runner.records import (
    RECORDS,
    RecordWriter,
    key_of,
    merge_shards,
    read_records,
    shard_file,
)
from scale.runner.shard import Shard, current_shard

log = logging.getLogger(__name__)

# Config keys that define *what* a run computes; others (concurrency, progress) may change on resume.
IDENTITY_KEYS = ("data", "method", "difficulty", "router", "systems", "n_samples", "seed")


@dataclass
class RunSettings:
    run_dir: Path
    n_samples: int = 1
    seed: int = 0
    max_concurrency: int = 16
    progress: bool = True
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise ConfigError(f"n_samples must be >= 1, got {self.n_samples}")
        if self.max_concurrency < 1:
            raise ConfigError(f"runner.max_concurrency must be >= 1, got {self.max_concurrency}")


def check_run_dir(run_dir: Path, cfg: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix two different runs in one folder (nothing is overwritten silently)."""
    saved = run_dir / "config.json"
    if not saved.is_file() or overwrite:
        return
    old = json.loads(saved.read_text())
    for key in IDENTITY_KEYS:
        if old.get(key) != cfg.get(key):
            raise ConfigError(
                f"run dir {run_dir} holds a run with a different {key!r}; use another run_dir "
                "(or overwrite=true to replace it)"
            )


def work_items(problems: list[Problem], n_samples: int, shard: Shard) -> list[tuple[Problem, int]]:
    items = [(p, s) for p in problems for s in range(n_samples)]
    return [it for i, it in enumerate(items) if i % shard.world == shard.rank]


def to_record(problem: Problem, sample_idx: int, method: Method, attempt: Attempt, correct: bool,
              reason: str, seconds: float) -> dict[str, Any]:
    return {
        "problem_id": problem.id, "sample_idx": sample_idx, "method": method.name,
        "question": problem.question, "gold": problem.answer, "answer": attempt.answer,
        "correct": correct, "grade_reason": reason, "response": attempt.response,
        "failures": attempt.failures, "trace": attempt.trace, "ledger": attempt.ledger.to_list(),
        "cost": attempt.ledger.summary(), "seconds": seconds,
    }


async def grade_answer(grader: Grader, answer: str | None, gold: str) -> tuple[bool, str]:
    if answer is None:
        return False, "no_answer"
    verdict = await grader.agrade(f"\\boxed{{{answer}}}", gold)
    return verdict.correct, verdict.reason


async def run_items(method: Method, items: list[tuple[Problem, int]], ctx: Context, grader: Grader,
                    writer: RecordWriter, max_concurrency: int, progress: bool,
                    on_record=None) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(max_concurrency)
    bar = tqdm(total=len(items), desc=f"{method.name}", unit="attempt", disable=not progress)
    out: list[dict[str, Any]] = []

    async def one(problem: Problem, sample_idx: int) -> None:
        async with sem:
            start = time.perf_counter()
            attempt = await method.run(problem, sample_idx, ctx)
            correct, reason = await grade_answer(grader, attempt.answer, problem.answer)
            rec = to_record(problem, sample_idx, method, attempt, correct, reason, time.perf_counter() - start)
            writer.write(rec)
            out.append(rec)
            bar.update(1)
            if on_record is not None:
                on_record(rec)

    try:
        await asyncio.gather(*(one(p, s) for p, s in items))
    finally:
        bar.close()
    return out


def run_eval(cfg: dict[str, Any], systems: Systems | None = None, on_record=None) -> dict[str, Any] | None:
    """Run (or resume) one evaluation described by a resolved config dict; returns metrics on rank 0."""
    runner = cfg.get("runner", {})
    settings = RunSettings(run_dir=Path(cfg["run_dir"]), n_samples=int(cfg.get("n_samples", 1)),
                           seed=int(cfg.get("seed", 0)),
                           max_concurrency=int(runner.get("max_concurrency", 16)),
                           progress=bool(runner.get("progress", True)),
                           overwrite=bool(cfg.get("overwrite", False)))
    shard = current_shard()
    data = cfg.get("data", {})
    problems = load_benchmark(data.get("name"), data.get("path"), data.get("limit"))
    method_cfg = dict(cfg.get("method", {}))
    method = build_method(method_cfg.pop("name"), **method_kwargs(method_cfg, cfg))
    run_dir = settings.run_dir
    check_run_dir(run_dir, cfg, settings.overwrite)
    if shard.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if settings.overwrite:
            for f in [run_dir / RECORDS, *run_dir.glob("records.shard*")]:
                f.unlink(missing_ok=True)
        (run_dir / "config.json").write_text(json.dumps(cfg, indent=2, default=str))
        (run_dir / "env.json").write_text(json.dumps(environment(), indent=2))
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    path = shard_file(run_dir, shard.rank, shard.world)
    done = {key_of(r) for r in read_records(path)}
    if shard.world > 1:  # a merged file from an earlier run counts as done too
        done |= {key_of(r) for r in read_records(run_dir / RECORDS)}
    items = [(p, s) for p, s in work_items(problems, settings.n_samples, shard) if (p.id, s) not in done]
    log.info("shard %d/%d: %d attempts to run, %d already done", shard.rank, shard.world, len(items), len(done))
    own_systems = systems is None
    ctx_systems = systems or build_systems(cfg["systems"], cfg.get("engine"), only=method.uses_systems)
    ctx = Context(systems=ctx_systems, seed=settings.seed, shared={"n_attempts": len(items)})
    method.prepare(problems, settings.n_samples, ctx)
    if getattr(method, "needs_all_in_flight", False) and settings.max_concurrency < len(items):
        # Dataset-wide routing waits for every attempt's scores; the engines still batch.
        log.info("dataset-wide router: running all %d attempts concurrently", len(items))
        settings.max_concurrency = max(1, len(items))
    writer = RecordWriter(path)
    try:
        with Grader(timeout_s=float(cfg.get("grading", {}).get("timeout_s", 5.0))) as grader:
            ctx.grader = grader
            asyncio.run(_run_and_close(method, items, ctx, grader, writer, settings, own_systems, on_record))
    finally:
        writer.close()
    (run_dir / f".shard{shard.rank:04d}-of-{shard.world:04d}.done").write_text("ok\n")
    if not shard.is_main:
        return None
    # Launcher ranks run side by side: wait for them. Slurm array tasks may not: merge later.
    wait = 7 * 24 * 3600.0 if shard.source == "launcher" else 0.0
    return finalize(run_dir, expected=len(problems) * settings.n_samples, world=shard.world, wait_s=wait)


async def _run_and_close(method, items, ctx, grader, writer, settings, own_systems, on_record) -> None:
    try:
        await run_items(method, items, ctx, grader, writer, settings.max_concurrency, settings.progress,
                        on_record)
    finally:
        if own_systems:
            await ctx.systems.aclose()


def finalize(run_dir: Path, expected: int, world: int = 1, wait_s: float = 0.0) -> dict[str, Any]:
    """Merge shards (when all are done), write metrics.json and report.md; return metrics."""
    deadline = time.time() + wait_s
    while world > 1 and len(list(run_dir.glob(f".shard*-of-{world:04d}.done"))) < world:
        if time.time() > deadline:
            log.warning("not all %d shards are done yet; metrics cover what exists", world)
            break
        time.sleep(1)
    if world > 1:
        merge_shards(run_dir)
    records = read_records(run_dir / RECORDS)
    metrics = compute_metrics(records, expected_attempts=expected)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def method_kwargs(method_cfg: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    """Method kwargs; SCALE also takes the difficulty and router nodes."""
    kwargs = dict(method_cfg)
    if cfg.get("method", {}).get("name") == "scale" and "difficulty" in cfg:
        kwargs["difficulty"] = dict(cfg["difficulty"])
        kwargs["router"] = dict(cfg.get("router", {}))
    return kwargs
