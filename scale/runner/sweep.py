"""A router sweep as one job that does each piece of work once (``sweep=shared``).

    scale-eval experiment=table2_tau_sweep sweep=shared       # 8 taus x 2 datasets, one job
    scale-eval experiment=debug sweep=shared sweep.over=router.tau sweep.values=[0.3,0.6]
    scale-eval router=fraction sweep=shared sweep.over=router.q sweep.values=[0.2,0.5] run_dir='runs/q${router.q}'

The points are the experiment's ``hydra.sweeper.params`` (or ``sweep.over`` / ``sweep.values``),
each composed exactly as ``scale-eval OVERRIDES POINT`` would compose it, so every point
gets its own complete run dir (same config.json, schema and records as an independent run
of that point). Points whose configs differ only in the router are one *group*: for each
attempt of a group, SCALE's plan (split, outlines, selection, scores) is computed once, each
point's router routes it, and the distinct route vectors are solved as a prefix tree: step
i is solved once for every distinct prefix routes[:i+1], so points agree on every step
before the first one they route differently. Each point's record holds the plan's calls and
the calls on its own path, as an independent run would; under greedy (or seeded) decoding
its records equal that run's, seconds aside. Groups (e.g. two datasets) run one after the other.

The Hydra multirun (``scale-eval -m experiment=table2_tau_sweep``) stays the way to spread
points over a cluster. Shards (``accelerate launch``, Slurm arrays) split attempts as in
``run_eval``; every point's run dir gets the shard's records.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scale.data import Problem, load_from_config
from scale.errors import ConfigError
from scale.grading import Grader, grade_answer
from scale.ledger import Call, Ledger
from scale.methods.base import Context
from scale.methods.scale_method import Plan, Scale, SolvedStep
from scale.rundir import Metrics, Record, RecordWriter, RunDir
from scale.runner.order import known_chains
from scale.runner.run import (
    ErrorBudget,
    Item,
    RunSettings,
    attempt_loop,
    build_method,
    close_shard,
    concurrency_for,
    error_record,
    fatal,
    open_run_dir,
    to_record,
    work_items,
)
from scale.runner.shard import current_shard
from scale.systems import Systems, build_systems

log = logging.getLogger(__name__)

# What may differ between the points of one group: the router (and SCALE's copy of it), and
# the names derived from it. Everything else must be equal, or the plan would differ.
_POINT_KEYS = ("router", "run_dir", "name", "sweep")


# -- the points ------------------------------------------------------------------------------
def hydra_points(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Every point's resolved config, composed inside the running ``scale-eval`` as
    ``scale-eval TASK_OVERRIDES POINT sweep=none`` would compose it."""
    from hydra import compose
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        raise ConfigError("sweep=shared composes its points through Hydra (scale-eval ... sweep=shared); "
                          "from Python call scale.runner.sweep.run_shared_sweep(configs)")
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN:
        raise ConfigError("sweep=shared runs the whole sweep in one job: drop -m (or drop sweep=shared "
                          "to run one job per point)")
    node = cfg.get("sweep") or {}
    raw = OmegaConf.to_container(hc.sweeper, resolve=False).get("params") or {}  # type: ignore[union-attr]
    params = {str(k): str(v) for k, v in raw.items()}
    over, values = node.get("over"), node.get("values")
    if (over is None) != (values is None):
        raise ConfigError("sweep.over and sweep.values go together (e.g. sweep.over=router.tau "
                          "sweep.values=[0.2,0.5])")
    if over is not None:
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.values must be a non-empty list, got {values!r}")
        params[str(over)] = ",".join(str(v) for v in values)
    task = []
    # Raw strings: reading them through the config would resolve run_dir=runs/tau${router.tau}
    # against the job's own config, the same for every point.
    for override in OmegaConf.to_container(hc.overrides.task, resolve=False):
        key = override.split("=", 1)[0].lstrip("+~")
        if key == "sweep" or key.startswith("sweep."):
            continue
        if key in params and over != key:  # the command line wins over the experiment's values
            params[key] = override.split("=", 1)[1]
            continue
        task.append(override)
    if not params:
        raise ConfigError("sweep=shared: nothing to sweep (no hydra.sweeper.params in the experiment; "
                          "give sweep.over=KEY sweep.values=[...])")
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    (batch,) = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    points = []
    for point in batch:
        composed = compose(config_name=hc.job.config_name or "eval", overrides=[*task, *point, "sweep=none"])
        points.append(OmegaConf.to_container(composed, resolve=True))
    log.info("sweep=shared: %d points from %s", len(points), ", ".join(f"{k}={v}" for k, v in params.items()))
    return points


