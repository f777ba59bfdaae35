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

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from khabar.char_ngrams import njit, require_numba

if njit is not None:

    @njit(nogil=True, cache=True)
    def _dual_coordinate_descent(indptr, indices, data, w, signs, c_pos, c_neg,
                                 bias, tol, max_iter, seed):  # fmt: skip
        """liblinear's solve_l2r_l1l2_svc for the squared hinge loss. Fills `w` (zeros, one
        weight per feature) and returns the intercept's weight and the number of passes."""
        n = len(signs)
        w_bias = 0.0  # the weight of the constant feature `bias`
        alpha = np.zeros(n)
        diag_pos, diag_neg = 0.5 / c_pos, 0.5 / c_neg
        squared_norms = np.empty(n)
        for i in range(n):
            total = bias * bias
            for p in range(indptr[i], indptr[i + 1]):
                total += np.float64(data[p]) * data[p]
            squared_norms[i] = total + (diag_pos if signs[i] > 0 else diag_neg)
        order = np.arange(n)
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
                diag = diag_pos if sign > 0 else diag_neg
                gradient = gradient * sign - 1.0 + alpha[i] * diag
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


def _workers(n_jobs: int | None) -> int:
    cores = os.cpu_count() or 1
    return cores if n_jobs in (None, -1) else max(1, min(int(n_jobs), cores))


def _as_csr(X) -> sp.csr_matrix:  # noqa: N803
    if not sp.issparse(X):
        X = sp.csr_matrix(np.asarray(X, dtype=np.float64))  # noqa: N806
    X = X.tocsr()  # noqa: N806  (no copy when it already is CSR)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)  # noqa: N806
    return X


class FastLinearSVC(ClassifierMixin, BaseEstimator):
    """Linear SVM (squared hinge, L2, one-vs-rest) with the parameters of LinearSVC's
    default solver; `n_jobs` threads (-1: all cores) fit classes and score rows."""

    def __init__(
        self,
        C: float = 1.0,  # noqa: N803 - scikit-learn's name
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

    def fit(self, X, y, sample_weight=None):  # noqa: N803
        require_numba()
        if sample_weight is not None:
            raise ValueError("FastLinearSVC does not take sample_weight; use class_weight")
        X = _as_csr(X)  # noqa: N806
        y = np.asarray(y)
        if X.shape[0] != len(y):
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(y)} labels")
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need at least 2 classes, got {list(self.classes_)}")
        weights = compute_class_weight(self.class_weight, classes=self.classes_, y=y)
        if len(self.classes_) == 2:  # one problem; classes_[1] is the positive side
            problems = [(encoded == 1, self.C * weights[1], self.C * weights[0])]
        else:  # like liblinear: positives weighted by their class, negatives plain C
            problems = [
                (encoded == k, self.C * weights[k], self.C) for k in range(len(self.classes_))
            ]
        bias = float(self.intercept_scaling) if self.fit_intercept else 0.0
        seed = 0 if self.random_state is None else int(self.random_state) % (2**32)
        n_features = X.shape[1]

        # Each problem writes its weights straight into its row: no per-class copies.
        coef = np.zeros((len(problems), n_features))

        def solve(k):
            positive, c_pos, c_neg = problems[k]
            signs = np.where(positive, 1.0, -1.0)
            return _dual_coordinate_descent(
                X.indptr, X.indices, X.data, coef[k], signs, float(c_pos), float(c_neg),
                bias, float(self.tol), int(self.max_iter), seed,
            )  # fmt: skip

        # The one-vs-rest problems share X (read-only) and run on parallel threads.
        with ThreadPoolExecutor(min(len(problems), self._threads())) as pool:
            solutions = list(pool.map(solve, range(len(problems))))
        self.coef_ = coef
        self.intercept_ = np.array([w_bias * bias for w_bias, _ in solutions])
        self.n_iter_ = max(passes for _, passes in solutions)
        self.n_features_in_ = n_features
        return self

    def _threads(self) -> int:
        return _workers(self.n_jobs)

    def decision_function(self, X) -> np.ndarray:  # noqa: N803
        require_numba()
        X = _as_csr(X)  # noqa: N806
        if X.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, the model {self.coef_.shape[1]}")
        # Score in the input's precision: a float32 matrix is never copied to float64.
        coef_by_feature = np.ascontiguousarray(self.coef_.T, dtype=X.dtype)
        intercept = self.intercept_.astype(X.dtype)
        n_rows = X.shape[0]
        step = max(1, -(-n_rows // (4 * _workers(self.n_jobs))))
        bounds = [(start, min(start + step, n_rows)) for start in range(0, n_rows, step)]

        def score(bound):
            return _decision_rows(X.indptr, X.indices, X.data, coef_by_feature, intercept, *bound)

        with ThreadPoolExecutor(_workers(self.n_jobs)) as pool:
            parts = list(pool.map(score, bounds))
        scores = np.vstack(parts) if parts else np.empty((0, len(intercept)), X.dtype)
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:  # noqa: N803
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]
