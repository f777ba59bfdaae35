"""`ingest`: Label Studio exports (JSON, JSON-MIN, CSV) back into a labeled JSONL file.

The export files here are shaped exactly like those Label Studio 1.23 writes (captured from
a running server by tests/test_label_studio.py's project: the same keys, key order, time
format, CSV quoting and CRLF line ends), with short texts. One project, five tasks:

1. fx-000: its one annotation was cancelled (skipped in the labeling page);
2. fx-001: labeled diplomacy on the labeling page (changing the model's `security`);
3. fx-002: labeled twice: `other`, then later `diplomacy`, which counts;
4. fx-003: labeled migration;
5. fx-004: never annotated (exported with "all tasks").
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import pytest

from khabar.data.label_studio import label_config
from khabar.data.label_studio_export import parse_label_config, read_export
from khabar.errors import KhabarError
from khabar.runs.ingest import ingest

from .conftest import write_config, write_jsonl

LABELS = ["diplomacy", "migration", "other", "security"]
TEXTS = {
    "fx-000": "بلدية فالنسيا تفتتح مركز إيواء جديدا للقاصرين",
    "fx-001": "نجاح أول مهمة لقوات حفظ السلام اليابانية",
    "fx-002": "جولة جديدة من محادثات «صيغة أستانا»\nانطلقت في أستانا جولة جديدة",
    "fx-003": "السعودية والهند توقعان 8 اتفاقيات",
    "fx-004": "جولة ثانية من الحوار بين الاتحاد الأوروبي وموريتانيا",
}
STANCES = {"fx-000": "positive", "fx-001": "positive", "fx-002": "neutral",
           "fx-003": "positive", "fx-004": "neutral"}  # fmt: skip
EXPECTED = {"fx-001": "diplomacy", "fx-002": "diplomacy", "fx-003": "migration"}


# --- export files as Label Studio writes them ------------------------------------------------


def _stamp(minute: int, second: float) -> str:
    return f"2026-12-07T17:{minute:02d}:{second:09.6f}Z"


def annotation(annotation_id, task_id, choices, *, created, updated=None, cancelled=False,
               from_page=False) -> dict:  # fmt: skip
    """One annotation of the JSON export (a page's result regions carry an id and origin)."""
    region = {"from_name": "label", "to_name": "text", "type": "choices",
              "value": {"choices": choices}}  # fmt: skip
    if from_page:
        region = {"value": {"choices": choices}, "id": "jEx9qLjNar", "from_name": "label",
                  "to_name": "text", "type": "choices", "origin": "prediction-changed"}  # fmt: skip
    return {
        "id": annotation_id, "completed_by": 1, "result": [] if choices is None else [region],
        "was_cancelled": cancelled, "ground_truth": False, "created_at": created,
        "updated_at": updated or created, "draft_created_at": None,
        "lead_time": 1.515 if from_page else None,
        "prediction": {"id": task_id, "result": [{"from_name": "label", "to_name": "text",
                       "type": "choices", "value": {"choices": ["security"]}}],
                       "model_version": "m1", "created_ago": "1 minute", "score": 0.4,
                       "cluster": None, "neighbors": None, "mislabeling": 0.0,
                       "created_at": _stamp(39, 11.305426), "updated_at": _stamp(39, 11.305462),
                       "model": None, "model_run": None, "task": task_id, "project": 1},
        "result_count": 0 if choices is None else 1,
        "unique_id": f"9724a8c7-84ec-43a4-821c-d01039deb2e{annotation_id}",
        "import_id": None, "last_action": None, "bulk_created": False, "task": task_id,
        "project": 1, "updated_by": 1, "parent_prediction": task_id if from_page else None,
        "parent_annotation": None, "last_created_by": None,
    }  # fmt: skip


def task(task_id: int, item: str | None, annotations: list[dict], **data) -> dict:
    """One task of the JSON export."""
    fields = {"stance": STANCES.get(item, "neutral"), "text": TEXTS.get(item, "نص"), **data}
    if item is not None:
        fields["khabar_id"] = item
    cancelled = sum(a["was_cancelled"] for a in annotations)
    return {
        "id": task_id, "annotations": annotations, "drafts": [], "predictions": [task_id],
        "data": fields, "meta": {"rank": task_id},
        "created_at": _stamp(39, 11.290717), "updated_at": _stamp(40, 29.092997),
        "allow_skip": True, "inner_id": task_id,
        "total_annotations": len(annotations) - cancelled, "cancelled_annotations": cancelled,
        "total_predictions": 1, "comment_count": 0, "unresolved_comment_count": 0,
        "last_comment_updated_at": None, "project": 1, "updated_by": 1, "comment_authors": [],
    }  # fmt: skip


def json_export() -> list[dict]:
    return [
        task(1, "fx-000", [annotation(3, 1, None, created=_stamp(40, 28.964796), cancelled=True)]),
        task(2, "fx-001", [annotation(1, 2, ["diplomacy"], created=_stamp(40, 15.315623),
                                      from_page=True)]),
        task(3, "fx-002", [annotation(4, 3, ["other"], created=_stamp(40, 29.202286)),
                           annotation(5, 3, ["diplomacy"], created=_stamp(40, 30.454733))]),
        task(4, "fx-003", [annotation(2, 4, ["migration"], created=_stamp(40, 18.714326))]),
        task(5, "fx-004", []),
    ]  # fmt: skip


def min_record(task_id, item, label, annotation_id, created, lead_time=None) -> dict:
    """One JSON-MIN record: the task's data, its id, the choice(s), the annotation's facts."""
    record = {"stance": STANCES[item], "text": TEXTS[item], "khabar_id": item, "id": task_id}
    if label is not None:
        record["label"] = label
    annotated = annotation_id is not None
    return {**record, "annotator": 1 if annotated else None, "annotation_id": annotation_id,
            "created_at": created, "updated_at": created, "lead_time": lead_time}  # fmt: skip


def json_min_export() -> list[dict]:
    # One record per annotation that was not cancelled, a task's newest first; task 1 (all
    # cancelled) is left out, task 5 (none) has no label.
    return [
        min_record(2, "fx-001", "diplomacy", 1, _stamp(40, 15.315623), 1.515),
        min_record(3, "fx-002", "diplomacy", 5, _stamp(40, 30.454733)),
        min_record(3, "fx-002", "other", 4, _stamp(40, 29.202286)),
        min_record(4, "fx-003", "migration", 2, _stamp(40, 18.714326), 1.336),
        min_record(5, "fx-004", None, None, None),
    ]


def csv_export(records: list[dict]) -> str:
    """JSON-MIN records as Label Studio's CSV: sorted columns, QUOTE_NONNUMERIC, CRLF, the
    annotator as a string, several choices as JSON text, missing values empty."""
    columns = sorted({key for record in records for key in record})
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, quoting=csv.QUOTE_NONNUMERIC)
    writer.writeheader()
    for record in records:
        row = dict(record)
        if row.get("annotator") is not None:
            row["annotator"] = str(row["annotator"])
        if isinstance(row.get("label"), dict):
            row["label"] = json.dumps(row["label"], ensure_ascii=False, separators=(",", ":"))
        writer.writerow(row)
    return out.getvalue()


