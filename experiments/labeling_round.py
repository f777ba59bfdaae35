"""The realnews labeling round: reader sheets from `khabar select` batches, and their labels
into data/realnews/labels.jsonl (labels and URLs only: texts are rebuilt from SaudiNewsNet).

    python experiments/labeling_round.py sheets 3 --select diverse.jsonl random.jsonl \
        --model runs:/RUN/model --task stance --work /tmp/al
    python experiments/labeling_round.py append 3 --work /tmp/al
    python experiments/labeling_round.py second 3 --work /tmp/al

`sheets` shuffles the batch's selected items (so readers cannot tell how an item was
chosen), writes reader sheets of `id` + `text` only (no prediction, score or strategy) under
WORK/bNN/, and keeps each item's provenance (URL, source, strategy, the selecting model, the
text's SHA-256) in WORK/bNN/batch.jsonl. A share of the batch (`--second`) also goes on a
second-reader sheet. `append` checks the readers' labels (every item once, labels in the
guidelines' sets) and appends them with their provenance to data/realnews/labels.jsonl.
`second` adds the second reader's labels beside the first reader's in
data/realnews/double_read.jsonl; disagreements are settled there by a third read (`third`).
WORK holds article texts and stays outside the repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABELS = ROOT / "data" / "realnews" / "labels.jsonl"
DOUBLE = ROOT / "data" / "realnews" / "double_read.jsonl"
TOPICS = ("security", "migration", "diplomacy")
PRIMARY = (*TOPICS, "other")
STANCES = ("positive", "negative", "neutral")
CONFIDENCE = ("high", "low")
FIELDS = ("primary", "topics", "stance", "confidence")


def text_sha256(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes, as recorded at labeling time."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def batch_folder(work: Path, batch: int) -> Path:
    return work / f"b{batch:02d}"


def make_sheets(args: argparse.Namespace) -> None:
    folder = batch_folder(args.work, args.batch)
    folder.mkdir(parents=True, exist_ok=False)
    items = [row for path in args.select for row in read_jsonl(Path(path))]
    urls = [item["url"] for item in items]
    if len(set(urls)) != len(urls):
        raise SystemExit("the select outputs overlap: an item was selected twice")
    random.Random(args.batch).shuffle(items)
    provenance = [
        {
            "url": item["url"],
            "source": item["source"],
            "batch": args.batch,
            "strategy": item["strategy"],
            "selected_by": args.model,
            "selection_task": args.task,
            "text_sha256": text_sha256(item["text"]),
        }
        for item in items
    ]
    write_jsonl(folder / "batch.jsonl", provenance)
    size = -(-len(items) // args.sheets)
    for k in range(args.sheets):
        part = items[k * size : (k + 1) * size]
        write_jsonl(folder / f"sheet_{k + 1}.jsonl", [{"id": i["url"], "text": i["text"]} for i in part])
    second = random.Random(1000 + args.batch).sample(items, args.second)
    write_jsonl(folder / "second_sheet.jsonl", [{"id": i["url"], "text": i["text"]} for i in second])
    print(f"batch {args.batch}: {len(items)} items on {args.sheets} sheets, {args.second} for a second reader in {folder}")


def checked_labels(path: Path, expected: list[str]) -> dict[str, dict]:
    """A reader's labels by id, refusing anything outside the guidelines."""
    rows = read_jsonl(path)
    labels = {}
    for number, row in enumerate(rows, 1):
        where = f"{path}: line {number}"
        if row.get("primary") not in PRIMARY or row.get("stance") not in STANCES:
            raise SystemExit(f"{where}: primary/stance outside the label sets: {row}")
        if row.get("confidence") not in CONFIDENCE:
            raise SystemExit(f"{where}: confidence must be high or low: {row}")
        topics = row.get("topics")
        if not isinstance(topics, list) or any(t not in TOPICS for t in topics):
            raise SystemExit(f"{where}: topics must be a list of {TOPICS}: {row}")
        if (row["primary"] == "other") != (not topics) or (topics and row["primary"] not in topics):
            raise SystemExit(f"{where}: topics must hold primary (and be empty for other): {row}")
        if row.get("id") in labels:
            raise SystemExit(f"{where}: {row.get('id')} labeled twice")
        labels[row.get("id")] = {field: row[field] for field in FIELDS}
    missing = [i for i in expected if i not in labels]
    extra = [i for i in labels if i not in expected]
    if missing or extra:
        raise SystemExit(f"{path}: {len(missing)} sheet items unlabeled, {len(extra)} unknown ids")
    return labels


