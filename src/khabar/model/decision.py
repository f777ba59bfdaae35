"""Decision rules on top of a fitted classifier's scores, and what khabar's classifiers that
wrap another one share."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, column_or_1d

from khabar.data.fit_set import JOINT_SEPARATOR, main_label


def inner_has(method: str) -> Callable[[BaseEstimator], bool]:
    """A check for `available_if`: whether a wrapper's `estimator` has `method`.

    Parameters
    ----------
    method : str
        A method name, e.g. ``"predict_proba"``.

    Returns
    -------
    callable
        ``check(wrapper) -> bool``, true when ``wrapper.estimator`` has the method.
    """
    return lambda self: hasattr(self.estimator, method)


def best_classes(classes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The class with the largest decision value per row; a binary classifier's single
    column picks the second class where it is positive.

    Parameters
    ----------
    classes : ndarray of shape (n_classes,)
        The classifier's classes_.
    scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        Its decision values.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    if scores.ndim == 1:
        return classes[(scores > 0).astype(int)]
    return classes[np.argmax(scores, axis=1)]


def score_columns(scores) -> np.ndarray:
    """One score column per class: a binary classifier's one column s becomes [-s, s].

    Parameters
    ----------
    scores : array-like of shape (n_samples,) or (n_samples, n_classes)
        Decision values or probabilities, as a classifier returns them.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        The scores, with a 1-D binary column stacked as [-s, s] (first class, second).
    """
    scores = np.asarray(scores)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


def wrapper_tags(tags, estimator: BaseEstimator):
    """The input tags a wrapper takes over from the estimator it wraps.

    Parameters
    ----------
    tags : sklearn.utils.Tags
        The wrapper's own tags (from ``super().__sklearn_tags__()``).
    estimator : estimator
        The wrapped (unfitted) estimator.

    Returns
    -------
    sklearn.utils.Tags
        `tags`, accepting sparse input or NaN exactly when `estimator` does.
    """
    inner = get_tags(estimator).input_tags
    tags.input_tags.sparse = inner.sparse
    tags.input_tags.allow_nan = inner.allow_nan
    return tags


class ExcludeFromPredictions(ClassifierMixin, BaseEstimator):
    """Learns every class but never predicts the `excluded` ones.

    Each row gets the best scoring remaining class. For metrics that ignore a class, such
    as StanceEval's F1 over Favor and Against only, where predicting `None` can only lose
    recall. The scores keep every class, so reports and precision-recall curves still
    show them.

    Parameters
    ----------
    estimator : classifier
        The classifier to fit; it needs `decision_function` or `predict_proba`.
    excluded : tuple of str, default=()
        The classes never predicted (compared as strings).

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of `estimator`.
    classes_ : ndarray of shape (n_classes,)
        Every class, excluded ones too.
    n_features_in_ : int
        Number of features seen during fit (that of `estimator_`).
    coef_ : ndarray
        The weights of `estimator_`, when it is linear.
    """

    def __init__(self, estimator: BaseEstimator, excluded: tuple[str, ...] = ()) -> None:
        self.estimator = estimator
        self.excluded = excluded

    def __sklearn_tags__(self):
        """scikit-learn's tags: input as `estimator` takes it."""
        return wrapper_tags(super().__sklearn_tags__(), self.estimator)

    def fit(self, X, y):
        """Fit a clone of `estimator` on every class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels; each excluded label must be one of them.

        Returns
        -------
        self : ExcludeFromPredictions
            This fitted classifier.
        """
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        unknown = sorted(set(self.excluded) - {str(c) for c in self.classes_})
        if unknown:
            raise ValueError(f"excluded label(s) {unknown} are not classes {list(self.classes_)}")
        if len(self.classes_) - len(set(self.excluded)) < 1:
            raise ValueError("every class is excluded from predictions")
        return self

    def _scores(self, X) -> np.ndarray:
        if hasattr(self.estimator_, "decision_function"):
            scores = np.asarray(self.estimator_.decision_function(X), dtype=float)
        else:
            scores = np.asarray(self.estimator_.predict_proba(X), dtype=float)
        return score_columns(scores)

    def predict(self, X) -> np.ndarray:
        """The best scoring class of each sample that is not excluded.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted class labels, never an excluded one.
        """
        check_is_fitted(self)
        scores = self._scores(X)
        allowed = np.asarray([str(c) not in set(self.excluded) for c in self.classes_])
        scores[:, ~allowed] = -np.inf
        return self.classes_[scores.argmax(axis=1)]

    @available_if(inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """The decision values of `estimator_`, every class included.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            As `estimator_.decision_function` returns them.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    @available_if(inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """The class probabilities of `estimator_`, every class included.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            As `estimator_.predict_proba` returns them.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during fit."""
        return self.estimator_.n_features_in_

    @property
    def coef_(self) -> np.ndarray:
        """The weights of `estimator_` (reports read them; absent for non-linear models)."""
        check_is_fitted(self)
        return self.estimator_.coef_


class JointLabelClassifier(ClassifierMixin, BaseEstimator):
    """Learns main x auxiliary classes and predicts the main label.

    Classes such as stance x sentiment ("Favor, Positive", "Favor, Neutral", ...): a main
    class that mixes unlike texts (Favor said cheerfully, Favor stated flatly) is split into
    more coherent sub-classes; each main class scores the best of its sub-classes (decision
    values) or their summed probabilities. The auxiliary label is needed to train only:
    `classes_` and predictions are main labels.

    Parameters
    ----------
    estimator : classifier
        The classifier fit on the joint classes; it needs `decision_function` or
        `predict_proba`.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of `estimator`, whose classes are the joint labels.
    classes_ : ndarray of shape (n_classes,)
        The main labels.
    members_ : list of ndarray
        For each main class, the columns of its sub-classes in `estimator_`'s scores.
    n_features_in_ : int
        Number of features seen during fit (that of `estimator_`).
    coef_ : ndarray of shape (n_classes, n_features_in_)
        For each main class, the mean weight row of its sub-classes (linear models).
    """

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def __sklearn_tags__(self):
        """scikit-learn's tags: input as `estimator` takes it."""
        return wrapper_tags(super().__sklearn_tags__(), self.estimator)

    def fit(self, X, y):
        """Fit a clone of `estimator` on the joint classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Joint class names, as `khabar.data.fit_set.joint_labels` makes them.

        Returns
        -------
        self : JointLabelClassifier
            This fitted classifier.
        """
        labels = column_or_1d(np.asarray(y, dtype=object), warn=True)
        plain = sorted({str(c) for c in labels if JOINT_SEPARATOR not in str(c)})
        if plain:  # before the (maybe long) fit of the inner model
            raise ValueError(
                "JointLabelClassifier needs joint labels (khabar.data.fit_set.joint_labels), "
                f"got {plain[0]!r}"
            )
        self.estimator_ = clone(self.estimator).fit(X, labels)
        mains = [main_label(c) for c in self.estimator_.classes_]
        self.classes_ = np.asarray(sorted(set(mains)), dtype=object)
        # column indices of each main class's sub-classes in the inner model's scores
        self.members_ = [
            np.asarray([i for i, m in enumerate(mains) if m == c]) for c in self.classes_
        ]
        return self

    def _inner_scores(self, method: str, X) -> np.ndarray:
        check_is_fitted(self)
        return score_columns(np.asarray(getattr(self.estimator_, method)(X), dtype=float))

    def predict(self, X) -> np.ndarray:
        """The main class of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            The main class with the best score.
        """
        check_is_fitted(self)
        if hasattr(self.estimator_, "decision_function"):
            scores = self.decision_function(X)
        else:
            scores = self.predict_proba(X)
        return self.classes_[scores.argmax(axis=1)]

    @available_if(inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:
        """Each main class's score: the best decision value among its sub-classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            One column per main class.
        """
        inner = self._inner_scores("decision_function", X)
        return np.column_stack([inner[:, cols].max(axis=1) for cols in self.members_])

    @available_if(inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:
        """Each main class's probability: the sum over its sub-classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            One column per main class; rows sum to 1.
        """
        inner = self._inner_scores("predict_proba", X)
        return np.column_stack([inner[:, cols].sum(axis=1) for cols in self.members_])

    @property
    def n_features_in_(self) -> int:
        """Number of features seen during fit."""
        return self.estimator_.n_features_in_

    @property
    def coef_(self) -> np.ndarray:
        """One weight row per main class for reports: the mean of its sub-classes' rows."""
        check_is_fitted(self)
        inner = np.asarray(self.estimator_.coef_)
        if inner.shape[0] == 1:  # two joint classes: one row w, for the second; the first: -w
            inner = np.vstack([-inner[0], inner[0]])
        return np.vstack([inner[cols].mean(axis=0) for cols in self.members_])
