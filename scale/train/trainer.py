"""transformers ``Trainer`` with a class-weighted loss, and its per-epoch metrics.

Hard steps are usually the minority: ``class_weights=balanced`` weighs each class by
``n / (2 * n_class)`` on the training split, so both classes count alike in the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scale.train import metrics as m

WEIGHTINGS = ("balanced", "none")


def class_weights(labels: Sequence[int], how: str) -> list[float] | None:
    """Per-class loss weights for ``how`` in WEIGHTINGS (``train.class_weights``, checked there)."""
    if how == "none":
        return None
    n = len(labels)
    hard = sum(labels)
    return [n / (2 * (n - hard)), n / (2 * hard)]


def probabilities(logits: np.ndarray) -> np.ndarray:
    """p(hard) from 2-way logits (numpy, stable softmax)."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e[..., 1] / e.sum(axis=-1)


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """Each epoch's figures on the validation split (accuracy and S2 fraction at 0.5)."""
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, tuple):
        logits = logits[0]
    s = m.summary(probabilities(np.asarray(logits, dtype=np.float64)), np.asarray(labels))
    return {k: s[k] for k in ("auroc", "accuracy", "ece", "brier", "s2_fraction")}


def weighted_loss(logits: Any, labels: Any, weights: Any = None) -> Any:
    """Class-weighted cross-entropy (mean) over 2-way logits, computed in fp32."""
    import torch

    logits = logits.float()
    weight = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=logits.device)
    return torch.nn.functional.cross_entropy(logits, labels, weight=weight)


def weighted_trainer_class() -> type:
    """The Trainer subclass (built on demand: transformers is imported only when training)."""
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        def __init__(self, *args: Any, weights: list[float] | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.class_weight = weights
            # The loss below is a plain mean: let Trainer scale it for gradient accumulation.
            self.model_accepts_loss_kwargs = False

        def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                         num_items_in_batch: Any = None) -> Any:
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = weighted_loss(outputs.logits, labels, self.class_weight)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer
