"""NBSVM: naive-Bayes-scaled features into a LinearSVC."""

import numpy as np
import pytest
import scipy.sparse as sp
import skops.io as sio
from sklearn.svm import LinearSVC

from khabar.model.classifiers import check_model_config
from khabar.model.nbsvm import NBSVMClassifier


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(rng.poisson(0.3, size=(90, 30)).astype(float))
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 90)]
    for label, column in (("a", 0), ("b", 1), ("c", 2)):  # one telling feature per class
        X[np.flatnonzero(y == label), column] = 3.0
    return X, y


def test_matches_a_linear_svc_on_ratio_scaled_features():
    X, y = _data()
    model = NBSVMClassifier(C=0.5, alpha=1.0, random_state=0).fit(X, y)
    binary = X.copy()
    binary.data[:] = 1.0
    for k, label in enumerate(model.classes_):
        inside = y == label
        p = np.asarray(binary[inside].sum(0)).ravel() + 1.0
        q = np.asarray(binary[~inside].sum(0)).ravel() + 1.0
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        reference = LinearSVC(C=0.5, class_weight="balanced", random_state=0)
        reference.fit(X.multiply(ratio).tocsr(), inside.astype(int))
        np.testing.assert_allclose(
            model.decision_function(X)[:, k],
            reference.decision_function(X.multiply(ratio).tocsr()),
            rtol=1e-6,
            atol=1e-8,
        )
    assert (model.predict(X) == y).mean() > 0.95


def test_binary_has_one_decision_column_like_scikit_learn():
    X, y = _data()
    keep = y != "c"
    model = NBSVMClassifier().fit(X[keep], y[keep])
    scores = model.decision_function(X[keep])
    assert scores.ndim == 1 and model.coef_.shape == (1, X.shape[1])
    np.testing.assert_array_equal(model.predict(X[keep]), model.classes_[(scores > 0).astype(int)])


def test_one_class_is_an_error():
    X, _ = _data()
    with pytest.raises(ValueError, match="at least 2 classes"):
        NBSVMClassifier().fit(X, ["a"] * X.shape[0])


def test_registry_entry_and_skops_round_trip(tmp_path):
    check_model_config("nbsvm", {})
    with pytest.raises(ValueError, match="nbsvm has no parameter 'gamma'"):
        check_model_config("nbsvm", {"gamma": 1})
    X, y = _data()
    model = NBSVMClassifier().fit(X, y)
    path = tmp_path / "m.skops"
    sio.dump(model, path)
    loaded = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
