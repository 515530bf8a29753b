"""Difficulty scorers: prompted (the paper's S1 call per step), classifier (LoRA)."""

from scale.difficulty.base import DifficultyScorer, StepScore

__all__ = ["DifficultyScorer", "StepScore"]
