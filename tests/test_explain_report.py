"""Each run's summary.md names, for its most confidently misclassified items, the three
n-grams that pushed the wrong label most: the same ones `khabar explain` finds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import khabar
from khabar.data.fit_set import build_fit_set, load_train_and_test
from khabar.model.pipeline import build_pipeline

from .conftest import NEWS_SMALL, write_config

TEXTS = {
    row["id"]: row["text"] for row in map(json.loads, NEWS_SMALL.read_text("utf-8").splitlines())
}


def _table(summary: Path) -> list[list[str]]:
    """The misclassified table's rows, split into cells (escaped pipes kept whole)."""
    section = summary.read_text("utf-8").split("## Most confidently misclassified")[1]
    lines = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header, *rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    assert header[-1] == "n-grams that pushed it"
    return rows


def _cell(ngrams: list[tuple[str, str, float]]) -> str:
    shown = [
        gram if block.startswith("word") else gram.replace(" ", "\u2423")
        for gram, block, _ in ngrams
    ]
    return ", ".join(f"`{g}` {c:+.3f}" for g, (_, _, c) in zip(shown, ngrams, strict=True))


def _pushing(rows: list[dict], label: str, sign: int) -> list[tuple[str, str, float]]:
    explained = next(e for e in rows[0]["explanations"] if e["label"] == label)
    found = [f for f in explained["features"][:-1] if sign * f["contribution"] > 0]
    found.sort(key=lambda f: -sign * f["contribution"])
    return [(f["feature"], f["block"], f["contribution"]) for f in found[:3]]


@pytest.mark.parametrize("short", ["svc", "nb"])
def test_the_summary_names_the_ngrams_khabar_explain_finds(in_shared_store, short):
    result = in_shared_store.runs[short]
    model = khabar.load_model(result.model_uri)
    rows = _table(Path(result.report_dir) / "summary.md")
    assert rows
    for item, _, gold, predicted, _, cell in rows:
        explained = khabar.explain(model, [TEXTS[item]], top=0).rows
        assert explained[0]["prediction"] == predicted != gold
        expected = _pushing(explained, predicted, 1)
        assert expected and cell == _cell(expected)


def test_out_of_fold_multi_label_mistakes_name_the_label_and_the_final_model(workdir):
    path = write_config(
        workdir,
        name="report-multi",
        task="multi_label",
        data={"label_column": "topics", "test_size": 0},
        evaluation={"cv_folds": 3, "misclassified_examples": 6, "log_model": False},
    )
    result = khabar.train(path)
    summary = Path(result.report_dir) / "summary.md"
    assert "the n-grams are the final model's" in summary.read_text("utf-8")
    config = khabar.load_config(path)
    train, _ = load_train_and_test(config)
    fit = build_fit_set(config, train)
    final = build_pipeline(config).fit(fit.inputs, fit.fit_labels)  # as train fits it
    rows = _table(summary)
    assert rows
    for item, _, gold, predicted, _, cell in rows:
        label, kind = re.match(r"(\w+) \((wrong|missed)\): ", cell).groups()
        assert (label in gold.split(", ")) == (kind == "missed")
        assert (label in predicted.split(", ")) == (kind == "wrong")
        explained = khabar.explain(final, [TEXTS[item]], top=0).rows
        expected = _pushing(explained, label, -1 if kind == "missed" else 1)
        assert cell == f"{label} ({kind}): {_cell(expected)}"
