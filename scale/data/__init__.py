"""Benchmarks: registry, loaders (JSONL, JSON, Parquet, saved datasets), the Problem record."""

from scale.data.fields import FieldMap
from scale.data.gold import normalize_gold
from scale.data.label import data_label
from scale.data.load import load_benchmark, load_from_config, source_path
from scale.data.problem import Problem
from scale.data.registry import BENCHMARKS, BenchmarkSpec, get_spec

__all__ = [
    "BENCHMARKS",
    "BenchmarkSpec",
    "FieldMap",
    "Problem",
    "data_label",
    "get_spec",
    "load_benchmark",
    "load_from_config",
    "normalize_gold",
    "source_path",
]
