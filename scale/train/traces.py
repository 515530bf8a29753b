"""Run dirs -> labelled step traces: a ``datasets`` folder the classifier trains on.

    python scripts/build_traces.py runs/probe-gsm8k_train --out runs/traces

One row per step of every finished attempt, with the problem, the earlier steps and their
answers, the current step, a 0/1 label (1 = hard), the prompted score beside it, and ids.
Labels (``--label``):

- ``measured`` (probe runs, ``method.probe=true``): every step was solved by System 1 and
  by System 2 from the same context; the label the probe recorded is used (see
  :data:`MEASURED`). Steps without a label (System 2 gave no answer, or the two answers
  were not both boxed) are left out, and so is the last step of a run that pinned it
  (``method.last_step_score``): routing never scores a pinned step, so the classifier
  should neither train nor pick its threshold on one.
- ``prompted`` (ordinary SCALE runs): the prompted score, distilled: hard when it is above
  ``tau``. Pinned, fallback and unparsed scores are not the scorer's opinion: left out.

Problems are split by their text (so the same problem from two runs or samples never lands
in two splits). Run dirs are read only through :mod:`scale.rundir`. The folder gets a
dataset card (``README.md``) and ``scale_traces.json`` (label definition, sources, counts).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale.errors import ScaleError
from scale.rundir import Record, RunDir
from scale.train.data import META, TracesError

LABELS = ("measured", "prompted")
MEASURED = ("The last step is judged against the gold first: 0 (easy) when System 1's answer is right, "
            "1 (hard) when it is wrong and System 2's right. Otherwise 1 (hard) when System 1's answer to the "
            "step is not equivalent to System 2's answer to the same step from the same context (the grader's "
            "equivalence, scale.grading.Grader.equivalent), or System 1 gave no answer where System 2 did; "
            "0 (easy) when they agree. Answers are compared only when both were read from a \\boxed{} (an "
            "answer phrase or a last expression is a guess, and two guesses that differ are not a hard step). "
            "Steps where System 2 gave no answer or the answers were not both boxed (and the gold did not "
            "decide) carry no label and are left out; so is the last step of a run that pinned it "
            "(method.last_step_score), which routing never scores. Context: the earlier steps as System 2 "
            "answered them (probe runs, method.probe=true).")
# Why rows were left out (the card explains each count).
LEFT_OUT = {
    "error_record": "the attempt failed (an error record): no steps",
    "no_steps_in_trace": "not a SCALE trace",
    "outline_fallback": "the outline fell back to one step (the whole problem): not a sub-problem",
    "no_probe_label": "a step without a probe (not a probe run)",
    "last_step_pinned": "the last step: pinned at routing time (method.last_step_score), so never scored",
    "unlabelled_s2_no_answer": "System 2 gave no answer to compare with",
    "unlabelled_not_both_boxed": "the two answers were not both boxed (a guessed answer is no evidence)",
    "answer_rule_unrecorded": "an older probe run that did not record how each answer was read: re-run the probe",
    "score_fixed": "a pinned score (the last step), not the scorer's opinion",
    "score_fallback": "the one-step fallback's score, not the scorer's opinion",
    "score_failed": "an unparsed score",
}
PROMPTED = ("1 (hard) when the paper's prompted System 1 score of the step is above {tau} (the prompted "
            "scorer distilled); 0 otherwise. Pinned (last step), fallback and unparsed scores are left out.")
SPLITS = ("train", "validation", "test")
NO_SCORE = ("fixed", "fallback", "failed")  # score_how values that are not the scorer's opinion


@dataclass
class Built:
    """Rows per split and what was left out, by reason."""

    splits: dict[str, list[dict[str, Any]]]
    skipped: Counter[str] = field(default_factory=Counter)
    sources: list[dict[str, Any]] = field(default_factory=list)
    label: dict[str, Any] = field(default_factory=dict)


def group_of(question: str) -> str:
    """The split unit: a problem's text (whitespace-normalised), hashed."""
    return hashlib.sha1(" ".join(question.split()).encode()).hexdigest()[:16]


def system_models(config: dict[str, Any]) -> dict[str, str | None]:
    """The model each system of a run used (``systems.engines.<engine>.model``), None when unknown."""
    systems = config.get("systems") if isinstance(config.get("systems"), dict) else {}
    engines = systems.get("engines") if isinstance(systems.get("engines"), dict) else {}
    out: dict[str, str | None] = {}
    for mode in ("s1", "s2"):
        node = systems.get(mode) if isinstance(systems.get(mode), dict) else {}
        engine = engines.get(node.get("engine")) if isinstance(node.get("engine"), str) else None
        model = engine.get("model") if isinstance(engine, dict) else None
        out[mode] = str(model) if model else None
    return out


