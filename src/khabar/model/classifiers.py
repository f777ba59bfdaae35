"""Classifiers by name. Adding one is one entry in REGISTRY."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.multiclass import OneVsRestClassifier
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from khabar.errors import KhabarError
from khabar.model.decision import inner_has, wrapper_tags
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
    """Fail early, naming the field, when a classifier or parameter does not exist.

    Parameters
    ----------
    name : str
        A key of `REGISTRY` (``model.name``).
    params : dict
        The classifier's parameters (``model.params``).

    Raises
    ------
    ValueError
        Naming the config field, for an unknown classifier, parameter or value.
    """
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
    """The unfitted classifier a config names, wrapped as the task needs.

    Parameters
    ----------
    name : str
        A key of `REGISTRY`.
    params : dict
        Parameters on top of the registry's defaults.
    seed : int
        The `random_state` of a randomized classifier, unless `params` sets one.
    calibrate : bool
        Wrap it in a 3-fold `CalibratedClassifierCV` (probabilities).
    multi_label : bool
        Wrap it in `MultiLabelOneVsRest`.

    Returns
    -------
    estimator
        The classifier.

    Raises
    ------
    KhabarError
        For an unknown classifier, parameter or value.
    """
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


def _label_indicator(y) -> np.ndarray | sp.spmatrix | None:
    """y when it is a 2-D 0/1 label indicator matrix, None when it is label lists."""
    if not (sp.issparse(y) or (isinstance(y, np.ndarray) and y.ndim == 2)):
        return None
    values = y.data if sp.issparse(y) else y
    if not np.isin(values, (0, 1)).all():
        raise ValueError("a 2-D y must be a label indicator matrix of 0 and 1")
    return y


class MultiLabelOneVsRest(ClassifierMixin, BaseEstimator):
    """One-vs-rest over label lists: fit takes a list of label lists and `classes_` holds the
    label names, so predictions map back to names without a separate binarizer.

    Parameters
    ----------
    estimator : classifier
        The binary classifier fit for each label.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        The label names (str), sorted; the column numbers when fit on an indicator matrix.
    model_ : sklearn.multiclass.OneVsRestClassifier
        The fitted one-vs-rest classifier over the label indicator matrix.
    n_features_in_ : int
        Number of features seen during fit.
    """

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def __sklearn_tags__(self):
        """scikit-learn's tags: multi-label, input as `estimator` takes it."""
        tags = wrapper_tags(super().__sklearn_tags__(), self.estimator)
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False  # y: a set of labels per row, not one
        return tags

    def fit(self, X, y):
        """Fit one clone of `estimator` per label.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : sequence of label lists, or {ndarray, sparse matrix} of shape \
(n_samples, n_labels)
            The labels of each row (an empty list: none), or a 0/1 indicator matrix.

        Returns
        -------
        self : MultiLabelOneVsRest
            This fitted classifier.
        """
        if y is None:
            raise ValueError(
                "MultiLabelOneVsRest requires y to be passed, but the target y is None"
            )
        if hasattr(y, "__array__") and not isinstance(y, list | tuple):
            y = np.asarray(y)  # e.g. a Series of lists: an object array of them
        indicator = _label_indicator(y)
        if indicator is None:
            rows = list(y)
            for row in rows:
                if isinstance(row, str) or not isinstance(row, Iterable):
                    raise ValueError(
                        f"y must hold a list of labels per row (or be an indicator matrix), "
                        f"got the row {row!r}"
                    )
            binarizer = MultiLabelBinarizer()
            indicator = binarizer.fit_transform([list(labels) for labels in rows])
            self.classes_ = np.asarray([str(c) for c in binarizer.classes_])
        else:
            self.classes_ = np.arange(indicator.shape[1])
        self.model_ = OneVsRestClassifier(clone(self.estimator)).fit(X, indicator)
        return self

    def predict(self, X) -> np.ndarray:
        """Which labels each sample has.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_labels)
            A 0/1 indicator matrix; `to_label_lists` names its labels.
        """
        check_is_fitted(self)
        return self._per_class(self.model_.predict(X))

    @available_if(inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """Each label's decision value.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_labels)
            Positive where the label is predicted.
        """
        check_is_fitted(self)
        return self._per_class(self.model_.decision_function(X))

    @available_if(inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """Each label's probability.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_labels)
            The probability that the sample has the label.
        """
        check_is_fitted(self)
        return self._per_class(self.model_.predict_proba(X))

    def _per_class(self, values) -> np.ndarray:
        """One column per label. With a single label OneVsRest answers as for a binary
        problem (1-D, or [negative, positive] probabilities): keep the positive column."""
        values = np.asarray(values.toarray() if sp.issparse(values) else values)
        if len(self.classes_) == 1:
            return (values[:, -1] if values.ndim == 2 else values).reshape(-1, 1)
        return values

    def to_label_lists(self, indicator: np.ndarray) -> list[list[str]]:
        """Label names from an indicator matrix such as `predict` returns.

        Parameters
        ----------
        indicator : array-like of shape (n_samples, n_labels)
            Non-zero where a row has the label.

        Returns
        -------
        list of list of str
            The names of each row's labels, in the order of `classes_`.
        """
        check_is_fitted(self)
        return [
            [str(c) for c, on in zip(self.classes_, row, strict=True) if on] for row in indicator
        ]

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during fit."""
        return self.model_.n_features_in_
