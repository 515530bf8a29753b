"""The evaluation runner: problems x samples, bounded concurrency, shards, resume, errors.

Each finished attempt is graded and appended as one flushed JSON line; a rerun skips what
is done in any file of the run dir (merged or shard), so a killed run resumes and ends
with the same records as an uninterrupted one (greedy decoding). An attempt that fails
(after the engine's own retries) is written as a record with ``error`` set and the run
goes on; ``retry_errors=true`` redoes only those. Only rank 0 writes shared outputs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from tqdm.auto import tqdm

from scale.build import build, check_value
from scale.checks import Positive, ZeroToOne, check_fields
from scale.data import Problem, load_from_config
from scale.errors import ConfigError, EngineError, ScaleError
from scale.grading import Grader, grade_answer
from scale.methods.base import Attempt, Context, Method
from scale.rundir import Metrics, Record, RecordWriter, RunDir, write_json
from scale.runner.env import environment
from scale.runner.finalize import finalize_run, wait_for_shards
from scale.runner.order import Item, StartOrder, known_chains
from scale.runner.shard import Shard, current_shard
from scale.secrets import redact, secrets_in
from scale.systems import Systems, build_systems
from scale.tracking import after_run, check_logger

log = logging.getLogger(__name__)

# Config keys that define *what* a run computes; others (concurrency, progress) may change on resume.
IDENTITY_KEYS = ("data", "method", "difficulty", "router", "systems", "n_samples", "seed")
# Engine settings that change the tokens (the backend, a merged adapter, the precision, the
# processors); batching and memory settings may change on resume.
ENGINE_IDENTITY_KEYS = ("_target_", "adapter", "dtype", "generation_overrides")

OnRecord = Callable[[Record], None]
T = TypeVar("T")

AUTO = "auto"
CPU_CONCURRENCY = 16  # runner.max_concurrency=auto where no engine states a batch capacity (CPU)


def concurrency_for(setting: int | str, systems: Systems, uses: Iterable[str] = ("s1", "s2")) -> int:
    """Attempts in flight for ``runner.max_concurrency`` (a number, or ``auto``).

    ``auto``: SCALE's calls are sequential inside an attempt, so only as many attempts as the
    engines' batches hold keep them full: the sum, over the distinct engines the method uses,
    of each engine's ``batch_capacity()`` — an OpenAI-compatible server's
    ``engine.max_concurrency`` (its requests in flight), the HF engine's rows on CUDA
    (``engine.max_batch_size``). Engines that state none (HF on CPU, scripted): 16, as before.
    """
    if setting != AUTO:
        return int(setting)
    engines = {id(e): e for e in (getattr(systems, name).engine for name in sorted(uses))}.values()
    caps = [getattr(e, "batch_capacity", lambda: None)() for e in engines]
    known = [c for c in caps if c]
    return max(1, sum(known)) if known else CPU_CONCURRENCY


@dataclass
class RunSettings:
    """The runner's settings. The defaults here are the only ones in code; ``configs/eval.yaml``
    states the same values (Hydra needs its keys to accept overrides; a test keeps them equal)."""

    run_dir: Path
    n_samples: Positive = 1
    seed: int = 0
    max_concurrency: int | str = AUTO  # attempts in flight: a number, or auto (concurrency_for)
    progress: bool = True
    overwrite: bool = False
    retry_errors: bool = False  # rerun attempts whose record carries an error
    max_error_fraction: ZeroToOne = 0.2  # stop once more than this share of the attempts failed
    grading_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        check_fields(self, "", CONFIG_KEYS)
        if self.max_concurrency != AUTO and (isinstance(self.max_concurrency, bool) or
                                             not isinstance(self.max_concurrency, int) or self.max_concurrency < 1):
            raise ConfigError(f"runner.max_concurrency must be an integer >= 1 or {AUTO}, got {self.max_concurrency!r}")

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> RunSettings:
        """Every value type-checked where it is read, naming the key; a missing key takes the
        field's default."""
        if "run_dir" not in cfg:
            raise ConfigError("run_dir: missing (where the run's files go)")
        values: dict[str, Any] = {"run_dir": Path(check_value("run_dir", cfg["run_dir"], str))}
        types, defaults = get_type_hints(cls), {f.name: f.default for f in fields(cls)}
        for name, key in CONFIG_KEYS.items():
            node, _, leaf = key.rpartition(".")
            value = (cfg.get(node) or {} if node else cfg).get(leaf, defaults[name])
            # max_concurrency (a number or auto) is checked in __post_init__
            values[name] = value if name == "max_concurrency" else check_value(key, value, types[name])
        return cls(**values)


