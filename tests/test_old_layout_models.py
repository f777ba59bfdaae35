"""Models saved by earlier versions of khabar keep loading: the fixtures under
tests/fixtures/old_layout/ were exported before khabar's modules moved into layers, so their
skops files name the old flat module paths (khabar.normalize.ArabicNormalizer, …)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import khabar
from khabar.runs.predict import predict_frame

from .conftest import FIXTURES, NEWS_SMALL

OLD_LAYOUT = FIXTURES / "old_layout"


@pytest.mark.parametrize("name", ["single_nbsvm_joint", "multi_fast_svc"])
def test_old_layout_model_loads_and_predicts_the_same(name):
    folder = OLD_LAYOUT / name
    old_types = json.loads((folder / "metadata.json").read_text("utf-8"))["skops_trusted_types"]
    # The fixture really names flat module paths such as khabar.normalize.ArabicNormalizer.
    assert "khabar.normalize.ArabicNormalizer" in old_types
    model = khabar.load_model(str(folder))
    texts = pd.read_json(NEWS_SMALL, lines=True)
    expected = pd.read_json(folder / "expected_predictions.jsonl", lines=True)
    output = predict_frame(model, texts, NEWS_SMALL)
    assert output["prediction"].tolist() == expected["prediction"].tolist()
    scores = [c for c in expected.columns if c.startswith("score_")]
    assert list(output.columns[2:]) == scores
    np.testing.assert_allclose(output[scores].to_numpy(), expected[scores].to_numpy(), atol=2e-6)
