"""Reuse: load a trained Pipeline (MLflow URI or folder) and predict on new files."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from khabar.data.dataset import clean_labels, clean_texts, read_table, texts_or_reasons
from khabar.errors import KhabarError, first_line
from khabar.model.decision import best_classes
from khabar.model.linear_svm import FastLinearSVC
from khabar.model.nbsvm import NBSVMClassifier
from khabar.model.pipeline import class_labels, class_scores, is_multi_label, predict_labels
from khabar.record import model_files
from khabar.record.model_info import check_model_folder


def _model_file(folder: Path) -> Path:
    # An MLflow model folder and a khabar export both keep the Pipeline in model.skops.
    path = folder / model_files.SKOPS_FILE
    if not path.is_file():
        raise KhabarError(
            f"{folder}: no {model_files.SKOPS_FILE} (not a skops-format khabar model)"
        )
    check_model_folder(folder, path)  # an export's checksum; a scikit-learn version warning
    return path


def load_model(uri_or_dir: str | Path) -> Pipeline:
    """A Pipeline from a folder (export or MLflow model) or an MLflow URI (runs:/, models:/).

    Always through skops with khabar's trust policy, never pickle. In a folder, an export's
    checksum is checked, and a model saved with another scikit-learn gives a warning.

    Parameters
    ----------
    uri_or_dir : str or Path
        A model folder, a .skops file, or an MLflow model URI (runs:/RUN/model,
        models:/NAME@ALIAS, models:/NAME/VERSION, models:/m-ID).

    Returns
    -------
    Pipeline
        The trained khabar Pipeline.

    Raises
    ------
    KhabarError
        No such model, a folder without model.skops, a damaged file, a type outside the
        trust policy, or a store that cannot give the model.
    """
    local = Path(uri_or_dir)
    if local.is_dir():
        return model_files.load_skops(_model_file(local))
    if local.suffix == ".skops" and local.is_file():
        return model_files.load_skops(local)
    uri = str(uri_or_dir)
    if "://" not in uri and not uri.startswith(("runs:/", "models:/")):
        raise KhabarError(
            f"model not found: {uri} (expected a folder, a .skops file or an MLflow URI)"
        )
    return model_files.load_skops(_model_file(_download(uri)))


def _download(uri: str) -> Path:
    """The local folder of an MLflow model."""
    # Imported here: a model folder is predicted without MLflow's second of imports.
    import mlflow

    from khabar.record.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except Exception as exc:  # MLflow raises several types for a missing run or model
        raise KhabarError(f"cannot load model {uri}: {first_line(exc)}") from None


# Classifiers whose predict is `best_classes` of their own decision values: scored once.
_LABELS_FROM_DECISION = (FastLinearSVC, NBSVMClassifier)
# Rows featurized at a time: rows are featurized independently, so batches change no value.
PREDICT_BATCH_ROWS = 4000


def _labels_and_scores(model: Pipeline, features) -> tuple[list, np.ndarray]:
    """The predicted labels and the class scores of featurized rows."""
    step = model[-1]
    classifier = Pipeline([("classifier", step)])
    scores, kind = class_scores(classifier, features)
    if kind == "decision" and type(step) in _LABELS_FROM_DECISION:
        # the same labels as predict, without computing the decision values twice
        return [str(label) for label in best_classes(step.classes_, scores)], scores
    return predict_labels(classifier, features), scores


def find_text_column(model: Pipeline, frame: pd.DataFrame, text_column: str | None) -> str:
    """The input's text column: the one asked for, else the model's; a file of one column
    (or a .txt file) has its texts wherever they are.

    Parameters
    ----------
    model : Pipeline
        A khabar Pipeline (its normalizer names the column it was trained on).
    frame : DataFrame
        The input, as read.
    text_column : str or None
        The column asked for.

    Returns
    -------
    str
    """
    column = text_column or model.named_steps["normalize"].text_column
    if column not in frame.columns and (len(frame.columns) == 1 or frame.attrs.get("text_lines")):
        return "text" if frame.attrs.get("text_lines") else frame.columns[0]
    return column


def input_frame(
    model: Pipeline, frame: pd.DataFrame, path: str | Path, texts: list[str], rows: list[int]
) -> pd.DataFrame:
    """The model's input columns for `rows` of `frame`.

    Parameters
    ----------
    model : Pipeline
        A khabar Pipeline.
    frame : DataFrame
        The input, as read.
    path : str or Path
        Its name, for messages.
    texts : list of str
        The texts of `rows`.
    rows : list of int
        The positions in `frame` the texts come from.

    Returns
    -------
    DataFrame
        The texts, and the columns the model reads besides the text (e.g. Mawqif's
        `target`), from the same file.

    Raises
    ------
    KhabarError
        A column the model reads is missing or blank.
    """
    normalize = model.named_steps["normalize"]
    # object dtype: pandas' own str dtype would copy every text once more
    inputs = pd.DataFrame({normalize.text_column: pd.Series(texts, dtype=object)})
    for extra in getattr(normalize, "keep_columns", ()):
        if extra not in frame.columns:
            raise KhabarError(
                f"{path}: missing column {extra!r}, which this model reads besides the text; "
                f"columns are {list(map(str, frame.columns))}"
            )
        values = clean_texts(frame, extra, path)
        inputs[extra] = [values[i] for i in rows]
    return inputs


def predict_frame(
    model: Pipeline,
    frame: pd.DataFrame,
    path: str | Path,
    text_column: str | None = None,
    *,
    allow_empty: bool = True,
    id_column: str = "id",
) -> pd.DataFrame:
    """Predictions for the rows of `frame`, one output row per input row, in order.

    Parameters
    ----------
    model : Pipeline
        A trained khabar Pipeline.
    frame : DataFrame
        The input rows (as `khabar.data.dataset.read_table` reads a file).
    path : str or Path
        Names the input in error messages.
    text_column : str, optional
        The texts' column, when it differs from the model's.
    allow_empty : bool, default True
        A row without text gets a null prediction and a `reason`; False refuses it.
    id_column : str, default "id"
        The column that names rows: copied to the output first when the input has it.

    Returns
    -------
    DataFrame
        The id column and `line` (when the input has them), `prediction` (a list for multi-label
        models; None for a row without text), one `score_<class>` column per class, and
        `reason` ("empty text" / "missing text") when some row has no text.
    """
    column = find_text_column(model, frame, text_column)
    if allow_empty:
        texts, reasons = texts_or_reasons(frame, column, path)
    else:
        texts, reasons = clean_texts(frame, column, path), [None] * len(frame)
    present = [i for i, text in enumerate(texts) if text is not None]
    inputs = input_frame(model, frame, path, [texts[i] for i in present], present)
    labels = class_labels(model)
    predicted: list = [None] * len(texts)
    scores = np.full((len(texts), len(labels)), np.nan)
    # Featurized once per batch (predictions and scores from the same matrix), in batches so a
    # corpus never holds its whole feature matrix: memory stays bounded and is reused.
    for start in range(0, len(present), PREDICT_BATCH_ROWS):
        rows = present[start : start + PREDICT_BATCH_ROWS]
        batch = inputs.iloc[start : start + PREDICT_BATCH_ROWS]
        found, scores[rows] = _labels_and_scores(model, model[:-1].transform(batch))
        for i, label in zip(rows, found, strict=True):
            predicted[i] = label
    output = frame[[c for c in (id_column, "line") if c in frame.columns]].reset_index(drop=True)
    output.attrs = {}  # pandas would deep-copy the input's line numbers at every step below
    output["prediction"] = predicted
    for k, label in enumerate(labels):
        output[f"score_{label}"] = scores[:, k].round(6)
    if len(present) < len(texts):
        output["reason"] = reasons
    return output


def check_output_path(
    path: str | Path, suffixes: tuple[str, ...] = (".csv", ".jsonl", ".parquet")
) -> None:
    """Check that khabar can write an output file there, before any model is loaded.

    Parameters
    ----------
    path : str or Path
        The output file wanted.
    suffixes : tuple of str, default (".csv", ".jsonl", ".parquet")
        The file types the command writes.

    Raises
    ------
    KhabarError
        The name does not end in one of `suffixes`, its folder does not exist, or it is a
        folder.
    """
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        *first, last = suffixes
        raise KhabarError(f"{path}: output must end in {', '.join(first)} or {last}")
    if not path.parent.is_dir():
        raise KhabarError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise KhabarError(f"{path}: is a folder; expected an output file name")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write predictions by extension (.csv, .jsonl, .parquet), atomically.

    A failure leaves no partial file, and an existing file at `path` stays as it was.
    In CSV, a multi-label prediction is written as a JSON list.

    Parameters
    ----------
    frame : DataFrame
        Predictions, as `predict_frame` returns them.
    path : str or Path
        The output file.

    Raises
    ------
    KhabarError
        The path is not a writable output file (see `check_output_path`), or writing
        failed (e.g. a full disk).
    """
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


