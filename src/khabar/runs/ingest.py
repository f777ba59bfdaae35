"""`khabar ingest`: a Label Studio export back into a labeled JSONL file.

Each task's latest annotation that was not cancelled gives the item's label(s), checked
against the label set (an experiment config's labels, or the labeling interface). With
`merge`, the output is the existing labeled file's rows, unchanged and in order, then the
new items; an item already there is never written twice, and one labeled differently keeps
the existing label and is reported. The output is written to a temporary file and renamed,
so it is never half-written, and may be the merged file itself.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from khabar.data.dataset import clean_labels, read_table, require_columns
from khabar.data.label_studio import ID_FIELD, TEXT_FIELD
from khabar.data.label_studio_export import ExportedTask, read_export, read_label_config
from khabar.errors import KhabarError

LABEL_CONFIG_NAME = "label_config.xml"


@dataclass
class IngestResult:
    """What `ingest` returns and `khabar ingest` prints.

    Attributes
    ----------
    output : str
        The labeled JSONL file written.
    export_format : str
        The export's format: JSON, JSON_MIN or CSV.
    label_source : str
        Where the label set came from.
    written : int
        Rows in the output (the merged file's and the new ones).
    new : int
        Items added from the export.
    already_present : int
        Exported items already in the merged file with the same label(s): not written again.
    duplicates : int
        Further tasks of an item already taken from the export with the same label(s).
    skipped : int
        Tasks without an annotation (or whose latest annotation chose nothing).
    cancelled : int
        Tasks whose every annotation was cancelled (the JSON export alone keeps them;
        JSON-MIN and CSV leave such tasks out).
    conflicting : int
        Items labeled differently in the export and the merged file (the merged file's
        label is kept), or by two tasks of the export (neither is written).
    skipped_tasks : list of str
        The skipped tasks, named (``task 12 (item fx-001)``).
    cancelled_tasks : list of str
        The cancelled tasks, named.
    conflicts : list of str
        One line per conflicting item: the labels and what was kept.
    """

    output: str
    export_format: str
    label_source: str
    written: int = 0
    new: int = 0
    already_present: int = 0
    duplicates: int = 0
    skipped: int = 0
    cancelled: int = 0
    conflicting: int = 0
    skipped_tasks: list[str] = field(default_factory=list)
    cancelled_tasks: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)


@dataclass
class _LabelSet:
    labels: list[str]
    multi_label: bool
    source: str
    label_column: str = "label"
    text_column: str = "text"
    id_column: str = "id"

    def named(
        self, label_column: str | None, text_column: str | None, id_column: str | None
    ) -> None:
        """Use the columns given (None: keep the config's, else the defaults)."""
        self.label_column = label_column or self.label_column
        self.text_column = text_column or self.text_column
        self.id_column = id_column or self.id_column


@dataclass
class _Existing:
    """The labeled file merged into: its rows as output lines, and each id's labels."""

    lines: list[str]
    labels: dict[str, object]


def ingest(
    export: str | Path,
    output: str | Path,
    *,
    merge: str | Path | None = None,
    config: str | Path | None = None,
    label_config: str | Path | None = None,
    label_column: str | None = None,
    text_column: str | None = None,
    id_column: str | None = None,
) -> IngestResult:
    """Turn a Label Studio export into labeled rows, merged into a labeled file.

    Parameters
    ----------
    export : str or Path
        Label Studio's JSON, JSON-MIN (``.json``) or CSV (``.csv``) export.
    output : str or Path
        The labeled ``.jsonl`` file to write: one row per item, with the id (the task's
        ``data.khabar_id``, else Label Studio's task id), the text, the label (a list for
        multi-label) and the task's other data fields. It may be `merge` itself; any other
        existing file is refused.
    merge : str or Path, optional
        An existing labeled file (JSONL rows are copied byte for byte; other tables khabar
        reads are converted); its rows come first, unchanged and in order.
    config : str or Path, optional
        An experiment config: the labels found in its data are the label set, its task
        says single or multi-label, and its data columns name the output's columns.
    label_config : str or Path, optional
        A labeling interface (``label_config.xml``) giving the label set instead. Without
        `config` or `label_config`, the ``label_config.xml`` beside the export is read.
    label_column, text_column, id_column : str, optional
        The output's (and `merge`'s) columns; default: the config's, else label, text, id.

    Returns
    -------
    IngestResult
        The counts, with the skipped, cancelled and conflicting tasks named.

    Raises
    ------
    KhabarError
        Bad arguments, no label set, a malformed export (naming the task), a label outside
        the label set (naming the task and label), an unreadable merged file.
    """
    export, output = Path(export), Path(output)
    _check_arguments(export, output, merge, config, label_config)
    label_set = _label_set(export, config, label_config)
    label_set.named(label_column, text_column, id_column)
    read = read_export(export)
    result = IngestResult(str(output), read.format, label_set.source)
    items = _labeled_items(export, read.tasks, label_set, result)
    existing = _read_existing(Path(merge), label_set) if merge is not None else _Existing([], {})
    rows = _new_rows(items, existing, label_set, result)
    if not rows and merge is None:
        raise KhabarError(f"{export}: no task has an annotation to ingest ({_tally(result)})")
    lines = existing.lines + [json.dumps(row, ensure_ascii=False) for row in rows]
    _write_atomically(output, lines)
    result.new, result.written = len(rows), len(lines)
    return result


def _tally(result: IngestResult) -> str:
    return (
        f"{result.skipped} skipped, {result.cancelled} cancelled, {result.conflicting} conflicting"
    )


def _check_arguments(export: Path, output: Path, merge, config, label_config) -> None:
    if config is not None and label_config is not None:
        raise KhabarError("give --config or --label-config for the label set, not both")
    if output.suffix.lower() != ".jsonl":
        raise KhabarError(f"{output}: the output is a labeled .jsonl file")
    if output.resolve() == export.resolve():
        raise KhabarError(f"{output}: the output cannot be the export itself")
    if output.exists() and (merge is None or output.resolve() != Path(merge).resolve()):
        raise KhabarError(
            f"{output}: already exists; choose a new file, or --merge {output} to add to it"
        )


def _label_set(export: Path, config, label_config) -> _LabelSet:
    """The labels an annotation may choose: the config's, or the labeling interface's."""
    if config is not None:
        from khabar.data.fit_set import load_train_and_test
        from khabar.model.stories import story_detection
        from khabar.runs.guard import load_config

        experiment = load_config(config)
        train, test = load_train_and_test(experiment, stories=story_detection(experiment))
        labels = sorted(set(train.label_counts) | set(test.label_counts if test else {}))
        data = experiment.data
        source = f"the labels of {config}'s data"
        multi_label = experiment.task == "multi_label"
        return _LabelSet(
            labels, multi_label, source, data.label_column, data.text_column, data.id_column
        )
    if label_config is None:
        beside = export.with_name(LABEL_CONFIG_NAME)
        if not beside.is_file():
            raise KhabarError(
                f"{export}: no label set: give --config CONFIG or --label-config "
                f"{LABEL_CONFIG_NAME} (none beside the export)"
            )
        label_config = beside
    labels, multi_label = read_label_config(label_config)
    return _LabelSet(labels, multi_label, str(label_config))


def _labeled_items(
    export: Path, tasks: list[ExportedTask], label_set: _LabelSet, result: IngestResult
) -> dict[str, list[tuple[ExportedTask, object]]]:
    """Item id -> the export's labeled tasks of that item and their label(s), checked;
    skipped and cancelled tasks are counted in `result`."""
    items: dict[str, list[tuple[ExportedTask, object]]] = {}
    for task in tasks:
        if task.status == "cancelled":
            result.cancelled += 1
            result.cancelled_tasks.append(task.name)
        elif task.status == "skipped":
            result.skipped += 1
            result.skipped_tasks.append(task.name)
        else:
            label = _checked_label(export, task, label_set)
            if TEXT_FIELD not in task.data:
                raise KhabarError(f"{export}: {task.name}: no data.{TEXT_FIELD} (the labeled text)")
            items.setdefault(task.item_id or task.task_id, []).append((task, label))
    return items


def _checked_label(export: Path, task: ExportedTask, label_set: _LabelSet) -> object:
    """The task's label (a sorted list for multi-label), each one in the label set."""
    choices = task.choices or []
    for choice in choices:
        if choice not in label_set.labels:
            raise KhabarError(
                f"{export}: {task.name}: label {choice!r} is not in the label set "
                f"{label_set.labels} ({label_set.source})"
            )
    if label_set.multi_label:
        return sorted(set(choices))
    if len(choices) != 1:
        raise KhabarError(
            f"{export}: {task.name}: {len(choices)} labels {choices} for a single-label "
            f"task ({label_set.source})"
        )
    return choices[0]


def _read_existing(path: Path, label_set: _LabelSet) -> _Existing:
    """The labeled file merged into: its rows as lines, and its ids' labels."""
    frame = read_table(path)
    require_columns(frame, [label_set.id_column, label_set.label_column], path)
    labels = clean_labels(frame, label_set.label_column, path, label_set.multi_label)
    ids = [None if pd.isna(i) else str(i) for i in frame[label_set.id_column].tolist()]
    known = {i: label for i, label in zip(ids, labels, strict=True) if i is not None}
    if path.suffix.lower() == ".jsonl":
        lines = _jsonl_lines(path)
    else:
        records = json.loads(frame.to_json(orient="records", force_ascii=False))
        lines = [json.dumps(record, ensure_ascii=False) for record in records]
    return _Existing(lines, known)


def _jsonl_lines(path: Path) -> list[str]:
    """A JSONL file's rows exactly as they are (blank lines aside), split as `read_table`
    splits them: a U+2028 inside a JSON string stays inside its line."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip()]


def _new_rows(
    items: dict[str, list[tuple[ExportedTask, object]]],
    existing: _Existing,
    label_set: _LabelSet,
    result: IngestResult,
) -> list[dict]:
    """The export's items not yet in the merged file, one row each, in the export's order;
    duplicates, items already present and conflicts are counted in `result`."""
    rows = []
    for item_id, tasks in items.items():
        task, label = tasks[0]
        if any(other != label for _, other in tasks[1:]):
            result.conflicting += 1
            labeled = ", ".join(f"{t.name}: {_show(other)}" for t, other in tasks)
            result.conflicts.append(f"item {item_id}: labeled differently ({labeled}); not written")
            continue
        result.duplicates += len(tasks) - 1
        if item_id in existing.labels:
            kept = existing.labels[item_id]
            if kept == label:
                result.already_present += 1
                continue
            result.conflicting += 1
            result.conflicts.append(
                f"item {item_id}: {task.name} says {_show(label)}, the merged file says "
                f"{_show(kept)}; kept {_show(kept)}"
            )
            continue
        rows.append(_row(item_id, task, label, label_set))
    return rows


def _show(label: object) -> str:
    return "|".join(label) if isinstance(label, list) else str(label)


def _row(item_id: str, task: ExportedTask, label: object, label_set: _LabelSet) -> dict:
    """An output row: id, text, label, then the task's other data fields."""
    row = {
        label_set.id_column: item_id,
        label_set.text_column: task.data[TEXT_FIELD],
        label_set.label_column: label,
    }
    for key, value in task.data.items():
        if key not in (TEXT_FIELD, ID_FIELD) and key not in row and value is not None:
            row[key] = value
    return row


def _write_atomically(output: Path, lines: list[str]) -> None:
    """Write the lines to a temporary file beside `output`, then rename it over `output`:
    a reader sees the old file or the new one, never half of one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(line + "\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, output)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