# Where each setting of RunSettings is read from the config (configs/eval.yaml).
CONFIG_KEYS = {
    "n_samples": "n_samples", "seed": "seed", "overwrite": "overwrite",
    "max_concurrency": "runner.max_concurrency", "progress": "runner.progress",
    "retry_errors": "runner.retry_errors", "max_error_fraction": "runner.max_error_fraction",
    "grading_timeout_s": "grading.timeout_s",
}


class TooManyErrors(ScaleError):
    """More attempts failed than ``runner.max_error_fraction`` allows."""


def fatal(err: BaseException) -> bool:
    """Whether an exception inside an attempt stops the run: a config or data error fails
    every attempt alike; an engine's failure (after its retries) or any other exception fails
    this attempt only, kept as an error record."""
    return isinstance(err, ScaleError) and not isinstance(err, EngineError)


@dataclass
class ErrorBudget:
    """The failed attempts of one run dir; more than ``max_fraction`` of ``n_items`` stops it."""

    n_items: int
    max_fraction: float
    where: str = ""  # the run dir, named in the message where one job writes several
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, rec: Record) -> None:
        """Count ``rec`` if it is an error record; raise TooManyErrors once over budget."""
        if rec.error is None:
            return
        self.errors[(rec.error["kind"], rec.error["message"])] += 1
        failed = sum(self.errors.values())
        if failed > self.max_fraction * self.n_items:
            (kind, message), count = self.errors.most_common(1)[0]
            of = f" of {self.where}" if self.where else ""
            raise TooManyErrors(
                f"stopping: {failed} of {self.n_items} attempts{of} failed "
                f"(runner.max_error_fraction={self.max_fraction}); commonest error ({count}x) {kind}: {message}"
            )


