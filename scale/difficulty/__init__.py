"""Difficulty scorers (registry): prompted (the paper's), classifier (LoRA, later)."""

from scale.difficulty.base import SCORERS, DifficultyScorer, StepScore, build_scorer

__all__ = ["SCORERS", "DifficultyScorer", "StepScore", "build_scorer"]
