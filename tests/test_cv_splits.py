"""K-fold splits with extra training rows (data.extra_train): the extra rows join every
fold's fit and are never scored."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline

from khabar.data.fit_set import FitSet
from khabar.runs.cross_validation import cross_validate, cv_splits

SCORED, EXTRA, FOLDS = 30, 7, 3


def _rows(multi_label: bool):
    """30 scored rows (classes a, b, c ten times each), then 7 extra rows."""
    X = np.arange(SCORED + EXTRA).reshape(-1, 1)
    if multi_label:
        y = [["a"] if i % 2 else ["a", "b"] for i in range(SCORED + EXTRA)]
    else:
        y = [("a", "b", "c")[i % 3] for i in range(SCORED)] + ["a"] * EXTRA
    return X, y


@pytest.mark.parametrize("multi_label", [False, True])
def test_extra_rows_are_in_every_fit_and_in_no_scored_fold(multi_label):
    X, y = _rows(multi_label)
    extra = list(range(SCORED, SCORED + EXTRA))
    splits = list(cv_splits(X, y, folds=FOLDS, seed=7, multi_label=multi_label, always_train=EXTRA))
    assert len(splits) == FOLDS
    held_out = []
    for train_idx, test_idx in splits:
        assert list(train_idx[-EXTRA:]) == extra  # every fit has them, last
        assert set(test_idx).isdisjoint(extra)  # no fold scores them
        assert set(train_idx) | set(test_idx) == set(range(SCORED + EXTRA))
        assert set(train_idx).isdisjoint(test_idx)
        held_out += list(test_idx)
    # The scored rows are held out exactly once each: they, and only they, are scored.
    assert sorted(held_out) == list(range(SCORED))


def test_folds_are_stratified_over_the_scored_rows_only():
    X, y = _rows(multi_label=False)  # the extra rows are all "a": they must not skew folds
    for _, test_idx in cv_splits(X, y, folds=FOLDS, seed=7, multi_label=False, always_train=EXTRA):
        counts = Counter(y[i] for i in test_idx)
        assert set(counts) == {"a", "b", "c"} and set(counts.values()) <= {3, 4}


def test_without_extra_rows_every_row_is_scored_once():
    X, y = _rows(multi_label=False)
    X, y = X[:SCORED], y[:SCORED]
    tested = [list(te) for _, te in cv_splits(X, y, folds=FOLDS, seed=7, multi_label=False)]
    assert sorted(sum(tested, [])) == list(range(SCORED))


FITTED_ON: list[list[int]] = []


class _Recorder(ClassifierMixin, BaseEstimator):
    """Remembers which rows each fit saw; predicts "a" with probability 1."""

    def fit(self, X, y):
        FITTED_ON.append([int(v) for v in np.asarray(X).ravel()])
        self.classes_ = np.asarray(sorted(set(y)), dtype=object)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0], dtype=object)

    def predict_proba(self, X):
        proba = np.zeros((len(X), len(self.classes_)))
        proba[:, 0] = 1.0
        return proba


def test_cross_validate_fits_every_fold_on_the_extra_rows_and_scores_only_the_others():
    X, y = _rows(multi_label=False)
    fit = FitSet(pd.DataFrame({"row": X.ravel()}), y, y, EXTRA)
    FITTED_ON.clear()
    _, folds, out_of_fold = cross_validate(
        Pipeline([("classifier", _Recorder())]), fit, ["a", "b", "c"], folds=FOLDS, seed=7
    )
    assert len(FITTED_ON) == len(folds) == FOLDS
    for seen in FITTED_ON:
        assert set(range(SCORED, SCORED + EXTRA)) <= set(seen)
    # Out of fold: one prediction per scored row, none for the extra rows.
    assert len(out_of_fold.predicted[0]) == SCORED
    assert out_of_fold.scores.shape == (1, SCORED, 3)
    # Always predicting "a": each fold's accuracy is the share of "a" among its scored
    # rows, computed here from the splits; scoring the extra "a"s would inflate it.
    expected = [
        np.mean([y[i] == "a" for i in test_idx])
        for _, test_idx in cv_splits(X, y, folds=FOLDS, seed=7, multi_label=False,
                                     always_train=EXTRA)
    ]  # fmt: skip
    assert [fold["accuracy"] for fold in folds] == pytest.approx(expected)
    assert max(expected) < 0.5
