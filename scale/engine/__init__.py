"""Generation engines: in-process transformers (batched) and OpenAI-compatible servers."""

from scale.engine.types import BudgetForcing, Completion, Engine, GenerationRequest, SamplingParams

__all__ = ["BudgetForcing", "Completion", "Engine", "GenerationRequest", "SamplingParams"]
