"""Label Studio exports read back: JSON, JSON-MIN and CSV files as one list of tasks, each
with the choices of its latest annotation that was not cancelled; and the label set of a
labeling interface (label_config.xml).

What the three formats hold (Label Studio 1.23, its SDK's converter):

- JSON: a list of tasks, each with ``id``, ``data`` and every annotation (cancelled ones
  too, ``was_cancelled: true``), each with its ``result`` list and timestamps.
- JSON-MIN: one flat record per annotation that was not cancelled, newest first: the
  task's data fields, ``id`` (the task's), the choices under the Choices tag's name (one
  label as a string, several as ``{"choices": [...]}``), ``annotator``, ``annotation_id``,
  ``created_at``, ``updated_at``, ``lead_time``. A task whose annotations were all
  cancelled is left out; a task without annotations appears (with "all tasks") with no
  label and null annotation fields.
- CSV: the JSON-MIN records as rows, columns sorted by name; several choices are the JSON
  text ``{"choices": [...]}``; a data field named like the Choices tag becomes
  ``_data_<name>``.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from khabar.data.dataset import read_table
from khabar.data.label_studio import CHOICES_NAME, ID_FIELD
from khabar.errors import KhabarError

EXPORT_FORMATS = ("JSON", "JSON_MIN", "CSV")
# What a JSON-MIN record or CSV row adds to the task's data, besides the choices.
ANNOTATION_KEYS = frozenset(
    {
        "id",
        "annotator",
        "annotation_id",
        "created_at",
        "updated_at",
        "lead_time",
        "agreement",
        "history",
    }
)
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class ExportedTask:
    """One Label Studio task of an export and the answer it got.

    Attributes
    ----------
    task_id : str
        Label Studio's task id.
    item_id : str or None
        khabar's id of the item (``data.khabar_id``), None for tasks khabar did not write.
    data : dict
        The task's data fields (the text, ``khabar_id`` and the item's other columns).
    choices : list of str or None
        The choices of the task's latest annotation that was not cancelled; None when it
        has none.
    status : {"labeled", "skipped", "cancelled"}
        Labeled; no annotation (or an empty one); or every annotation cancelled.
    """

    task_id: str
    item_id: str | None
    data: dict
    choices: list[str] | None
    status: str

    @property
    def name(self) -> str:
        """How messages name the task: ``task 12 (item fx-001)``."""
        return f"task {self.task_id}" + (f" (item {self.item_id})" if self.item_id else "")


@dataclass
class Export:
    """A Label Studio export file, read.

    Attributes
    ----------
    path : str
        The file.
    format : {"JSON", "JSON_MIN", "CSV"}
        Its export format.
    tasks : list of ExportedTask
        One per task, in the file's order of first appearance.
    """

    path: str
    format: str
    tasks: list[ExportedTask] = field(default_factory=list)


@dataclass
class _Answer:
    """One annotation: when it was made, and its choices (None: no Choices result)."""

    time: datetime
    annotation_id: int
    position: int
    choices: list[str] | None


def read_export(path: str | Path) -> Export:
    """Read a Label Studio export: JSON, JSON-MIN (both ``.json``) or CSV.

    Parameters
    ----------
    path : str or Path
        The exported file; JSON and JSON-MIN are told apart by their records.

    Returns
    -------
    Export
        Its format and its tasks, each with its latest annotation that was not cancelled
        (the most recently updated; the higher annotation id on a tie).

    Raises
    ------
    KhabarError
        The file is missing, of another type, not valid JSON or CSV, or a task in it is
        malformed; the message names the task.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise KhabarError(
            f"{path}: not a Label Studio export; expected its JSON, JSON-MIN (.json) or CSV "
            "(.csv) export"
        )
    if suffix == ".csv":
        return Export(str(path), "CSV", _grouped(path, _csv_records(path)))
    records = _json_records(path)
    # JSON-MIN records are flat; the JSON export's tasks carry their annotations.
    if any("annotations" in record or "completions" in record for record in records):
        tasks = [_json_task(path, record, number) for number, record in enumerate(records, 1)]
        return Export(str(path), "JSON", tasks)
    return Export(str(path), "JSON_MIN", _grouped(path, records))


