"""Figures for a run: confusion matrix, per-class bars, precision-recall curves and the
top-weighted n-grams per class with Arabic shaped right to left."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers or CI

import arabic_reshaper  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from bidi import get_display  # noqa: E402
from packaging.version import Version  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
)
from sklearn.preprocessing import label_binarize  # noqa: E402

from khabar.record.metrics import metric_key  # noqa: E402

# Matplotlib 3.11 lays text out with libraqm, which joins Arabic letters and orders
# right-to-left runs itself; reshaping again would reverse and break the words. Older
# versions draw code points left to right, so they need arabic-reshaper and python-bidi.
MATPLOTLIB_SHAPES_ARABIC = Version(matplotlib.__version__) >= Version("3.11")


def shape_arabic(text: str) -> str:
    """Text as it must be handed to matplotlib to be drawn joined and right to left."""
    if MATPLOTLIB_SHAPES_ARABIC:
        return text
    return get_display(arabic_reshaper.reshape(text))


def _save(fig, path: Path) -> Path:
    # Write under a temporary name, then rename: a crash never leaves half a PNG.
    temporary = path.with_name(f".{path.name}.tmp")
    fig.savefig(temporary, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(temporary, path)
    return path


def plot_confusion_matrix(y_true, y_pred, labels: list[str], path: Path) -> Path:
    matrix = confusion_matrix(y_true, y_pred, labels=labels, normalize="true")
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2.5, 1.1 * len(labels) + 2))
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if matrix[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title("Confusion matrix (rows normalized)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_per_class(metrics: dict[str, float], labels: list[str], path: Path) -> Path:
    names = ("precision", "recall", "f1")
    width = 0.26
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(labels) + 2), 4))
    for k, name in enumerate(names):
        values = [metrics[f"{name}_{metric_key(label)}"] for label in labels]
        bars = ax.bar(x + (k - 1) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("score")
    ax.set_title("Per-class precision, recall and F1 (test)")
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    return _save(fig, path)


def plot_precision_recall(
    truth_indicator: np.ndarray, scores: np.ndarray, labels: list[str], path: Path
) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for k, label in enumerate(labels):
        if truth_indicator[:, k].sum() == 0:
            continue  # no positives: the curve is undefined
        precision, recall, _ = precision_recall_curve(truth_indicator[:, k], scores[:, k])
        ap = average_precision_score(truth_indicator[:, k], scores[:, k])
        ax.plot(recall, precision, label=f"{label} (AP {ap:.2f})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_title("Precision-recall per class (test)")
    ax.legend(loc="lower left", fontsize=8)
    return _save(fig, path)


def binarize(y_true, labels: list[str], multi_label: bool) -> np.ndarray:
    if multi_label:
        return np.array([[label in row for label in labels] for row in y_true], dtype=int)
    indicator = label_binarize(y_true, classes=labels)
    if indicator.shape[1] == 1:  # binary: label_binarize gives one column
        indicator = np.column_stack([1 - indicator[:, 0], indicator[:, 0]])
    return indicator


def plot_top_ngrams(top: dict[str, list[tuple[str, float]]], path: Path) -> Path:
    """One panel per class: the n-grams with the largest weights, shaped for reading."""
    classes = list(top)
    columns = min(len(classes), 3)
    rows = int(np.ceil(len(classes) / columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 0.32 * 15 * rows + 1), squeeze=False
    )
    for ax in axes.flat[len(classes) :]:
        ax.axis("off")
    for ax, label in zip(axes.flat, classes, strict=False):
        grams = top[label][::-1]
        names = [shape_arabic(gram.replace(" ", "␣")) for gram, _ in grams]
        ax.barh(range(len(grams)), [w for _, w in grams], color="tab:green")
        ax.set_yticks(range(len(grams)), names, fontsize=10)
        ax.set_title(label)
        ax.tick_params(axis="x", labelsize=7)
    fig.suptitle("Top-weighted n-grams per class (␣ = space)")
    fig.tight_layout()
    return _save(fig, path)
