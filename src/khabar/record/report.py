"""A run's report folder: the plots and a readable summary.md, written all or nothing."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from khabar.errors import KhabarError
from khabar.record.metrics import metric_key
from khabar.record.resampling import INTERVAL_METHOD

CLASS_METRICS = ("precision", "recall", "f1")  # a classification report's columns


def safe_name(text: str) -> str:
    """`text` as a file or folder name.

    Parameters
    ----------
    text : str
        Any text (a config name, a file stem, a swept key).

    Returns
    -------
    str
        Letters, digits, '_', '-', '.' kept, any other character '_', no leading dot or
        '_'; "report" when nothing is left.
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text).lstrip("._") or "report"


def timestamped_name(text: str) -> str:
    """The one naming rule of runs and report folders.

    Parameters
    ----------
    text : str
        The name's first part (a config name, a file stem).

    Returns
    -------
    str
        `safe_name` of `text`, '-', the local time (``topic-20261207-153000``).
    """
    return f"{safe_name(text)}-{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass
class ReportInputs:
    """Everything a report shows: what `write_report` draws and writes into summary.md.

    Attributes
    ----------
    title : str
        The summary's heading.
    labels : list of str
        The classes, in the order of the columns of `scores`.
    multi_label : bool
        The labels are lists (no confusion matrix then).
    texts : list of str
        The scored rows' texts.
    y_true : list
        Their gold labels.
    y_pred : list
        Their predicted labels.
    scores : ndarray of shape (n_samples, n_classes)
        The model's score of each class for each row.
    score_kind : str
        What the scores are (e.g. "probability" or "decision"), said in the summary.
    test_metrics : dict of str to float
        The metrics of the scored rows.
    test_intervals : dict of str to (float, float), default {}
        Bootstrap intervals of test metrics, by the same names.
    cv_metrics : dict of str to float, default {}
        Cross-validation metrics, shown when there are any.
    cv_intervals : dict of str to (float, float), default {}
        Bootstrap intervals of cross-validation metrics, by the same names.
    cv_support : dict of str to int, default {}
        Rows per class of the cross-validated (training) rows.
    top_features : dict of str to list of (str, float), default {}
        Each class's top-weighted n-grams, plotted when there are any.
    facts : dict of str to str, default {}
        Lines at the summary's top (run, data, classifier, ...).
    notes : list of str, default []
        Notes on the data (split, leakage, dropped rows).
    misclassified_examples : int, default 15
        Rows in the table of the most confidently misclassified items.
    ids : list of str or None, default None
        Names of the scored rows (data.id_column), when known; else rows are numbered.
    mistake_ngrams : dict of int to list of (str, str, float), default {}
        For rows of the misclassified table (by position), the n-grams that pushed the
        wrong label most: (n-gram, block, contribution); a column when there are any.
    mistake_ngrams_note : str, default ""
        What those contributions are, said under the table.
    """

    title: str
    labels: list[str]
    multi_label: bool
    texts: list[str]
    y_true: list
    y_pred: list
    scores: np.ndarray
    score_kind: str
    test_metrics: dict[str, float]
    test_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    cv_metrics: dict[str, float] = field(default_factory=dict)
    cv_intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    cv_support: dict[str, int] = field(default_factory=dict)
    top_features: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    misclassified_examples: int = 15
    ids: list[str] | None = None  # names of the scored rows (data.id_column), when known
    mistake_ngrams: dict[int, list[tuple[str, str, float]]] = field(default_factory=dict)
    mistake_ngrams_note: str = ""


def _excerpt(text: str, limit: int = 110) -> str:
    flat = " ".join(text.split())
    flat = flat if len(flat) <= limit else flat[:limit] + "…"
    return flat.replace("|", "\\|")


@dataclass
class Mistake:
    """One misclassified scored row, as the report's table shows it.

    Attributes
    ----------
    score : float
        The model's score for `label` (its absolute value for a multi-label row).
    row : int
        The row's position among the scored rows.
    gold, predicted : str
        The gold and predicted labels as shown (lists joined by ", ").
    label : str
        The wrong label whose score is shown: the prediction; for a multi-label row the
        most confidently wrong of its labels.
    missed : bool
        `label` is a gold label the model left out (multi-label), not a wrong one it chose.
    """

    score: float
    row: int
    gold: str
    predicted: str
    label: str
    missed: bool = False


def confident_mistakes(inputs: ReportInputs) -> list[Mistake]:
    """The misclassified scored rows, most confident first, as many as the table shows.

    Parameters
    ----------
    inputs : ReportInputs
        The report's rows, labels and scores.

    Returns
    -------
    list of Mistake
        At most `inputs.misclassified_examples`.
    """
    index = {label: k for k, label in enumerate(inputs.labels)}
    wrong = []
    for i, (gold, pred) in enumerate(zip(inputs.y_true, inputs.y_pred, strict=True)):
        if inputs.multi_label:
            if set(gold) == set(pred):
                continue
            errors = [label for label in sorted(set(gold) ^ set(pred)) if label in index]
            label = max(errors, key=lambda name: abs(inputs.scores[i, index[name]]))
            score = abs(inputs.scores[i, index[label]])
            wrong.append(Mistake(score, i, ", ".join(gold) or "—", ", ".join(pred) or "—",
                                 label, label in gold))  # fmt: skip
        elif gold != pred:
            wrong.append(Mistake(inputs.scores[i, index[pred]], i, gold, pred, pred))
    wrong.sort(key=lambda mistake: -mistake.score)
    return wrong[: inputs.misclassified_examples]


