"""Export: a self-contained model folder (model.skops + metadata.json) that needs no MLflow
store to be loaded, checked and traced back to its config and metrics."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import mlflow
import yaml
from mlflow.exceptions import MlflowException

from khabar.errors import KhabarError, first_line
from khabar.model.pipeline import class_labels, is_multi_label
from khabar.record import model_files
from khabar.record.model_info import (
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    read_metadata,
    running_versions,
    sha256_of,
    write_metadata,
)
from khabar.record.tracking import RESOLVED_CONFIG_ARTIFACT, use_store
from khabar.runs.predict import load_model
from khabar.runs.registry import run_id_of


def _provenance_from_run(run_id: str) -> dict[str, Any]:
    """The run's resolved config and metrics, as train.py logged them."""
    try:
        run = mlflow.MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise KhabarError(f"run {run_id}: {first_line(exc)}") from None
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=RESOLVED_CONFIG_ARTIFACT
        )
        config = yaml.safe_load(Path(local).read_text(encoding="utf-8"))
    except (MlflowException, OSError):
        config = None  # a run logged by hand, without khabar's config artifact
    return {
        "run_id": run_id,
        "experiment_id": run.info.experiment_id,
        "run_name": run.info.run_name,
        "config": config,
        "metrics": dict(sorted(run.data.metrics.items())),
    }


def _provenance(model: str) -> dict[str, Any]:
    folder = Path(model)
    if folder.is_dir():
        previous = read_metadata(folder)  # re-exporting an export keeps its history
        keys = ("run_id", "experiment_id", "run_name", "config", "metrics", "source")
        return {k: previous.get(k) for k in keys} if previous else {"config": None, "metrics": None}
    run_id = run_id_of(model)
    if run_id is None:
        return {"config": None, "metrics": None}
    return _provenance_from_run(run_id)


def export_model(model: str, output: str | Path) -> Path:
    """Write a model into a new, self-contained folder: model.skops and metadata.json.

    The folder is built beside OUTPUT and renamed into place, so a failure leaves no half
    export; the written model is loaded back under the trust policy it ships with.

    Parameters
    ----------
    model : str
        An MLflow model URI (runs:/, models:/) or a model folder (an earlier export keeps
        its history).
    output : str or Path
        A new (or empty) folder; its parent must exist.

    Returns
    -------
    Path
        `output`, holding model.skops (no pickle) and metadata.json (labels, config,
        metrics, versions, checksum).

    Raises
    ------
    KhabarError
        `output` exists and is not an empty folder, its parent is missing, or the model
        or its run cannot be loaded.
    """
    output = Path(output)
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise KhabarError(f"{output}: already exists and is not an empty folder; choose a new one")
    if not output.parent.is_dir():
        raise KhabarError(f"{output}: folder {output.parent} does not exist")
    if not Path(model).exists():
        use_store()  # an unreachable tracking server fails here, in one line
    pipeline = load_model(model)  # through skops and khabar's trust policy
    provenance = _provenance(model)
    if "source" not in provenance or not provenance["source"]:
        provenance["source"] = str(model)

    # Build in a sibling temporary folder and rename: a failure leaves no half export.
    staging = output.parent / f".{output.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        _write_export(staging, pipeline, provenance)
        if output.exists():
            output.rmdir()  # empty, checked above
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def _write_export(folder: Path, pipeline, provenance: dict[str, Any]) -> None:
    model_file = folder / model_files.SKOPS_FILE
    model_files.save_skops(pipeline, model_file)
    model_files.load_skops(model_file)  # the export must load under the policy it ships with
    write_metadata(
        folder,
        {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model_file": model_files.SKOPS_FILE,
            "sha256": sha256_of(model_file),
            "labels": class_labels(pipeline),
            "multi_label": is_multi_label(pipeline),
            "text_column": pipeline.named_steps["normalize"].text_column,
            # read from the file just written, rather than serializing the model once more
            "skops_trusted_types": sorted(model_files.untrusted_types(model_file)),
            "versions": running_versions(),
            **provenance,
        },
    )
