"""The learned router against the prompted scorer, side by side on held-out measured labels.

    python benchmarks/bench_difficulty.py --json-out runs/bench/difficulty.json     # CPU, embedded SmolLM2
    python benchmarks/bench_difficulty.py --problems 8 --routed-problems 4 --base tiny-qwen3   # quicker

Stages (each one's output is kept under ``--work`` and reused by a rerun; ``--fresh`` redoes all):

1. probe SCALE (``method.probe=true``, experiment=demo budgets) on ``--problems`` gsm8k_train problems;
2. ``scale.train.traces``: measured labels, split by problem (train / validation / test);
3. ``scale.train.run.train``: LoRA classifier on ``--base``;
4. side by side on the test split: the prompted scorer (live System 1 calls) and the classifier
   score every step of every held-out problem, all problems in flight together as in a run:
   AUROC against the measured labels, seconds / prompt tokens / generated tokens of scoring
   per problem, and the System 2 fraction each yields at its own threshold (0.5 / the adapter's);
5. SCALE routed by the classifier (``experiment=classifier_route``, SmolLM2 systems) on
   ``--routed-problems`` GSM8K test problems: the share of the run's wall time spent scoring
   (target <= 5%) and the generated scoring tokens (target 0); the same run with the prompted
   scorer beside it.

Seconds on a shared CPU drift; the ratios within one run are the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")

from scale.build import build
from scale.ledger import Ledger
from scale.methods.base import Context
from scale.rundir import RunDir
from scale.runner.env import environment
from scale.runner.run import run_eval
from scale.systems import build_systems
from scale.testing.config import compose
from scale.train import metrics as m
from scale.train import traces as tr
from scale.train.config import TrainConfig
from scale.train.data import load_traces
from scale.train.run import train

TARGET_SHARE = 0.05
BUDGETS = ["method.n_outlines=1", "method.select=false", "method.outline_max_tokens=64", "method.max_steps=4",
           "runner.progress=false"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("runs/bench/difficulty"), help="stage outputs (reused)")
    p.add_argument("--fresh", action="store_true", help="redo every stage")
    p.add_argument("--problems", type=int, default=48, help="gsm8k_train problems probed")
    p.add_argument("--base", default="smollm2-135m-instruct", help="classifier base model")
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of probed problems for validation")
    p.add_argument("--test-fraction", type=float, default=0.3, help="share of probed problems held out")
    p.add_argument("--routed-problems", type=int, default=8, help="GSM8K test problems in the routed runs")
    p.add_argument("--s1-tokens", type=int, default=64, help="routed runs: System 1 budget (experiment=demo's)")
    p.add_argument("--s2-tokens", type=int, default=128, help="routed runs: System 2 budget (experiment=demo's)")
    p.add_argument("--json-out", type=Path, default=None)
    return p.parse_args(argv)


def probe(work: Path, n: int) -> Path:
    out = work / "probe"
    if not (out / "metrics.json").is_file():
        run_eval(compose("experiment=demo", "data=gsm8k", "data.name=gsm8k_train", f"data.limit={n}",
                         "method.probe=true", *BUDGETS, f"run_dir={out}"))
    return out


def traces_of(work: Path, probe_dir: Path, val: float, test: float) -> Path:
    out = work / "traces"
    if not (out / "dataset_dict.json").is_file():
        built = tr.build([probe_dir], val_fraction=val, test_fraction=test)
        tr.save(built, out, f"benchmarks/bench_difficulty.py (probe {probe_dir})", overwrite=True)
    return out


def adapter_of(work: Path, traces: Path, base: str, epochs: float) -> Path:
    out = work / "adapter"
    if not (out / "difficulty.json").is_file():
        train(TrainConfig.from_dict({"model": base, "traces": str(traces), "output_dir": str(out),
                                     "report_to": "none", "overwrite": True, "max_length": 384,
                                     "train": {"epochs": epochs, "batch_size": 8, "lr": 5e-4, "logging_steps": 5}}))
    return out


def held_out_problems(traces: Path) -> list[dict[str, Any]]:
    """Test-split rows grouped back into problems: question, step list, label per step."""
    loaded = load_traces(traces, splits=("test",))  # checked: present, not empty, labels 0/1
    rows = loaded.dataset["test"].to_list()  # every column: run, problem_id, sample_idx, ...
    by: dict[tuple[str, str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        by[(r["run"], r["problem_id"], r["sample_idx"])][r["step_idx"]] = r
    out = []
    for steps in by.values():
        last = max(steps)
        full = [*steps[last]["previous_steps"], steps[last]["step"]]  # every step, labelled or not
        out.append({"question": steps[last]["problem"], "steps": full,
                    "labels": {i: r["label"] for i, r in steps.items()},
                    "recorded_prompted": {i: r["prompted_score"] for i, r in steps.items()}})
    return out


async def score_all(scorer: Any, problems: list[dict[str, Any]], ctx: Any) -> tuple[list[list[float]], list[Ledger],
                                                                                   float]:
    ledgers = [Ledger() for _ in problems]
    start = time.perf_counter()
    scores = await asyncio.gather(*(scorer.score(p["question"], p["steps"], ctx, lg)
                                    for p, lg in zip(problems, ledgers)))
    return [[s.value for s in ss] for ss in scores], ledgers, time.perf_counter() - start


def figures(name: str, problems: list[dict[str, Any]], scores: list[list[float]], ledgers: list[Ledger],
            wall: float, tau: float) -> dict[str, Any]:
    p = [s for prob, ss in zip(problems, scores) for i, s in enumerate(ss) if i in prob["labels"]]
    y = [prob["labels"][i] for prob, ss in zip(problems, scores) for i in range(len(ss)) if i in prob["labels"]]
    calls = [c for lg in ledgers for c in lg.calls]
    n = len(problems)
    stats = m.summary(p, y, tau)
    return {"scorer": name, "tau": tau, "auroc": stats["auroc"], "accuracy": stats["accuracy"],
            "s2_fraction": stats["s2_fraction"], "labelled_steps": len(y),
            "wall_s_all_problems": round(wall, 3), "seconds_per_problem": round(wall / n, 4),
            "ledger_seconds_per_problem": round(sum(c.seconds for c in calls) / n, 4),
            "prompt_tokens_per_problem": sum(c.prompt_tokens for c in calls) / n,
            "generated_tokens_per_problem": sum(c.response_tokens for c in calls) / n,
            "calls_per_problem": len(calls) / n}


def side_by_side(traces: Path, adapter: Path) -> dict[str, Any]:
    problems = held_out_problems(traces)
    cfg = compose("experiment=demo")
    systems = build_systems(cfg["systems"], cfg.get("engine"), only={"s1"})
    ctx = Context(systems=systems, seed=0)
    prompted = build(cfg["difficulty"], "difficulty")
    classifier = build(compose("difficulty=classifier", f"difficulty.adapter={adapter}")["difficulty"], "difficulty")

    async def both() -> dict[str, Any]:
        try:
            # Warm both (weights loaded, kernels ready) on one problem, not timed.
            await prompted.score(problems[0]["question"], problems[0]["steps"][:1], ctx, Ledger())
            await classifier.score(problems[0]["question"], problems[0]["steps"][:1], ctx, Ledger())
            ps, pl, pw = await score_all(prompted, problems, ctx)
            cs, cl, cw = await score_all(classifier, problems, ctx)
        finally:
            await systems.aclose()
        rec = [[prob["recorded_prompted"].get(i, 0.5) for i in range(len(prob["steps"]))] for prob in problems]
        return {"problems": len(problems),
                "prompted": figures("prompted (live S1 calls)", problems, ps, pl, pw, prompted.threshold),
                "classifier": figures("classifier", problems, cs, cl, cw, classifier.threshold),
                "prompted_recorded_in_probe": {"auroc": m.auroc(
                    [s for prob, ss in zip(problems, rec) for i, s in enumerate(ss) if i in prob["labels"]],
                    [prob["labels"][i] for prob in problems for i in range(len(prob["steps"])) if i in prob["labels"]])},
                "classifier_forwards": classifier.batcher.forwards - 1}

    return asyncio.run(both())


def routed_run(work: Path, adapter: Path, n: int, scorer: str, s1_tokens: int, s2_tokens: int) -> dict[str, Any]:
    out = work / f"routed-{scorer}"
    shutil.rmtree(out, ignore_errors=True)  # a timed stage: always run afresh
    # The same experiment either way; only the scorer differs (the prompted one as in experiment=demo).
    over = ([f"difficulty.adapter={adapter}"] if scorer == "classifier"
            else ["difficulty=prompted", "difficulty.max_new_tokens=6"])
    cfg = compose("experiment=classifier_route", *over, "systems=smollm2", "data=gsm8k", f"data.limit={n}",
                  f"name=routed-{scorer}", f"systems.s1.sampling.max_new_tokens={s1_tokens}",
                  f"systems.s2.sampling.max_new_tokens={s2_tokens}", *BUDGETS, f"run_dir={out}")
    start = time.perf_counter()
    metrics = run_eval(cfg)
    wall = time.perf_counter() - start
    records = list(RunDir(out).collect().records.values())
    score = [c for r in records for c in r.ledger if c["stage"] == "score"]
    return {"scorer": scorer, "problems": n, "wall_s": round(wall, 2),
            "score_seconds": round(sum(c["seconds"] for c in score), 3),
            "score_share_of_wall": round(sum(c["seconds"] for c in score) / wall, 4),
            "score_generated_tokens": sum(c["response_tokens"] for c in score),
            "score_prompt_tokens": sum(c["prompt_tokens"] for c in score),
            "s2_fraction": metrics.s2_fraction if metrics else None,
            "accuracy": metrics.accuracy if metrics else None, "tok_total": metrics.tok_total if metrics else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.fresh:
        shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    stages: dict[str, float] = {}
    t = time.perf_counter()
    probe_dir = probe(args.work, args.problems)
    stages["probe"] = time.perf_counter() - t
    traces = traces_of(args.work, probe_dir, args.val_fraction, args.test_fraction)
    t = time.perf_counter()
    adapter = adapter_of(args.work, traces, args.base, args.epochs)
    stages["train"] = time.perf_counter() - t
    result: dict[str, Any] = {"env": {k: v for k, v in environment().items() if k != "argv"},
                              "args": {k: str(v) for k, v in vars(args).items()},
                              "traces": json.loads((traces / tr.META).read_text())["balance"],
                              "adapter": {k: v for k, v in json.loads((adapter / "difficulty.json").read_text()).items()
                                          if k in ("base_model", "threshold", "metrics")}}
    result["side_by_side"] = side_by_side(traces, adapter)
    result["routed"] = [routed_run(args.work, adapter, args.routed_problems, s, args.s1_tokens, args.s2_tokens)
                        for s in ("classifier", "prompted")]
    share = result["routed"][0]["score_share_of_wall"]
    result["target"] = {"classifier_score_share_max": TARGET_SHARE, "classifier_score_share": share,
                        "classifier_generated_tokens": result["routed"][0]["score_generated_tokens"],
                        "met": share <= TARGET_SHARE and result["routed"][0]["score_generated_tokens"] == 0}
    result["stage_seconds"] = {k: round(v, 1) for k, v in stages.items()}
    text = json.dumps(result, indent=2, default=str)
    print(text)
    sbs = result["side_by_side"]
    for key in ("prompted", "classifier"):
        f = sbs[key]
        print(f"{f['scorer']:>26}: AUROC {f['auroc']:.3f}  S2 fraction {f['s2_fraction']:.3f} at tau {f['tau']:.3f}  "
              f"{f['seconds_per_problem']:.3f} s, {f['prompt_tokens_per_problem']:.0f} prompt + "
              f"{f['generated_tokens_per_problem']:.1f} generated tokens per problem")
    for r in result["routed"]:
        print(f"routed run ({r['scorer']}): scoring {r['score_share_of_wall']:.2%} of {r['wall_s']} s wall, "
              f"{r['score_generated_tokens']} generated scoring tokens")
    print(f"target (classifier scoring <= {TARGET_SHARE:.0%} of wall, 0 generated): "
          f"{'met' if result['target']['met'] else 'NOT met'}")
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