def step_rows(record: Record, run: str, label: str, tau: float, skipped: Counter[str],
              last_pinned: bool = False) -> list[dict[str, Any]]:
    """The rows of one finished attempt (none for error records or non-SCALE traces).

    ``last_pinned``: the run pinned its last step's score, so routing never scores that step;
    measured labels leave it out (prompted ones do anyway: its score is not the scorer's)."""
    if record.error is not None:
        skipped["error_record"] += 1
        return []
    steps = record.trace.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) and "step" in s for s in steps):
        skipped["no_steps_in_trace"] += 1
        return []
    if record.trace.get("fallback"):
        skipped["outline_fallback"] += len(steps)
        return []
    rows = []
    for i, s in enumerate(steps):
        probe = s.get("probe") if isinstance(s.get("probe"), dict) else None
        if label == "measured":
            if probe is None:
                skipped["no_probe_label"] += 1
                continue
            if last_pinned and i == len(steps) - 1:
                skipped["last_step_pinned"] += 1
                continue
            y = probe.get("label")
            if y not in (0, 1):
                skipped[f"unlabelled_{probe.get('why') or 'step'}"] += 1
                continue
            if probe.get("why") in ("s1_differs", "agree") and not all(
                    isinstance(probe.get(m), dict) and "how" in probe[m] for m in ("s1", "s2")):
                skipped["answer_rule_unrecorded"] += 1  # labelled before answers had to be boxed
                continue
        else:
            if s.get("score_how") in NO_SCORE or s.get("score") is None:
                skipped[f"score_{s.get('score_how') or 'missing'}"] += 1
                continue
            y = int(float(s["score"]) > tau)
        rows.append({
            "run": run, "problem_id": record.problem_id, "sample_idx": record.sample_idx, "step_idx": i,
            "n_steps": len(steps), "group": group_of(record.question), "problem": record.question,
            "previous_steps": [str(p["step"]) for p in steps[:i]],
            "previous_answers": [str(p.get("answer") or "") for p in steps[:i]],
            "step": str(s["step"]), "label": int(y),
            "prompted_score": float(s["score"]) if s.get("score") is not None else float("nan"),
            "prompted_how": str(s.get("score_how") or ""),
            "s1_answer": str((probe or {}).get("s1", {}).get("answer") or ""),
            "s2_answer": str((probe or {}).get("s2", {}).get("answer") or ""),
            "gold": record.gold,
        })
    return rows


