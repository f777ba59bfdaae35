"""How far two readers agree on realnews-dev's labels, and how khabar compares with both.

    python experiments/reader_agreement.py

The first reader's labels are realnews-dev's own (../shared/data/realnews-dev); the second
reader's are data/second_reader_labels.jsonl (ids and labels only, no text: written for
khabar by a second annotator who followed the same LABELING.md without seeing the first
labels). Prints agreement (accuracy, Cohen's kappa, macro-F1 of one reader against the
other) for stance and primary topic, by the first reader's confidence, and the stance
macro-F1 of khabar's out-of-fold predictions (configs/realnews_stance.yaml, the
5 folds of fold seed 42) against each reader. Skips with a message without ../shared/data.
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

PROJECT = Path(__file__).resolve().parents[1]
DEV = PROJECT.parent / "shared" / "data" / "realnews-dev" / "realnews_dev.jsonl"
SECOND = PROJECT / "data" / "second_reader_labels.jsonl"


def agreement(first: pd.Series, second: pd.Series) -> str:
    return (
        f"accuracy {accuracy_score(first, second):.3f}, kappa {cohen_kappa_score(first, second):.3f}, "
        f"macro-F1 {f1_score(first, second, average='macro'):.3f} (n={len(first)})"
    )


def khabar_out_of_fold() -> np.ndarray:
    """Out-of-fold stance predictions of the committed realnews config on realnews-dev, in
    its file order (khabar's corpus, data.extra_train, in every fold)."""
    config = load_config(PROJECT / "configs" / "realnews_stance.yaml")
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
    return predicted


def main() -> int:
    if not DEV.exists():
        print(f"reader agreement skipped: no reference data at {DEV}")
        return 0
    first = pd.read_json(DEV, lines=True).set_index("id")
    second = pd.read_json(SECOND, lines=True).set_index("id").loc[first.index]
    for field in ("stance", "primary"):
        print(f"{field}: second reader vs first: {agreement(first[field], second[field])}")
        for confidence in ("high", "low"):
            rows = first["confidence"] == confidence
            print(
                f"  first reader {confidence}: {agreement(first[field][rows], second[field][rows])}"
            )
    predicted = khabar_out_of_fold()
    for name, reader in (("first", first), ("second", second)):
        score = f1_score(reader["stance"], predicted, average="macro")
        print(f"khabar stance (out of fold) vs {name} reader: macro-F1 {score:.3f}")
    agreed = (first["stance"] == second["stance"]).to_numpy()
    score = f1_score(first["stance"][agreed], predicted[agreed], average="macro")
    print(f"khabar stance on the {agreed.sum()} items both readers agree on: macro-F1 {score:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
