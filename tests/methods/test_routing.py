"""Routers: threshold, dataset-wide fraction, random at a matched fraction, extremes."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from omegaconf import OmegaConf

from scale.build import build
from scale.errors import ConfigError
from scale.paths import CONFIG_DIR


def build_router(cfg):
    """The router of ``configs/router/<name>.yaml`` with ``cfg``'s other keys set on it."""
    cfg = dict(cfg)
    node = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / "router" / f"{cfg.pop('name')}.yaml"))
    return build({**node, **cfg}, "router")


def _route_all(router, score_lists: dict[str, list[float]]) -> dict[str, list[bool]]:
    router.expect(len(score_lists))

    async def run():
        keys = list(score_lists)
        results = await asyncio.gather(*(router.route(k, score_lists[k]) for k in keys))
        return dict(zip(keys, results))

    return asyncio.run(run())


def _scores(n_attempts: int = 40, seed: int = 0) -> dict[str, list[float]]:
    rng = random.Random(seed)
    return {f"p{i}|0": [round(rng.random(), 2) for _ in range(rng.randint(1, 7))] for i in range(n_attempts)}


def test_threshold_is_strictly_greater():
    routes = _route_all(build_router({"name": "threshold", "tau": 0.5}), {"a": [0.5, 0.51, 0.0, 1.0]})
    assert routes["a"] == [False, True, False, True]


@pytest.mark.parametrize("name, expected", [("all_s1", False), ("all_s2", True)])
def test_extremes(name, expected):
    routes = _route_all(build_router({"name": name}), _scores())
    assert all(r == expected for rs in routes.values() for r in rs)


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.8, 1.0])
def test_fraction_takes_exactly_the_hardest_q(q):
    scores = _scores()
    routes = _route_all(build_router({"name": "fraction", "q": q}), scores)
    flat = [(s, r) for k in scores for s, r in zip(scores[k], routes[k])]
    assert sum(r for _, r in flat) == round(q * len(flat))
    if 0 < q < 1:
        chosen = [s for s, r in flat if r]
        rest = [s for s, r in flat if not r]
        assert min(chosen) >= max(rest)


@pytest.mark.parametrize("fraction", [0.1, 0.37, 0.56])
def test_random_hits_the_fraction_and_ignores_scores(fraction):
    scores = _scores(60)
    routes = _route_all(build_router({"name": "random", "fraction": fraction, "seed": 3}), scores)
    flat = [(s, r) for k in scores for s, r in zip(scores[k], routes[k])]
    assert sum(r for _, r in flat) == round(fraction * len(flat))
    # Not the hardest steps: the control must not see the scores.
    fr = _route_all(build_router({"name": "fraction", "q": fraction}), scores)
    assert routes != fr
    # Same seed, same routing (reruns and resumes route identically).
    again = _route_all(build_router({"name": "random", "fraction": fraction, "seed": 3}), scores)
    assert again == routes


def test_random_matches_an_earlier_runs_fraction(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"s2_fraction": 0.3}))
    router = build_router({"name": "random", "match_run": str(tmp_path)})
    assert router.q == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="no metrics.json"):
        build_router({"name": "random", "match_run": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    "cfg, word",
    [({"name": "threshold", "tau": 1.5}, "1.5"), ({"name": "fraction", "q": -0.1}, "-0.1"),
     ({"name": "threshold", "_target_": "scale.routing.Nope"}, "'Nope'"),
     ({"name": "random"}, "router.fraction"),
     ({"name": "threshold", "tua": 0.5}, "tua"), ({"name": "threshold", "tau": "abc"}, "router.tau: expected a number, got 'abc'"),
     ({"name": "fraction", "q": True}, "router.q")],
)
def test_bad_router_config_named(cfg, word):
    with pytest.raises(ConfigError, match=word):
        build_router(cfg)