def split_groups(groups: Sequence[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """group -> split; each split asked for gets at least one problem (or a TracesError)."""
    unique = sorted(set(groups), key=lambda g: hashlib.sha1(f"{seed}|{g}".encode()).hexdigest())
    n = len(unique)
    wanted = {"validation": val_fraction, "test": test_fraction}
    counts = {k: (max(1, round(f * n)) if f > 0 else 0) for k, f in wanted.items()}
    if n - counts["validation"] - counts["test"] < 1:
        raise TracesError(f"{n} problem(s) cannot fill train, validation ({val_fraction}) and test "
                          f"({test_fraction}) splits: every split would need at least one problem")
    out: dict[str, str] = {}
    for i, g in enumerate(unique):
        if i < counts["test"]:
            out[g] = "test"
        elif i < counts["test"] + counts["validation"]:
            out[g] = "validation"
        else:
            out[g] = "train"
    return out


def build(run_dirs: Iterable[str | Path], label: str = "measured", tau: float = 0.5, val_fraction: float = 0.15,
          test_fraction: float = 0.15, seed: int = 0) -> Built:
    if label not in LABELS:
        raise TracesError(f"--label must be one of {LABELS}, got {label!r}")
    skipped: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    sources = []
    for path in run_dirs:
        run = RunDir(path)
        config = run.read_config()
        collected = run.collect()
        before = len(rows)
        method = config.get("method") or {}
        last_pinned = method.get("last_step_score") is not None
        for record in collected.records.values():
            rows.extend(step_rows(record, run.path.name, label, tau, skipped, last_pinned))
        models = system_models(config)
        sources.append({"run_dir": str(run.path), "method": method.get("name"), "probe": bool(method.get("probe")),
                        "data": (config.get("data") or {}).get("name"), "s1_model": models["s1"],
                        "s2_model": models["s2"], "records": len(collected.records), "rows": len(rows) - before})
        if len(rows) == before:
            hint = " (was it run with method.probe=true?)" if label == "measured" else ""
            raise TracesError(f"run dir {run.path}: no labelled steps for --label {label}{hint}; "
                              f"left out: {dict(skipped) or 'no records'}")
    assignment = split_groups([r["group"] for r in rows], val_fraction, test_fraction, seed)
    splits: dict[str, list[dict[str, Any]]] = {k: [] for k in SPLITS if k == "train" or
                                                 (k == "validation" and val_fraction > 0) or
                                                 (k == "test" and test_fraction > 0)}
    for r in rows:
        splits[assignment[r["group"]]].append(r)
    definition = MEASURED if label == "measured" else PROMPTED.format(tau=tau)
    # The labels hold for these two systems: the scorer warns when it routes between others.
    systems = {m: sorted({s[f"{m}_model"] for s in sources if s[f"{m}_model"]}) for m in ("s1", "s2")}
    return Built(splits, skipped, sources, {"kind": label, "definition": definition, "systems": systems,
                                            **({"tau": tau} if label == "prompted" else {})})


def balance(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    hard = sum(r["label"] for r in rows)
    return {"rows": len(rows), "hard": hard, "easy": len(rows) - hard,
            "problems": len({r["group"] for r in rows})}


def card_text(built: Built, command: str) -> str:
    lines = ["# Difficulty traces (SCALE)", "",
             "Labelled sub-problem steps for the SCALE difficulty classifier "
             "(`accelerate launch scripts/train_difficulty.py traces=THIS_FOLDER`).", "",
             "## How it was made", "", f"`{command}`", "",
             "| run dir | method | probe | data | System 1 model | System 2 model | records | rows |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {s['run_dir']} | {s['method']} | {s['probe']} | {s['data']} | {s.get('s1_model')} | "
              f"{s.get('s2_model')} | {s['records']} | {s['rows']} |" for s in built.sources]
    lines += ["", "Split by problem text (no problem in two splits).", "", "## Label", "",
              f"`{built.label['kind']}`: {built.label['definition']}"]
    systems = built.label.get("systems") or {}
    if systems:
        lines += ["", f"Measured with System 1 = {', '.join(systems.get('s1') or ['unknown'])} and System 2 = "
                      f"{', '.join(systems.get('s2') or ['unknown'])}: the labels hold for routing between these "
                      "two (`label.systems` in scale_traces.json and in the adapter's difficulty.json)."]
    lines += ["", "## Class balance", "",
              "| split | rows | hard | easy | hard share | problems |", "|---|---|---|---|---|---|"]
    for name, rows in built.splits.items():
        b = balance(rows)
        share = b["hard"] / b["rows"] if b["rows"] else float("nan")
        lines.append(f"| {name} | {b['rows']} | {b['hard']} | {b['easy']} | {share:.3f} | {b['problems']} |")
    lines += ["", "## Left out", ""]
    lines += [f"- {k}: {v}" + (f" ({LEFT_OUT[k]})" if k in LEFT_OUT else "")
              for k, v in sorted(built.skipped.items())] or ["- nothing"]
    lines += ["", "## Columns", "",
              "`problem`, `previous_steps`, `previous_answers` (the earlier steps' answers carried as "
              "context), `step`, `label` (1 = hard), `prompted_score` and `prompted_how` (the prompted "
              "scorer's value and parse label; NaN when absent), `s1_answer` / `s2_answer` (probe runs), "
              "`gold`, ids: `run`, `problem_id`, `sample_idx`, `step_idx`, `n_steps`, `group` (the split unit)."]
    return "\n".join(lines) + "\n"


def save(built: Built, out: str | Path, command: str, overwrite: bool = False) -> Path:
    """``save_to_disk`` + README.md (dataset card) + scale_traces.json."""
    import datasets

    folder = Path(out)
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise ScaleError(f"--out {folder} is not empty (pass --overwrite to replace it)")
    if folder.exists() and overwrite:
        shutil.rmtree(folder)
    dd = datasets.DatasetDict({k: datasets.Dataset.from_list(v) for k, v in built.splits.items()})
    dd.save_to_disk(str(folder))
    (folder / "README.md").write_text(card_text(built, command), encoding="utf-8")
    meta = {"label": built.label, "sources": built.sources, "skipped": dict(built.skipped),
            "balance": {k: balance(v) for k, v in built.splits.items()}, "command": command}
    (folder / META).write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return folder

