"""How far two independent readers agree on the labeling round's double-read items, and what
the round's labels hold (per batch and selection strategy).

    python experiments/realnews_agreement.py

Reads data/realnews/double_read.jsonl (first and second reader, and the third read that
settled each disagreement) and data/realnews/labels.jsonl; writes
docs/results/realnews_agreement.md. Needs no texts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_page import command_line, markdown_table, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
LABELS = PROJECT / "data" / "realnews" / "labels.jsonl"
DOUBLE = PROJECT / "data" / "realnews" / "double_read.jsonl"
TOPICS = ("security", "migration", "diplomacy")


def agreement(first: list, second: list) -> list[str]:
    return [
        str(len(first)),
        f"{accuracy_score(first, second):.3f}",
        f"{cohen_kappa_score(first, second):.3f}",
        f"{f1_score(first, second, average='macro'):.3f}",
    ]


def agreement_rows(double: pd.DataFrame) -> list[list[str]]:
    rows = []
    subsets = [("all items", double)] + [
        (f"first reader `{level}`", double[double["first"].map(lambda r: r["confidence"]) == level])
        for level in ("high", "low")
    ]
    for field in ("primary", "stance"):
        for name, part in subsets:
            first = part["first"].map(lambda r, f=field: r[f]).tolist()
            second = part["second"].map(lambda r, f=field: r[f]).tolist()
            rows.append([field, name, *agreement(first, second)])
    for topic in TOPICS:  # each topic as a yes/no label of its own
        first = double["first"].map(lambda r, t=topic: t in r["topics"]).tolist()
        second = double["second"].map(lambda r, t=topic: t in r["topics"]).tolist()
        rows.append([f"topics: {topic}", "all items", *agreement(first, second)])
    exact = (double["first"].map(lambda r: sorted(r["topics"])) == double["second"].map(lambda r: sorted(r["topics"])))
    rows.append(["topics (exact set)", "all items", str(len(double)), f"{exact.mean():.3f}", "", ""])
    return rows


def holdings(labels: pd.DataFrame) -> str:
    table = labels.groupby(["batch", "selection_task", "strategy"]).agg(
        items=("url", "size"),
        security=("primary", lambda p: int((p == "security").sum())),
        migration=("primary", lambda p: int((p == "migration").sum())),
        diplomacy=("primary", lambda p: int((p == "diplomacy").sum())),
        other=("primary", lambda p: int((p == "other").sum())),
        positive=("stance", lambda s: int((s == "positive").sum())),
        negative=("stance", lambda s: int((s == "negative").sum())),
        neutral=("stance", lambda s: int((s == "neutral").sum())),
    ).reset_index()
    total = ["all", "", "", len(labels)] + [int((labels["primary"] == p).sum()) for p in (*TOPICS, "other")]
    total += [int((labels["stance"] == s).sum()) for s in ("positive", "negative", "neutral")]
    body = table.astype(str).values.tolist() + [[str(v) for v in total]]
    return markdown_table(["batch", "selected by the model of", "strategy", *table.columns[3:]], body)


def main(argv: list[str] | None = None) -> int:
    started = start()
    double = pd.read_json(DOUBLE, lines=True)
    labels = pd.read_json(LABELS, lines=True)
    settled = int(double["third"].notna().sum()) if "third" in double else 0
    sections = [
        ("Second reader against the first", markdown_table(
            ["label", "items", "n", "accuracy", "Cohen's kappa", "macro-F1"], agreement_rows(double))),
        (None, f"{settled} items the readers disagreed on were settled by a third read "
               "(`data/realnews/double_read.jsonl`, field `third`); `labels.jsonl` holds the settled "
               "labels (`settled_by_third_read`)."),
        ("The round's labels, by batch and how they were chosen", holdings(labels)),
    ]  # fmt: skip
    write_results_page(
        "realnews_agreement",
        "Reader agreement on the labeling round, and what it holds",
        command_line(__file__, argv),
        sections,
        started,
        measures=("Agreement between two readers who labeled the same items independently "
                  "(neither saw the other's labels or any model output), per field."),  # fmt: skip
        notes=[f"Data: {len(double)} double-read items of {len(labels)} in `data/realnews/labels.jsonl`"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
