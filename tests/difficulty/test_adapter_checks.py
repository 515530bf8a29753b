"""A classifier folder is checked when the scorer is built; loading it prints no noise."""

from __future__ import annotations

import logging
import shutil

import pytest

from scale.difficulty.classifier import ClassifierScorer
from scale.train.artifact import ADAPTER_WEIGHTS, AdapterError, load_artifact
from tests.train.synthetic import make_adapter

pytestmark = pytest.mark.tiny


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("clf") / "adapter")


@pytest.mark.parametrize("keep", [-100, 4, 0])  # tensors cut short; the header cut short; an empty file
def test_a_truncated_adapter_is_refused_when_the_scorer_is_built_naming_the_file(adapter, tmp_path, keep):
    cut = shutil.copytree(adapter, tmp_path / "cut")
    weights = cut / ADAPTER_WEIGHTS
    data = weights.read_bytes()
    weights.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(AdapterError, match=f"^{weights}: (truncated|not a whole safetensors file)"):
        ClassifierScorer(adapter=str(cut))  # before any weight is loaded


def test_loading_the_classifier_prints_no_load_report(adapter):
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    hf = logging.getLogger("transformers")  # where transformers' records go (it does not propagate further)
    hf.addHandler(handler)
    try:
        load_artifact(adapter)
    finally:
        hf.removeHandler(handler)
    assert not [m for m in seen if "LOAD REPORT" in m], seen
