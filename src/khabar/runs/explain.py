"""`khabar explain`: why the model chose a label, feature by feature, on the user's own text.

Rows are read as `khabar predict` reads them and featurized by the model's own steps; the
contributions (value x weight) come from `khabar.record.explain`, the page from
`khabar.record.explain_page`. The output is JSONL (one row per input row, in order) or one
HTML page.
"""

from __future__ import annotations

import gc
import json
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.pipeline import Pipeline

from khabar.data.dataset import read_table, texts_or_reasons
from khabar.errors import KhabarError
from khabar.record.explain import Explainer, TextExplanation, explanation_records
from khabar.record.explain_page import render_page
from khabar.runs.predict import check_output_path, find_text_column, input_frame, load_model

OUTPUT_SUFFIXES = (".jsonl", ".html")
BATCH_ROWS = 2000  # featurized at once: memory stays flat on a large file


@dataclass
class ExplainResult:
    """What `explain` returns and `khabar explain` reports.

    Attributes
    ----------
    rows : list of dict
        One JSON-ready row per input row, in order: ``id``, ``text``, ``prediction``,
        ``score_kind`` and ``explanations`` (``reason`` for a row without text).
    empty_rows : int
        Rows without text: null prediction, no explanations, with a `reason`.
    output : str or None
        The file written, if any.
    """

    rows: list[dict]
    empty_rows: int
    output: str | None = None


def _frame(data, encoding: str, limit: int | None) -> tuple[pd.DataFrame, str]:
    if isinstance(data, list):
        frame, name = pd.DataFrame({"text": data}), "input"
    elif isinstance(data, pd.DataFrame):
        frame, name = data, "input"
    else:
        frame, name = read_table(data, encoding), str(data)
    return (frame if limit is None else frame.head(limit)), name


def _row_ids(frame: pd.DataFrame, id_column: str) -> list:
    """The id column's values, else the .txt line numbers, else the row numbers from 1."""
    for column in (id_column, "line"):
        if column in frame.columns:
            return [
                None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                for v in frame[column]
            ]
    return list(range(1, len(frame) + 1))


def explain_frame(
    explainer: Explainer,
    frame: pd.DataFrame,
    name: str,
    *,
    text_column: str | None = None,
    labels: Sequence[str] = (),
) -> list[TextExplanation | str]:
    """Explanations of the rows of a table, in order, featurized in batches.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    frame : DataFrame
        The input rows.
    name : str
        Names the input in errors.
    text_column : str, optional
        The texts' column, when it differs from the model's.
    labels : sequence of str, default=()
        Labels to explain besides the predicted one.

    Returns
    -------
    list
        Per row, its TextExplanation, or for a row without text the reason (a str).
    """
    explainer.check_labels(labels)
    column = find_text_column(explainer.model, frame, text_column)
    texts, reasons = texts_or_reasons(frame, column, name)
    out: list[TextExplanation | str] = list(reasons)
    present = [i for i, text in enumerate(texts) if text is not None]
    for start in range(0, len(present), BATCH_ROWS):
        rows = present[start : start + BATCH_ROWS]
        batch = [texts[i] for i in rows]
        inputs = input_frame(explainer.model, frame, name, batch, rows)
        for i, explained in zip(rows, explainer.explain(inputs, batch, labels), strict=True):
            out[i] = explained
    return out


def explanation_rows(
    explainer: Explainer, frame: pd.DataFrame, explained: list, *, top: int, id_column: str
) -> list[dict]:
    """The JSONL rows of explained table rows.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    frame : DataFrame
        The input rows.
    explained : list
        What `explain_frame` returned for them.
    top : int
        Features listed per label (0: all).
    id_column : str
        The column naming rows.

    Returns
    -------
    list of dict
        One per row: ``id``, ``text``, ``prediction``, ``score_kind``, ``explanations``;
        and ``reason`` for a row without text (prediction null, no explanations).
    """
    rows = []
    for row_id, item in zip(_row_ids(frame, id_column), explained, strict=True):
        if isinstance(item, TextExplanation):
            rows.append(
                {
                    "id": row_id,
                    "text": item.places.text,
                    "prediction": item.prediction,
                    "score_kind": explainer.score_kind,
                    "explanations": explanation_records(explainer, item, top),
                }
            )
        else:
            rows.append(
                {
                    "id": row_id,
                    "text": None,
                    "prediction": None,
                    "score_kind": explainer.score_kind,
                    "explanations": [],
                    "reason": item,
                }
            )
    return rows


