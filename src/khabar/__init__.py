"""khabar: Arabic news topic and stance classification, tracked in MLflow.

The Python API is the command line's, one function per command; each returns the typed
result the command prints::

    import khabar

    result = khabar.train("configs/topic.yaml", overrides=["model.params.C=0.3"])
    model = khabar.load_model(result.model_uri)
    khabar.predict(model, "new.jsonl", "predictions.jsonl")
    khabar.evaluate(model, "labeled.jsonl", label_column="primary")

The functions import their layer when first called, so ``import khabar`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from khabar.version import __version__

if TYPE_CHECKING:  # for readers and type checkers; the imports below happen on first call
    from pathlib import Path

    import pandas as pd
    from sklearn.pipeline import Pipeline

    from khabar.data.config import ExperimentConfig
    from khabar.runs.evaluate import EvaluationResult
    from khabar.runs.predict import PredictionResult
    from khabar.runs.sweep import SweepResult
    from khabar.runs.train import TrainResult


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment config (see `khabar.runs.guard.load_config`)."""
    from khabar.runs.guard import load_config as _load_config

    return _load_config(path, overrides)


def train(
    config: ExperimentConfig | str | Path,
    overrides: list[str] | None = None,
    *,
    config_path: str | Path | None = None,
    parent_run_id: str | None = None,
    offline: bool = False,
) -> TrainResult:
    """Train one experiment as one MLflow run (see `khabar.runs.train.train`)."""
    from khabar.runs.train import train as _train

    return _train(
        config, overrides, config_path=config_path, parent_run_id=parent_run_id, offline=offline
    )


def load_model(uri_or_dir: str | Path) -> Pipeline:
    """Load a trained khabar Pipeline from an MLflow model URI or an exported folder
    (see `khabar.runs.predict.load_model`)."""
    from khabar.runs.predict import load_model as _load_model

    return _load_model(uri_or_dir)


def predict(
    model: str | Path | Pipeline,
    data: str | Path | pd.DataFrame | list[str],
    output: str | Path | None = None,
    *,
    text_column: str | None = None,
    encoding: str = "utf-8",
    id_column: str = "id",
) -> PredictionResult:
    """Predict labels and scores for texts (see `khabar.runs.predict.predict`)."""
    from khabar.runs.predict import predict as _predict

    return _predict(
        model, data, output, text_column=text_column, encoding=encoding, id_column=id_column
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
    """Score a trained model on a labeled file (see `khabar.runs.evaluate.evaluate`)."""
    from khabar.runs.evaluate import evaluate as _evaluate

    return _evaluate(
        model,
        data,
        label_column,
        text_column=text_column,
        encoding=encoding,
        reports_dir=reports_dir,
        id_column=id_column,
    )


def sweep(
    path: str | Path,
    overrides: list[str] | None = None,
    backend: str = "local",
    scheduler: str | None = None,
) -> SweepResult:
    """Run the variants of a sweep definition (see `khabar.runs.sweep.run_sweep`)."""
    from khabar.runs.sweep import run_sweep

    return run_sweep(path, overrides, backend, scheduler)


__all__ = [
    "__version__",
    "evaluate",
    "load_config",
    "load_model",
    "predict",
    "sweep",
    "train",
]
