"""Routers: which steps go to System 2.

- ``threshold``: S2 when score > tau (the paper's Eq. 4; it states no tau for Table 1: 0.5 is
  the authors' README default, Table 2 sweeps 0.2-0.9; ``tau: null`` = the scorer's own threshold).
- ``fraction``: the hardest fraction q of the *scored* steps of the run (dataset-wide budget).
- ``random``: a random set of scored steps of the same fraction — the control the paper
  lacks; ``match_run`` takes the fraction, and every fixed decision, from an earlier run.
- ``all_s1`` / ``all_s2``: uniform extremes.

A router sees each step's :class:`~scale.difficulty.StepScore`. Scores the method fixed
itself (the last step pinned at 0.9, the one-step fallback at 1.0: ``score.fixed``) are not
evidence of difficulty, so ``fraction`` and ``random`` never spend their budget on them:
those steps keep their fixed decision (score > the scorer's threshold, so the pinned last
step goes to System 2 as under the threshold router; with ``match_run``, the decision that run
took for the same attempt), and the fraction applies to the scored steps only. The control
then differs from SCALE in exactly one thing: which scored steps go to System 2.

Each router is built from its ``configs/router/*.yaml`` node (``_target_`` + arguments).
Dataset-wide routers wait until every attempt of the run has its scores (a barrier), then
rank all scored steps together; ties break by a stable hash so reruns route identically.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scale.checks import ZeroToOne, check_args
from scale.difficulty.base import FIXED_HOWS, DifficultyScorer, StepScore
from scale.errors import ConfigError, DataError


def attempt_key(problem_id: str, sample_idx: int) -> str:
    """How routers (and matched runs) name an attempt: ``problem_id|sample_idx``."""
    return f"{problem_id}|{sample_idx}"


def _u(key: str) -> float:
    """Deterministic uniform in [0, 1) from a key (stable across processes and reruns)."""
    return zlib.crc32(key.encode()) / 2**32


class Router:
    name = "router"
    dataset_wide = False
    # The scorer's threshold (bind): where fixed scores are decided, and tau=null's value.
    default_tau: float = 0.5

    def bind(self, scorer: DifficultyScorer) -> None:
        """Called once by the method with its scorer (a router may route at its threshold)."""
        self.default_tau = float(getattr(scorer, "threshold", 0.5))

    def expect(self, n_attempts: int) -> None:
        """Number of attempts that will call ``route`` (dataset-wide routers wait for all)."""

    def check_run(self, problem_ids: list[str], n_samples: int) -> None:
        """Called by the method before the first attempt with the run's problems; refuses a
        setting that cannot hold for them (default: nothing)."""

    def fixed_route(self, key: str, score: StepScore) -> bool:
        """The decision for a step of attempt ``key`` whose score the method fixed (not a scorer's output)."""
        return score.value > self.default_tau

    async def route(self, key: str, scores: Sequence[StepScore]) -> list[bool]:
        """True = System 2, one per step; ``key`` names the attempt (``problem|sample``)."""
        raise NotImplementedError

    def withdraw(self, key: str) -> None:
        """Attempt ``key`` failed and will not route (dataset-wide routers stop waiting for it)."""


class ThresholdRouter(Router):
    name = "threshold"

    @check_args("router")
    def __init__(self, tau: ZeroToOne | None = 0.5) -> None:
        self._tau = tau

    @property
    def tau(self) -> float:
        """The threshold in use: the configured one, else the scorer's (``tau: null``)."""
        return self.default_tau if self._tau is None else self._tau

    async def route(self, key: str, scores: Sequence[StepScore]) -> list[bool]:
        return [s.value > self.tau for s in scores]


class ConstantRouter(Router):
    """Every step to one system: ``s2=true`` is uniform System 2, ``false`` uniform System 1."""

    def __init__(self, s2: bool) -> None:
        self.s2 = s2
        self.name = "all_s2" if s2 else "all_s1"

    async def route(self, key: str, scores: Sequence[StepScore]) -> list[bool]:
        return [self.s2] * len(scores)


class _BarrierRouter(Router):
    """Collects every attempt's scores, then sends exactly round(q * scored steps) scored
    steps to System 2; fixed steps keep their fixed decision (module docstring)."""

    dataset_wide = True

    def __init__(self, q: float | None) -> None:
        self.q = q
        self._expected: int | None = None
        self._scores: dict[str, list[StepScore]] = {}
        self._chosen: set[tuple[str, int]] | None = None
        self._ready: asyncio.Event | None = None

    def expect(self, n_attempts: int) -> None:
        self._expected = n_attempts
        self._scores.clear()
        self._chosen = None
        self._ready = None

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        raise NotImplementedError

    def withdraw(self, key: str) -> None:
        if self._expected is None or key in self._scores or self._chosen is not None:
            return  # it routed already (it failed later), or the decision is made
        self._expected -= 1
        if self._ready is not None and len(self._scores) >= self._expected:
            self._decide()

    async def route(self, key: str, scores: Sequence[StepScore]) -> list[bool]:
        if self._expected is None:
            raise RuntimeError(f"{self.name} router needs expect(n_attempts) before routing")
        if self._ready is None:
            self._ready = asyncio.Event()
        self._scores[key] = list(scores)
        if len(self._scores) >= self._expected:
            self._decide()
        await self._ready.wait()
        assert self._chosen is not None
        return [self.fixed_route(key, s) if s.fixed else (key, i) in self._chosen for i, s in enumerate(scores)]

    def _decide(self) -> None:
        assert self.q is not None
        scored = [(k, i, s.value) for k, ss in self._scores.items() for i, s in enumerate(ss) if not s.fixed]
        n = round(self.q * len(scored))
        ranked = sorted(scored, key=lambda t: self.rank_key(*t))
        self._chosen = {(k, i) for k, i, _ in ranked[:n]}
        assert self._ready is not None
        self._ready.set()


class FractionRouter(_BarrierRouter):
    name = "fraction"

    @check_args("router")
    def __init__(self, q: ZeroToOne) -> None:
        super().__init__(q)

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        return (-score, _u(f"{key}|{step}"))


@dataclass
class MatchedRun:
    """What a like-for-like control takes from the run it matches (read via scale.rundir)."""

    path: str
    problem_ids: set[str] = field(default_factory=set)
    n_samples: int | None = None
    s2_scored: int = 0  # scored steps that run sent to System 2
    n_scored: int = 0  # scored steps in all
    fixed: dict[tuple[str, str], bool] = field(default_factory=dict)  # (attempt, how) -> S2
    fixed_common: dict[str, bool] = field(default_factory=dict)  # how -> commonest decision

    @property
    def fraction(self) -> float:
        return self.s2_scored / self.n_scored if self.n_scored else 0.0

    @classmethod
    def read(cls, path: str) -> MatchedRun:
        """Per attempt: which steps were scored or fixed, and where each was routed."""
        from scale.rundir import RunDir

        run = RunDir(path)
        records = [r for r in run.collect().records.values() if r.error is None]
        out = cls(path, {r.problem_id for r in records})
        if run.config.is_file():
            out.n_samples = run.read_config().get("n_samples")
        votes: dict[str, Counter[bool]] = {}
        for rec in records:
            key = attempt_key(rec.problem_id, rec.sample_idx)
            for step in rec.trace.get("steps", []):
                to_s2 = step.get("mode") == "s2"
                how = str(step.get("score_how", ""))
                if step.get("fixed", how in FIXED_HOWS):
                    out.fixed[(key, how)] = to_s2
                    votes.setdefault(how, Counter())[to_s2] += 1
                else:
                    out.n_scored += 1
                    out.s2_scored += to_s2
        if not records:
            raise DataError(f"router.match_run: {path} holds no finished SCALE attempts to match")
        out.fixed_common = {how: c.most_common(1)[0][0] for how, c in votes.items()}
        return out


class RandomRouter(_BarrierRouter):
    """The control: scored steps to System 2 at random, at a given or matched fraction."""

    name = "random"

    @check_args("router")
    def __init__(self, fraction: ZeroToOne | None = None, match_run: str | None = None, seed: int = 0) -> None:
        if match_run:
            if not Path(match_run).is_dir():
                raise ConfigError(f"router.match_run: no run directory {match_run}")
        elif fraction is None:
            raise ConfigError("router=random needs router.fraction or router.match_run")
        super().__init__(None if match_run else fraction)
        self.match_run = match_run or None
        self.matched: MatchedRun | None = None
        self.seed = seed

    def expect(self, n_attempts: int) -> None:
        super().expect(n_attempts)
        if self.match_run and self.matched is None:  # read at start-up, before any attempt
            self.matched = MatchedRun.read(self.match_run)
            self.q = self.matched.fraction

    def check_run(self, problem_ids: list[str], n_samples: int) -> None:
        m = self.matched
        if m is None:
            return
        if not m.problem_ids & set(problem_ids):
            raise ConfigError(f"router.match_run: {m.path} holds none of this run's problems "
                              f"(it has e.g. {sorted(m.problem_ids)[:2]}): match a run of the same data")
        if m.n_samples is not None and m.n_samples != n_samples:
            raise ConfigError(f"router.match_run: {m.path} ran n_samples={m.n_samples}, this run "
                              f"n_samples={n_samples}: match a run of the same setting")

    def fixed_route(self, key: str, score: StepScore) -> bool:
        m = self.matched
        if m is not None:
            if (key, score.how) in m.fixed:
                return m.fixed[(key, score.how)]
            if score.how in m.fixed_common:  # the control's attempt fixed a step the match did not
                return m.fixed_common[score.how]
        return super().fixed_route(key, score)

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        return (_u(f"{self.seed}|{key}|{step}"),)
