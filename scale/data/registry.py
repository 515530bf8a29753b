"""Benchmark registry: name -> where the set lives and how its fields are named.

Each public set names its fields differently (see ../shared/data/README.md). Local
runs read ``<shared data>/<file>``; users without it load ``hub_id`` from the Hub.
"""

from __future__ import annotations

from dataclasses import dataclass

from scale.errors import DataError


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    hub_id: str
    split: str
    file: str  # file name in the shared data dir
    question_field: str
    answer_field: str
    id_field: str | None = None
    hub_config: str | None = None
    expected_rows: int | None = None
    alt_question_fields: tuple[str, ...] = ()


BENCHMARKS: dict[str, BenchmarkSpec] = {}


def register(spec: BenchmarkSpec) -> BenchmarkSpec:
    BENCHMARKS[spec.name] = spec
    return spec


register(
    BenchmarkSpec(
        "aime24",
        "HuggingFaceH4/aime_2024",
        "train",
        "aime24.jsonl",
        "problem",
        "answer",
        id_field="id",
        expected_rows=30,
    )
)
register(
    BenchmarkSpec(
        "aime25", "math-ai/aime25", "test", "aime25.jsonl", "problem", "answer", expected_rows=30
    )
)
register(
    BenchmarkSpec(
        "amc23",
        "math-ai/amc23",
        "test",
        "amc23.jsonl",
        "problem",
        "answer",
        id_field="id",
        expected_rows=40,
        alt_question_fields=("question",),
    )
)
register(
    BenchmarkSpec(
        "math500",
        "HuggingFaceH4/MATH-500",
        "test",
        "math500.jsonl",
        "problem",
        "answer",
        id_field="unique_id",
        expected_rows=500,
    )
)
register(
    BenchmarkSpec(
        "gsm8k",
        "openai/gsm8k",
        "test",
        "gsm8k.jsonl",
        "question",
        "answer",
        id_field="idx",
        hub_config="main",
        expected_rows=1319,
    )
)
register(
    BenchmarkSpec(
        "gsm8k_train",
        "openai/gsm8k",
        "train",
        "gsm8k_train.jsonl",
        "question",
        "answer",
        hub_config="main",
        expected_rows=7473,
    )
)
# Written for this project: short multi-step word problems for offline demos.
register(
    BenchmarkSpec(
        "demo", "", "", "demo.jsonl", "question", "answer", id_field="id", expected_rows=10
    )
)


def get_spec(name: str) -> BenchmarkSpec:
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise DataError(
            f"unknown benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))} "
            "(or pass data.path=FILE.jsonl)"
        ) from None
