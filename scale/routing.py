"""Routers: which steps go to System 2.

- ``threshold``: S2 when score > tau (the paper, tau = 0.5).
- ``fraction``: the hardest fraction q of all steps in the run (dataset-wide budget).
- ``random``: a random set of steps of the same fraction — the control the paper lacks;
  ``match_run`` takes the fraction from an earlier run's metrics.json (its s2_fraction).
- ``all_s1`` / ``all_s2``: uniform extremes.

Each is built from its ``configs/router/*.yaml`` node (``_target_`` + arguments).

Dataset-wide routers wait until every attempt of the run has its scores (a barrier),
then rank all steps together; ties break by a stable hash so reruns route identically.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path

from scale.errors import ConfigError


def _u(key: str) -> float:
    """Deterministic uniform in [0, 1) from a key (stable across processes and reruns)."""
    return zlib.crc32(key.encode()) / 2**32


class Router:
    name = "router"
    dataset_wide = False

    def expect(self, n_attempts: int) -> None:
        """Number of attempts that will call ``route`` (dataset-wide routers wait for all)."""

    async def route(self, key: str, scores: list[float]) -> list[bool]:
        raise NotImplementedError


class ThresholdRouter(Router):
    name = "threshold"

    def __init__(self, tau: float = 0.5) -> None:
        if not 0 <= tau <= 1:
            raise ConfigError(f"router.tau must be in [0, 1], got {tau}")
        self.tau = tau

    async def route(self, key: str, scores: list[float]) -> list[bool]:
        return [s > self.tau for s in scores]


class ConstantRouter(Router):
    """Every step to one system: ``s2=true`` is uniform System 2, ``false`` uniform System 1."""

    def __init__(self, s2: bool) -> None:
        self.s2 = s2
        self.name = "all_s2" if s2 else "all_s1"

    async def route(self, key: str, scores: list[float]) -> list[bool]:
        return [self.s2] * len(scores)


class _BarrierRouter(Router):
    """Collects every attempt's scores, then picks exactly round(q * total steps) steps."""

    dataset_wide = True

    def __init__(self, q: float) -> None:
        if not 0 <= q <= 1:
            raise ConfigError(f"router fraction must be in [0, 1], got {q}")
        self.q = q
        self._expected: int | None = None
        self._scores: dict[str, list[float]] = {}
        self._chosen: set[tuple[str, int]] | None = None
        self._ready: asyncio.Event | None = None

    def expect(self, n_attempts: int) -> None:
        self._expected = n_attempts
        self._scores.clear()
        self._chosen = None
        self._ready = None

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        raise NotImplementedError

    async def route(self, key: str, scores: list[float]) -> list[bool]:
        if self._expected is None:
            raise RuntimeError(f"{self.name} router needs expect(n_attempts) before routing")
        if self._ready is None:
            self._ready = asyncio.Event()
        self._scores[key] = list(scores)
        if len(self._scores) >= self._expected:
            self._decide()
        await self._ready.wait()
        assert self._chosen is not None
        return [(key, i) in self._chosen for i in range(len(scores))]

    def _decide(self) -> None:
        steps = [(k, i, s) for k, ss in self._scores.items() for i, s in enumerate(ss)]
        n = round(self.q * len(steps))
        ranked = sorted(steps, key=lambda t: self.rank_key(*t))
        self._chosen = {(k, i) for k, i, _ in ranked[:n]}
        assert self._ready is not None
        self._ready.set()


class FractionRouter(_BarrierRouter):
    name = "fraction"

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        return (-score, _u(f"{key}|{step}"))


class RandomRouter(_BarrierRouter):
    name = "random"

    def __init__(self, fraction: float | None = None, match_run: str | None = None, seed: int = 0) -> None:
        if match_run:
            metrics = Path(match_run) / "metrics.json"
            if not metrics.is_file():
                raise ConfigError(f"router.match_run: no metrics.json in {match_run}")
            fraction = float(json.loads(metrics.read_text())["s2_fraction"])
        if fraction is None:
            raise ConfigError("router=random needs router.fraction or router.match_run")
        super().__init__(fraction)
        self.seed = seed

    def rank_key(self, key: str, step: int, score: float) -> tuple:
        return (_u(f"{self.seed}|{key}|{step}"),)
