"""Decision rules on top of a fitted classifier's scores."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.metaestimators import available_if

from khabar.data.fit_set import JOINT_SEPARATOR, main_label


def _inner_has(method: str):
    return lambda self: hasattr(self.estimator, method)


class ExcludeFromPredictions(ClassifierMixin, BaseEstimator):
    """Learns every class but never predicts the `excluded` ones: each row gets the best
    scoring remaining class. For metrics that ignore a class, such as StanceEval's F1 over
    Favor and Against only, where predicting `None` can only lose recall. The scores keep
    every class, so reports and precision-recall curves still show them."""

    def __init__(self, estimator: BaseEstimator, excluded: tuple[str, ...] = ()) -> None:
        self.estimator = estimator
        self.excluded = excluded

    def fit(self, X, y):  # noqa: N803
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        unknown = sorted(set(self.excluded) - {str(c) for c in self.classes_})
        if unknown:
            raise ValueError(f"excluded label(s) {unknown} are not classes {list(self.classes_)}")
        if len(self.classes_) - len(set(self.excluded)) < 1:
            raise ValueError("every class is excluded from predictions")
        return self

    def _scores(self, X) -> np.ndarray:  # noqa: N803
        if hasattr(self.estimator_, "decision_function"):
            scores = np.asarray(self.estimator_.decision_function(X), dtype=float)
        else:
            scores = np.asarray(self.estimator_.predict_proba(X), dtype=float)
        return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores

    def predict(self, X) -> np.ndarray:  # noqa: N803
        scores = self._scores(X)
        allowed = np.asarray([str(c) not in set(self.excluded) for c in self.classes_])
        scores[:, ~allowed] = -np.inf
        return self.classes_[scores.argmax(axis=1)]

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        return self.estimator_.decision_function(X)

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        return self.estimator_.predict_proba(X)

    @property
    def coef_(self) -> np.ndarray:
        # Reports read a linear model's weights from here; absent for other models.
        return self.estimator_.coef_


class JointLabelClassifier(ClassifierMixin, BaseEstimator):
    """Learns main x auxiliary classes (stance x sentiment: "Favor, Positive", "Favor,
    Neutral", ...) and predicts the main label. A main class that mixes unlike texts (Favor
    said cheerfully, Favor stated flatly) is split into more coherent sub-classes; each main
    class scores the best of its sub-classes (decision values) or their summed probabilities.
    The auxiliary label is needed to train only: `classes_` and predictions are main labels.
    fit takes joint class names made by `joint_labels`."""

    def __init__(self, estimator: BaseEstimator) -> None:
        self.estimator = estimator

    def fit(self, X, y):  # noqa: N803
        self.estimator_ = clone(self.estimator).fit(X, np.asarray(y, dtype=object))
        joint = [str(c) for c in self.estimator_.classes_]
        if not all(JOINT_SEPARATOR in c for c in joint):
            raise ValueError(
                "JointLabelClassifier needs joint labels (khabar.model.decision.joint_labels)"
            )
        mains = [main_label(c) for c in joint]
        self.classes_ = np.asarray(sorted(set(mains)), dtype=object)
        # column indices of each main class's sub-classes in the inner model's scores
        self.members_ = [
            np.asarray([i for i, m in enumerate(mains) if m == c]) for c in self.classes_
        ]
        return self

    def _inner_scores(self, method: str, X) -> np.ndarray:  # noqa: N803
        scores = np.asarray(getattr(self.estimator_, method)(X), dtype=float)
        return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores

    def predict(self, X) -> np.ndarray:  # noqa: N803
        if hasattr(self.estimator_, "decision_function"):
            scores = self.decision_function(X)
        else:
            scores = self.predict_proba(X)
        return self.classes_[scores.argmax(axis=1)]

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        inner = self._inner_scores("decision_function", X)
        return np.column_stack([inner[:, cols].max(axis=1) for cols in self.members_])

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X) -> np.ndarray:  # noqa: N803
        inner = self._inner_scores("predict_proba", X)
        return np.column_stack([inner[:, cols].sum(axis=1) for cols in self.members_])

    @property
    def coef_(self) -> np.ndarray:
        # One weight row per main class for reports: the mean of its sub-classes' rows.
        inner = np.asarray(self.estimator_.coef_)
        return np.vstack([inner[cols].mean(axis=0) for cols in self.members_])
