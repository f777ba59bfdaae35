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
