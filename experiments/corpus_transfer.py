"""How well do models trained on khabar's own corpus carry over to real news?

Trains each default config (configs/topic.yaml, topics_multilabel.yaml, stance.yaml) on the
whole corpus in data/ and scores it on ../shared/data/realnews-dev (600 real, labeled
news items). Beside it: 5-fold CV on realnews-dev itself with the same config, and the
plain reference (char_wb 2-5 TF-IDF + LinearSVC, no normalization) by the same CV.

    python experiments/corpus_transfer.py

Prints a table and writes docs/results/corpus_transfer.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from khabar.data.dataset import LabeledData, load_labeled
from khabar.data.fit_set import FitSet
from khabar.model.pipeline import build_pipeline, predict_labels
from khabar.record.metrics import compute_metrics
from khabar.runs.cross_validation import cross_validate
from khabar.runs.guard import load_config

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
REALNEWS = PROJECT.parent / "shared" / "data" / "realnews-dev" / "realnews_dev.jsonl"
CORPUS = [PROJECT / "data" / "khabar_news_train.jsonl", PROJECT / "data" / "khabar_news_test.jsonl"]
TASKS = [  # (config, label column, headline metric)
    ("configs/topic.yaml", "primary", "f1_macro"),
    ("configs/topics_multilabel.yaml", "topics", "f1_micro"),
    ("configs/stance.yaml", "stance", "f1_macro"),
]
SEED = 42


def plain_reference():
    return make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        LinearSVC(C=0.5, class_weight="balanced"),
    )


def load_corpus(label: str, multi: bool) -> LabeledData:
    parts = [load_labeled(p, "text", label, multi_label=multi) for p in CORPUS]
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    return LabeledData(
        "data/khabar_news_*.jsonl",
        frame,
        [t for p in parts for t in p.texts],
        [y for p in parts for y in p.labels],
    )


def markdown_table(table: pd.DataFrame) -> str:
    def cell(value) -> str:
        if isinstance(value, float):
            return "—" if pd.isna(value) else f"{value:.3f}"  # — : not measured (multi-label)
        return f"`{value}`" if str(value).startswith("configs/") else str(value)

    cells = [[cell(v) for v in row] for row in table.values]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main(argv: list[str] | None = None) -> int:
    if not REALNEWS.is_file():
        print(
            f"skipped: reference data not found at {REALNEWS} (needs ../shared/data beside the project)"
        )
        return 0
    started = start()
    rows = []
    for config_path, label, headline in TASKS:
        config = load_config(PROJECT / config_path)
        multi = config.task == "multi_label"
        corpus = load_corpus(label, multi)
        real = load_labeled(REALNEWS, "text", label, multi_label=multi)
        labels = sorted({x for y in corpus.labels for x in (y if multi else [y])})
        text_column = config.data.text_column

        model = build_pipeline(config).fit(corpus.frame[[text_column]], corpus.labels)
        transfer = compute_metrics(
            real.labels, predict_labels(model, real.frame[[text_column]]), labels, multi_label=multi
        )
        cv, _, _ = cross_validate(
            build_pipeline(config),
            FitSet.plain(real.frame[[text_column]], real.labels),
            labels,
            folds=5,
            seed=SEED,
            multi_label=multi,
        )
        row = {
            "task": f"{label} ({headline})",
            "config": config_path,
            "corpus -> realnews": transfer[headline],
            "CV on realnews (same config)": cv[f"cv_{headline}_mean"],
        }
        if not multi:
            reference, _, _ = cross_validate(
                plain_reference(),
                FitSet.plain(real.frame["text"], real.labels),
                labels,
                folds=5,
                seed=SEED,
            )
            row["CV on realnews (plain reference)"] = reference[f"cv_{headline}_mean"]
        rows.append(row)
        print(row, flush=True)

    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    page = write_results_page(
        "corpus_transfer",
        "Corpus transfer: trained on data/, scored on realnews-dev",
        command_line(__file__, argv),
        [
            (
                None,
                markdown_table(table)
                + "\n\nEach default config trained on the whole corpus and scored on "
                "realnews-dev (*corpus -> realnews*); beside it, 5-fold CV on realnews-dev "
                "itself with the same config and with the plain reference (char_wb 2-5 "
                "TF-IDF + LinearSVC C=0.5, no normalization). Headline metric in brackets.",
            )
        ],
        started,
        measures=(
            "How well models trained on khabar's own corpus (data/) carry over to real news: "
            "realnews-dev's 600 labeled items, against models trained on real news by CV."
        ),
        notes=[
            f"Data: corpus {len(corpus.texts)} items (train + test); realnews-dev "
            f"{len(real.texts)} items; CV 5-fold, seed {SEED}"
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
