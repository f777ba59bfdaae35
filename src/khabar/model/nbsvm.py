"""NBSVM (Wang and Manning, 2012): a linear SVM on features scaled by naive Bayes
log-count ratios. Strong on short, sentiment-bearing text; one-vs-rest for many classes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.svm import LinearSVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from khabar.model.decision import best_classes


class NBSVMClassifier(ClassifierMixin, BaseEstimator):
    """Linear SVM on naive-Bayes-scaled features (NBSVM).

    For each class c, r_c = log((p_c/|p_c|) / (q_c/|q_c|)) where p_c and q_c sum the
    (binarized) features of the rows in and out of c, smoothed by `alpha`; a LinearSVC is
    then fit on X scaled column-wise by r_c. `coef_` holds the effective weights r_c * w_c,
    so reports can show the top n-grams like for any linear model. The last
    `unscaled_columns` columns are dense features (a mean word vector) rather than counts:
    they enter the SVM with ratio 1.

    Parameters
    ----------
    C : float, default=0.1
        Inverse regularization strength of each LinearSVC.
    alpha : float, default=1.0
        Smoothing added to the feature sums p_c and q_c.
    binarize : bool, default=True
        Count whether a feature is non-zero rather than its value. With False the counted
        columns must be non-negative.
    class_weight : dict, "balanced" or None, default="balanced"
        Class weights of each one-vs-rest LinearSVC (its two classes are 0 and 1).
    max_iter : int, default=2000
        Iterations of each LinearSVC.
    random_state : int, default=None
        Seed of each LinearSVC.
    unscaled_columns : int, default=0
        How many last columns are dense features that keep a ratio of 1.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        Effective weights r_c * w_c; one row for the second class when there are two.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        The intercepts.
    n_iter_ : int
        The most iterations any of the LinearSVCs ran.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X had string column names.
    """

    def __init__(
        self,
        C: float = 0.1,
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

    def __sklearn_tags__(self):
        """scikit-learn's tags: sparse input; non-negative unless binarized."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = not self.binarize  # counts, unless only their presence
        return tags

    def _ratio(self, X: sp.csr_matrix, inside: np.ndarray) -> np.ndarray:
        counted = X.shape[1] - self.unscaled_columns
        counts = X[:, :counted] if self.unscaled_columns else X  # only read
        if self.binarize:  # new values beside the same structure; an explicit 0 stays 0
            binary = np.asarray(counts.data != 0, dtype=counts.dtype)
            counts = sp.csr_matrix((binary, counts.indices, counts.indptr), shape=counts.shape)
        p = np.asarray(counts[inside].sum(axis=0)).ravel() + self.alpha
        q = np.asarray(counts[~inside].sum(axis=0)).ravel() + self.alpha
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        # the dense columns neither get a ratio nor shift the n-grams' ones
        return np.concatenate([ratio, np.ones(self.unscaled_columns)])

    def _check_fit_data(self, X: sp.csr_matrix) -> None:
        if not 0 <= self.unscaled_columns <= X.shape[1]:
            raise ValueError(
                f"unscaled_columns={self.unscaled_columns} is not within 0..{X.shape[1]} columns"
            )
        counted = X[:, : X.shape[1] - self.unscaled_columns]
        if not self.binarize and counted.nnz and counted.data.min() < 0:
            raise ValueError(
                "Negative values in data passed to NBSVMClassifier: with binarize=False the "
                "feature counts must be non-negative"
            )
        if len(self.classes_) < 2:
            raise ValueError(f"NBSVM needs at least 2 classes; got 1 class: {list(self.classes_)}")

    def fit(self, X, y):
        """Fit one NBSVM per class (one for the second class when there are two).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Feature counts (e.g. TF-IDF), then `unscaled_columns` dense columns.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : NBSVMClassifier
            This fitted classifier.
        """
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        X = sp.csr_matrix(X)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        self._check_fit_data(X)
        # Binary: one model for the second class, as scikit-learn's binary classifiers do.
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        weights, intercepts, iterations = [], [], []
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
            iterations.append(int(model.n_iter_))
        self.coef_ = np.vstack(weights)
        self.intercept_ = np.asarray(intercepts)
        self.n_iter_ = max(iterations)
        return self

    def decision_function(self, X) -> np.ndarray:
        """Signed distance of each sample to each class's hyperplane.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column per class; with two classes, one value per sample, positive for
            the second class.
        """
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        scores = np.asarray(sp.csr_matrix(X) @ self.coef_.T) + self.intercept_
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:
        """The class of each sample: the one with the largest decision value.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted class labels.
        """
        scores = self.decision_function(X)  # checks that the model is fitted
        return best_classes(self.classes_, scores)
