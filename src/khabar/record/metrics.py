"""Metrics: one function serves CV folds, the test set, `khabar evaluate` and the benchmarks."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    hamming_loss,
    precision_recall_fscore_support,
)
from sklearn.preprocessing import MultiLabelBinarizer

from khabar.data.config import GroupedMetricConfig


def metric_key(label: str) -> str:
    """A class name as it appears inside metric keys (``f1_<key>``).

    MLflow accepts letters, digits, _ - . / and spaces in a key: Arabic class names are not
    keys as they are.

    Parameters
    ----------
    label : str
        A class name.

    Returns
    -------
    str
        The name with every run of characters other than ASCII letters, digits, "_", "."
        and "-" replaced by "_".
    """
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
    """All metrics of one prediction, flat name -> number.

    Parameters
    ----------
    y_true : sequence
        Gold labels (lists of labels for multi-label tasks).
    y_pred : sequence
        Predicted labels, in the same form.
    labels : sequence of str
        Every class, in the order of the per-class metrics.
    multi_label : bool, default False
        The labels are lists.
    groups : sequence, optional
        Each row's group, for `grouped`.
    grouped : GroupedMetricConfig, optional
        An extra metric over `groups` (single-label only; see `grouped_f1`).

    Returns
    -------
    dict of str to float
        Single-label: accuracy, f1_macro; multi-label: f1_micro, f1_macro, hamming_loss,
        subset_accuracy. Then precision_<class>, recall_<class> and f1_<class> for each
        class (see `metric_key`), and the grouped metric under its name.
    """
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
    """Macro-F1 over `labels` within each group, averaged over groups (StanceEval on Mawqif).

    Parameters
    ----------
    y_true : sequence
        Gold labels.
    y_pred : sequence
        Predicted labels.
    groups : sequence
        Each row's group (e.g. its target).
    labels : list of str
        The labels whose F1 is averaged within a group.

    Returns
    -------
    float
        The mean over groups of their macro-F1.
    """
    frame = pd.DataFrame({"true": list(y_true), "pred": list(y_pred), "group": list(groups)})
    scores = [
        f1_score(part["true"], part["pred"], labels=labels, average="macro", zero_division=0)
        for _, part in frame.groupby("group", sort=True)
    ]
    return float(np.mean(scores))
