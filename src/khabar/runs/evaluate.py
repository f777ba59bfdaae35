"""Scoring a trained model on a labeled file: metrics and a report folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.pipeline import Pipeline

from khabar.data.dataset import row_location
from khabar.errors import KhabarError
from khabar.model.pipeline import class_labels, is_multi_label, top_weighted_features
from khabar.record.metrics import compute_metrics
from khabar.record.predictions import (
    MANIFEST,
    PREDICTIONS_DIR,
    Manifest,
    ScoredItems,
    add_split,
    intervals_of,
    item_hashes,
    prediction_table,
    write_predictions,
)
from khabar.record.report import ReportInputs, timestamped_name, write_report
from khabar.runs.predict import labeled_predictions, load_model


@dataclass
class EvaluationResult:
    """What `evaluate` returns and `khabar evaluate` prints.

    Attributes
    ----------
    metrics : dict of str to float
        The metrics of `khabar.record.metrics.compute_metrics`.
    report_dir : str
        The folder holding summary.md and the plots.
    predictions_dir : str
        The folder holding the per-item predictions and their manifest.
    """

    metrics: dict[str, float]
    report_dir: str
    predictions_dir: str = ""

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict, as `khabar evaluate` prints it last.

        Returns
        -------
        dict
            The fields by name.
        """
        return dataclasses.asdict(self)


def _check_known_labels(gold: list, labels: list[str], multi: bool, frame, data: str) -> None:
    for position, value in enumerate(gold):
        for label in value if multi else [value]:
            if label not in labels:
                raise KhabarError(
                    f"{data}: {row_location(frame, position)}: label {label!r} is not one "
                    f"the model knows ({labels})"
                )


@dataclass
class ScoredFile:
    """A model's predictions on a labeled file, as logged predictions and report inputs.

    Attributes
    ----------
    manifest : Manifest
        The task, labels and the file's items hash.
    scored : ScoredItems
        The "test" split: one row per item of the file.
    texts : list of str
        The items' texts.
    scores : ndarray
        The model's score of each class per item.
    named_rows : bool
        The file has an id column (else items are named by position).
    """

    manifest: Manifest
    scored: ScoredItems
    texts: list[str]
    scores: np.ndarray
    named_rows: bool


def score_file(
    pipeline: Pipeline,
    data: str | Path,
    label_column: str = "label",
    *,
    text_column: str | None = None,
    encoding: str = "utf-8",
    id_column: str = "id",
    source: dict | None = None,
) -> ScoredFile:
    """Score a model on a labeled file and describe the result as logged predictions.

    Parameters
    ----------
    pipeline : Pipeline
        A trained khabar Pipeline.
    data : str or Path
        A labeled file.
    label_column, text_column, encoding, id_column
        As for `evaluate`.
    source : dict, optional
        Where the model comes from, for the manifest.

    Returns
    -------
    ScoredFile

    Raises
    ------
    KhabarError
        The file cannot be read or scored, or holds a label the model does not know.
    """
    frame, gold, output = labeled_predictions(
        pipeline, str(data), label_column, text_column, encoding
    )
    labels, multi = class_labels(pipeline), is_multi_label(pipeline)
    _check_known_labels(gold, labels, multi, frame, str(data))
    column = text_column or pipeline.named_steps["normalize"].text_column
    texts = [str(t) for t in frame[column]] if column in frame else [""] * len(gold)
    ids = [str(i) for i in frame[id_column]] if id_column in frame.columns else None
    ids = ids or [str(i) for i in range(len(gold))]
    scores = output[[f"score_{label}" for label in labels]].to_numpy()
    table = prediction_table(ids, gold, output["prediction"].tolist(), scores, labels,
                             item_hashes(ids, texts, gold))  # fmt: skip
    task = "multi_label" if multi else "single_label"
    manifest = Manifest(task, labels, "f1_micro" if multi else "f1_macro",
                        source={**(source or {}), "data": str(data)})  # fmt: skip
    scored = ScoredItems("test", table)
    add_split(manifest, scored, "score")
    return ScoredFile(manifest, scored, texts, scores, id_column in frame.columns)


def _report(found: ScoredFile, pipeline: Pipeline, named: str, data, reports_dir) -> tuple:
    """The metrics, their intervals, and the evaluation's report folder."""
    table, labels = found.scored.table, found.manifest.labels
    multi = found.manifest.task == "multi_label"
    metrics = compute_metrics(
        table["gold"].tolist(), table["prediction"].tolist(), labels, multi_label=multi
    )
    intervals = intervals_of(found.manifest, found.scored, seed=0)["intervals"]
    written = write_report(
        Path(reports_dir) / "evaluations" / timestamped_name(Path(data).stem),
        ReportInputs(
            title=f"Evaluation of {named} on {data}", labels=labels, multi_label=multi,
            texts=found.texts, y_true=table["gold"].tolist(), y_pred=table["prediction"].tolist(),
            scores=found.scores, score_kind="score", test_metrics=metrics,
            test_intervals=intervals, top_features=top_weighted_features(pipeline),
            facts={"model": named, "data": f"{data} ({len(table)} rows)"},
            ids=table["id"].tolist() if found.named_rows else None,
        ),
    )  # fmt: skip
    return metrics, intervals, written[0].parent


def evaluate(
    model: str | Path | Pipeline,
    data: str | Path,
    label_column: str = "label",
    *,
    text_column: str | None = None,
    encoding: str = "utf-8",
    reports_dir: str | Path = "reports",
    id_column: str = "id",
    output: str | Path | None = None,
) -> EvaluationResult:
    """Score a model on a labeled file, with a report in ``REPORTS_DIR/evaluations/<file>-<time>/``.

    The per-item predictions and their manifest go to `output`, by default the report's
    ``predictions/`` folder: `khabar compare` takes that folder.

    Parameters
    ----------
    model : str, Path or Pipeline
        An MLflow model URI, an export folder, or a loaded Pipeline.
    data : str or Path
        A labeled file (.csv, .tsv, .jsonl, .parquet).
    label_column : str, default "label"
        The gold labels' column.
    text_column : str, optional
        The texts' column, when it differs from the one the model was trained on.
    encoding : str, default "utf-8"
        The file's encoding (e.g. cp1256).
    reports_dir : str or Path, default "reports"
        Where the report folder goes.
    id_column : str, default "id"
        The column that names rows in the report, when the file has it.
    output : str or Path, optional
        The folder for predictions (test.parquet, manifest.json).

    Returns
    -------
    EvaluationResult
        The metrics (with ``<metric>_ci_low`` / ``_ci_high``), the report folder and the
        predictions folder.
    """
    if output is not None and (Path(output) / MANIFEST).exists():
        raise KhabarError(f"{output}: already holds predictions; choose another --output folder")
    pipeline = model if isinstance(model, Pipeline) else load_model(model)
    named = str(model) if isinstance(model, str | Path) else "a model"
    found = score_file(pipeline, data, label_column, text_column=text_column, encoding=encoding,
                       id_column=id_column, source={"model": named})  # fmt: skip
    metrics, intervals, report_dir = _report(found, pipeline, named, data, reports_dir)
    folder = write_predictions(
        Path(output or report_dir / PREDICTIONS_DIR), found.manifest, [found.scored]
    )
    for name, (low, high) in intervals.items():
        metrics |= {f"{name}_ci_low": low, f"{name}_ci_high": high}
    return EvaluationResult(metrics, str(report_dir), str(folder))
