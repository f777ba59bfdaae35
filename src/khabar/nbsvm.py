"""NBSVM (Wang and Manning, 2012): a linear SVM on features scaled by naive Bayes
log-count ratios. Strong on short, sentiment-bearing text; one-vs-rest for many classes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC


class NBSVMClassifier(ClassifierMixin, BaseEstimator):
    """For each class c, r_c = log((p_c/|p_c|) / (q_c/|q_c|)) where p_c and q_c sum the
    (binarized) features of the rows in and out of c, smoothed by `alpha`; a LinearSVC is
    then fit on X scaled column-wise by r_c. `coef_` holds the effective weights r_c * w_c,
    so reports can show the top n-grams like for any linear model. The last
    `unscaled_columns` columns are dense features (a mean word vector) rather than counts:
    they enter the SVM with ratio 1."""

    def __init__(
        self,
        C: float = 0.1,  # noqa: N803 - scikit-learn's name
        alpha: float = 1.0,
        binarize: bool = True,
        class_weight: str | dict | None = "balanced",
        max_iter: int = 2000,
        random_state: int | None = None,
        unscaled_columns: int = 0,
    ) -> None:
        self.C = C
        self.alpha = alpha
        self.binarize = binarize
        self.class_weight = class_weight
        self.max_iter = max_iter
        self.random_state = random_state
        self.unscaled_columns = unscaled_columns

    def _ratio(self, X: sp.csr_matrix, inside: np.ndarray) -> np.ndarray:  # noqa: N803
        counted = X.shape[1] - self.unscaled_columns
        counts = X[:, :counted] if self.unscaled_columns else X.copy()
        if self.binarize:
            counts.data[:] = 1.0
        p = np.asarray(counts[inside].sum(axis=0)).ravel() + self.alpha
        q = np.asarray(counts[~inside].sum(axis=0)).ravel() + self.alpha
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        # the dense columns neither get a ratio nor shift the n-grams' ones
        return np.concatenate([ratio, np.ones(self.unscaled_columns)])

    def fit(self, X, y):  # noqa: N803
        X = sp.csr_matrix(X)  # noqa: N806
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        if not 0 <= self.unscaled_columns <= X.shape[1]:
            raise ValueError(
                f"unscaled_columns={self.unscaled_columns} is not within 0..{X.shape[1]} columns"
            )
        if len(self.classes_) < 2:
            raise ValueError(f"NBSVM needs at least 2 classes, got {list(self.classes_)}")
        # Binary: one model for the second class, as scikit-learn's binary classifiers do.
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        weights, intercepts = [], []
        for label in positives:
            inside = y == label
            ratio = self._ratio(X, inside)
            model = LinearSVC(
                C=self.C,
                class_weight=self.class_weight,
                max_iter=self.max_iter,
                random_state=self.random_state,
            ).fit(X.multiply(ratio).tocsr(), inside.astype(int))
            # w . (x * r) == (w * r) . x: keep only the folded weights.
            weights.append(ratio * model.coef_[0])
            intercepts.append(model.intercept_[0])
        self.coef_ = np.vstack(weights)
        self.intercept_ = np.asarray(intercepts)
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        scores = np.asarray(sp.csr_matrix(X) @ self.coef_.T) + self.intercept_
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:  # noqa: N803
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[scores.argmax(axis=1)]
