"""Datasets: read CSV / JSONL / Parquet / TXT, validate, split. Every user error names the
file and the row, line, column or value."""

from __future__ import annotations

import ast
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

from khabar.data.corpora import rebuild_texts
from khabar.errors import KhabarError
from khabar.heap import release_free_heap

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt")
# A labels file distributed without texts names each article by these instead.
REBUILD_COLUMNS = ("url", "text_sha256")


# Byte-order marks of encodings that are never valid UTF-8: name them instead of guessing.
_WIDE_BOMS = {
    b"\xff\xfe\x00\x00": "utf-32",
    b"\x00\x00\xfe\xff": "utf-32",
    b"\xff\xfe": "utf-16",
    b"\xfe\xff": "utf-16",
}


def _decode(path: Path, encoding: str) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KhabarError(f"{path}: cannot read: {exc.strerror or type(exc).__name__}") from None
    is_utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
    codec = "utf-8-sig" if is_utf8 else encoding
    if is_utf8:
        for bom, wide in _WIDE_BOMS.items():
            if data.startswith(bom):
                raise KhabarError(
                    f"{path}: file is {wide.upper()} (it starts with a {wide} byte-order mark), "
                    f"not UTF-8: save it as UTF-8 or set the encoding to {wide} "
                    "(data.encoding in a config, --encoding for predict and evaluate)"
                )
    elif not data.isascii() and _is_utf8(data):
        # A single-byte codec such as cp1256 decodes any bytes, so UTF-8 read as cp1256
        # would silently become mojibake; real cp1256 Arabic is never valid UTF-8.
        raise KhabarError(
            f"{path}: encoding {encoding!r} was given but the file is valid UTF-8 with "
            "non-ASCII text; it is UTF-8: remove the encoding setting"
        )
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        hint = (
            " (Arabic files from Windows are often cp1256: set data.encoding=cp1256 in the "
            "config, or --encoding cp1256 for predict and evaluate)"
        )
        raise KhabarError(
            f"{path}: not valid {encoding} at byte {exc.start} "
            f"(0x{data[exc.start]:02x}){hint if codec == 'utf-8-sig' else ''}"
        ) from None
    except LookupError:
        raise KhabarError(f"{path}: unknown encoding {encoding!r}") from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_table(
    path: str | Path, encoding: str = "utf-8", columns: set[str] | None = None
) -> pd.DataFrame:
    """Read a table by its extension.

    Cells keep literal strings such as 'None' and 'NA'; only truly empty cells become
    missing values.

    Parameters
    ----------
    path : str or Path
        A .csv, .tsv, .jsonl, .json, .parquet or .txt file (one text per line in a
        `text` column, blank lines skipped).
    encoding : str, default "utf-8"
        The file's encoding (e.g. cp1256); not used for Parquet.
    columns : set of str, optional
        For JSONL, keep only these keys of each line as it is read (a corpus's other
        fields never fill memory).

    Returns
    -------
    DataFrame
        The rows; its ``attrs`` carry the JSONL or TXT line numbers, used by
        `row_location`.

    Raises
    ------
    KhabarError
        The file is missing, of an unsupported type, empty, not decodable with
        `encoding`, or malformed; the message names the line or byte.
    """
    frame = _read_table(Path(path), encoding, columns)
    release_free_heap()
    return frame


def _read_table(path: Path, encoding: str, columns: set[str] | None) -> pd.DataFrame:
    if not path.is_file():
        raise KhabarError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise KhabarError(
            f"{path}: unsupported file type {suffix!r}; expected one of {TABLE_SUFFIXES}"
        )
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises many types for a damaged file
            raise KhabarError(f"{path}: cannot read Parquet: {exc}") from None
    if suffix == ".jsonl":  # line by line: a corpus-sized file is never held whole in memory
        frame = _read_jsonl_lines(path, encoding, columns)
        if frame.empty:
            raise KhabarError(f"{path}: no data rows (header only?)")
        return frame
    text = _decode(path, encoding)
    if not text.strip():
        raise KhabarError(f"{path}: file is empty")
    if suffix in (".jsonl", ".json"):
        frame = _parse_jsonl(path, text)
    elif suffix == ".txt":  # one text per line; blank lines separate, and are skipped
        numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        frame = pd.DataFrame(
            {"line": [n for n, _ in numbered], "text": [line for _, line in numbered]}
        ).astype({"text": object})
        frame.attrs["line_numbers"] = frame["line"].tolist()
        frame.attrs["text_lines"] = True
    else:
        frame = _parse_csv(path, text, sep="\t" if suffix == ".tsv" else ",")
    if frame.empty:
        raise KhabarError(f"{path}: no data rows (header only?)")
    return frame


