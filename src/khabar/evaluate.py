"""Metrics and cross-validation. One metrics function serves CV, the test set, `khabar
evaluate` and the benchmarks."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MultiLabelBinarizer
from tqdm.auto import tqdm

from khabar.config import GroupedMetricConfig
from khabar.errors import KhabarError


def metric_key(label: str) -> str:
    """Class names inside metric keys: MLflow accepts letters, digits, _ - . / and spaces."""
    return re.sub(r"[^0-9A-Za-z_.-]+", "_", label)


def compute_metrics(
    y_true: Sequence,
    y_pred: Sequence,
    labels: Sequence[str],
    *,
    multi_label: bool = False,
    groups: Sequence | None = None,
    grouped: GroupedMetricConfig | None = None,
) -> dict[str, float]:
    """All metrics of one prediction, flat name -> number."""
    labels = list(labels)
    if multi_label:
        binarizer = MultiLabelBinarizer(classes=labels)
        truth, pred = binarizer.fit_transform(y_true), binarizer.transform(y_pred)
        metrics = {
            "f1_micro": f1_score(truth, pred, average="micro", zero_division=0),
            "f1_macro": f1_score(truth, pred, average="macro", zero_division=0),
            "hamming_loss": hamming_loss(truth, pred),
            "subset_accuracy": accuracy_score(truth, pred),
        }
    else:
        truth, pred = list(y_true), list(y_pred)
        metrics = {
            "accuracy": accuracy_score(truth, pred),
            "f1_macro": f1_score(truth, pred, labels=labels, average="macro", zero_division=0),
        }
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, pred, labels=None if multi_label else labels, zero_division=0
    )
    for i, label in enumerate(labels):
        key = metric_key(label)
        metrics[f"precision_{key}"] = precision[i]
        metrics[f"recall_{key}"] = recall[i]
        metrics[f"f1_{key}"] = f1[i]
    if grouped is not None and groups is not None and not multi_label:
        metrics[grouped.name] = grouped_f1(truth, pred, groups, grouped.labels)
    return {name: float(value) for name, value in metrics.items()}


def grouped_f1(y_true: Sequence, y_pred: Sequence, groups: Sequence, labels: list[str]) -> float:
    """Macro-F1 over `labels` within each group, averaged over groups (StanceEval on Mawqif)."""
    frame = pd.DataFrame({"true": list(y_true), "pred": list(y_pred), "group": list(groups)})
    scores = [
        f1_score(part["true"], part["pred"], labels=labels, average="macro", zero_division=0)
        for _, part in frame.groupby("group", sort=True)
    ]
    return float(np.mean(scores))


def choose_folds(labels: Sequence, requested: int, multi_label: bool) -> tuple[int, str | None]:
    """Reduce the fold count when the rarest class is smaller than it, and say so."""
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
    cache=None,  # noqa: N803
    fit_labels=None,
):
    y_fit = [(y if fit_labels is None else fit_labels)[i] for i in train_idx]
    if cache is None:
        model = clone(pipeline)
        model.fit(X.iloc[train_idx], y_fit)
        predicted = model.predict(X.iloc[test_idx])
    else:  # featurize the fold once (or load it), then fit only the classifier
        features = cache.featurize(
            pipeline[:-1], X.iloc[train_idx], X.iloc[test_idx], pipeline[0].text_column
        )
        model = Pipeline([("classifier", clone(pipeline[-1]))])
        model.fit(features.fit_matrix, y_fit)
        predicted = model.predict(features.eval_matrix)
    if multi_label:
        predicted = model[-1].to_label_lists(predicted)
    return compute_metrics(
        [y[i] for i in test_idx],
        list(predicted),
        labels,
        multi_label=multi_label,
        groups=None if groups is None else [groups[i] for i in test_idx],
        grouped=grouped,
    )


def cv_splits(X, y: list, *, folds: int, seed: int, multi_label: bool, always_train: int = 0):  # noqa: N803
    """K-fold splits (stratified for single-label) of all but the last `always_train` rows;
    those rows (extra training data, data.extra_train) join every fold's training part and
    are never scored."""
    scored = len(y) - always_train
    if multi_label:
        splits = KFold(folds, shuffle=True, random_state=seed).split(X[:scored])
    else:
        splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(
            X[:scored], y[:scored]
        )
    extra = np.arange(scored, len(y))
    for train_idx, test_idx in splits:
        yield np.concatenate([train_idx, extra]), test_idx


def cross_validate(
    pipeline,
    X: pd.DataFrame,  # noqa: N803
    y: list,
    labels: list[str],
    *,
    folds: int,
    seed: int,
    multi_label: bool = False,
    groups: list | None = None,
    grouped: GroupedMetricConfig | None = None,
    n_jobs: int = 1,
    cache=None,
    always_train: int = 0,
    fit_labels: list | None = None,
    repeats: int = 1,
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """K-fold CV (stratified for single-label). Returns mean/std per metric and fold metrics.
    With a `khabar.cache.FeatureCache`, each fold's features are computed once and reused.
    The last `always_train` rows are extra training data: in every fold, never scored.
    `fit_labels`: what the models are fit on, row by row, when it differs from the scored
    labels `y` (joint labels, data.auxiliary_label_column); folds are stratified on `y`.
    `repeats`: run the k-fold CV with fold seeds seed, seed + 1, ...; the summary is over
    all folds of all repeats."""
    splits = (
        split
        for repeat in range(repeats)
        for split in cv_splits(
            X,
            y,
            folds=folds,
            seed=seed + repeat,
            multi_label=multi_label,
            always_train=always_train,
        )
    )
    jobs = (
        delayed(_fit_and_score)(
            pipeline, X, y, tr, te, labels, multi_label, groups, grouped, cache, fit_labels
        )
        for tr, te in splits
    )
    runner = Parallel(n_jobs=n_jobs, return_as="generator")
    fold_metrics = list(
        tqdm(runner(jobs), total=folds * repeats, desc="cross-validation", unit="fold")
    )
    summary: dict[str, float] = {}
    for name in fold_metrics[0]:
        values = [fold[name] for fold in fold_metrics]
        summary[f"cv_{name}_mean"] = float(np.mean(values))
        summary[f"cv_{name}_std"] = float(np.std(values))
    return summary, fold_metrics