def append_batch(args: argparse.Namespace) -> None:
    folder = batch_folder(args.work, args.batch)
    labels: dict[str, dict] = {}
    for sheet in sorted(folder.glob("sheet_*.jsonl")):
        expected = [row["id"] for row in read_jsonl(sheet)]
        labels |= checked_labels(sheet.with_name(sheet.name.replace("sheet_", "labels_")), expected)
    done = {row["url"] for row in read_jsonl(LABELS)} if LABELS.exists() else set()
    rows = []
    for item in read_jsonl(folder / "batch.jsonl"):
        if item["url"] in done:
            raise SystemExit(f"{item['url']}: already in {LABELS}")
        rows.append({"url": item["url"], "source": item["source"], **labels[item["url"]], **{
            key: item[key] for key in ("batch", "strategy", "selected_by", "selection_task", "text_sha256")
        }})  # fmt: skip
    LABELS.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(LABELS, rows, mode="a")
    print(f"batch {args.batch}: {len(rows)} items appended to {LABELS}")


def add_second(args: argparse.Namespace) -> None:
    folder = batch_folder(args.work, args.batch)
    expected = [row["id"] for row in read_jsonl(folder / "second_sheet.jsonl")]
    second = checked_labels(folder / "second_labels.jsonl", expected)
    first = {row["url"]: row for row in read_jsonl(LABELS)}
    rows = [
        {"url": url, "batch": args.batch, "first": {f: first[url][f] for f in FIELDS}, "second": second[url]}
        for url in expected
    ]
    write_jsonl(DOUBLE, rows, mode="a")
    differing = sum(bool(disagree(row)) for row in rows)
    print(f"batch {args.batch}: {len(rows)} double-read items added to {DOUBLE}; {differing} disagree")


def disagree(row: dict) -> list[str]:
    """The fields on which the two readers of a double-read item differ."""
    def value(reading: dict, field: str):
        return sorted(reading[field]) if field == "topics" else reading[field]

    return [f for f in ("primary", "topics", "stance") if value(row["first"], f) != value(row["second"], f)]


def third_sheet(args: argparse.Namespace) -> None:
    """The double-read items the readers disagree on, with both readings in random order
    (the third reader does not know which came first)."""
    texts = {}
    for folder in sorted(args.work.glob("b??")):
        texts |= {row["id"]: row["text"] for row in read_jsonl(folder / "second_sheet.jsonl")}
    rng = random.Random(3)
    rows = []
    for row in read_jsonl(DOUBLE):
        if disagree(row) and "third" not in row:
            readings = [{f: row[r][f] for f in ("primary", "topics", "stance")} for r in ("first", "second")]
            rng.shuffle(readings)
            rows.append({"id": row["url"], "text": texts[row["url"]], "reading_A": readings[0], "reading_B": readings[1]})
    write_jsonl(args.work / "third_sheet.jsonl", rows)
    print(f"{len(rows)} disagreements on {args.work / 'third_sheet.jsonl'}")


def add_third(args: argparse.Namespace) -> None:
    """Settle disagreements: the third read's labels become the item's labels."""
    double = read_jsonl(DOUBLE)
    expected = [row["url"] for row in double if disagree(row) and "third" not in row]
    third = checked_labels(args.work / "third_labels.jsonl", expected)
    for row in double:
        if row["url"] in third:
            row["third"] = third[row["url"]]
    labels = read_jsonl(LABELS)
    for row in labels:
        if row["url"] in third:
            row.update({f: third[row["url"]][f] for f in FIELDS}, settled_by_third_read=True)
    write_jsonl(DOUBLE, double)
    write_jsonl(LABELS, labels)
    print(f"{len(third)} disagreements settled by a third read")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sheets = commands.add_parser("sheets")
    sheets.add_argument("--select", nargs="+", required=True)
    sheets.add_argument("--model", required=True)
    sheets.add_argument("--task", required=True)
    sheets.add_argument("--sheets", type=int, default=4)
    sheets.add_argument("--second", type=int, default=30)
    for command in (sheets, commands.add_parser("append"), commands.add_parser("second")):
        command.add_argument("batch", type=int)
    for command in commands.choices.values():
        command.add_argument("--work", type=Path, default=Path("/tmp/khabar-labeling"))
    for name in ("third-sheet", "third"):
        commands.add_parser(name).add_argument("--work", type=Path, default=Path("/tmp/khabar-labeling"))
    args = parser.parse_args(argv)
    actions = {"sheets": make_sheets, "append": append_batch, "second": add_second,
               "third-sheet": third_sheet, "third": add_third}  # fmt: skip
    actions[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
