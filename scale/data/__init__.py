"""Benchmarks: registry, loaders, the Problem record."""

from scale.data.load import load_benchmark, load_from_config, source_path
from scale.data.problem import Problem
from scale.data.registry import BENCHMARKS, BenchmarkSpec, get_spec

__all__ = ["BENCHMARKS", "BenchmarkSpec", "Problem", "get_spec", "load_benchmark", "load_from_config", "source_path"]
