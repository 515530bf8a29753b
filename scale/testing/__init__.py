"""Helpers for testing methods without a model: a scripted engine (logic only)."""

from scale.testing.scripted import Rule, ScriptedEngine, scripted_systems

__all__ = ["Rule", "ScriptedEngine", "scripted_systems"]