def json_records(frame: pd.DataFrame) -> list[dict]:
    """The rows of a predictions frame as JSON-ready dicts.

    Parameters
    ----------
    frame : DataFrame
        Predictions, as `predict_frame` returns them.

    Returns
    -------
    list of dict
        One dict per row; a missing value (the scores of a row without text) is None,
        since JSON has no NaN.
    """
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _write_to(frame: pd.DataFrame, temporary: Path, suffix: str) -> None:
    if suffix == ".jsonl":
        with open(temporary, "w", encoding="utf-8") as handle:
            for record in json_records(frame):
                handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
    elif suffix == ".csv":
        out = frame.copy()
        if any(isinstance(p, list) for p in out["prediction"]):
            out["prediction"] = [json.dumps(p, ensure_ascii=False) for p in out["prediction"]]
        out.to_csv(temporary, index=False, encoding="utf-8")
    else:
        frame.to_parquet(temporary, index=False)


def _read_input(
    path: str | Path, encoding: str, model: Pipeline, text_column: str | None, id_column: str
) -> pd.DataFrame:
    """The input file; of a JSONL file whose first record has the text column, only the
    fields prediction reads (a corpus's other fields, such as a copy of each text, are
    never held)."""
    normalize = model.named_steps["normalize"]
    column = text_column or normalize.text_column
    if column not in _first_keys(Path(path), encoding):  # any other file, or a fallback
        return read_table(path, encoding)
    wanted = {column, id_column, "line", *getattr(normalize, "keep_columns", ())}
    return read_table(path, encoding, columns=wanted)


