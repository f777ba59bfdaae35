"""Figures for a run: confusion matrix, per-class bars, precision-recall curves and the
top-weighted n-grams per class with Arabic shaped right to left."""

from __future__ import annotations

import json
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
    """Text as it must be handed to matplotlib to be drawn joined and right to left.

    Parameters
    ----------
    text : str
        Text in logical order, Arabic or not.

    Returns
    -------
    str
        `text` itself for matplotlib 3.11 and later, which shape Arabic themselves; for
        older versions, reshaped into joined letter forms in visual order.
    """
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
    """Draw the confusion matrix, each gold row normalized to sum to 1 (single-label).

    Parameters
    ----------
    y_true : sequence of str
        Gold labels.
    y_pred : sequence of str
        Predicted labels.
    labels : list of str
        The classes, in the rows' and columns' order.
    path : Path
        The PNG file to write (atomically).

    Returns
    -------
    Path
        `path`.
    """
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


def plot_per_class(
    metrics: dict[str, float],
    labels: list[str],
    path: Path,
    intervals: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Draw bars of precision, recall and F1 for each class, F1 with its interval.

    Parameters
    ----------
    metrics : dict of str to float
        Metrics as `khabar.record.metrics.compute_metrics` names them.
    labels : list of str
        The classes, in the bars' order.
    path : Path
        The PNG file to write (atomically).
    intervals : dict of str to (float, float), optional
        Bootstrap intervals by metric name: ``f1_<class>``'s are drawn as error bars.

    Returns
    -------
    Path
        `path`.
    """
    names = ("precision", "recall", "f1")
    width = 0.26
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(labels) + 2), 4))
    for k, name in enumerate(names):
        keys = [f"{name}_{metric_key(label)}" for label in labels]
        values = np.array([metrics[key] for key in keys])
        errors = None
        if intervals and all(key in intervals for key in keys):
            bounds = np.array([intervals[key] for key in keys])
            errors = np.clip(np.vstack([values - bounds[:, 0], bounds[:, 1] - values]), 0, None)
        bars = ax.bar(x + (k - 1) * width, values, width, label=name, yerr=errors, capsize=3)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=6 if errors is not None else 0)
    ax.set_xticks(x, [shape_arabic(label) for label in labels])
    ax.set_ylim(0, 1.2)
    ax.set_ylabel("score")
    title = "Per-class precision, recall and F1 (test)"
    ax.set_title(title + (", F1 with 95% bootstrap interval" if intervals else ""))
    ax.legend(loc="upper center", ncol=3, fontsize=8)
    return _save(fig, path)


def plot_precision_recall(
    truth_indicator: np.ndarray, scores: np.ndarray, labels: list[str], path: Path
) -> Path:
    """Draw one precision-recall curve per class, its average precision in the legend.

    A class without positive rows has no curve.

    Parameters
    ----------
    truth_indicator : ndarray of shape (n_samples, n_classes)
        1 where a row has the class, as `binarize` returns it.
    scores : ndarray of shape (n_samples, n_classes)
        The model's score of each class for each row.
    labels : list of str
        The classes, in the columns' order.
    path : Path
        The PNG file to write (atomically).

    Returns
    -------
    Path
        `path`.
    """
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
    """Gold labels as a 0/1 indicator matrix, one column per class.

    Parameters
    ----------
    y_true : sequence
        Gold labels (lists of labels for multi-label tasks).
    labels : list of str
        The classes, in the columns' order.
    multi_label : bool
        The labels are lists.

    Returns
    -------
    ndarray of shape (n_samples, n_classes)
        Two columns for two classes too (scikit-learn's `label_binarize` gives one).
    """
    if multi_label:
        return np.array([[label in row for label in labels] for row in y_true], dtype=int)
    indicator = label_binarize(y_true, classes=labels)
    if indicator.shape[1] == 1:  # binary: label_binarize gives one column
        indicator = np.column_stack([1 - indicator[:, 0], indicator[:, 0]])
    return indicator


def plot_top_ngrams(top: dict[str, list[tuple[str, float]]], path: Path) -> Path:
    """One panel per class: the n-grams with the largest weights, shaped for reading.

    Parameters
    ----------
    top : dict of str to list of (str, float)
        Class -> its n-grams and weights, largest first.
    path : Path
        The PNG file to write (atomically).

    Returns
    -------
    Path
        `path`.
    """
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


def plot_metric_against(points: list[tuple], key: str, metric: str, path: Path) -> Path:
    """A sweep's metric against one swept setting: a scatter, on a log axis when a numeric
    setting spans 20x or more, with one tick per value for other settings.

    Parameters
    ----------
    points : list of (value, float)
        Each variant's setting of `key` and its `metric`.
    key : str
        The dotted config key (the x axis).
    metric : str
        The metric's name (the y axis).
    path : Path
        The PNG file to write.

    Returns
    -------
    Path
        `path`.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    values = [v for v, _ in points]
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        ax.scatter(values, [m for _, m in points])
        if min(values) > 0 and max(values) / min(values) >= 20:
            ax.set_xscale("log")
    else:
        names = sorted({json.dumps(v, ensure_ascii=False) for v in values})
        where = {n: i for i, n in enumerate(names)}
        ax.scatter(
            [where[json.dumps(v, ensure_ascii=False)] for v in values], [m for _, m in points]
        )
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_xlabel(key)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {key}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_forest(rows: list[tuple[str, float, float, float, bool]], title: str, path: Path) -> Path:
    """A forest plot: each metric's difference B - A with its interval, zero marked.

    Parameters
    ----------
    rows : list of (str, float, float, float, bool)
        Per metric: name, difference, interval low and high, significant at the chosen
        level (drawn filled) or not (hollow).
    title : str
        The figure's title.
    path : Path
        The PNG file to write (atomically).

    Returns
    -------
    Path
        `path`.
    """
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.4))
    for y, (_, delta, low, high, significant) in enumerate(reversed(rows)):
        color = "tab:blue" if significant else "tab:gray"
        ax.plot([low, high], [y, y], color=color, linewidth=2)
        ax.plot(delta, y, "o", color=color, markerfacecolor=color if significant else "white")
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(rows)), [shape_arabic(name) for name, *_ in reversed(rows)])
    ax.set_xlabel("Δ = B − A (95% paired-bootstrap interval)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_learning_curves(
    steps: list[int], curves: dict[str, dict], metric: str, title: str, path: Path,
    target: float | None = None,
) -> Path:  # fmt: skip
    """Learning curves: each strategy's mean metric against labels used, with its min-max
    band over repeats shaded.

    Parameters
    ----------
    steps : list of int
        Labels used at each point (the x axis).
    curves : dict of str to dict
        Per strategy, lists ``mean``, ``min`` and ``max`` with one value per step.
    metric : str
        The metric's name (the y axis).
    title : str
        The figure's title.
    path : Path
        The PNG file to write (atomically).
    target : float, optional
        Drawn as a dashed line (e.g. what random reaches with the whole budget).

    Returns
    -------
    Path
        `path`.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, curve in curves.items():
        (line,) = ax.plot(steps, curve["mean"], marker="o", markersize=3, label=name)
        ax.fill_between(steps, curve["min"], curve["max"], color=line.get_color(), alpha=0.15)
    if target is not None:
        ax.axhline(target, color="gray", linewidth=0.8, linestyle="--", label="random at budget")
    ax.set_xlabel("labels used")
    ax.set_ylabel(metric)
    ax.set_title(shape_arabic(title), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)