def _parse_csv(path: Path, text: str, sep: str) -> pd.DataFrame:
    from io import StringIO

    try:
        return pd.read_csv(
            StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_values=[""]
        )
    except pd.errors.ParserError as exc:
        raise KhabarError(f"{path}: malformed CSV: {str(exc).strip()}") from None


def _parse_jsonl(path: Path, text: str) -> pd.DataFrame:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):
        try:
            records = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise KhabarError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
        line_numbers = list(range(1, len(records) + 1))
    else:
        records, line_numbers = _parse_lines(path, text.splitlines())
    frame = _records_frame(records)
    frame.attrs["line_numbers"] = line_numbers
    return frame


def _parse_lines(path: Path, lines, columns=None, seen=None) -> tuple[list[dict], list[int]]:
    """Records of a JSONL file's lines; with `columns`, only those keys, and the keys met
    go into `seen`."""
    records, line_numbers = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KhabarError(f"{path}: line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise KhabarError(f"{path}: line {number}: expected a JSON object")
        if columns is not None:
            seen.update(dict.fromkeys(record))
            record = {key: value for key, value in record.items() if key in columns}
        records.append(record)
        line_numbers.append(number)
    return records, line_numbers


def _read_jsonl_lines(path: Path, encoding: str, columns=None) -> pd.DataFrame:
    seen: dict = {}
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        # newline="": lines end at \n, \r or \r\n, as with str.splitlines, but a U+2028
        # inside a JSON string stays inside its line.
        with open(path, encoding=codec, newline="") as handle:
            records, line_numbers = _parse_lines(path, handle, columns, seen)
    except (UnicodeDecodeError, LookupError):
        _decode(path, encoding)  # raises the error that names the byte or the encoding
        raise
    if not records:
        raise KhabarError(f"{path}: file is empty")
    frame = _records_frame(records)
    frame.attrs["line_numbers"] = line_numbers
    if columns is not None:  # what the file has, for error messages
        frame.attrs["file_columns"] = list(seen)
    return frame


def _records_frame(records: list[dict]) -> pd.DataFrame:
    """A frame whose text columns hold the parsed str objects themselves (object dtype):
    pandas' own str dtype would copy every text once more, which at corpus scale is
    hundreds of MB. Other columns are inferred as usual; a missing key is None."""
    names = list(dict.fromkeys(key for record in records for key in record))
    columns = {}
    for name in names:
        values = [record.get(name) for record in records]
        if all(isinstance(v, str) or v is None for v in values):
            columns[name] = pd.Series(values, dtype=object)
        else:
            columns[name] = pd.Series(values)
    return pd.DataFrame(columns, index=pd.RangeIndex(len(records)))


def row_location(frame: pd.DataFrame, position: int) -> str:
    """How to point a user at a row: the line of a JSONL file, else the data row number.

    Parameters
    ----------
    frame : DataFrame
        A table as `read_table` returns it.
    position : int
        The row's position in `frame`, from 0.

    Returns
    -------
    str
        ``"line N"`` (JSONL and TXT files) or ``"row N"``, from 1.
    """
    lines = frame.attrs.get("line_numbers")
    return f"line {lines[position]}" if lines else f"row {position + 1}"


def content_hash(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks of 1 MB.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        The hex digest, logged with a run so its data can be recognized.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_columns(frame: pd.DataFrame, columns: list[str], path: str | Path) -> None:
    """Check that `frame` has every one of `columns`.

    Parameters
    ----------
    frame : DataFrame
        A table as `read_table` returns it.
    columns : list of str
        The columns needed.
    path : str or Path
        Names the file in the error.

    Raises
    ------
    KhabarError
        A column is missing; the message lists the file's columns.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        present = frame.attrs.get("file_columns", frame.columns)
        raise KhabarError(
            f"{path}: missing column {missing[0]!r}; columns are {list(map(str, present))}"
        )


def _text_problem(value) -> str | None:
    """Why a cell is not a usable text ("missing", "empty", "not a text: …"), or None."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "is missing"
    if isinstance(value, (list, tuple, dict)) or hasattr(value, "tolist"):
        return f"is not a text: {_short(value)}"
    if not str(value).strip():
        return "is empty"
    return None


def clean_texts(frame: pd.DataFrame, column: str, path: str | Path) -> list[str]:
    """Texts as strings; an empty, whitespace-only or missing text is an error naming its row.

    Parameters
    ----------
    frame : DataFrame
        A table as `read_table` returns it.
    column : str
        The texts' column.
    path : str or Path
        Names the file in errors.

    Returns
    -------
    list of str
        One text per row, in order.

    Raises
    ------
    KhabarError
        The column is absent, or a row's text is missing, empty or not a text.
    """
    require_columns(frame, [column], path)
    texts = []
    for position, value in enumerate(frame[column].tolist()):
        problem = _text_problem(value)
        if problem is not None:
            raise KhabarError(f"{path}: {row_location(frame, position)}: {column!r} {problem}")
        texts.append(str(value))
    return texts


def texts_or_reasons(
    frame: pd.DataFrame, column: str, path: str | Path
) -> tuple[list[str | None], list[str | None]]:
    """Texts where a row has one, None where it is missing or empty, and the reasons.

    Prediction on a large batch skips rows without text rather than refusing the file.

    Parameters
    ----------
    frame : DataFrame
        A table as `read_table` returns it.
    column : str
        The texts' column.
    path : str or Path
        Names the file in errors.

    Returns
    -------
    texts : list of str or None
        One per row: its text, or None when it has none.
    reasons : list of str or None
        One per row: "missing text" or "empty text" where `texts` has None, else None.

    Raises
    ------
    KhabarError
        The column is absent, or a cell is not a text at all (a list, a number array);
        names its row.
    """
    require_columns(frame, [column], path)
    texts: list[str | None] = []
    reasons: list[str | None] = []
    for position, value in enumerate(frame[column].tolist()):
        problem = _text_problem(value)
        if problem is not None and problem.startswith("is not a text"):
            raise KhabarError(f"{path}: {row_location(frame, position)}: {column!r} {problem}")
        texts.append(None if problem else str(value))
        reasons.append(problem and f"{problem.removeprefix('is ')} text")
    return texts, reasons


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _as_label_list(value, path, frame, position, column) -> list[str]:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError:
                try:
                    value = ast.literal_eval(stripped)
                except (ValueError, SyntaxError):
                    raise KhabarError(
                        f"{path}: {row_location(frame, position)}: {column!r} is not a list: {value!r}"
                    ) from None
        else:  # "security|migration" or "" for no labels
            value = [part for part in stripped.split("|") if part.strip()]
    elif value is None or (isinstance(value, float) and pd.isna(value)):
        value = []
    if not isinstance(value, (list, tuple)) and not hasattr(value, "tolist"):
        raise KhabarError(
            f"{path}: {row_location(frame, position)}: {column!r} is not a list: {value!r}"
        )
    return sorted({str(v).strip() for v in list(value)})


def clean_labels(
    frame: pd.DataFrame, column: str, path: str | Path, multi_label: bool
) -> list[str] | list[list[str]]:
    """Labels as strings, stripped; a missing or empty label is an error naming its row.

    Parameters
    ----------
    frame : DataFrame
        A table as `read_table` returns it.
    column : str
        The labels' column.
    path : str or Path
        Names the file in errors.
    multi_label : bool
        Each cell is a list of labels: a JSON list, a list-like string in CSV
        (``["a", "b"]``), or ``a|b``; an empty cell is the empty list.

    Returns
    -------
    list of str, or list of list of str
        One label per row; with `multi_label`, one sorted list of distinct labels per row.

    Raises
    ------
    KhabarError
        The column is absent, a single label is empty or is a list (the message suggests
        task: multi_label), or a multi-label cell is not a list.
    """
    require_columns(frame, [column], path)
    labels: list = []
    for position, value in enumerate(frame[column].tolist()):
        if multi_label:
            labels.append(_as_label_list(value, path, frame, position, column))
            continue
        if value is None or (isinstance(value, float) and pd.isna(value)) or not str(value).strip():
            raise KhabarError(f"{path}: {row_location(frame, position)}: label {column!r} is empty")
        if isinstance(value, (list, tuple, dict)) or hasattr(value, "tolist"):
            raise KhabarError(
                f"{path}: {row_location(frame, position)}: label {column!r} is {_short(value)}, "
                "not one label; for several labels per item set task: multi_label"
            )
        labels.append(str(value).strip())
    return labels


@dataclass
class LabeledData:
    """A labeled table and what training needs from it.

    Attributes
    ----------
    path : str
        The file it was read from.
    frame : DataFrame
        The table; its text column holds the same str objects as `texts`.
    texts : list of str
        One text per row.
    labels : list
        One label per row (a list of labels for multi-label tasks).
    sha256 : str, default ""
        The file's content hash.
    notes : list of str
        Notes for the run's report (a split, leakage, dropped rows).
    leaked_test_rows : int, default 0
        Test rows whose text also occurs in this (training) data; set when a test set is
        loaded.
    near_duplicate_test_rows : int, default 0
        Test rows that tell the same story as a training row without being exact copies;
        set when a test set is loaded with a story check.
    dropped_empty : list of str
        Rows without text dropped on loading (data.empty_texts: drop): their ids, else
        their lines or rows.
    """

    path: str
    frame: pd.DataFrame
    texts: list[str]
    labels: list
    sha256: str = ""
    notes: list[str] = field(default_factory=list)
    # Test rows whose text also occurs in this (training) data; set when a test set is loaded.
    leaked_test_rows: int = 0
    # Test rows telling the same story as a training row in other words (not exact copies).
    near_duplicate_test_rows: int = 0
    # Rows without text dropped on loading (data.empty_texts: drop): ids, else lines or rows.
    dropped_empty: list[str] = field(default_factory=list)

    @property
    def label_counts(self) -> dict[str, int]:
        """How many rows carry each label (a multi-label row counts for each of its labels)."""
        if self.labels and isinstance(self.labels[0], list):
            return dict(Counter(label for row in self.labels for label in row))
        return dict(Counter(self.labels))

    def drop_texts(self, text_column: str) -> None:
        """Let go of the texts (labels and other columns stay).

        Training calls this once the features are computed, so the classifier's fit does
        not hold the corpus too.

        Parameters
        ----------
        text_column : str
            The column of `frame` that holds the texts; it is dropped.
        """
        self.texts = []
        self.frame = self.frame.drop(columns=[text_column])
        release_free_heap()

    def subset(self, positions: list[int]) -> LabeledData:
        """The rows at `positions`, with a fresh index.

        Parameters
        ----------
        positions : list of int
            Row positions, in the order wanted.

        Returns
        -------
        LabeledData
            The same path and hash; empty notes, nothing leaked or dropped.
        """
        frame = self.frame.iloc[positions].reset_index(drop=True)
        return LabeledData(
            self.path,
            frame,
            [self.texts[i] for i in positions],
            [self.labels[i] for i in positions],
            self.sha256,
        )


def join_labeled(parts: list[LabeledData]) -> LabeledData:
    """Several labeled files as one table, rows in order (data.train given as a list).

    Parameters
    ----------
    parts : list of LabeledData
        The files, each already checked.

    Returns
    -------
    LabeledData
        Their rows; the path is their paths joined by " + ", the hash one over theirs.
    """
    if len(parts) == 1:
        return parts[0]
    frame = pd.concat([part.frame for part in parts], ignore_index=True)
    joined = LabeledData(
        " + ".join(part.path for part in parts),
        frame,
        [text for part in parts for text in part.texts],
        [label for part in parts for label in part.labels],
        hashlib.sha256(" ".join(part.sha256 for part in parts).encode()).hexdigest(),
    )
    joined.notes = [note for part in parts for note in part.notes]
    joined.dropped_empty = [row for part in parts for row in part.dropped_empty]
    return joined


def load_labeled(
    path: str | Path,
    text_column: str,
    label_column: str,
    *,
    multi_label: bool = False,
    encoding: str = "utf-8",
    extra_columns: tuple[str, ...] = (),
    needed_columns_only: bool = False,
    empty_texts: str = "refuse",
    id_column: str = "id",
    saudinewsnet: str | Path | None = None,
) -> LabeledData:
    """A labeled file, checked row by row.

    Parameters
    ----------
    path : str or Path
        A .csv, .tsv, .jsonl, .json, .parquet or .txt file.
    text_column, label_column : str
        The texts' and the labels' columns.
    multi_label : bool, default False
        Labels are lists (a JSON list, or a list-like string in CSV).
    encoding : str, default "utf-8"
        The file's encoding.
    extra_columns : tuple of str
        Further columns that must be present (kept in `frame`).
    needed_columns_only : bool, default False
        Keep just the text, label, extra and `id` columns (a JSONL file is read without the rest).
    empty_texts : {"refuse", "drop"}, default "refuse"
        A row without text is an error naming it, or is dropped and listed in
        `dropped_empty` (its id, else its line or row).
    id_column : str, default "id"
        The column that names rows, kept when present.
    saudinewsnet : str, Path or None
        A SaudiNewsNet copy to rebuild texts from (rows of `url` + `text_sha256`).

    Returns
    -------
    LabeledData
        The checked rows, with the file's content hash.

    Raises
    ------
    KhabarError
        The file cannot be read, a column is missing, or a row's text or label is not
        usable; names the row.
    """
    needed = {id_column, text_column, label_column, *extra_columns} if needed_columns_only else None
    frame = _read_with_texts(path, encoding, needed, text_column, saudinewsnet)
    require_columns(frame, [text_column, label_column, *extra_columns], path)
    dropped: list[str] = []
    if empty_texts == "drop":
        frame, dropped = _drop_empty_texts(frame, text_column, path, id_column)
    texts = clean_texts(frame, text_column, path)
    labels = clean_labels(frame, label_column, path, multi_label)
    frame = frame.copy()
    # object dtype keeps references to `texts`; pandas' str dtype would copy them all
    frame[text_column] = pd.Series(texts, index=frame.index, dtype=object)
    return LabeledData(str(path), frame, texts, labels, content_hash(path), dropped_empty=dropped)


def _read_with_texts(path, encoding, needed, text_column, saudinewsnet) -> pd.DataFrame:
    """The table, with texts rebuilt when its rows name articles instead of holding them."""
    frame = read_table(path, encoding, needed and needed | set(REBUILD_COLUMNS))
    if text_column not in frame and set(REBUILD_COLUMNS) <= set(frame.columns):
        frame = rebuild_texts(frame, path, saudinewsnet, text_column)
    return frame


def _drop_empty_texts(
    frame: pd.DataFrame, column: str, path: str | Path, id_column: str
) -> tuple[pd.DataFrame, list[str]]:
    """`frame` without its rows whose text is missing or empty, and those rows' names
    (the `id`, else the line or row)."""
    texts, _ = texts_or_reasons(frame, column, path)
    empty = [i for i, text in enumerate(texts) if text is None]
    if not empty:
        return frame, []
    if len(empty) == len(texts):
        raise KhabarError(f"{path}: every row's {column!r} is empty or missing")
    ids = frame[id_column].tolist() if id_column in frame.columns else None
    names = [str(ids[i]) if ids else row_location(frame, i) for i in empty]
    keep = sorted(set(range(len(texts))) - set(empty))
    lines = frame.attrs.get("line_numbers")
    kept = frame.iloc[keep].reset_index(drop=True)
    kept.attrs = {**frame.attrs, **({"line_numbers": [lines[i] for i in keep]} if lines else {})}
    return kept, names


def map_labels(data: LabeledData, mapping: dict[str, str], field: str) -> list:
    """`data`'s labels renamed by `mapping`, which must name every label the file uses.

    Parameters
    ----------
    data : LabeledData
        The labeled data (an extra training file).
    mapping : dict of str to str
        The file's label -> the config's label; several labels may map to one.
    field : str
        The config field holding the map, named in errors (``data.extra_train[0]``).

    Returns
    -------
    list
        One renamed label per row (a list without repeats for multi-label rows).

    Raises
    ------
    KhabarError
        A label is not a key of `mapping`; names its row.
    """
    mapped = []
    for position, label in enumerate(data.labels):
        values = label if isinstance(label, list) else [label]
        for value in values:
            if value not in mapping:
                raise KhabarError(
                    f"{data.path}: {row_location(data.frame, position)}: label {value!r} is not "
                    f"in {field}.labels (it maps {sorted(mapping)})"
                )
        renamed = list(dict.fromkeys(mapping[value] for value in values))  # many-to-one maps
        mapped.append(renamed if isinstance(label, list) else renamed[0])
    return mapped


def check_test_labels(train: LabeledData, test: LabeledData) -> None:
    """Refuse labels in the test set that training never saw: they cannot be scored fairly.

    Parameters
    ----------
    train : LabeledData
        The training data.
    test : LabeledData
        The test data.

    Raises
    ------
    KhabarError
        A test label does not occur in `train`; names its row.
    """
    seen = set(train.label_counts)
    for position, label in enumerate(test.labels):
        for value in label if isinstance(label, list) else [label]:
            if value not in seen:
                raise KhabarError(
                    f"{test.path}: {row_location(test.frame, position)}: label {value!r} never "
                    f"occurs in training data {train.path} (labels: {sorted(seen)})"
                )


def find_leakage(train: LabeledData, test: LabeledData) -> list[int]:
    """Positions of test rows whose text (whitespace aside) also occurs in training.

    Parameters
    ----------
    train : LabeledData
        The training data.
    test : LabeledData
        The test data.

    Returns
    -------
    list of int
        Row positions in `test`, ascending.
    """
    # Training texts are indexed by the hash of their spacing-free form, not kept as copies
    # (a corpus-sized copy would stay in the process's peak memory); hits are confirmed.
    by_hash: dict[int, list[int]] = {}
    for position, text in enumerate(train.texts):
        by_hash.setdefault(hash(" ".join(text.split())), []).append(position)
    leaked = []
    for i, text in enumerate(test.texts):
        canonical = " ".join(text.split())
        candidates = by_hash.get(hash(canonical), ())
        if any(" ".join(train.texts[j].split()) == canonical for j in candidates):
            leaked.append(i)
    return leaked


def split_train_test(
    data: LabeledData, test_size: float, seed: int, groups: list | None = None
) -> tuple[LabeledData, LabeledData]:
    """A stratified split when every class allows it, else a plain shuffled split.

    Parameters
    ----------
    data : LabeledData
        The rows to split; a note goes into its `notes` when the split cannot be
        stratified.
    test_size : float
        The test set's share of the rows.
    seed : int
        The shuffle's seed.
    groups : list, optional
        Each row's group (e.g. its story): every group falls on one side (`group_split`).

    Returns
    -------
    train, test : LabeledData
        The two parts, each in the rows' original order.

    Raises
    ------
    KhabarError
        scikit-learn cannot split the rows (e.g. too few for `test_size`).
    """
    positions = list(range(len(data.texts)))
    strata = ["|".join(x) if isinstance(x, list) else x for x in data.labels]
    counts = Counter(strata)
    stratify = strata if min(counts.values()) >= 2 else None
    if stratify is None:
        data.notes.append("test split not stratified: some label has fewer than 2 examples")
    try:
        if groups is not None:
            train_pos, test_pos = group_split(stratify, groups, test_size, seed)
            train_pos, test_pos = _labels_seen_in_training(data, groups, train_pos, test_pos)
        else:
            train_pos, test_pos = train_test_split(
                positions, test_size=test_size, random_state=seed, stratify=stratify
            )
    except ValueError as exc:
        raise KhabarError(f"{data.path}: cannot split {len(positions)} rows: {exc}") from None
    return data.subset(sorted(train_pos)), data.subset(sorted(test_pos))


def _labels_seen_in_training(data: LabeledData, groups: list, train_pos, test_pos):
    """Move back to training every test group holding a label training lacks (a class told
    in one story only), noted: khabar's own split must leave a trainable model."""
    def labels_of(positions) -> set:
        found = set()
        for i in positions:
            label = data.labels[i]
            found.update(label if isinstance(label, list) else [label])
        return found

    missing = labels_of(test_pos) - labels_of(train_pos)
    if not missing:
        return train_pos, test_pos
    moved = {groups[i] for i in test_pos if labels_of([i]) & missing}
    back = [i for i in test_pos if groups[i] in moved]
    data.notes.append(
        f"test split: {len(back)} rows of {len(moved)} groups moved to training, where labels "
        f"{sorted(missing)} occur in no other group"
    )
    return list(train_pos) + back, [i for i in test_pos if groups[i] not in moved]


def group_split(strata: list | None, groups: list, test_size: float, seed: int):
    """Train and test positions with every group on one side.

    Stratified, the smaller part is one fold of a StratifiedGroupKFold with
    round(1 / min(test_size, 1 - test_size)) folds (so its share is near, not exactly,
    test_size); unstratified, a GroupShuffleSplit.

    Parameters
    ----------
    strata : list or None
        Each row's stratum (its label); None: no stratification.
    groups : list
        Each row's group.
    test_size : float
        The test set's share of the rows.
    seed : int
        The shuffle's seed.

    Returns
    -------
    train_pos, test_pos : ndarray of int
    """
    rows = np.zeros(len(groups))
    if strata is None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        return next(splitter.split(rows, groups=groups))
    smaller = min(test_size, 1 - test_size)
    folds = max(2, int(1 / smaller + 0.5))
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    larger_pos, smaller_pos = next(splitter.split(rows, strata, groups))
    return (larger_pos, smaller_pos) if test_size <= 0.5 else (smaller_pos, larger_pos)