def _first_keys(path: Path, encoding: str) -> set[str]:
    """The keys of a JSONL file's first record; empty for anything else."""
    if path.suffix.lower() != ".jsonl":
        return set()
    try:
        with open(path, encoding=encoding, errors="replace") as handle:
            line = next((line for line in handle if line.strip()), "")
        record = json.loads(line)
    except (OSError, ValueError, LookupError):  # read_table names the problem
        return set()
    return set(record) if isinstance(record, dict) else set()


@dataclass
class PredictionResult:
    """What `predict` returns and `khabar predict` reports.

    Attributes
    ----------
    predictions : DataFrame
        One row per input row, in order (see `predict_frame`).
    empty_rows : int
        Rows without text: null prediction, with a `reason`.
    output : str or None
        The file written, if any.
    """

    predictions: pd.DataFrame
    empty_rows: int
    output: str | None = None

    @property
    def rows(self) -> int:
        """The number of predictions (input rows)."""
        return len(self.predictions)


def predict(
    model: str | Path | Pipeline,
    data: str | Path | pd.DataFrame | list[str],
    output: str | Path | None = None,
    *,
    text_column: str | None = None,
    encoding: str = "utf-8",
    id_column: str = "id",
) -> PredictionResult:
    """Predict labels and scores for texts.

    Parameters
    ----------
    model : str, Path or Pipeline
        An MLflow model URI (runs:/, models:/), an export folder, or a loaded Pipeline.
    data : str, Path, DataFrame or list of str
        A file (.csv, .tsv, .jsonl, .parquet, or .txt with one text per line; blank lines
        are skipped and each row keeps its `line`), a DataFrame, or texts.
    output : str or Path, optional
        Write the predictions here (.csv, .jsonl or .parquet), atomically.
    text_column : str, optional
        The texts' column, when it differs from the model's.
    encoding : str, default "utf-8"
        The input file's encoding.
    id_column : str, default "id"
        The column that names rows, copied to the output.

    Returns
    -------
    PredictionResult
        The predictions, the count of rows without text, and the file written.

    Raises
    ------
    KhabarError
        The output path cannot be written, the model cannot be loaded, or the input cannot
        be read; a cell that is not a text at all names its row.
    """
    if output is not None:
        check_output_path(output)  # before the model is loaded
    pipeline = model if isinstance(model, Pipeline) else load_model(model)
    if isinstance(data, pd.DataFrame | list):
        frame, name = pd.DataFrame({"text": data}) if isinstance(data, list) else data, "input"
    else:
        frame, name = _read_input(data, encoding, pipeline, text_column, id_column), str(data)
    predictions = predict_frame(pipeline, frame, name, text_column, id_column=id_column)
    if output is not None:
        write_table(predictions, output)
    empty = int(predictions["reason"].notna().sum()) if "reason" in predictions else 0
    return PredictionResult(predictions, empty, None if output is None else str(output))


def labeled_predictions(
    model: Pipeline,
    path: str,
    label_column: str,
    text_column: str | None = None,
    encoding: str = "utf-8",
):
    """Gold labels, predictions and scores of a model on a labeled file.

    Every row must have a text and a label.

    Parameters
    ----------
    model : Pipeline
        A trained khabar Pipeline.
    path : str
        A labeled file.
    label_column : str
        The gold labels' column.
    text_column : str, optional
        The texts' column, when it differs from the model's.
    encoding : str, default "utf-8"
        The file's encoding.

    Returns
    -------
    frame : DataFrame
        The file's rows.
    labels : list
        The gold labels (lists for a multi-label model).
    output : DataFrame
        The predictions, as `predict_frame` returns them.

    Raises
    ------
    KhabarError
        The file cannot be read, or a row has no text or no label.
    """
    frame = read_table(path, encoding)
    labels = clean_labels(frame, label_column, path, is_multi_label(model))
    output = predict_frame(model, frame, path, text_column, allow_empty=False)
    return frame, labels, output
