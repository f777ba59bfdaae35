"""How far two readers agree on realnews-dev's labels, and how khabar compares with both.

    python experiments/reader_agreement.py

The first reader's labels are realnews-dev's own (../shared/data/realnews-dev); the second
reader's are data/second_reader_labels.jsonl (ids and labels only, no text: written for
khabar by a second annotator who followed the same LABELING.md without seeing the first
labels). Prints agreement (accuracy, Cohen's kappa, macro-F1 of one reader against the
other) for stance and primary topic, by the first reader's confidence, and the stance
macro-F1 of khabar's out-of-fold predictions (configs/realnews_stance.yaml, the
5 folds of fold seed 42) against each reader. Skips with a message without ../shared/data.
Writes docs/results/reader_agreement.md (figures only: ids, labels and texts stay out).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score  # noqa: E402

from khabar.data.fit_set import build_fit_set, load_train_and_test  # noqa: E402
from khabar.model.pipeline import build_pipeline  # noqa: E402
from khabar.runs.cross_validation import cv_splits  # noqa: E402
from khabar.runs.guard import load_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
DEV = PROJECT.parent / "shared" / "data" / "realnews-dev" / "realnews_dev.jsonl"
SECOND = PROJECT / "data" / "second_reader_labels.jsonl"


def agreement(first: pd.Series, second: pd.Series) -> dict:
    return {
        "accuracy": accuracy_score(first, second),
        "kappa": cohen_kappa_score(first, second),
        "macro_f1": f1_score(first, second, average="macro"),
        "n": len(first),
    }


def described(figures: dict) -> str:
    return (
        f"accuracy {figures['accuracy']:.3f}, kappa {figures['kappa']:.3f}, "
        f"macro-F1 {figures['macro_f1']:.3f} (n={figures['n']})"
    )


def khabar_out_of_fold() -> tuple[np.ndarray, int]:
    """Out-of-fold stance predictions of the committed realnews config on realnews-dev, in
    its file order (khabar's corpus, data.extra_train, in every fold), and the fold seed."""
    # realnews-dev alone: the readers compared here labeled its 600 items
    config = load_config(PROJECT / "configs" / "realnews_stance.yaml", [f"data.train={DEV}"])
    train, _ = load_train_and_test(config)
    fit = build_fit_set(config, train)
    predicted = np.empty(len(train.labels), dtype=object)
    for train_rows, test_rows in cv_splits(
        fit.inputs, fit.labels, folds=5, seed=config.seed, multi_label=False,
        always_train=fit.extra_rows,
    ):  # fmt: skip
        model = clone(build_pipeline(config))
        model.fit(fit.inputs.iloc[train_rows], [fit.fit_labels[i] for i in train_rows])
        predicted[test_rows] = model.predict(fit.inputs.iloc[test_rows])
    return predicted, config.seed


def main(argv: list[str] | None = None) -> int:
    if not DEV.exists():
        print(f"reader agreement skipped: no reference data at {DEV}")
        return 0
    started = start()
    first = pd.read_json(DEV, lines=True).set_index("id")
    second = pd.read_json(SECOND, lines=True).set_index("id").loc[first.index]
    readers = []  # (field, subset, figures)
    for field in ("stance", "primary"):
        figures = agreement(first[field], second[field])
        readers.append((field, "all items", figures))
        print(f"{field}: second reader vs first: {described(figures)}")
        for confidence in ("high", "low"):
            rows = first["confidence"] == confidence
            figures = agreement(first[field][rows], second[field][rows])
            readers.append((field, f"first reader `{confidence}`", figures))
            print(f"  first reader {confidence}: {described(figures)}")
    predicted, seed = khabar_out_of_fold()
    khabar = []  # (against, items, macro-F1)
    for name, reader in (("first", first), ("second", second)):
        score = f1_score(reader["stance"], predicted, average="macro")
        khabar.append((f"{name} reader", len(predicted), score))
        print(f"khabar stance (out of fold) vs {name} reader: macro-F1 {score:.3f}")
    agreed = (first["stance"] == second["stance"]).to_numpy()
    score = f1_score(first["stance"][agreed], predicted[agreed], average="macro")
    khabar.append(("the items both readers agree on", int(agreed.sum()), score))
    print(f"khabar stance on the {agreed.sum()} items both readers agree on: macro-F1 {score:.3f}")
    page = write_results_page(
        "reader_agreement",
        "Reader agreement on realnews-dev, and khabar against both readers",
        command_line(__file__, argv),
        [
            (
                "Second reader against the first",
                markdown_table(
                    ["label", "items", "n", "accuracy", "Cohen's kappa", "macro-F1"],
                    [
                        (
                            field,
                            subset,
                            f["n"],
                            f"{f['accuracy']:.3f}",
                            f"{f['kappa']:.3f}",
                            f"{f['macro_f1']:.3f}",
                        )
                        for field, subset, f in readers
                    ],
                ),
            ),
            (
                "khabar's out-of-fold stance predictions",
                "`configs/realnews_stance.yaml` (khabar's corpus in every training fold), the "
                f"5 folds of fold seed {seed}, scored against:\n\n"
                + markdown_table(
                    ["against", "items", "macro-F1"],
                    [(against, n, f"{value:.3f}") for against, n, value in khabar],
                ),
            ),
        ],
        started,
        measures=(
            "How far a second reader agrees with realnews-dev's labels (stance and primary "
            "topic, by the first reader's confidence), and the stance macro-F1 of khabar's "
            "out-of-fold predictions against each reader."
        ),
        notes=[
            f"Data: realnews-dev ({len(first)} items, first reader) and "
            f"`{shown(SECOND)}` (second reader)"
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