def _ngram_cell(inputs: ReportInputs, mistake: Mistake) -> str:
    grams = inputs.mistake_ngrams.get(mistake.row, [])
    shown = []
    for gram, block, contribution in grams:
        text = gram if block.startswith("word") else gram.replace(" ", "\u2423")
        shown.append(f"`{text}` {contribution:+.3f}".replace("|", "\\|"))
    if inputs.multi_label and shown:
        shown[0] = f"{mistake.label} ({'missed' if mistake.missed else 'wrong'}): {shown[0]}"
    return ", ".join(shown)


def _misclassified_rows(inputs: ReportInputs) -> list[str]:
    rows = []
    for mistake in confident_mistakes(inputs):
        i = mistake.row
        cells = [
            str(inputs.ids[i] if inputs.ids else i + 1), _excerpt(inputs.texts[i]),
            mistake.gold, mistake.predicted, f"{mistake.score:.3f}",
        ]  # fmt: skip
        if inputs.mistake_ngrams:
            cells.append(_ngram_cell(inputs, mistake))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def with_interval(value: float, interval: tuple[float, float] | None) -> str:
    """A metric as ``0.912 [0.893, 0.930]`` (just ``0.912`` without an interval).

    Parameters
    ----------
    value : float
        The metric.
    interval : (float, float) or None
        Its interval.

    Returns
    -------
    str
    """
    if interval is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _metric_table(
    metrics: dict[str, float], intervals: dict[str, tuple[float, float]]
) -> list[str]:
    lines = ["| metric | value [95% CI] |", "|---|---|"]
    return lines + [f"| {k} | {with_interval(v, intervals.get(k))} |" for k, v in metrics.items()]


def _support(y_true: list) -> dict[str, int]:
    return Counter(y for row in y_true for y in (row if isinstance(row, list) else [row]))


def _class_table(
    labels: list[str], header: list[str], cells: Callable[[str], list[str]], support: dict
) -> list[str]:
    """A row per class: its name, `cells(metric key)`, its support."""
    lines = ["| " + " | ".join(["class", *header, "support"]) + " |"]
    lines.append("|---|" + "---:|" * (len(header) + 1))
    for label in labels:
        row = [label, *cells(metric_key(label)), str(support.get(label, ""))]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _test_report(inputs: ReportInputs) -> list[str]:
    """The scored rows as a classification report, then the metrics over all classes."""
    metrics, intervals = inputs.test_metrics, inputs.test_intervals
    keys = [metric_key(label) for label in inputs.labels]
    names = [f"{m}_{k}" for k in keys for m in CLASS_METRICS]
    if not set(names) <= set(metrics):
        return _metric_table(metrics, intervals)

    def cells(key: str) -> list[str]:
        return [
            with_interval(metrics[f"{m}_{key}"], intervals.get(f"{m}_{key}")) for m in CLASS_METRICS
        ]

    header = ["precision", "recall", "F1 [95% CI]"]
    lines = _class_table(inputs.labels, header, cells, _support(inputs.y_true))
    macro = [f"{np.mean([metrics[f'{m}_{k}'] for k in keys]):.3f}" for m in CLASS_METRICS]
    lines.append(f"| *macro avg* | {' | '.join(macro)} | {len(inputs.y_true)} |")
    rest = {name: value for name, value in metrics.items() if name not in names}
    return lines + [""] + _metric_table(rest, intervals)


def _cv_report(inputs: ReportInputs) -> list[str]:
    """Per class and overall: the folds' mean ± sd, and the pooled predictions' value."""
    metrics, intervals = inputs.cv_metrics, inputs.cv_intervals

    def spread(name: str) -> str:
        mean, std = metrics.get(f"cv_{name}_mean"), metrics.get(f"cv_{name}_std", 0.0)
        return "" if mean is None else f"{mean:.3f} ± {std:.3f}"

    def pooled(name: str) -> str:
        value = metrics.get(f"cv_{name}_pooled")
        return "" if value is None else with_interval(value, intervals.get(f"cv_{name}_pooled"))

    lines = _class_table(
        inputs.labels,
        ["precision", "recall", "F1", "F1 pooled [95% CI]"],
        lambda k: [spread(f"{m}_{k}") for m in CLASS_METRICS] + [pooled(f"f1_{k}")],
        inputs.cv_support,
    )
    per_class = {f"{m}_{metric_key(label)}" for label in inputs.labels for m in CLASS_METRICS}
    overall = [
        name[3:-5] for name in metrics if name.endswith("_mean") and name[3:-5] not in per_class
    ]
    lines += ["", "| metric | folds: mean ± sd | pooled [95% CI] |", "|---|---:|---:|"]
    return lines + [f"| {name} | {spread(name)} | {pooled(name)} |" for name in overall]


