"""Helpers for testing methods without a model (a scripted engine: logic only), and for
comparing the records of runs that should agree."""

from scale.testing.compare import comparable, comparable_records
from scale.testing.scripted import Rule, ScriptedEngine, scripted_systems

__all__ = ["Rule", "ScriptedEngine", "comparable", "comparable_records", "scripted_systems"]