def _json_records(path: Path) -> list[dict]:
    if not path.is_file():
        raise KhabarError(f"export file not found: {path}")
    try:
        records = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise KhabarError(f"{path}: not UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise KhabarError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(records, dict):  # one task exported alone
        records = [records]
    if not isinstance(records, list):
        raise KhabarError(f"{path}: expected a JSON list of tasks, found {type(records).__name__}")
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise KhabarError(f"{path}: task #{number}: expected a JSON object, found {record!r}")
    return records


def _json_task(path: Path, task: dict, number: int) -> ExportedTask:
    """A task of the JSON export, from its annotations."""
    if _missing(task.get("id")):
        raise KhabarError(f"{path}: task #{number} has no 'id'")
    task_id = str(task["id"])
    data = task.get("data")
    where = f"{path}: task {task_id}"
    if not isinstance(data, dict):
        raise KhabarError(f"{where}: 'data' is not an object: {data!r}")
    annotations = task.get("annotations", task.get("completions", []))
    if not isinstance(annotations, list):
        raise KhabarError(f"{where}: 'annotations' is not a list: {annotations!r}")
    answers, cancelled = [], 0
    for position, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise KhabarError(f"{where}: annotation #{position + 1} is not an object")
        if annotation.get("was_cancelled") or annotation.get("skipped"):
            cancelled += 1
            continue
        choices = _result_choices(where, annotation.get("result"))
        answers.append(_answer(where, annotation, position, choices))
    status = "cancelled" if cancelled and not answers else "skipped"
    return _task(task_id, data, answers, status)


def _result_choices(where: str, result: Any) -> list[str] | None:
    """The choices of an annotation's result list (the Choices tag named `label`)."""
    if result is None:
        return None
    if not isinstance(result, list):
        raise KhabarError(f"{where}: an annotation's 'result' is not a list: {result!r}")
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") != CHOICES_NAME:
            continue
        value = region.get("value")
        choices = value.get("choices") if isinstance(value, dict) else None
        return _choice_list(where, choices)
    return None


def _choice_list(where: str, choices: Any) -> list[str]:
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise KhabarError(f"{where}: choices {choices!r} are not a list of labels")
    return choices


def _answer(where: str, annotation: dict, position: int, choices: list[str] | None) -> _Answer:
    """An annotation's time (updated, else created) and id, to find the latest."""
    stamp = annotation.get("updated_at") or annotation.get("created_at")
    time = _EARLIEST
    if stamp is not None:
        try:
            time = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            raise KhabarError(
                f"{where}: annotation time {stamp!r} is not a date and time"
            ) from None
        if time.tzinfo is None:
            time = time.replace(tzinfo=UTC)
    annotation_id = _as_int(annotation.get("annotation_id", annotation.get("id")))
    return _Answer(time, annotation_id, position, choices)


def _as_int(value: Any) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError, OverflowError):
        return -1


def _task(task_id: str, data: dict, answers: list[_Answer], status: str) -> ExportedTask:
    """The task with its latest answer; without one, skipped or cancelled."""
    item_id = data.get(ID_FIELD)
    item_id = None if _missing(item_id) else str(item_id)
    if answers:
        latest = max(answers, key=lambda a: (a.time, a.annotation_id, -a.position))
        if latest.choices:
            return ExportedTask(task_id, item_id, data, latest.choices, "labeled")
        status = "skipped"
    return ExportedTask(task_id, item_id, data, None, status)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _csv_records(path: Path) -> list[dict]:
    """The CSV export's rows as JSON-MIN records: empty cells dropped, several choices
    (the JSON text ``{"choices": [...]}``) parsed, ``_data_<name>`` named back."""
    frame = read_table(path)
    records = []
    for record in frame.to_dict("records"):
        row = {key: value for key, value in record.items() if not _missing(value)}
        label = row.get(CHOICES_NAME)
        if isinstance(label, str) and label.lstrip().startswith("{"):
            try:
                row[CHOICES_NAME] = json.loads(label)
            except json.JSONDecodeError:
                task = row.get("id", f"#{len(records) + 1}")
                raise KhabarError(
                    f"{path}: task {task}: {CHOICES_NAME!r} is {label!r}, not a label or "
                    '{"choices": [...]}'
                ) from None
        colliding = f"_data_{CHOICES_NAME}"
        if colliding in row:
            row.setdefault("_data", {})[CHOICES_NAME] = row.pop(colliding)
        records.append(row)
    return records


