"""Reuse: load a trained Pipeline (MLflow URI or folder) and predict on new files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import mlflow
import pandas as pd
from sklearn.pipeline import Pipeline

from khabar import persist
from khabar.dataset import clean_labels, clean_texts, read_table
from khabar.errors import KhabarError
from khabar.modelinfo import check_model_folder
from khabar.pipeline import class_labels, class_scores, is_multi_label, predict_labels
from khabar.track import tracking_uri


def _model_file(folder: Path) -> Path:
    # An MLflow model folder and a khabar export both keep the Pipeline in model.skops.
    path = folder / persist.SKOPS_FILE
    if not path.is_file():
        raise KhabarError(f"{folder}: no {persist.SKOPS_FILE} (not a skops-format khabar model)")
    check_model_folder(folder, path)  # an export's checksum; a scikit-learn version warning
    return path


def load_model(uri_or_dir: str | Path) -> Pipeline:
    """A Pipeline from a folder (export or MLflow model) or an MLflow URI (runs:/, models:/).
    Always through skops with khabar's trust policy, never pickle."""
    local = Path(uri_or_dir)
    if local.is_dir():
        return persist.load_skops(_model_file(local))
    if local.suffix == ".skops" and local.is_file():
        return persist.load_skops(local)
    uri = str(uri_or_dir)
    if "://" not in uri and not uri.startswith(("runs:/", "models:/")):
        raise KhabarError(
            f"model not found: {uri} (expected a folder, a .skops file or an MLflow URI)"
        )
    mlflow.set_tracking_uri(tracking_uri())
    try:
        folder = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except Exception as exc:  # MLflow raises several types for a missing run or model
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KhabarError(f"cannot load model {uri}: {first_line}") from None
    return persist.load_skops(_model_file(Path(folder)))


def predict_frame(
    model: Pipeline, frame: pd.DataFrame, path: str | Path, text_column: str | None = None
) -> pd.DataFrame:
    """One output row per input row, in order: id (if any), prediction, score_<class>."""
    column = text_column or model.named_steps["normalize"].text_column
    if column not in frame.columns and len(frame.columns) == 1:
        column = frame.columns[0]  # e.g. a .txt file, read as column 'text'
    texts = clean_texts(frame, column, path)
    inputs = pd.DataFrame({model.named_steps["normalize"].text_column: texts})
    # Columns the model reads besides the text (e.g. Mawqif's `target`), from the same file.
    for extra in getattr(model.named_steps["normalize"], "keep_columns", ()):
        if extra not in frame.columns:
            raise KhabarError(
                f"{path}: missing column {extra!r}, which this model reads besides the text; "
                f"columns are {list(map(str, frame.columns))}"
            )
        inputs[extra] = clean_texts(frame, extra, path)
    # Featurize once: predictions and scores both come from the same matrix.
    classifier = Pipeline([("classifier", model[-1])])
    features = model[:-1].transform(inputs)
    predicted = predict_labels(classifier, features)
    scores, _ = class_scores(classifier, features)
    output = pd.DataFrame(index=range(len(texts)))
    if "id" in frame.columns:
        output["id"] = frame["id"].tolist()
    output["prediction"] = predicted
    for k, label in enumerate(class_labels(model)):
        output[f"score_{label}"] = scores[:, k].round(6)
    return output


def check_output_path(path: str | Path) -> None:
    """An output path khabar can write, checked before any model is loaded."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".jsonl", ".parquet"):
        raise KhabarError(f"{path}: output must end in .csv, .jsonl or .parquet")
    if not path.parent.is_dir():
        raise KhabarError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise KhabarError(f"{path}: is a folder; expected an output file name")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write by extension (.csv, .jsonl, .parquet), atomically: a failure leaves no partial file
    and an existing file at `path` stays as it was."""
    path = Path(path)
    check_output_path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write_to(frame, temporary, path.suffix.lower())
        os.replace(temporary, path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise KhabarError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def _write_to(frame: pd.DataFrame, temporary: Path, suffix: str) -> None:
    if suffix == ".jsonl":
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in frame.to_dict(orient="records"):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    elif suffix == ".csv":
        out = frame.copy()
        if len(out) and isinstance(out["prediction"].iloc[0], list):
            out["prediction"] = [json.dumps(p, ensure_ascii=False) for p in out["prediction"]]
        out.to_csv(temporary, index=False, encoding="utf-8")
    else:
        frame.to_parquet(temporary, index=False)


def predict_file(
    model_uri: str,
    input_path: str,
    output_path: str,
    text_column: str | None = None,
    encoding: str = "utf-8",
) -> int:
    check_output_path(output_path)
    model = load_model(model_uri)
    frame = read_table(input_path, encoding)
    output = predict_frame(model, frame, input_path, text_column)
    write_table(output, output_path)
    return len(output)


def labeled_predictions(
    model: Pipeline,
    path: str,
    label_column: str,
    text_column: str | None = None,
    encoding: str = "utf-8",
):
    """Gold labels, predictions and scores of a model on a labeled file."""
    frame = read_table(path, encoding)
    labels = clean_labels(frame, label_column, path, is_multi_label(model))
    output = predict_frame(model, frame, path, text_column)
    return frame, labels, output