def write_export(folder: Path, kind: str, content=None, *, config: bool = True) -> Path:
    """An export file named as Label Studio names it, with label_config.xml beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    if config:
        xml = label_config(LABELS, multi_label=False)
        (folder / "label_config.xml").write_text(xml, encoding="utf-8")
    name = "project-1-at-2026-12-07-17-40-acf85240"
    if kind == "CSV":
        path = folder / f"{name}.csv"
        text = content if isinstance(content, str) else csv_export(content or json_min_export())
        path.write_bytes(text.encode("utf-8"))
        return path
    records = content if content is not None else (
        json_export() if kind == "JSON" else json_min_export())  # fmt: skip
    path = folder / f"{name}.json"
    indent = 2 if kind == "JSON_MIN" else None
    path.write_text(json.dumps(records, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def one_line(excinfo) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- the three formats ---------------------------------------------------------------------


def test_the_real_csv_shape():
    text = csv_export(json_min_export())
    assert text.startswith(
        '"annotation_id","annotator","created_at","id","khabar_id","label","lead_time",'
        '"stance","text","updated_at"\r\n1,"1","2026-12-07T17:40:15.315623Z",2,"fx-001",'
        '"diplomacy",1.515,"positive",'
    )
    assert '\r\n"","","",5,"fx-004","","","neutral",' in text  # a task never annotated


@pytest.mark.parametrize("kind", ["JSON", "JSON_MIN", "CSV"])
def test_each_format_gives_the_latest_labels(tmp_path, kind):
    export = write_export(tmp_path / "batch", kind)
    result = ingest(export, tmp_path / "labeled.jsonl")

    written = rows(tmp_path / "labeled.jsonl")
    assert [row["id"] for row in written] == ["fx-001", "fx-002", "fx-003"]  # export order
    assert {row["id"]: row["label"] for row in written} == EXPECTED
    for row in written:
        assert list(row) == ["id", "text", "label", "stance"]
        assert (row["text"], row["stance"]) == (TEXTS[row["id"]], STANCES[row["id"]])
    assert result.export_format == kind
    assert (result.written, result.new, result.skipped, result.conflicting) == (3, 3, 1, 0)
    assert result.skipped_tasks == ["task 5 (item fx-004)"]
    # Only the JSON export keeps cancelled annotations; JSON-MIN and CSV leave the task out.
    assert result.cancelled_tasks == (["task 1 (item fx-000)"] if kind == "JSON" else [])
    assert result.label_source.endswith("label_config.xml")


def test_the_three_formats_write_the_same_file(tmp_path):
    outputs = []
    for kind in ("JSON", "JSON_MIN", "CSV"):
        ingest(write_export(tmp_path / kind, kind), tmp_path / f"{kind}.jsonl")
        outputs.append((tmp_path / f"{kind}.jsonl").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_the_latest_update_counts_and_cancelled_annotations_do_not(tmp_path):
    tasks = [
        # Created first but updated last (a reviewer's correction): it counts.
        task(1, "fx-000", [
            annotation(1, 1, ["security"], created=_stamp(41, 1), updated=_stamp(45, 0)),
            annotation(2, 1, ["other"], created=_stamp(42, 0)),
        ]),
        # The newest annotation was cancelled: the one before it counts.
        task(2, "fx-001", [
            annotation(3, 2, ["migration"], created=_stamp(41, 0)),
            annotation(4, 2, None, created=_stamp(43, 0), cancelled=True),
        ]),
        # The newest annotation chose nothing: the task is skipped, not labeled by an older one.
        task(3, "fx-002", [
            annotation(5, 3, ["other"], created=_stamp(41, 0)),
            annotation(6, 3, None, created=_stamp(44, 0)),
        ]),
    ]  # fmt: skip
    result = ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert {r["id"]: r["label"] for r in rows(tmp_path / "out.jsonl")} == {
        "fx-000": "security",
        "fx-001": "migration",
    }
    assert (result.skipped, result.cancelled) == (1, 0)


def test_json_min_latest_by_time_whatever_the_order(tmp_path):
    records = [
        min_record(3, "fx-002", "other", 4, _stamp(40, 29.0)),
        min_record(3, "fx-002", "diplomacy", 5, _stamp(40, 30.0)),
    ]
    ingest(write_export(tmp_path, "JSON_MIN", records), tmp_path / "out.jsonl")
    assert rows(tmp_path / "out.jsonl")[0]["label"] == "diplomacy"


def test_a_task_without_khabar_id_is_named_by_its_task_id(tmp_path):
    tasks = [task(7, None, [annotation(1, 7, ["other"], created=_stamp(41, 0))])]
    ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert rows(tmp_path / "out.jsonl") == [
        {"id": "7", "text": "نص", "label": "other", "stance": "neutral"}
    ]


def test_a_data_field_named_like_the_choices_comes_back_from_csv(tmp_path):
    records = [{**min_record(2, "fx-001", "diplomacy", 1, _stamp(40, 15.0)), "_data_label": "x"}]
    export = read_export(write_export(tmp_path, "CSV", records))
    assert export.tasks[0].data["label"] == "x"
    assert export.tasks[0].choices == ["diplomacy"]


# --- multi-label ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["JSON", "JSON_MIN", "CSV"])
def test_multi_label_choices_in_each_format(tmp_path, kind):
    if kind == "JSON":
        content = [
            task(6, "fx-000", [annotation(6, 6, ["security", "diplomacy"], created=_stamp(41, 0))]),
            task(7, "fx-001", [annotation(7, 7, ["migration"], created=_stamp(41, 1))]),
        ]  # fmt: skip
    else:  # several choices: {"choices": [...]}; one: the label itself
        content = [
            min_record(6, "fx-000", {"choices": ["security", "diplomacy"]}, 6, _stamp(41, 0)),
            min_record(7, "fx-001", "migration", 7, _stamp(41, 1)),
        ]
    export = write_export(tmp_path, kind, content, config=False)
    xml = tmp_path / "multi.xml"
    xml.write_text(label_config(LABELS, multi_label=True), encoding="utf-8")
    ingest(export, tmp_path / "out.jsonl", label_config=xml)
    assert {r["id"]: r["label"] for r in rows(tmp_path / "out.jsonl")} == {
        "fx-000": ["diplomacy", "security"],
        "fx-001": ["migration"],
    }


def test_two_choices_for_a_single_label_task_are_refused(tmp_path):
    tasks = [task(2, "fx-001", [annotation(1, 2, ["security", "other"], created=_stamp(41, 0))])]
    with pytest.raises(KhabarError) as excinfo:
        ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert "task 2 (item fx-001): 2 labels" in one_line(excinfo)
    assert not (tmp_path / "out.jsonl").exists()


# --- the label set -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["JSON", "JSON_MIN", "CSV"])
def test_an_unknown_label_is_one_line_naming_the_task_and_label(tmp_path, kind):
    if kind == "JSON":
        content = [task(2, "fx-001", [annotation(1, 2, ["sports"], created=_stamp(41, 0))])]
    else:
        content = [min_record(2, "fx-001", "sports", 1, _stamp(41, 0))]
    with pytest.raises(KhabarError) as excinfo:
        ingest(write_export(tmp_path, kind, content), tmp_path / "out.jsonl")
    message = one_line(excinfo)
    assert "task 2 (item fx-001): label 'sports' is not in the label set" in message
    assert "label_config.xml" in message
    assert not (tmp_path / "out.jsonl").exists()


def test_the_config_gives_the_label_set_and_the_columns(tmp_path):
    config = write_config(tmp_path)  # news_small: labels in `primary`
    export = write_export(tmp_path / "batch", "JSON_MIN", config=False)
    result = ingest(export, tmp_path / "out.jsonl", config=config)
    written = rows(tmp_path / "out.jsonl")
    assert {r["id"]: r["primary"] for r in written} == EXPECTED
    assert "fixture-topic.yaml's data" in result.label_source

    unknown = [min_record(2, "fx-001", "sports", 1, _stamp(41, 0))]
    export = write_export(tmp_path / "other", "JSON_MIN", unknown, config=False)
    with pytest.raises(KhabarError, match="'sports' is not in the label set"):
        ingest(export, tmp_path / "other.jsonl", config=config)


def test_without_a_label_set_ingest_says_what_to_give(tmp_path):
    export = write_export(tmp_path, "JSON", config=False)
    with pytest.raises(KhabarError) as excinfo:
        ingest(export, tmp_path / "out.jsonl")
    assert "--config CONFIG or --label-config label_config.xml" in one_line(excinfo)
    with pytest.raises(KhabarError, match="not both"):
        ingest(export, tmp_path / "out.jsonl", config="a.yaml", label_config="b.xml")


def test_label_config_parsing():
    assert parse_label_config(label_config(LABELS, False), "x") == (LABELS, False)
    assert parse_label_config(label_config(["أمن", "هجرة"], True), "x") == (["أمن", "هجرة"], True)
    aliased = (
        '<View><Text name="text" value="$text"/><Choices name="label" toName="text">'
        '<Choice value="Security news" alias="security"/><Choice value="other"/></Choices></View>'
    )
    assert parse_label_config(aliased, "x") == (["security", "other"], False)
    with pytest.raises(KhabarError, match="not valid XML"):
        parse_label_config("<View><Choices>", "cfg.xml")
    with pytest.raises(KhabarError, match='no <Choices name="label">'):
        parse_label_config('<View><Choices name="topic"/></View>', "cfg.xml")


# --- malformed exports ---------------------------------------------------------------------


def _bad_json_tasks(kind: str) -> list[dict]:
    good = annotation(1, 2, ["other"], created=_stamp(41, 0))
    broken = {
        "annotations": {**task(2, "fx-001", []), "annotations": {"id": 1}},
        "result": task(2, "fx-001", [{**good, "result": "other"}]),
        "choices": task(2, "fx-001", [{**good, "result": [
            {"from_name": "label", "type": "choices", "value": {"choices": "other"}}]}]),
        "time": task(2, "fx-001", [{**good, "updated_at": "yesterday"}]),
        "data": {**task(2, "fx-001", [good]), "data": "text"},
    }[kind]  # fmt: skip
    return [task(1, "fx-000", []), broken]


@pytest.mark.parametrize("kind", ["annotations", "result", "choices", "time", "data"])
def test_a_malformed_json_task_is_one_line_naming_it(tmp_path, kind):
    export = write_export(tmp_path, "JSON", _bad_json_tasks(kind))
    with pytest.raises(KhabarError) as excinfo:
        ingest(export, tmp_path / "out.jsonl")
    assert f"{export}: task 2" in one_line(excinfo)


def test_a_malformed_json_min_or_csv_record_is_one_line_naming_it(tmp_path):
    records = [min_record(2, "fx-001", ["a", "list"], 1, _stamp(41, 0))]
    with pytest.raises(KhabarError) as excinfo:
        ingest(write_export(tmp_path / "min", "JSON_MIN", records), tmp_path / "a.jsonl")
    assert "task 2" in one_line(excinfo)

    text = csv_export(json_min_export()).replace('"diplomacy",1.515', '"{oops",1.515')
    with pytest.raises(KhabarError) as excinfo:
        ingest(write_export(tmp_path / "csv", "CSV", text), tmp_path / "b.jsonl")
    assert "task 2: 'label' is '{oops'" in one_line(excinfo)

    no_id = [{k: v for k, v in json_min_export()[0].items() if k != "id"}]
    with pytest.raises(KhabarError, match="record #1 has no task 'id'"):
        ingest(write_export(tmp_path / "noid", "JSON_MIN", no_id), tmp_path / "c.jsonl")


def test_an_export_that_is_not_json_or_not_an_export(tmp_path):
    export = write_export(tmp_path, "JSON")
    export.write_text('[{"id": 1, "annotations": []', encoding="utf-8")
    with pytest.raises(KhabarError, match="not valid JSON"):
        ingest(export, tmp_path / "out.jsonl")
    with pytest.raises(KhabarError, match="not a Label Studio export"):
        ingest(tmp_path / "label_config.xml", tmp_path / "out.jsonl")
    export.write_text('[{"id": 1, "annotations": []}, 3]', encoding="utf-8")
    with pytest.raises(KhabarError, match="task #2: expected a JSON object"):
        ingest(export, tmp_path / "out.jsonl")


def test_nothing_to_ingest_is_an_error_without_merge(tmp_path):
    tasks = [task(1, "fx-000", [])]
    with pytest.raises(KhabarError, match="no task has an annotation to ingest"):
        ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


# --- merging, duplicates, conflicts --------------------------------------------------------

# An existing labeled file written by hand: odd spacing, escapes, key order, a U+2028 inside
# a text, a blank line. Every row must come back byte for byte, in order.
EXISTING_LINES = [
    '{"id": "old-1", "text": "نص قديم", "label": "security"}',
    '{"label":"other","id":"old-2","text":"line\\u2028sep \u2028 kept"}',
    '{"id": "fx-003", "text": "السعودية والهند", "label": "migration", "source": "manual"}',
    '{"id": "fx-002", "label": "other", "text": "جولة"}',
]


def write_existing(path: Path) -> Path:
    path.write_bytes(
        ("\n".join(EXISTING_LINES[:2]) + "\n\n" + "\n".join(EXISTING_LINES[2:]) + "\n").encode()
    )
    return path


def test_merge_keeps_existing_rows_unchanged_and_in_order(tmp_path):
    existing = write_existing(tmp_path / "labeled.jsonl")
    export = write_export(tmp_path / "batch", "JSON")
    result = ingest(export, tmp_path / "merged.jsonl", merge=existing)

    lines = (tmp_path / "merged.jsonl").read_text(encoding="utf-8").split("\n")
    assert lines[: len(EXISTING_LINES)] == EXISTING_LINES
    added = [json.loads(line) for line in lines[len(EXISTING_LINES) :] if line]
    assert [row["id"] for row in added] == ["fx-001"]
    assert (result.written, result.new, result.already_present, result.conflicting) == (5, 1, 1, 1)
    # fx-002 is `other` in the merged file, `diplomacy` in the export: the file's label stays.
    assert result.conflicts == [
        "item fx-002: task 3 (item fx-002) says diplomacy, the merged file says other; kept other"
    ]
    assert existing.read_bytes() == write_existing(tmp_path / "again.jsonl").read_bytes()


def test_merge_into_the_same_file(tmp_path):
    labeled = write_existing(tmp_path / "labeled.jsonl")
    ingest(write_export(tmp_path / "batch", "CSV"), labeled, merge=labeled)
    lines = labeled.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028
    assert lines[:4] == EXISTING_LINES and json.loads(lines[4])["id"] == "fx-001"
    assert not list(tmp_path.glob(".labeled.jsonl*"))  # no temporary file left

    again = ingest(write_export(tmp_path / "batch", "JSON"), labeled, merge=labeled)
    assert (again.new, again.already_present, again.conflicting) == (0, 2, 1)
    assert labeled.read_text(encoding="utf-8").split("\n") == lines


def test_a_failed_write_leaves_the_merged_file_whole(tmp_path, monkeypatch):
    labeled = write_existing(tmp_path / "labeled.jsonl")
    before = labeled.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        ingest(write_export(tmp_path / "batch", "JSON"), labeled, merge=labeled)
    assert labeled.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch", "labeled.jsonl"]


def test_an_existing_output_is_refused_unless_merged_into(tmp_path):
    export = write_export(tmp_path / "batch", "JSON")
    (tmp_path / "out.jsonl").write_text("{}\n", encoding="utf-8")
    with pytest.raises(KhabarError, match="already exists"):
        ingest(export, tmp_path / "out.jsonl")
    with pytest.raises(KhabarError, match="labeled .jsonl"):
        ingest(export, tmp_path / "out.csv")


def test_merge_into_a_csv_or_multi_label_file(tmp_path):
    existing = tmp_path / "labeled.csv"
    existing.write_text('id,text,label\nfx-003,نص,"[""migration""]"\n', encoding="utf-8")
    export = write_export(tmp_path / "batch", "JSON_MIN", config=False)
    xml = tmp_path / "multi.xml"
    xml.write_text(label_config(LABELS, multi_label=True), encoding="utf-8")
    result = ingest(export, tmp_path / "out.jsonl", merge=existing, label_config=xml)
    written = rows(tmp_path / "out.jsonl")
    assert written[0] == {"id": "fx-003", "text": "نص", "label": '["migration"]'}
    assert [(r["id"], r["label"]) for r in written[1:]] == [
        ("fx-001", ["diplomacy"]),
        ("fx-002", ["diplomacy"]),
    ]
    assert result.already_present == 1  # fx-003: ["migration"] both times


def test_duplicates_and_conflicts_within_the_export(tmp_path):
    tasks = [
        task(1, "fx-001", [annotation(1, 1, ["diplomacy"], created=_stamp(41, 0))]),
        task(2, "fx-001", [annotation(2, 2, ["diplomacy"], created=_stamp(41, 1))]),
        task(3, "fx-002", [annotation(3, 3, ["other"], created=_stamp(41, 2))]),
        task(4, "fx-002", [annotation(4, 4, ["security"], created=_stamp(41, 3))]),
        task(5, "fx-003", [annotation(5, 5, ["migration"], created=_stamp(41, 4))]),
    ]
    result = ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert [(r["id"], r["label"]) for r in rows(tmp_path / "out.jsonl")] == [
        ("fx-001", "diplomacy"),
        ("fx-003", "migration"),
    ]
    assert (result.new, result.duplicates, result.conflicting) == (2, 1, 1)
    assert result.conflicts == [
        "item fx-002: labeled differently (task 3 (item fx-002): other, "
        "task 4 (item fx-002): security); not written"
    ]


def test_the_result_as_a_dict(tmp_path):
    result = ingest(write_export(tmp_path, "JSON"), tmp_path / "out.jsonl")
    assert json.loads(json.dumps(result.as_dict()))["new"] == 3


def test_rows_keep_every_other_data_field(tmp_path):
    tasks = [task(2, "fx-001", [annotation(1, 2, ["other"], created=_stamp(41, 0))],
                  url="https://example.com/a", tags=["a", "b"], empty=None)]  # fmt: skip
    ingest(write_export(tmp_path, "JSON", tasks), tmp_path / "out.jsonl")
    assert rows(tmp_path / "out.jsonl") == [{
        "id": "fx-001", "text": TEXTS["fx-001"], "label": "other", "stance": "positive",
        "url": "https://example.com/a", "tags": ["a", "b"],
    }]  # fmt: skip


def test_existing_file_without_the_id_column(tmp_path):
    existing = write_jsonl(tmp_path / "labeled.jsonl", [{"text": "نص", "label": "other"}])
    with pytest.raises(KhabarError, match="missing column 'id'"):
        ingest(write_export(tmp_path / "b", "JSON"), tmp_path / "o.jsonl", merge=existing)