def _write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException as exc:
        temporary.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise KhabarError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise


def _write_jsonl(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n")


@contextmanager
def _older_objects_left_alone():
    """Explaining makes many small objects, and each full garbage collection would scan
    every object of the process again (the loaded model's, the imports': ~300,000); they
    are frozen meanwhile (`gc.freeze`) unless something else froze objects already."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check_options(top: int, limit: int | None) -> None:
    if top < 0:
        raise KhabarError(f"--top {top}: expected 0 (all features) or more")
    if limit is not None and limit < 1:
        raise KhabarError(f"--limit {limit}: expected 1 or more rows")


def write_output(
    path: Path, explainer: Explainer, rows: list[dict], explained: list, source: str
) -> None:
    """Write explanations atomically: JSONL rows, or for .html one page.

    Parameters
    ----------
    path : Path
        The output file (.jsonl or .html).
    explainer : Explainer
        The model's explainer.
    rows : list of dict
        The JSONL rows.
    explained : list
        What `explain_frame` returned for them (the page colours words from it).
    source : str
        The model as the user named it, shown on the page.

    Raises
    ------
    KhabarError
        The file cannot be written.
    """
    if path.suffix.lower() == ".html":
        page = render_page(explainer, rows, explained, source)
        _write_atomically(path, lambda temporary: temporary.write_text(page, encoding="utf-8"))
    else:
        _write_atomically(path, lambda temporary: _write_jsonl(rows, temporary))


def explain(
    model: str | Path | Pipeline,
    data: str | Path | pd.DataFrame | list[str],
    output: str | Path | None = None,
    *,
    top: int = 10,
    labels: Sequence[str] = (),
    text_column: str | None = None,
    id_column: str = "id",
    encoding: str = "utf-8",
    limit: int | None = None,
) -> ExplainResult:
    """Why a model chose its labels: each feature's exact contribution, with its spans.

    Parameters
    ----------
    model : str, Path or Pipeline
        An MLflow model URI, an export folder, a .skops file or a loaded Pipeline.
    data : str, Path, DataFrame or list of str
        A file `khabar predict` reads, a DataFrame, or texts.
    output : str or Path, optional
        Write the explanations here: .jsonl (one row per input row) or .html (one page).
    top : int, default=10
        Features listed per label by absolute contribution (0: all), then "(rest)".
    labels : sequence of str, default=()
        Labels to explain besides the predicted one (multi-label models: every label is).
    text_column : str, optional
        The texts' column, when it differs from the model's.
    id_column : str, default="id"
        The column naming rows (else .txt line numbers, else row numbers from 1).
    encoding : str, default="utf-8"
        The input file's encoding.
    limit : int, optional
        Explain only the first `limit` rows.

    Returns
    -------
    ExplainResult
        The JSONL rows, the count of rows without text and the file written.

    Raises
    ------
    KhabarError
        A bad output, top or limit; a model that cannot be loaded or explained exactly; a
        label the model lacks; an input that cannot be read.
    """
    if output is not None:
        check_output_path(output, OUTPUT_SUFFIXES)  # before the model is loaded
    _check_options(top, limit)
    explainer = Explainer(model if isinstance(model, Pipeline) else load_model(model))
    frame, name = _frame(data, encoding, limit)
    with _older_objects_left_alone():
        explained = explain_frame(explainer, frame, name, text_column=text_column, labels=labels)
        rows = explanation_rows(explainer, frame, explained, top=top, id_column=id_column)
    if output is not None:
        source = "a loaded Pipeline" if isinstance(model, Pipeline) else str(model)
        write_output(Path(output), explainer, rows, explained, source)
    empty = sum("reason" in row for row in rows)
    return ExplainResult(rows, empty, None if output is None else str(output))
