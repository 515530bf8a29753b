"""Correct SCALE traces -> chat SFT examples, with a dataset card that counts every filter.

Run dirs are read only through :mod:`scale.rundir`. One example per kept attempt:

- prompt: the CoT prompt of the ``prompts`` templates (``cot_system``/``cot_user``), the same
  messages ``method=cot_s1`` sends, so the tuned model is evaluated as it was trained;
- completion: the staged solution as one assistant message, each step of the chosen outline
  followed by its visible solution (``data.step_format``), the last one ending in the
  ``\\boxed{}`` answer that was graded correct.

Run dirs keep each step's visible text, not its thinking (``reasoning_chars`` only), so the
responses hold no thinking; the card says so.

Filters, in order (an attempt is counted under the first one that drops it): ``error``
(the attempt failed), ``not_scale`` (no staged trace: another method), ``incorrect``,
``fallback`` (no outline parsed: one step = the whole problem), ``failure:<kind>`` (a
failure in ``data.drop_failures``), ``too_few_steps``, ``duplicate`` (same problem and
response already kept), ``over_max_per_problem``, ``too_long`` (prompt + response tokens
over ``data.max_tokens``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale.errors import DataError
from scale.prompts import Prompts
from scale.rundir import Record, RunDir
from scale.sft.config import DataSettings

FILTERS = ("error", "not_scale", "incorrect", "fallback", "failure", "too_few_steps", "duplicate",
           "over_max_per_problem", "too_long")


@dataclass
class Source:
    run_dir: str
    records: int
    kept: int
    method: str | None
    data: str | None
    models: list[str]


@dataclass
class DatasetCard:
    """What went in, what was dropped and why, and what came out."""

    sources: list[Source] = field(default_factory=list)
    records: int = 0
    dropped: Counter = field(default_factory=Counter)
    kept: int = 0
    problems: int = 0
    steps: Counter = field(default_factory=Counter)  # steps per kept example
    modes: Counter = field(default_factory=Counter)  # s1/s2 of the kept steps
    tokens: list[int] = field(default_factory=list)  # prompt + response tokens per kept example

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records, "kept": self.kept, "problems": self.problems,
            "dropped": dict(sorted(self.dropped.items())),
            "steps_per_example": dict(sorted(self.steps.items())), "step_modes": dict(self.modes),
            "tokens": _token_stats(self.tokens),
            "sources": [vars(s) for s in self.sources],
        }

    def summary(self) -> str:
        dropped = ", ".join(f"{k}={v}" for k, v in sorted(self.dropped.items())) or "none"
        return f"{self.kept} of {self.records} attempts kept ({self.problems} problems); dropped: {dropped}"

    def to_markdown(self, settings: DataSettings, prompt_preview: str) -> str:
        d = self.to_dict()
        lines = [
            "# SFT data from SCALE traces",
            "",
            f"{self.summary()}.",
            "",
            "Each example is a chat: the CoT prompt (the `cot_system`/`cot_user` templates, as "
            "`method=cot_s1` sends them) and one assistant response holding the staged solution: "
            "every step of the chosen outline followed by its visible solution, the last one ending in "
            "the `\\boxed{}` answer that was graded correct. Thinking text is not kept in run dirs, so "
            "no response holds any.",
            "",
            "## Sources",
            "",
            "| run dir | method | data | models | attempts | kept |",
            "|---|---|---|---|---|---|",
            *[f"| {s.run_dir} | {s.method} | {s.data} | {', '.join(s.models)} | {s.records} | {s.kept} |"
              for s in self.sources],
            "",
            "## Filters (in order; an attempt counts under the first that drops it)",
            "",
            "| filter | setting | dropped |",
            "|---|---|---|",
        ]
        settings_of = {
            "error": "always", "not_scale": "always", "incorrect": f"only_correct={settings.only_correct}",
            "fallback": f"skip_fallback={settings.skip_fallback}", "too_few_steps": f"min_steps={settings.min_steps}",
            "duplicate": "always", "over_max_per_problem": f"max_per_problem={settings.max_per_problem}",
            "too_long": f"max_tokens={settings.max_tokens}",
        }
        for name in FILTERS:
            if name == "failure":
                kinds = sorted(k for k in self.dropped if k.startswith("failure:"))
                for kind in kinds or ["failure:"]:
                    lines.append(f"| {kind} | drop_failures={list(settings.drop_failures)} | "
                                 f"{self.dropped.get(kind, 0)} |")
                continue
            lines.append(f"| {name} | {settings_of[name]} | {self.dropped.get(name, 0)} |")
        tok = d["tokens"]
        lines += [
            f"| **kept** | | **{self.kept}** |",
            "",
            "## Kept examples",
            "",
            f"- distinct problems: {self.problems}",
            f"- steps per example: {d['steps_per_example']}",
            f"- steps by system: {d['step_modes']}",
            f"- tokens per example (prompt + response): mean {tok['mean']}, max {tok['max']}, "
            f"total {tok['total']}" if tok else "- tokens per example: not counted (no tokenizer)",
            "",
            "## Prompt (first example)",
            "",
            "```",
            prompt_preview,
            "```",
            "",
        ]
        return "\n".join(lines)


def _token_stats(tokens: list[int]) -> dict[str, Any]:
    if not tokens:
        return {}
    return {"mean": round(sum(tokens) / len(tokens), 1), "max": max(tokens), "total": sum(tokens)}


def staged_solution(steps: Sequence[dict[str, Any]], settings: DataSettings) -> str:
    """The steps of a SCALE trace as one response (``data.step_format`` joined by ``step_join``)."""
    parts = []
    for i, s in enumerate(steps, start=1):
        parts.append(settings.step_format.replace("{index}", str(i)).replace("{step}", str(s["step"]).strip())
                     .replace("{solution}", str(s["visible"]).strip()))
    return settings.step_join.join(parts)


def _why_dropped(rec: Record, settings: DataSettings) -> str | None:
    steps = rec.trace.get("steps") if isinstance(rec.trace, dict) else None
    if rec.error is not None:
        return "error"
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) and "visible" in s for s in steps):
        return "not_scale"
    if settings.only_correct and not rec.correct:
        return "incorrect"
    if settings.skip_fallback and rec.trace.get("fallback"):
        return "fallback"
    bad = [f for f in rec.failures if f in settings.drop_failures]
    if bad:
        return f"failure:{bad[0]}"
    if len(steps) < settings.min_steps:
        return "too_few_steps"
    return None


def _n_tokens(tokenizer: Any, messages: list[dict[str, str]]) -> int:
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _models(config: dict[str, Any]) -> list[str]:
    engines = (config.get("systems") or {}).get("engines") or {}
    return sorted({str(e.get("model")) for e in engines.values() if isinstance(e, dict) and e.get("model")})


def build_examples(run_dirs: Sequence[str | Path], settings: DataSettings, prompts: Prompts,
                   tokenizer: Any = None) -> tuple[list[dict[str, Any]], DatasetCard]:
    """Chat examples (``prompt``/``completion`` message lists, plus ids) and their card.

    ``tokenizer`` (with a chat template) counts tokens for ``data.max_tokens`` and the card.
    """
    card = DatasetCard()
    examples: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    per_problem: Counter = Counter()
    for path in run_dirs:
        run = RunDir(path)
        config = run.read_config()
        records = run.collect().in_key_order()
        if not records:
            raise DataError(f"{run.path}: no records (is the run finished? scale-finalize {run.path})")
        source = Source(run_dir=str(path), records=len(records), kept=0,
                        method=(config.get("method") or {}).get("name"), data=(config.get("data") or {}).get("name"),
                        models=_models(config))
        for rec in records:
            card.records += 1
            why = _why_dropped(rec, settings)
            response = "" if why else staged_solution(rec.trace["steps"], settings)
            if why is None and (rec.problem_id, response) in seen:
                why = "duplicate"
            if why is None and settings.max_per_problem is not None and per_problem[rec.problem_id] >= settings.max_per_problem:
                why = "over_max_per_problem"
            prompt = prompts.chat("cot_system", "cot_user", question=rec.question)
            completion = [{"role": "assistant", "content": response}]
            n_tokens = None
            if why is None and tokenizer is not None:
                n_tokens = _n_tokens(tokenizer, prompt + completion)
                if settings.max_tokens is not None and n_tokens > settings.max_tokens:
                    why = "too_long"
            if why is not None:
                card.dropped[why] += 1
                continue
            seen.add((rec.problem_id, response))
            per_problem[rec.problem_id] += 1
            source.kept += 1
            card.kept += 1
            card.steps[len(rec.trace["steps"])] += 1
            card.modes.update(str(s.get("mode")) for s in rec.trace["steps"])
            if n_tokens is not None:
                card.tokens.append(n_tokens)
            examples.append({"prompt": prompt, "completion": completion, "problem_id": rec.problem_id,
                             "sample_idx": rec.sample_idx, "source": str(path)})
        card.sources.append(source)
    card.problems = len(per_problem)
    return examples, card


def write_dataset(out: Path, examples: list[dict[str, Any]], card: DatasetCard, settings: DataSettings) -> None:
    """``out/sft_data.jsonl`` (one example a line), ``dataset_card.md`` and ``dataset_card.json``."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "sft_data.jsonl").open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex, ensure_ascii=False) + "\n")
    preview = "\n".join(f"[{m['role']}] {m['content']}" for m in examples[0]["prompt"]) if examples else ""
    (out / "dataset_card.md").write_text(card.to_markdown(settings, preview), encoding="utf-8")
    (out / "dataset_card.json").write_text(json.dumps(card.to_dict(), indent=2) + "\n", encoding="utf-8")