def _grouped(path: Path, records: list[dict]) -> list[ExportedTask]:
    """JSON-MIN records (one per annotation) grouped into tasks by their `id`."""
    data_of: dict[str, dict] = {}
    answers: dict[str, list[_Answer]] = {}
    for number, record in enumerate(records, 1):
        if _missing(record.get("id")):
            raise KhabarError(f"{path}: record #{number} has no task 'id'")
        task_id = str(record["id"])
        data = {k: v for k, v in record.items() if k not in ANNOTATION_KEYS and k != CHOICES_NAME}
        data.update(data.pop("_data", {}))
        data_of.setdefault(task_id, data)
        answers.setdefault(task_id, [])
        if _missing(record.get("annotation_id")) and CHOICES_NAME not in record:
            continue  # a task exported without annotations
        where = f"{path}: task {task_id}"
        answers[task_id].append(_answer(where, record, number, _min_choices(where, record)))
    return [_task(task_id, data_of[task_id], answers[task_id], "skipped") for task_id in data_of]


def _min_choices(where: str, record: dict) -> list[str] | None:
    """A JSON-MIN record's choices: one label as a string, several as {"choices": [...]}."""
    value = record.get(CHOICES_NAME)
    if _missing(value):
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return _choice_list(where, value.get("choices"))
    raise KhabarError(f"{where}: {CHOICES_NAME!r} is {value!r}, not a label or a list of labels")


def parse_label_config(text: str, source: str | Path) -> tuple[list[str], bool]:
    """The labels of a labeling interface and whether several may be chosen.

    Parameters
    ----------
    text : str
        Label Studio's XML config, as `khabar.data.label_studio.label_config` writes it.
    source : str or Path
        Names the config in errors.

    Returns
    -------
    labels : list of str
        The ``<Choice>`` values (a choice's ``alias`` when it has one: what Label Studio
        stores), in order.
    multi_label : bool
        The Choices tag has ``choice="multiple"``.

    Raises
    ------
    KhabarError
        Not valid XML, no ``<Choices name="label">``, or no choice in it.
    """
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise KhabarError(f"{source}: not valid XML: {exc}") from None
    tags = [
        element
        for element in root.iter()
        if str(element.tag).lower() == "choices" and element.get("name") == CHOICES_NAME
    ]
    if not tags:
        raise KhabarError(
            f'{source}: no <Choices name="{CHOICES_NAME}"> (the tag khabar\'s labeling '
            "interface gives the labels)"
        )
    labels = [
        element.get("alias") or element.get("value") or ""
        for element in tags[0].iter()
        if str(element.tag).lower() == "choice"
    ]
    if not labels or "" in labels:
        raise KhabarError(
            f'{source}: <Choices name="{CHOICES_NAME}"> needs a value on every <Choice>'
        )
    return labels, tags[0].get("choice", "single") == "multiple"


def read_label_config(path: str | Path) -> tuple[list[str], bool]:
    """Read a label_config.xml: its labels and whether several may be chosen.

    Parameters
    ----------
    path : str or Path
        The XML file (`khabar select` writes one beside a Label Studio import file).

    Returns
    -------
    labels : list of str
        The choices, in order.
    multi_label : bool
        Several labels may be chosen.

    Raises
    ------
    KhabarError
        The file is missing or unreadable, or `parse_label_config` refuses it.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise KhabarError(f"label config not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KhabarError(f"{path}: cannot read: {exc}") from None
    return parse_label_config(text, path)