def _summary(inputs: ReportInputs, figures: list[str]) -> str:
    lines = [f"# {inputs.title}", ""]
    lines += [f"- **{key}**: {value}" for key, value in inputs.facts.items()]
    if inputs.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in inputs.notes]
    lines += ["", "## Test metrics", ""] + _test_report(inputs)
    if inputs.cv_metrics:
        lines += ["", "## Cross-validation (training data)", ""] + _cv_report(inputs)
    if inputs.test_intervals or inputs.cv_intervals:
        lines += ["", f"Intervals: 95%, {INTERVAL_METHOD}, 10,000 resamples; `cv_*_pooled`: "
                  "the out-of-fold predictions of every fold and repeat scored together."]  # fmt: skip
    lines += ["", "## Figures", ""] + [f"![{name}]({name})" for name in figures]
    rows = _misclassified_rows(inputs)
    header = f"| {'id' if inputs.ids else 'row'} | text | gold | predicted | score |"
    note = []
    if inputs.mistake_ngrams:
        header += " n-grams that pushed it |"
        note = [inputs.mistake_ngrams_note] if inputs.mistake_ngrams_note else []
    lines += [
        "",
        "## Most confidently misclassified test items",
        "",
        f"Score: the model's {inputs.score_kind} for the wrong label.",
        *note,
        "",
        header,
        "|---" * header.count(" |") + "|",
    ] + (rows or ["| | (none) | | | |"])
    return "\n".join(lines) + "\n"


def _publish(partial: Path, report_dir: Path) -> Path:
    """Rename the finished folder into place under report_dir's name, or report_dir-2, -3 …
    when that name is taken: an earlier report is never replaced."""
    for attempt in range(1, 1000):
        target = (
            report_dir if attempt == 1 else report_dir.with_name(f"{report_dir.name}-{attempt}")
        )
        if target.exists():
            continue
        try:
            os.rename(partial, target)  # fails, rather than replaces, if another run got there
        except OSError:
            if target.exists():
                continue
            raise
        return target
    raise KhabarError(f"{report_dir}: too many reports with this name")


def write_new_folder(report_dir: Path, fill: Callable[[Path], None]) -> Path:
    """Fill a fresh folder and publish it as report_dir (or report_dir-2, … if taken).

    `fill` writes into a hidden partial folder that is renamed into place at the end, so an
    interruption leaves no half-written folder and an earlier one is never touched.

    Parameters
    ----------
    report_dir : Path
        The folder wanted; its parent is created when missing.
    fill : callable
        Writes the folder's files into the path it is given.

    Returns
    -------
    Path
        The folder published. A folder that cannot be written (no permission, a full
        disk, ...) is a KhabarError.
    """
    report_dir = Path(report_dir)
    # The process id keeps two runs that share a name from sharing a partial folder.
    partial = report_dir.with_name(f".{report_dir.name}.{os.getpid()}.partial")
    try:
        partial.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise KhabarError(
            f"cannot write reports under {report_dir.parent}: {exc.strerror}"
        ) from None
    try:
        fill(partial)
        return _publish(partial, report_dir)
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if isinstance(exc, OSError):  # a full disk, a folder removed meanwhile, …
            reason = exc.strerror or str(exc)
            raise KhabarError(f"cannot write the report {report_dir}: {reason}") from None
        raise


def write_report(report_dir: Path, inputs: ReportInputs) -> list[Path]:
    """Write the figures and summary.md into report_dir (or report_dir-2, … if it exists).

    Everything goes into a hidden partial folder first and is renamed into place at the
    end (`write_new_folder`), so an interrupted run leaves no half-written report and
    never touches earlier ones.

    Parameters
    ----------
    report_dir : Path
        The report folder wanted; its parent is created when missing.
    inputs : ReportInputs
        What the report shows.

    Returns
    -------
    list of Path
        The files written, sorted; their folder is the report's. A folder that cannot be
        written (no permission, a full disk, ...) is a KhabarError.
    """
    # matplotlib is imported here, after the fit: at the peak of training it is not needed.
    from khabar.record import plots

    def fill(partial: Path) -> None:
        figures = []
        if not inputs.multi_label:
            plots.plot_confusion_matrix(
                inputs.y_true, inputs.y_pred, inputs.labels, partial / "confusion_matrix.png"
            )
            figures.append("confusion_matrix.png")
        plots.plot_per_class(
            inputs.test_metrics, inputs.labels, partial / "per_class.png", inputs.test_intervals
        )
        figures.append("per_class.png")
        truth = plots.binarize(inputs.y_true, inputs.labels, inputs.multi_label)
        plots.plot_precision_recall(
            truth, inputs.scores, inputs.labels, partial / "precision_recall.png"
        )
        figures.append("precision_recall.png")
        if inputs.top_features:
            plots.plot_top_ngrams(inputs.top_features, partial / "top_ngrams.png")
            figures.append("top_ngrams.png")
        (partial / "summary.md").write_text(_summary(inputs, figures), encoding="utf-8")

    return sorted(write_new_folder(report_dir, fill).iterdir())
