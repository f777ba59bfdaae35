"""A linear SVM for corpus-sized sparse data: `FastLinearSVC` (`model.name: fast_linear_svc`).

It solves the problem scikit-learn's `LinearSVC` solves by default (L2-regularized squared
hinge loss, one-vs-rest, intercept as a regularized constant feature, liblinear's dual
coordinate descent with shrinking, same stopping rule), but:
- it reads the CSR matrix as it is (float32 stays float32) instead of copying it into
  liblinear's 16-byte-per-value layout, which is what made LinearSVC's memory double;
- it fits the one-vs-rest problems in parallel threads (the loops release the GIL);
- its decision function runs in parallel threads too, in the input's precision.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from khabar.model.compiled import njit, require_numba, thread_count
from khabar.model.decision import best_classes

if njit is not None:

    @njit(nogil=True, cache=True)
    def _dual_coordinate_descent(indptr, indices, data, w, signs, costs, bias, tol, max_iter,
                                 seed):  # fmt: skip
        """liblinear's solve_l2r_l1l2_svc for the squared hinge loss, with one cost (C times
        the class and sample weights) per sample; a sample of cost 0 takes no part. Fills
        `w` (zeros, one weight per feature) and returns the intercept's weight and the
        number of passes."""
        w_bias = 0.0  # the weight of the constant feature `bias`
        alpha = np.zeros(len(signs))
        diag = np.empty(len(signs))
        squared_norms = np.empty(len(signs))
        order = np.empty(len(signs), np.int64)
        n = 0  # the samples that take part
        for i in range(len(signs)):
            if costs[i] <= 0.0:
                continue
            order[n] = i
            n += 1
            diag[i] = 0.5 / costs[i]
            total = bias * bias
            for p in range(indptr[i], indptr[i + 1]):
                total += np.float64(data[p]) * data[p]
            squared_norms[i] = total + diag[i]
        active = n
        np.random.seed(seed)
        inf = np.inf
        pg_max_old = inf  # (the squared hinge has no upper bound, so no pg_min_old)
        passes = 0
        while passes < max_iter:
            pg_max_new, pg_min_new = -inf, inf
            for i in range(active):
                j = i + np.random.randint(active - i)
                order[i], order[j] = order[j], order[i]
            s = 0
            while s < active:
                i = order[s]
                sign = signs[i]
                gradient = w_bias * bias
                for p in range(indptr[i], indptr[i + 1]):
                    gradient += w[indices[p]] * data[p]
                gradient = gradient * sign - 1.0 + alpha[i] * diag[i]
                projected = 0.0
                if alpha[i] == 0.0:
                    if gradient > pg_max_old:  # shrink: this alpha stays at its bound
                        active -= 1
                        order[s], order[active] = order[active], order[s]
                        continue
                    if gradient < 0.0:
                        projected = gradient
                else:
                    projected = gradient
                pg_max_new = max(pg_max_new, projected)
                pg_min_new = min(pg_min_new, projected)
                if abs(projected) > 1e-12:
                    old = alpha[i]
                    alpha[i] = max(old - gradient / squared_norms[i], 0.0)
                    step = (alpha[i] - old) * sign
                    for p in range(indptr[i], indptr[i + 1]):
                        w[indices[p]] += step * data[p]
                    w_bias += step * bias
                s += 1
            passes += 1
            if pg_max_new - pg_min_new <= tol:
                if active == n:
                    break
                active = n  # converged on the active set: check every sample once more
                pg_max_old = inf
                continue
            pg_max_old = inf if pg_max_new <= 0 else pg_max_new
        return w_bias, passes

    @njit(nogil=True, cache=True)
    def _decision_rows(indptr, indices, data, coef_by_feature, intercept, start, stop):
        """Scores of rows start..stop: X[rows] @ coef.T + intercept."""
        n_classes = len(intercept)
        out = np.empty((stop - start, n_classes), coef_by_feature.dtype)
        for r in range(start, stop):
            for k in range(n_classes):
                out[r - start, k] = intercept[k]
            for p in range(indptr[r], indptr[r + 1]):
                row = coef_by_feature[indices[p]]
                value = data[p]
                for k in range(n_classes):
                    out[r - start, k] += value * row[k]
        return out


MODEL_SETTING = "model.name=fast_linear_svc (or set model.name=linear_svc)"


def _as_csr(X) -> sp.csr_matrix:
    """X as CSR of float32 or float64, without a copy when it already is one."""
    return sp.csr_matrix(X) if not sp.issparse(X) or X.format != "csr" else X


def _sample_weights(sample_weight, n_samples: int) -> np.ndarray:
    """Validated non-negative sample weights, not all zero (ones when None)."""
    if sample_weight is None:
        return np.ones(n_samples)
    weights = check_array(
        sample_weight, ensure_2d=False, dtype=np.float64, input_name="sample_weight"
    )
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {weights.shape}, expected ({n_samples},)")
    if (weights < 0).any():
        raise ValueError("sample_weight has negative values")
    if not weights.any():
        raise ValueError("sample_weight is zero everywhere: at least one must be positive")
    return weights


class FastLinearSVC(ClassifierMixin, BaseEstimator):
    """Linear SVM (squared hinge, L2, one-vs-rest) with the parameters of LinearSVC's
    default solver, on float32 or float64 CSR data without a copy.

    It solves the problem scikit-learn's ``LinearSVC()`` solves (liblinear's dual
    coordinate descent with shrinking, the same stopping rule); `n_jobs` threads fit the
    one-vs-rest problems and score rows. Needs numba (the "scale" extra).

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularization strength.
    class_weight : dict, "balanced" or None, default=None
        Weight of each class (multiplies C for its samples).
    tol : float, default=1e-4
        Stopping tolerance on the projected gradient.
    max_iter : int, default=1000
        Most passes over the data per one-vs-rest problem.
    fit_intercept : bool, default=True
        Learn an intercept (as the weight of a constant, regularized feature).
    intercept_scaling : float, default=1.0
        The value of that constant feature.
    random_state : int, default=None
        Seed of the order samples are visited in (None: 0).
    n_jobs : int, default=-1
        Threads for fitting and scoring; -1 means one per core.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    coef_ : ndarray of shape (1, n_features_in_) or (n_classes, n_features_in_)
        Weights; one row for the second class when there are two.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        The intercepts.
    n_iter_ : int
        The most passes any one-vs-rest problem ran.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when X had string column names.

    See Also
    --------
    sklearn.svm.LinearSVC : The reference implementation.
    """

    extra_requirements = ("numba",)  # what a logged model's environment needs

    def __init__(
        self,
        C: float = 1.0,
        class_weight: dict | str | None = None,
        tol: float = 1e-4,
        max_iter: int = 1000,
        fit_intercept: bool = True,
        intercept_scaling: float = 1.0,
        random_state: int | None = None,
        n_jobs: int | None = -1,
    ) -> None:
        self.C = C
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        """scikit-learn's tags: sparse input."""
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _problems(self, y, encoded, sample_weight) -> list[tuple[np.ndarray, np.ndarray]]:
        """(positive rows, cost of each sample) of each one-vs-rest problem."""
        if len(np.unique(encoded[sample_weight > 0])) < 2:
            raise ValueError(
                "FastLinearSVC needs samples of at least 2 classes with a positive weight; "
                f"got 1 class: {list(np.unique(y[sample_weight > 0]))}"
            )
        weights = compute_class_weight(
            self.class_weight, classes=self.classes_, y=y, sample_weight=sample_weight
        )
        if len(self.classes_) == 2:  # one problem; classes_[1] is the positive side
            positive = encoded == 1
            costs = np.where(positive, self.C * weights[1], self.C * weights[0])
            return [(positive, costs * sample_weight)]
        # like liblinear: positives weighted by their class, negatives plain C
        return [
            (encoded == k, np.where(encoded == k, self.C * weights[k], self.C) * sample_weight)
            for k in range(len(self.classes_))
        ]

    def fit(self, X, y, sample_weight=None):
        """Fit the one-vs-rest problems (one for the second class when there are two).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 CSR is read as it is, without a copy.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample (multiplies C for it); a sample of weight 0 is left out.

        Returns
        -------
        self : FastLinearSVC
            This fitted classifier.
        """
        require_numba(MODEL_SETTING)
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32])
        X = _as_csr(X)
        check_classification_targets(y)
        sample_weight = _sample_weights(sample_weight, X.shape[0])
        self.classes_, encoded = np.unique(y, return_inverse=True)
        problems = self._problems(y, encoded, sample_weight)
        bias = float(self.intercept_scaling) if self.fit_intercept else 0.0
        seed = 0 if self.random_state is None else int(self.random_state) % (2**32)

        # Each problem writes its weights straight into its row: no per-class copies.
        coef = np.zeros((len(problems), X.shape[1]))

        def solve(k):
            positive, costs = problems[k]
            signs = np.where(positive, 1.0, -1.0)
            return _dual_coordinate_descent(
                X.indptr, X.indices, X.data, coef[k], signs, costs, bias, float(self.tol),
                int(self.max_iter), seed,
            )  # fmt: skip

        # The one-vs-rest problems share X (read-only) and run on parallel threads.
        with ThreadPoolExecutor(min(len(problems), self._threads())) as pool:
            solutions = list(pool.map(solve, range(len(problems))))
        self.coef_ = coef
        self.intercept_ = np.array([w_bias * bias for w_bias, _ in solutions])
        self.n_iter_ = max(passes for _, passes in solutions)
        return self

    def _threads(self) -> int:
        return thread_count(self.n_jobs)

    def decision_function(self, X) -> np.ndarray:
        """Signed distance of each sample to each class's hyperplane.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in_)
            The samples; scored in their own precision (float32 stays float32).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column per class; with two classes, one value per sample, positive for
            the second class.
        """
        check_is_fitted(self)
        require_numba(MODEL_SETTING)
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        X = _as_csr(X)
        # Score in the input's precision: a float32 matrix is never copied to float64.
        coef_by_feature = np.ascontiguousarray(self.coef_.T, dtype=X.dtype)
        intercept = self.intercept_.astype(X.dtype)
        n_rows = X.shape[0]
        step = max(1, -(-n_rows // (4 * thread_count(self.n_jobs))))
        bounds = [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]

        def score(bound):
            return _decision_rows(X.indptr, X.indices, X.data, coef_by_feature, intercept, *bound)

        with ThreadPoolExecutor(thread_count(self.n_jobs)) as pool:
            parts = list(pool.map(score, bounds))
        scores = np.vstack(parts) if parts else np.empty((0, len(intercept)), X.dtype)
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
