"""Test inputs for the classifier: a traces folder with a learnable labelling, and an
untrained (but complete) adapter folder for scorer tests that need no training."""

from __future__ import annotations

import random
from pathlib import Path

from scale.train import traces as tr

WORDS = ["apples", "trains", "miles", "coins", "pages", "hours", "boxes", "cards"]


def synthetic_rows(n_problems: int, seed: int = 0) -> list[dict]:
    """Steps whose last word says the label (`integrate` hard, `add` easy): learnable from the
    last token alone, which is where the classifier pools."""
    rng = random.Random(seed)
    rows = []
    for p in range(n_problems):
        problem = f"Problem {p}: Tom has {rng.randint(2, 90)} {rng.choice(WORDS)} and buys more. How many?"
        steps = [f"Step about {rng.choice(WORDS)} then " + ("integrate" if rng.random() < 0.35 else "add")
                 for _ in range(rng.randint(2, 4))]
        for i, step in enumerate(steps):
            rows.append({"run": "synthetic", "problem_id": f"p{p}", "sample_idx": 0, "step_idx": i,
                         "n_steps": len(steps), "group": tr.group_of(problem), "problem": problem,
                         "previous_steps": steps[:i], "previous_answers": [str(j) for j in range(i)],
                         "step": step, "label": int(step.endswith("integrate")), "prompted_score": 0.5,
                         "prompted_how": "plain", "s1_answer": "", "s2_answer": "", "gold": "1"})
    return rows


def write_traces(out: Path, n_problems: int = 24, seed: int = 0, rows: list[dict] | None = None) -> Path:
    rows = synthetic_rows(n_problems, seed) if rows is None else rows
    assignment = tr.split_groups([r["group"] for r in rows], 0.25, 0.0, seed)
    splits: dict[str, list[dict]] = {"train": [], "validation": []}
    for r in rows:
        splits[assignment[r["group"]]].append(r)
    built = tr.Built(splits, label={"kind": "synthetic", "definition": "1 when the step ends with 'integrate'",
                                    "systems": {"s1": ["tiny-qwen3"], "s2": ["tiny-qwen3"]}})
    return tr.save(built, out, "tests/train/synthetic.py")


def make_adapter(folder: Path, base: str = "tiny-qwen3", tau: float = 0.5, answers: bool = False,
                 seed: int = 0) -> Path:
    """A complete classifier folder with LoRA weights as initialised (no training)."""
    import torch

    from scale.models import resolve_model
    from scale.train.artifact import DifficultyCard, finish_artifact
    from scale.train.model import LoraSettings, add_lora, base_classifier, load_tokenizer_for
    from scale.train.template import Template

    source = resolve_model(base)
    tok = load_tokenizer_for(source)
    torch.manual_seed(seed)
    lora = LoraSettings(r=4, alpha=8, dropout=0.0)
    model = add_lora(base_classifier(source, tok.pad_token_id), lora)
    card = DifficultyCard(base_model=base, label={"kind": "synthetic", "definition": "untrained"},
                          template=Template(max_length=128, answers=answers).to_dict(),
                          threshold={"value": tau, "rule": "fixed", "how": "set by the test", "split": "none"},
                          lora=lora.to_dict())
    model.save_pretrained(folder, safe_serialization=True)  # what Trainer.save_model writes for a peft model
    finish_artifact(folder, tok, card)
    return folder
