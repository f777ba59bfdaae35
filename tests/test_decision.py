"""Excluding a label from predictions (StanceEval ignores `None`)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from khabar.data.config import ExperimentConfig
from khabar.model.decision import ExcludeFromPredictions


def _data():
    rng = np.random.default_rng(0)
    centers = {"Favor": (3, 0), "Against": (-3, 0), "None": (0, 3)}
    y = np.repeat(list(centers), 30)
    X = np.vstack([rng.normal(centers[label], 0.5) for label in y])
    return X, y


def test_never_predicts_excluded_label_and_keeps_its_scores():
    X, y = _data()
    inner = LinearSVC(random_state=0).fit(X, y)
    assert (inner.predict(X) == "None").sum() > 20  # the plain model does predict it
    model = ExcludeFromPredictions(LinearSVC(random_state=0), excluded=("None",)).fit(X, y)
    predicted = model.predict(X)
    assert "None" not in set(predicted)
    scores = model.decision_function(X)
    np.testing.assert_allclose(scores, inner.decision_function(X))
    allowed = scores[:, [list(model.classes_).index(c) for c in ("Against", "Favor")]]
    expected = np.asarray(["Against", "Favor"])[allowed.argmax(axis=1)]
    np.testing.assert_array_equal(predicted, expected)
    assert model.coef_.shape == (3, 2)


def test_probabilities_pass_through_and_unknown_label_is_an_error():
    X, y = _data()
    model = ExcludeFromPredictions(LogisticRegression(), excluded=("None",)).fit(X, y)
    plain = LogisticRegression().fit(X, y)
    # The wrapped model's probabilities, every class (the excluded one too) unchanged.
    np.testing.assert_allclose(model.predict_proba(X), plain.predict_proba(X))
    assert list(model.classes_) == list(plain.classes_)
    with pytest.raises(ValueError, match="not classes"):
        ExcludeFromPredictions(LinearSVC(), excluded=("Neutral",)).fit(X, y)


def test_config_rejects_it_for_multi_label():
    raw = {
        "name": "n",
        "experiment": "e",
        "task": "multi_label",
        "data": {"train": "x.csv"},
        "model": {"exclude_from_predictions": ["None"]},
    }
    with pytest.raises(ValueError, match="single_label tasks only"):
        ExperimentConfig.model_validate(raw)
