import numpy as np
import pytest

from khabar.data.dataset import load_labeled
from khabar.errors import KhabarError
from khabar.model.classifiers import REGISTRY, MultiLabelOneVsRest, build_classifier
from khabar.model.pipeline import (
    build_pipeline,
    class_labels,
    class_scores,
    predict_labels,
    top_weighted_features,
)
from khabar.runs.guard import load_config

from .conftest import NEWS_SMALL, write_config


@pytest.fixture(scope="module")
def news():
    return load_labeled(NEWS_SMALL, "text", "primary")


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("calibrate", [False, True])
def test_every_registered_classifier_trains_and_scores(tmp_path, news, name, calibrate):
    config = load_config(
        write_config(tmp_path),
        [f"model.name={name}", "model.params={}", f"model.calibrate={str(calibrate).lower()}"],
    )
    model = build_pipeline(config).fit(news.frame[["text"]], news.labels)
    predicted = predict_labels(model, news.frame[["text"]])
    scores, kind = class_scores(model, news.frame[["text"]])
    assert scores.shape == (len(news.texts), 4)
    assert class_labels(model) == ["diplomacy", "migration", "other", "security"]
    # A model that learned something fits its own training data better than chance.
    assert np.mean([p == g for p, g in zip(predicted, news.labels, strict=True)]) > 0.5
    if calibrate:
        assert kind == "probability"
    assert set(top_weighted_features(model, k=5)) == set(class_labels(model))


@pytest.mark.parametrize("name", ["linear_svc", "logistic_regression", "complement_nb"])
def test_multi_label_wraps_one_vs_rest(tmp_path, name):
    data = load_labeled(NEWS_SMALL, "text", "topics", multi_label=True)
    config = load_config(
        write_config(tmp_path, task="multi_label", data={"label_column": "topics"}),
        [f"model.name={name}", "model.params={}"],
    )
    model = build_pipeline(config).fit(data.frame[["text"]], data.labels)
    assert isinstance(model[-1], MultiLabelOneVsRest)
    predicted = predict_labels(model, data.frame[["text"]])
    assert all(isinstance(row, list) for row in predicted)
    assert class_labels(model) == ["diplomacy", "migration", "security"]
    assert class_scores(model, data.frame[["text"]])[0].shape == (len(data.texts), 3)


def test_seed_reaches_randomized_classifiers():
    estimator = build_classifier("sgd", {}, seed=11, calibrate=False, multi_label=False)
    assert estimator.get_params()["random_state"] == 11


def test_unknown_names_are_user_errors():
    with pytest.raises(KhabarError, match="unknown classifier 'forest'"):
        build_classifier("forest", {}, seed=0, calibrate=False, multi_label=False)
    with pytest.raises(KhabarError, match="linear_svc has no parameter 'alpha'"):
        build_classifier("linear_svc", {"alpha": 1}, seed=0, calibrate=False, multi_label=False)


def test_top_weighted_features_are_the_largest_weights_of_both_blocks(tmp_path, news):
    features = {
        "char": {"analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 1},
        "word": {"analyzer": "word", "ngram_range": [1, 1], "min_df": 1},
    }
    model = build_pipeline(load_config(write_config(tmp_path, features=features)))
    model.fit(news.frame[["text"]], news.labels)
    union = model.named_steps["features"]
    names = [name.split("__", 1)[1] for name in union.get_feature_names_out()]
    top = top_weighted_features(model, k=7)
    for row, label in zip(model[-1].coef_, class_labels(model), strict=True):
        expected = [(names[i], row[i]) for i in np.argsort(-row, kind="stable")[:7]]
        assert [w for _, w in top[label]] == pytest.approx([w for _, w in expected])
        assert {n for n, _ in top[label]} <= set(names)  # n-grams, without the "char__" prefix
        assert len(top[label]) == 7
