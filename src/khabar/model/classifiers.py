"""Classifiers by name. Adding one is one entry in REGISTRY."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
from sklearn.utils.metaestimators import available_if

from khabar.errors import KhabarError
from khabar.model.linear_svm import FastLinearSVC
from khabar.model.nbsvm import NBSVMClassifier

# name -> (estimator class, defaults khabar sets on top of scikit-learn's own)
REGISTRY: dict[str, tuple[type[BaseEstimator], dict[str, Any]]] = {
    "linear_svc": (LinearSVC, {}),
    "logistic_regression": (LogisticRegression, {"max_iter": 2000}),
    "complement_nb": (ComplementNB, {}),
    "multinomial_nb": (MultinomialNB, {}),
    "sgd": (SGDClassifier, {}),
    "ridge": (RidgeClassifier, {}),
    "nbsvm": (NBSVMClassifier, {}),
    # LinearSVC's problem and solver, on float32 CSR without a copy, classes in threads
    "fast_linear_svc": (FastLinearSVC, {}),
}


def check_model_config(name: str, params: dict[str, Any]) -> None:
    """Fail early, naming the field, when a classifier or parameter does not exist."""
    if name not in REGISTRY:
        raise ValueError(
            f"model.name: unknown classifier {name!r}; expected one of {sorted(REGISTRY)}"
        )
    estimator_class, defaults = REGISTRY[name]
    known = estimator_class().get_params()
    for key in params:
        if key not in known:
            raise ValueError(
                f"model.params.{key}: {name} has no parameter {key!r}; expected one of {sorted(known)}"
            )
    # Values too (C: "abc", C: -1), now rather than when fitting starts after data loading.
    # Only scikit-learn's own estimators declare `_parameter_constraints`; khabar's validate in fit.
    estimator = estimator_class(**{**defaults, **params})
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None and hasattr(estimator, "_parameter_constraints"):
        try:
            validate()
        except ValueError as exc:  # scikit-learn's InvalidParameterError
            raise ValueError(f"model.params: {exc}") from None


def build_classifier(
    name: str, params: dict[str, Any], *, seed: int, calibrate: bool, multi_label: bool
) -> BaseEstimator:
    try:
        check_model_config(name, params)
    except ValueError as exc:
        raise KhabarError(str(exc)) from None
    estimator_class, defaults = REGISTRY[name]
    estimator = estimator_class(**{**defaults, **params})
    if "random_state" in estimator.get_params() and "random_state" not in params:
        estimator.set_params(random_state=seed)
    if calibrate:
        estimator = CalibratedClassifierCV(estimator, cv=3)
    if multi_label:
        estimator = MultiLabelOneVsRest(estimator)
    return estimator


def _inner_has(method: str):
    return lambda self: hasattr(self.estimator, method)


class MultiLabelOneVsRest(ClassifierMixin, BaseEstimator):
    """One-vs-rest over label lists: fit takes a list of label lists and `classes_` holds the
    label names, so predictions map back to names without a separate binarizer."""

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X, y):  # noqa: N803
        binarizer = MultiLabelBinarizer()
        indicator = binarizer.fit_transform([list(labels) for labels in y])
        self.classes_ = np.asarray([str(c) for c in binarizer.classes_])
        self.model_ = OneVsRestClassifier(clone(self.estimator)).fit(X, indicator)
        return self

    def predict(self, X) -> np.ndarray:  # noqa: N803
        return self._per_class(self.model_.predict(X))

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        return self._per_class(self.model_.decision_function(X))

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        return self._per_class(self.model_.predict_proba(X))

    def _per_class(self, values) -> np.ndarray:
        """One column per label. With a single label OneVsRest answers as for a binary
        problem (1-D, or [negative, positive] probabilities): keep the positive column."""
        values = np.asarray(values)
        if len(self.classes_) == 1:
            return (values[:, -1] if values.ndim == 2 else values).reshape(-1, 1)
        return values

    def to_label_lists(self, indicator: np.ndarray) -> list[list[str]]:
        return [
            [str(c) for c, on in zip(self.classes_, row, strict=True) if on] for row in indicator
        ]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
