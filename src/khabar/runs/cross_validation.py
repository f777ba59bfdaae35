"""Cross-validation: fold counts, k-fold splits with extra rows always in training, and
the CV loop (optionally over cached features)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from khabar.data.config import GroupedMetricConfig
from khabar.data.fit_set import FitSet
from khabar.errors import KhabarError
from khabar.model.pipeline import class_labels, class_scores, predict_labels
from khabar.record.metrics import compute_metrics


@dataclass
class OutOfFold:
    """Each scored training row predicted by the model of the CV fold that held it out.

    Attributes
    ----------
    labels : list of str
        The classes, in the order of the score columns.
    predicted : list of list
        Per CV repeat, one predicted label (list of labels, multi-label) per scored row.
    scores : ndarray of shape (n_repeats, n_rows, n_classes)
        The fold model's score of each class.
    folds : ndarray of shape (n_repeats, n_rows)
        The fold (0-based) that held each row out, per repeat.
    score_kind : str
        "probability" or "decision".
    """

    labels: list[str]
    predicted: list[list]
    scores: np.ndarray
    folds: np.ndarray
    score_kind: str


def choose_folds(labels: Sequence, requested: int, multi_label: bool) -> tuple[int, str | None]:
    """Reduce the fold count when the rarest class is smaller than it, and say so.

    Parameters
    ----------
    labels : sequence
        The training rows' labels (lists of labels for multi-label tasks).
    requested : int
        The fold count asked for (evaluation.cv_folds).
    multi_label : bool
        The labels are lists; the count is then only capped at the number of rows.

    Returns
    -------
    folds : int
        The fold count to use.
    note : str or None
        Why it is smaller than `requested`, for the report; None when it is not reduced.

    Raises
    ------
    KhabarError
        The data cannot be cross-validated: a single class, a class with one example, or
        (multi-label) no labels or every row with the same labels.
    """
    if multi_label:
        _check_label_sets(labels)
        return min(requested, len(labels)), None
    counts = Counter(labels)
    if len(counts) < 2:
        only = next(iter(counts), "nothing")
        raise KhabarError(f"training data has a single class ({only!r}); need at least 2")
    rarest_label, rarest = min(counts.items(), key=lambda item: item[1])
    if rarest < 2:
        raise KhabarError(
            f"class {rarest_label!r} has only {rarest} training example; need at least 2 for CV"
        )
    if rarest < requested:
        return rarest, (
            f"cv_folds reduced from {requested} to {rarest}: class {rarest_label!r} has "
            f"only {rarest} training examples"
        )
    return requested, None


def _check_label_sets(labels: Sequence) -> None:
    """Multi-label training needs some label, and rows that differ in their labels."""
    if not any(labels):
        raise KhabarError("training data has no labels: every row's label list is empty")
    label_sets = {tuple(sorted(row)) for row in labels}
    if len(label_sets) < 2:
        raise KhabarError(
            f"every training row has the same labels {list(label_sets.pop())}; "
            "need rows that differ to learn anything"
        )


def _fit_and_score(
    pipeline,
    X,
    y,
    train_idx,
    test_idx,
    labels,
    multi_label,
    groups,
    grouped,
    cache=None,
    fit_labels=None,
):
    """One fold: fit on train_idx, predict test_idx; its metrics and its predictions."""
    y_fit = [(y if fit_labels is None else fit_labels)[i] for i in train_idx]
    if cache is None:
        model = clone(pipeline)
        model.fit(X.iloc[train_idx], y_fit)
        rows = X.iloc[test_idx]
    else:  # featurize the fold once (or load it), then fit only the classifier
        features = cache.featurize(
            pipeline[:-1], X.iloc[train_idx], X.iloc[test_idx], pipeline[0].text_column
        )
        model = Pipeline([("classifier", clone(pipeline[-1]))])
        model.fit(features.fit_matrix, y_fit)
        rows = features.eval_matrix
    predicted = predict_labels(model, rows)
    fold_scores, kind = class_scores(model, rows)
    scores = np.zeros((len(test_idx), len(labels)))
    scores[:, [labels.index(label) for label in class_labels(model)]] = fold_scores
    metrics = compute_metrics(
        [y[i] for i in test_idx],
        predicted,
        labels,
        multi_label=multi_label,
        groups=None if groups is None else [groups[i] for i in test_idx],
        grouped=grouped,
    )
    return metrics, test_idx, predicted, scores, kind


def cv_splits(
    X,
    y: list,
    *,
    folds: int,
    seed: int,
    multi_label: bool,
    always_train: int = 0,
    split_groups: Sequence | None = None,
):
    """K-fold splits (stratified for single-label) of all but the last `always_train` rows.

    Those rows (extra training data, data.extra_train) join every fold's training part and
    are never scored.

    Parameters
    ----------
    X : DataFrame or array-like
        The rows; only their count and order matter.
    y : list
        The labels that stratify the folds.
    folds : int
        The fold count.
    seed : int
        The shuffle's seed.
    multi_label : bool
        Plain (unstratified) k-fold.
    always_train : int, default 0
        How many rows at the end are extra training data.
    split_groups : sequence, optional
        Every row's group (extra rows too): a group is never on both sides of a fold
        (StratifiedGroupKFold, GroupKFold for multi-label), and extra rows of a scored
        group are left out of that fold's fit.

    Yields
    ------
    train_idx, test_idx : ndarray of int
        Each fold's training positions (the extra rows last) and scored positions.
    """
    scored = len(y) - always_train
    splits = _splitter(folds, seed, multi_label, split_groups is not None).split(
        X[:scored], None if multi_label else y[:scored],
        None if split_groups is None else np.asarray(split_groups)[:scored],
    )  # fmt: skip
    extra = np.arange(scored, len(y))
    for train_idx, test_idx in splits:
        if split_groups is not None and len(extra):
            scored_groups = np.asarray(split_groups)[test_idx]
            yield np.concatenate([train_idx, extra_outside(extra, split_groups, scored_groups)]), test_idx
        else:
            yield np.concatenate([train_idx, extra]), test_idx


def _splitter(folds: int, seed: int, multi_label: bool, grouped: bool):
    if grouped and multi_label:
        return GroupKFold(folds, shuffle=True, random_state=seed)
    if grouped:
        return StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    if multi_label:
        return KFold(folds, shuffle=True, random_state=seed)
    return StratifiedKFold(folds, shuffle=True, random_state=seed)


def extra_outside(extra: np.ndarray, split_groups: Sequence, scored_groups) -> np.ndarray:
    """The extra rows whose group is not among the scored rows' groups.

    Parameters
    ----------
    extra : ndarray of int
        The extra rows' positions.
    split_groups : sequence
        Every row's group.
    scored_groups : array-like
        The groups of a fold's scored rows.

    Returns
    -------
    ndarray of int
        The extra positions that may join that fold's fit.
    """
    return extra[~np.isin(np.asarray(split_groups)[extra], scored_groups)]


def cross_validate(
    pipeline: Pipeline,
    fit: FitSet,
    labels: list[str],
    *,
    folds: int,
    seed: int,
    multi_label: bool = False,
    groups: list | None = None,
    grouped: GroupedMetricConfig | None = None,
    n_jobs: int = 1,
    cache=None,
    repeats: int = 1,
    split_groups: Sequence | None = None,
) -> tuple[dict[str, float], list[dict[str, float]], OutOfFold]:
    """K-fold CV (stratified for single-label): a clone of `pipeline` fit and scored per fold.

    Parameters
    ----------
    pipeline : Pipeline
        The unfitted Pipeline.
    fit : FitSet
        The rows: the scored rows, then `fit.extra_rows` extra rows that join every fold's
        fit and are never scored; models are fit on `fit.fit_labels`, folds are stratified
        and scored on `fit.labels` (`FitSet.plain` makes one from inputs and labels).
    labels : list of str
        Every class, for the per-class metrics.
    folds, seed, repeats : int
        k; the first fold seed; repeats run the k-fold CV with fold seeds seed, seed + 1, …
        (the summary is over all their folds).
    multi_label : bool, default False
        The labels are lists.
    groups, grouped : list and GroupedMetricConfig, optional
        Each scored row's group, and a metric computed within groups.
    n_jobs : int, default 1
        Folds fitted in parallel (joblib).
    cache : FeatureCache, optional
        Featurizes each fold once; only the classifier is fit.
    split_groups : sequence, optional
        Every row's group (extra rows too), on one side of each fold (`cv_splits`).

    Returns
    -------
    summary : dict of str to float
        ``cv_<metric>_mean`` and ``cv_<metric>_std`` of every metric.
    fold_metrics : list of dict of str to float
        Each fold's metrics, as `khabar.record.metrics.compute_metrics` returns them.
    out_of_fold : OutOfFold
        Every scored row's prediction and scores per repeat, by its held-out fold's model.
    """
    jobs = (
        delayed(_fit_and_score)(pipeline, fit.inputs, fit.labels, tr, te, labels, multi_label,
                                groups, grouped, cache, fit.fit_labels)
        for tr, te in _repeated_splits(fit, folds, seed, repeats, multi_label, split_groups)
    )  # fmt: skip
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    outputs = list(tqdm(runner(jobs), total=folds * repeats, desc="cross-validation", unit="fold"))
    fold_metrics = [output[0] for output in outputs]
    scored = len(fit.labels) - fit.extra_rows
    return _mean_and_std(fold_metrics), fold_metrics, _pool(outputs, labels, folds, repeats, scored)


def _repeated_splits(fit: FitSet, folds: int, seed: int, repeats: int, multi_label: bool,
                     split_groups: Sequence | None = None):  # fmt: skip
    """The k-fold splits of every repeat, repeat r with fold seed seed + r."""
    for repeat in range(repeats):
        yield from cv_splits(fit.inputs, fit.labels, folds=folds, seed=seed + repeat,
                             multi_label=multi_label, always_train=fit.extra_rows,
                             split_groups=split_groups)  # fmt: skip


def _pool(outputs: list, labels: list[str], folds: int, repeats: int, scored: int) -> OutOfFold:
    predicted: list[list] = [[None] * scored for _ in range(repeats)]
    scores = np.zeros((repeats, scored, len(labels)))
    fold_of = np.zeros((repeats, scored), dtype=np.int64)
    for position, (_, test_idx, fold_predicted, fold_scores, _) in enumerate(outputs):
        repeat, fold = divmod(position, folds)
        scores[repeat, test_idx] = fold_scores
        fold_of[repeat, test_idx] = fold
        for i, label in zip(test_idx, fold_predicted, strict=True):
            predicted[repeat][i] = label
    return OutOfFold(labels, predicted, scores, fold_of, outputs[0][4])


def _mean_and_std(fold_metrics: list[dict[str, float]]) -> dict[str, float]:
    summary = {}
    for name in fold_metrics[0]:
        values = [fold[name] for fold in fold_metrics]
        summary[f"cv_{name}_mean"] = float(np.mean(values))
        summary[f"cv_{name}_std"] = float(np.std(values))
    return summary
