"""The learned scorer: a LoRA sequence classifier over (problem, earlier steps, step).

    scale-eval difficulty=classifier difficulty.adapter=runs/difficulty/adapter

All steps of a problem are scored in one batched forward pass, and the requests of the
problems in flight are joined into shared forwards (:mod:`scale.train.batching`); no token
is generated. Each problem's scoring goes to the ledger as one call: stage ``score``, mode
``classifier``, its prompt tokens, zero response tokens, and its share of the forward's
seconds. Scores are p(hard) in [0, 1]; the router is unchanged. ``threshold`` is the tau the
adapter's training chose on validation: the threshold router uses it unless ``router.tau``
is given. Training: ``accelerate launch scripts/train_difficulty.py`` (see docs/classifier.md).

The folder's ``difficulty.json`` is read, and its safetensors header checked against the file's
size, when the scorer is built (a wrong or truncated folder fails at once, in one line); the
weights load on the first score. Its ``label.systems`` names the
System 1 / System 2 models the probe runs measured the labels with; on the first score the
run's systems (``ctx.systems``) are compared with them and a warning is logged if they differ.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Annotated, Any

from scale.checks import Positive, Range, check_args
from scale.difficulty.base import DifficultyScorer, StepScore
from scale.errors import ConfigError
from scale.ledger import Call, Ledger
from scale.train.artifact import AdapterError, check_base, check_weights, load_artifact, read_card
from scale.train.batching import ForwardBatcher, Rows
from scale.train.model import Loaded, predict
from scale.train.template import problem_inputs

log = logging.getLogger(__name__)


class ClassifierScorer(DifficultyScorer):
    name = "classifier"

    @check_args("difficulty")
    def __init__(self, adapter: str | None = None, base_model: str | None = None, device: str = "auto",
                 dtype: str = "auto", max_batch_size: Positive = 64,
                 batch_wait_s: Annotated[float, Range(ge=0)] = 0.005) -> None:
        if not adapter:
            raise ConfigError("difficulty=classifier needs difficulty.adapter=PATH (a trained adapter folder)")
        self.adapter = adapter
        self.card = read_card(adapter)
        check_base(self.card, adapter, base_model)
        check_weights(adapter)  # now, not on the first score (the weights load there)
        self.template = self.card.template_obj()
        if self.template.answers:
            raise AdapterError(f"classifier adapter {adapter} was trained with answers=true; SCALE rates every "
                               "step before solving, so no answers exist at routing time")
        self.threshold = self.card.tau  # the router's tau when router.tau is null
        self.device = device
        self.dtype = dtype
        self.batcher = ForwardBatcher(self._forward, max_rows=max_batch_size, wait_s=batch_wait_s)
        self._loaded: Loaded | None = None
        self._load_lock = threading.Lock()
        self._systems_checked = False

    def load(self) -> Loaded:
        """The model and tokenizer (loaded once, on first use; thread-safe)."""
        with self._load_lock:
            if self._loaded is None:
                self._loaded, _ = load_artifact(self.adapter, device=self.device, dtype=self.dtype)
            return self._loaded

    def encode(self, question: str, steps: list[str]) -> list[list[int]]:
        return self.template.encode_many(self.load().tokenizer, problem_inputs(question, steps))

    def _forward(self, rows: Rows) -> list[float]:
        loaded = self.load()
        return predict(loaded.model, rows, loaded.pad_id, loaded.device, batch_size=self.batcher.max_rows)

    async def score(self, question: str, steps: list[str], ctx: Any, ledger: Ledger,
                    seed: int = 0) -> list[StepScore]:
        """p(hard) of every step (``seed`` is unused: the forward is deterministic)."""
        if not steps:
            return []
        if not self._systems_checked:
            self._systems_checked = True
            differ = other_systems(self.card.label.get("systems"), ctx)
            if differ:
                log.warning("classifier adapter %s: its labels were measured with other systems than this "
                            "run's (%s); its scores and threshold may not fit them", self.adapter, "; ".join(differ))
        rows = await asyncio.to_thread(self.encode, question, steps)  # first call loads the weights
        scored = await self.batcher.submit(rows)
        ledger.add(Call(stage="score", mode="classifier", system=self.name,
                        prompt_tokens=sum(len(r) for r in rows), response_tokens=0, reasoning_tokens=0,
                        seconds=scored.seconds, finish_reason="stop", step=None))
        return [StepScore(min(1.0, max(0.0, p)), "classifier") for p in scored.scores]


def engine_model(engine: Any) -> str | None:
    """The model an engine serves, as configured (HF engine: ``model_name``; OpenAI: ``model``)."""
    model = getattr(engine, "model_name", None) or getattr(engine, "model", None)
    return model if isinstance(model, str) else None


def other_systems(measured: Any, ctx: Any) -> list[str]:
    """``s1: X, labels measured with Y`` for each of the run's systems not among ``measured``.

    Nothing when either side is unknown: a card without ``label.systems`` (older traces,
    synthetic ones), no ``ctx.systems``, or an engine that names no model.
    """
    systems = getattr(ctx, "systems", None)
    if not isinstance(measured, dict) or systems is None:
        return []
    out = []
    for mode in ("s1", "s2"):
        used = engine_model(getattr(getattr(systems, mode, None), "engine", None))
        known = measured.get(mode) or []
        if used and known and used not in known:
            out.append(f"{mode}: {used}, labels measured with {', '.join(map(str, known))}")
    return out