def check_run_dir(run_dir: RunDir, cfg: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix two different runs in one folder (nothing is overwritten silently)."""
    if not run_dir.config.is_file() or overwrite:
        return
    cfg = redact(cfg)  # config.json holds the redacted config
    old = run_dir.read_config()
    old_engine, new_engine = old.get("engine") or {}, cfg.get("engine") or {}
    differs = [k for k in IDENTITY_KEYS if old.get(k) != cfg.get(k)] + \
        [f"engine.{k}" for k in ENGINE_IDENTITY_KEYS if old_engine.get(k) != new_engine.get(k)]
    if differs:
        raise ConfigError(
            f"run dir {run_dir.path} holds a run with a different {differs[0]!r}; use another run_dir "
            "(or overwrite=true to replace it)"
        )


def work_items(problems: list[Problem], n_samples: int, shard: Shard) -> list[tuple[Problem, int]]:
    items = [(p, s) for p in problems for s in range(n_samples)]
    return [it for i, it in enumerate(items) if i % shard.world == shard.rank]


def to_record(problem: Problem, sample_idx: int, method: Method, attempt: Attempt, correct: bool,
              reason: str, seconds: float) -> Record:
    return Record(
        problem_id=problem.id, sample_idx=sample_idx, method=method.name, question=problem.question,
        gold=problem.answer, answer=attempt.answer, correct=correct, grade_reason=reason,
        response=attempt.response, failures=list(attempt.failures), trace=attempt.trace,
        ledger=attempt.ledger.to_list(), cost=attempt.ledger.summary(), seconds=seconds,
    )


def error_record(problem: Problem, sample_idx: int, method: Method, err: BaseException,
                 seconds: float) -> Record:
    """A failed attempt: kept in the run (counted, retried with retry_errors=true), graded wrong."""
    message = " ".join(str(err).split())[:500] or type(err).__name__
    return Record(
        problem_id=problem.id, sample_idx=sample_idx, method=method.name, question=problem.question,
        gold=problem.answer, answer=None, correct=False, grade_reason="error", seconds=seconds,
        error={"kind": error_kind(err), "message": message},
    )


def error_kind(err: BaseException) -> str:
    """A short, stable name for what went wrong (metrics count errors by it)."""
    if isinstance(err, EngineError):
        return "engine"
    if type(err).__name__ == "OutOfMemoryError":
        return "out_of_memory"
    if isinstance(err, TimeoutError):
        return "timeout"
    return type(err).__name__


async def attempt_loop(items: list[Item], produce: Callable[[Problem, int], Awaitable[T]],
                       finish: Callable[[Problem, int, T, float], Awaitable[list[dict[str, Any]] | None]],
                       fail: Callable[[Problem, int, BaseException, float], None], *, concurrency: int,
                       progress: bool, desc: str, known: dict[str, int] | None = None) -> None:
    """Every attempt, ``concurrency`` at a time, under the one error policy of ``run`` and the
    shared sweep: a ``fatal`` exception in ``produce`` stops the run (none is left running); any
    other fails this attempt only, recorded by ``fail``; else ``finish(problem, sample_idx,
    result, start)`` grades and records it (an error there stops the run) and returns the
    ledger that measures the problem's chain. Attempts start in the order of
    :class:`scale.runner.order.StartOrder` (``known``: chains measured by an earlier pass)."""
    order = StartOrder(items, known)
    bar = tqdm(total=len(items), desc=desc, unit="attempt", disable=not progress)

    async def one(problem: Problem, sample_idx: int) -> None:
        start = time.perf_counter()
        try:
            result = await produce(problem, sample_idx)
        except Exception as err:
            if fatal(err):
                raise
            log.warning("attempt %s/%d failed: %s: %s", problem.id, sample_idx, type(err).__name__, err)
            fail(problem, sample_idx, err, time.perf_counter() - start)
        else:
            ledger = await finish(problem, sample_idx, result, start)
            if ledger:
                order.finished(problem.id, ledger)
        bar.update(1)

    async def worker() -> None:
        while (item := order.next()) is not None:
            await one(*item)

    try:
        await run_together(worker() for _ in range(min(concurrency, len(items))))
    finally:
        bar.close()


async def run_items(method: Method, items: list[Item], ctx: Context, grader: Grader,
                    writer: RecordWriter, max_concurrency: int, progress: bool,
                    on_record: OnRecord | None = None, max_error_fraction: float = 1.0,
                    known: dict[str, int] | None = None) -> list[Record]:
    """Run and record every item; failed attempts become error records (see module docstring).
    ``known``: the chains of problems measured before (a resumed run's records), for the order."""
    out: list[Record] = []
    budget = ErrorBudget(len(items), max_error_fraction)

    def record(rec: Record) -> None:
        writer.write(rec)
        out.append(rec)
        if on_record is not None:
            on_record(rec)
        budget.add(rec)

    async def finish(problem: Problem, sample_idx: int, attempt: Attempt, start: float) -> list[dict[str, Any]]:
        correct, reason = await grade_answer(grader, attempt.answer, problem.answer)
        rec = to_record(problem, sample_idx, method, attempt, correct, reason, time.perf_counter() - start)
        record(rec)
        return rec.ledger

    def fail(problem: Problem, sample_idx: int, err: BaseException, seconds: float) -> None:
        method.abandon(problem, sample_idx)  # a dataset-wide router stops waiting for it
        record(error_record(problem, sample_idx, method, err, seconds))

    await attempt_loop(items, lambda p, s: method.run(p, s, ctx), finish, fail, concurrency=max_concurrency,
                       progress=progress, desc=method.name, known=known)
    return out


async def run_together(coros: Iterable[Awaitable[None]]) -> None:
    """Run every attempt at once; the first exception stops them all (none is left running)."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def build_method(cfg: dict[str, Any]) -> Method:
    """The method of a resolved config (its ``method`` node, ``_target_`` + arguments)."""
    method = build(cfg.get("method"), "method")
    if not isinstance(method, Method):
        raise ConfigError(f"method._target_ builds {type(method).__name__}, not a scale Method")
    return method


def open_run_dir(cfg: dict[str, Any], settings: RunSettings, shard: Shard,
                 method: Method) -> tuple[RunDir, dict[tuple[str, int], Record]]:
    """Ready ``settings.run_dir`` for this shard; returns it and the attempts already done (their records).

    Refuses another run's folder; with ``overwrite`` each shard clears its own file and reads
    nothing old (another shard may not have cleared its own yet), and rank 0 the shared files.
    Builds the configured tracker first (run_eval and every point of a shared sweep pass here),
    so a bad ``logger`` setting stops the run before anything runs.
    """
    check_logger(cfg)
    if method.dataset_wide and shard.world > 1:
        raise ConfigError(
            f"a dataset-wide router (fraction, random) ranks the steps of the whole run, but this "
            f"process is shard {shard.rank} of {shard.world} ({shard.source}): run it as one process")
    run_dir = RunDir(settings.run_dir)
    check_run_dir(run_dir, cfg, settings.overwrite)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    own_file = run_dir.shard_file(shard.rank, shard.world)
    # This shard's marker from an earlier launch must not say it finished this one.
    run_dir.done_marker(shard.rank, shard.world).unlink(missing_ok=True)
    if settings.overwrite:
        own_file.unlink(missing_ok=True)
        if shard.is_main:
            stale = [f for f in run_dir.shard_files() if not f.name.endswith(f"-of-{shard.world:04d}.jsonl")]
            for f in [run_dir.records, run_dir.metrics, *stale]:
                f.unlink(missing_ok=True)
    if shard.is_main:
        run_dir.write_config(cfg)
        write_json(run_dir.env, redact(environment(), secrets_in(cfg)))
    elif not run_dir.config.is_file():
        # Array tasks start in any order; whichever comes first leaves the config for finalize.
        run_dir.write_config(cfg)
    records = {} if settings.overwrite else run_dir.collect().records
    done = {k: r for k, r in records.items() if not (settings.retry_errors and r.error is not None)}
    return run_dir, done


def close_shard(cfg: dict[str, Any], run_dir: RunDir, shard: Shard, problems: list[Problem],
                n_samples: int) -> Metrics | None:
    """Mark this shard done; where this process finalizes (a single process, rank 0 of a
    launcher once every rank is done), merge, score and log the run."""
    run_dir.done_marker(shard.rank, shard.world).write_text((shard.launch or "ok") + "\n")
    if shard.source == "slurm_array":
        log.info("array task %d/%d done; when all are, run: scale-finalize %s", shard.rank, shard.world,
                 run_dir.path)
        return None
    if not shard.is_main:
        return None
    if shard.world > 1:  # launcher ranks run side by side: wait for the others
        wait_for_shards(run_dir, shard.world, shard.launch)
    metrics, records = finalize_run(run_dir.path, problems=problems, n_samples=n_samples)
    after_run(cfg, run_dir.path, metrics, records)  # logger=...: a tracker sees the finished run (scale.tracking)
    return metrics


def run_eval(cfg: dict[str, Any], systems: Systems | None = None,
             on_record: OnRecord | None = None) -> Metrics | None:
    """Run (or resume) one evaluation described by a resolved config dict.

    Returns the metrics where this process finalizes the run (a single process, or rank 0
    of a launcher); Slurm array tasks leave that to ``scale-finalize``.
    """
    if (cfg.get("sweep") or {}).get("mode") == "shared":  # many run dirs, one job (scale.runner.sweep)
        from scale.runner.sweep import run_from_config

        run_from_config(cfg, systems, on_record)
        return None
    settings = RunSettings.from_config(cfg)
    shard = current_shard()
    problems = load_from_config(cfg.get("data"))
    method = build_method(cfg)
    run_dir, done = open_run_dir(cfg, settings, shard, method)
    items = [(p, s) for p, s in work_items(problems, settings.n_samples, shard) if (p.id, s) not in done]
    log.info("shard %d/%d: %d attempts to run, %d already done", shard.rank, shard.world, len(items),
             len(done))
    if method.dataset_wide and done and items:
        log.warning("dataset-wide router: resuming, so it ranks the %d remaining attempts only, not the "
                    "whole run (an uninterrupted run may route them differently)", len(items))
    own_systems = systems is None
    ctx_systems = systems or build_systems(cfg["systems"], cfg.get("engine"), only=method.uses_systems)
    ctx = Context(systems=ctx_systems, seed=settings.seed, n_attempts=len(items))
    method.prepare(problems, settings.n_samples, ctx)
    concurrency = concurrency_for(settings.max_concurrency, ctx_systems, method.uses_systems)
    log.info("runner.max_concurrency=%s: %d attempts in flight", settings.max_concurrency, concurrency)
    if method.dataset_wide and concurrency < len(items):
        # Dataset-wide routing waits for every attempt's scores; the engines still batch.
        log.info("dataset-wide router: running all %d attempts concurrently", len(items))
        concurrency = max(1, len(items))
    with RecordWriter(run_dir.shard_file(shard.rank, shard.world)) as writer, \
            Grader(timeout_s=settings.grading_timeout_s) as grader:
        ctx.grader = grader
        asyncio.run(_run_and_close(method, items, ctx, grader, writer, concurrency, settings,
                                   own_systems, on_record, known_chains(done.values())))
    return close_shard(cfg, run_dir, shard, problems, settings.n_samples)


async def _run_and_close(method: Method, items: list[tuple[Problem, int]], ctx: Context, grader: Grader,
                         writer: RecordWriter, concurrency: int, settings: RunSettings, own_systems: bool,
                         on_record: OnRecord | None, known: dict[str, int]) -> None:
    try:
        await run_items(method, items, ctx, grader, writer, concurrency, settings.progress, on_record,
                        settings.max_error_fraction, known)
    finally:
        if own_systems:
            await ctx.systems.aclose()