def _plan_key(cfg: dict[str, Any]) -> str:
    """The config minus what the points of one group may differ in."""
    rest = {k: v for k, v in cfg.items() if k not in _POINT_KEYS}
    method = dict(rest.get("method") or {})
    method.pop("router", None)
    rest["method"] = method
    return json.dumps(rest, sort_keys=True, default=str)


def group_points(configs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Points that share a plan (same config but the router), in the order given."""
    run_dirs = Counter(str(c.get("run_dir")) for c in configs)
    clash = [d for d, n in run_dirs.items() if n > 1]
    if clash:
        raise ConfigError(f"sweep=shared: points share run dir {clash[0]}; put the swept key in it "
                          "(e.g. run_dir='runs/tau${router.tau}')")
    groups: dict[str, list[dict[str, Any]]] = {}
    for c in configs:
        groups.setdefault(_plan_key(c), []).append(c)
    return list(groups.values())


# -- one group ---------------------------------------------------------------------------------
@dataclass
class SweepStats:
    """Work done once by the shared sweep, and what the points' records add up to."""

    attempts: int = 0
    route_vectors: int = 0  # distinct route vectors, summed over attempts (1 = every point routed alike)
    tree_steps: int = 0  # steps solved by the tree
    point_steps: int = 0  # steps the points' records hold (what independent runs would solve)
    calls: int = 0
    generated_tokens: int = 0  # response tokens actually generated (plan once, each tree node once)
    point_generated_tokens: int = 0  # the same, summed over the points' records (= independent runs)

    def add_calls(self, calls: list[Call]) -> None:
        self.calls += len(calls)
        self.generated_tokens += sum(c.response_tokens for c in calls)

    def add_record(self, rec: Record) -> None:
        self.point_generated_tokens += sum(c["response_tokens"] for c in rec.ledger)

    @property
    def token_share(self) -> float:
        return self.generated_tokens / self.point_generated_tokens if self.point_generated_tokens else 0.0


@dataclass
class Point:
    cfg: dict[str, Any]
    method: Scale
    run_dir: RunDir
    done: dict[tuple[str, int], Record]  # the records this point's run dir already holds
    budget: ErrorBudget  # over the attempts this point still needs
    writer: RecordWriter | None = None


@dataclass
class Branch:
    """One point's path through the tree: its solved steps and their calls, or the error."""

    solved: list[SolvedStep]
    calls: list[Call]
    error: BaseException | None = None


async def solve_tree(method: Scale, plan: Plan, routes: dict[int, list[bool]], ctx: Context,
                     stats: SweepStats) -> dict[int, Branch]:
    """Solve the distinct route vectors as a prefix tree; each point's branch by index.

    Step i is solved once per distinct routes[:i+1]; siblings run concurrently (the engine
    batches them). A failed step fails the points below it only.
    """
    out: dict[int, Branch] = {}
    n_steps = len(plan.steps)
    for p, r in routes.items():
        if len(r) != n_steps:
            raise RuntimeError(f"router gave {len(r)} routes for {n_steps} steps (point {p})")

    async def grow(depth: int, solved: list[SolvedStep], calls: list[Call], members: dict[int, list[bool]]) -> None:
        if depth == n_steps:
            for p in members:
                out[p] = Branch(solved, calls)
            return
        by_choice: dict[bool, dict[int, list[bool]]] = defaultdict(dict)
        for p, r in members.items():
            by_choice[bool(r[depth])][p] = r

        async def child(to_s2: bool, group: dict[int, list[bool]]) -> None:
            ledger = Ledger()
            try:
                step = await method.solve_step(plan, depth, "s2" if to_s2 else "s1", solved, ctx, ledger)
            except Exception as err:
                if fatal(err):
                    raise
                for p in group:  # this attempt fails for these points only
                    out[p] = Branch(solved, calls + ledger.calls, err)
                return
            finally:
                stats.add_calls(ledger.calls)
                stats.tree_steps += 1
            await grow(depth + 1, [*solved, step], calls + ledger.calls, group)

        await asyncio.gather(*(child(c, g) for c, g in sorted(by_choice.items())))

    await grow(0, [], [], routes)
    return out


async def _run_group(points: list[Point], items: list[Item], ctx: Context, grader: Grader,
                     settings: RunSettings, stats: SweepStats, concurrency: int,
                     on_record: Callable[[Record], None] | None) -> None:
    planner = points[0].method

    def write(p: int, rec: Record) -> None:
        point = points[p]
        assert point.writer is not None
        point.writer.write(rec)
        stats.add_record(rec)
        if on_record is not None:
            on_record(rec)
        point.budget.add(rec)

    def needing(problem: Problem, sample_idx: int) -> list[int]:
        return [i for i, pt in enumerate(points) if (problem.id, sample_idx) not in pt.done]

    async def produce(problem: Problem, sample_idx: int) -> tuple[Plan, Ledger]:
        plan_ledger = Ledger()
        try:
            return await planner.plan(problem, sample_idx, ctx, plan_ledger), plan_ledger
        finally:
            stats.add_calls(plan_ledger.calls)

    def fail(problem: Problem, sample_idx: int, err: BaseException, seconds: float) -> None:
        for p in needing(problem, sample_idx):
            write(p, error_record(problem, sample_idx, points[p].method, err, seconds))
            points[p].method.abandon(problem, sample_idx)  # its router stops waiting for it

    async def finish(problem: Problem, sample_idx: int, planned: tuple[Plan, Ledger],
                     start: float) -> list[dict[str, Any]] | None:
        plan, plan_ledger = planned
        need = needing(problem, sample_idx)
        stats.attempts += 1
        routes = await asyncio.gather(*(points[p].method.route(plan) for p in need))
        stats.route_vectors += len({tuple(r) for r in routes})
        stats.point_steps += sum(len(r) for r in routes)
        branches = await solve_tree(planner, plan, dict(zip(need, routes)), ctx, stats)
        graded: dict[str | None, tuple[bool, str]] = {}
        chain: list[dict[str, Any]] | None = None  # the first point's, for the start order
        for p in need:
            branch, method = branches[p], points[p].method
            seconds = time.perf_counter() - start
            if branch.error is not None:
                log.warning("attempt %s/%d failed: %s", problem.id, sample_idx, branch.error)
                write(p, error_record(problem, sample_idx, method, branch.error, seconds))
                continue
            attempt = method.attempt(plan, branch.solved, Ledger([*plan_ledger.calls, *branch.calls]))
            if attempt.answer not in graded:
                graded[attempt.answer] = await grade_answer(grader, attempt.answer, problem.answer)
            correct, reason = graded[attempt.answer]
            rec = to_record(problem, sample_idx, method, attempt, correct, reason, seconds)
            write(p, rec)
            chain = chain or rec.ledger
        return chain

    known: dict[str, int] = {}
    for pt in points:
        for pid, tokens in known_chains(pt.done.values()).items():
            known[pid] = max(known.get(pid, 0), tokens)
    await attempt_loop(items, produce, finish, fail, concurrency=concurrency, progress=settings.progress,
                       desc=f"sweep x{len(points)}", known=known)


def _prepare(cfgs: list[dict[str, Any]], shard, settings: RunSettings,
             problems: list[Problem]) -> tuple[list[Point], list[tuple[Problem, int]]]:
    mine = work_items(problems, settings.n_samples, shard)
    points = []
    for cfg in cfgs:
        method = build_method(cfg)
        if not isinstance(method, Scale) or getattr(method, "probe", False):
            raise ConfigError(f"sweep=shared shares SCALE's plan between router settings; method "
                              f"{cfg['method'].get('name')!r} has none (run it as a multirun, -m)")
        run_dir, done = open_run_dir(cfg, RunSettings.from_config(cfg), shard, method)
        n_items = sum((pr.id, s) not in done for pr, s in mine)
        budget = ErrorBudget(n_items, settings.max_error_fraction, str(run_dir.path))
        points.append(Point(cfg, method, run_dir, done, budget))
    items = [(pr, s) for pr, s in mine if any((pr.id, s) not in pt.done for pt in points)]
    return points, items


async def _run_all(groups: list[tuple[list[Point], list[tuple[Problem, int]], RunSettings, list[Problem]]],
                   systems: Systems, own_systems: bool, stats: SweepStats,
                   on_record: Callable[[Record], None] | None) -> None:
    shard = current_shard()
    try:
        for points, items, settings, problems in groups:
            ctx = Context(systems=systems, seed=settings.seed)
            for pt in points:  # as run_eval: the whole run's problems (router.match_run is checked against them)
                pt.method.prepare(problems, settings.n_samples, Context(systems=systems, seed=settings.seed,
                                                                        n_attempts=pt.budget.n_items))
            wide = any(pt.method.dataset_wide for pt in points)
            uses = set().union(*(pt.method.uses_systems for pt in points))
            concurrency = max(1, len(items)) if wide else concurrency_for(settings.max_concurrency, systems, uses)
            with Grader(timeout_s=settings.grading_timeout_s) as grader:
                ctx.grader = grader
                writers = [RecordWriter(pt.run_dir.shard_file(shard.rank, shard.world)) for pt in points]
                for pt, w in zip(points, writers):
                    pt.writer = w
                try:
                    await _run_group(points, items, ctx, grader, settings, stats, concurrency, on_record)
                finally:
                    for w in writers:
                        w.close()
    finally:
        if own_systems:
            await systems.aclose()


def run_shared_sweep(configs: list[dict[str, Any]], systems: Systems | None = None,
                     on_record: Callable[[Record], None] | None = None) -> tuple[list[Metrics | None], SweepStats]:
    """Run every point (resolved configs, one run dir each); metrics per point, in order,
    where this process finalizes (None for Slurm array tasks and non-main ranks)."""
    if not configs:
        raise ConfigError("sweep=shared: no points")
    configs = [copy.deepcopy(c) for c in configs]
    shard = current_shard()
    stats = SweepStats()
    planned = []
    for cfgs in group_points(configs):
        settings = RunSettings.from_config(cfgs[0])
        problems = load_from_config(cfgs[0].get("data"))
        points, items = _prepare(cfgs, shard, settings, problems)
        planned.append((points, items, settings, problems))
        log.info("sweep group of %d points (%s): %d attempts to run", len(points),
                 ", ".join(str(p.run_dir.path) for p in points), len(items))
    first = configs[0]
    own_systems = systems is None
    uses = set().union(*(pt.method.uses_systems for g in planned for pt in g[0]))
    systems_cfgs = {json.dumps([c.get("systems"), c.get("engine")], sort_keys=True, default=str) for c in configs}
    if len(systems_cfgs) > 1 and systems is None:
        raise ConfigError("sweep=shared: the points use different systems; sweep them as a multirun (-m)")
    ctx_systems = systems or build_systems(first["systems"], first.get("engine"), only=uses)
    asyncio.run(_run_all(planned, ctx_systems, own_systems, stats, on_record))
    by_dir: dict[str, Metrics | None] = {}
    for points, _items, settings, problems in planned:
        for pt in points:
            by_dir[str(pt.run_dir.path)] = close_shard(pt.cfg, pt.run_dir, shard, problems, settings.n_samples)
    out = [by_dir[str(RunDir(c["run_dir"]).path)] for c in configs]  # in the caller's order
    log.info("sweep=shared: %d points, %d attempts planned once; generated %d response tokens, the "
             "points' records hold %d (%.1f%%)", len(configs), stats.attempts, stats.generated_tokens,
             stats.point_generated_tokens, 100 * stats.token_share)
    return out, stats


def run_from_config(cfg: dict[str, Any], systems: Systems | None = None,
                    on_record: Callable[[Record], None] | None = None) -> None:
    """``scale-eval ... sweep=shared``: compose the points, run them, log each point's figures."""
    configs = hydra_points(cfg)
    metrics, _stats = run_shared_sweep(configs, systems, on_record)
    for c, m in zip(configs, metrics):
        if m is not None:
            log.info("%s: accuracy %.2f%%, tok_paper %.1f, s2_fraction %.3f (%d attempts)", c["run_dir"],
                     100 * m.accuracy, m.tok_paper, m.s2_fraction, m.n_attempts)
