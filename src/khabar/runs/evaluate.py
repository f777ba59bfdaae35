"""Scoring a trained model on a labeled file: metrics and a report folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from sklearn.pipeline import Pipeline

from khabar.data.dataset import row_location
from khabar.errors import KhabarError
from khabar.model.pipeline import class_labels, is_multi_label, top_weighted_features
from khabar.record.metrics import compute_metrics
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
    """

    metrics: dict[str, float]
    report_dir: str

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


def evaluate(
    model: str | Path | Pipeline,
    data: str | Path,
    label_column: str = "label",
    *,
    text_column: str | None = None,
    encoding: str = "utf-8",
    reports_dir: str | Path = "reports",
    id_column: str = "id",
) -> EvaluationResult:
    """Score a model on a labeled file, with a report in ``REPORTS_DIR/evaluations/<file>-<time>/``.

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

    Returns
    -------
    EvaluationResult
        The metrics and the report folder.
    """
    pipeline = model if isinstance(model, Pipeline) else load_model(model)
    frame, gold, output = labeled_predictions(pipeline, str(data), label_column, text_column, encoding)
    labels, multi = class_labels(pipeline), is_multi_label(pipeline)
    _check_known_labels(gold, labels, multi, frame, str(data))
    predicted = output["prediction"].tolist()
    metrics = compute_metrics(gold, predicted, labels, multi_label=multi)
    column = text_column or pipeline.named_steps["normalize"].text_column
    report_dir = Path(reports_dir) / "evaluations" / timestamped_name(Path(data).stem)
    written = write_report(
        report_dir,
        ReportInputs(
            title=f"Evaluation of {model if isinstance(model, str | Path) else 'a model'} on {data}",
            labels=labels,
            multi_label=multi,
            texts=[str(t) for t in frame[column]] if column in frame else [""] * len(gold),
            y_true=gold,
            y_pred=predicted,
            scores=output[[f"score_{label}" for label in labels]].to_numpy(),
            score_kind="score",
            test_metrics=metrics,
            top_features=top_weighted_features(pipeline),
            facts={"model": str(model), "data": f"{data} ({len(gold)} rows)"},
            ids=[str(i) for i in frame[id_column]] if id_column in frame.columns else None,
        ),
    )
    return EvaluationResult(metrics, str(written[0].parent))
