"""Determinism in-process, for every classifier: the same seed gives the same split, the same
CV folds and the same fitted predictions twice in a row; another seed gives another split
(so the seed is really used). The two-process check is in test_processes.py."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from khabar.data.dataset import load_labeled, split_train_test
from khabar.data.fit_set import FitSet
from khabar.model.classifiers import REGISTRY
from khabar.model.pipeline import build_pipeline, class_scores
from khabar.runs.cross_validation import cross_validate
from khabar.runs.guard import load_config

from ..conftest import NEWS_SMALL, write_config

VARIANTS = [(name, "single_label") for name in REGISTRY] + [("sgd", "multi_label")]


@pytest.mark.parametrize(("model", "task"), VARIANTS, ids=[f"{m}-{t}" for m, t in VARIANTS])
def test_cv_and_fit_repeat_exactly(tmp_path, ledger, model, task):
    with ledger.case(
        "determinism",
        f"{model} ({task}): CV and fit twice, same seed",
        "identical fold metrics, predictions and scores",
    ) as case:
        column = "topics" if task == "multi_label" else "primary"
        config = load_config(
            write_config(
                tmp_path,
                task=task,
                data={"label_column": column},
                model={"name": model, "params": {}},
                features={"char": {"analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 2}},
            )
        )
        rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
        X = pd.DataFrame({"text": [r["text"] for r in rows]})
        y = [r[column] for r in rows]
        labels = sorted({label for row in y for label in row} if task == "multi_label" else set(y))

        def once():
            _, folds, _ = cross_validate(
                build_pipeline(config),
                FitSet.plain(X, y),
                labels,
                folds=3,
                seed=config.seed,
                multi_label=task == "multi_label",
            )
            fitted = build_pipeline(config).fit(X, y)
            return folds, fitted.predict(X), class_scores(fitted, X)[0]

        (folds_a, pred_a, scores_a), (folds_b, pred_b, scores_b) = once(), once()
        same = folds_a == folds_b and np.array_equal(pred_a, pred_b)
        same_scores = np.array_equal(scores_a, scores_b)
        case.saw(
            f"{len(folds_a)} folds x {len(folds_a[0])} metrics identical: {folds_a == folds_b}; "
            f"predictions identical: {np.array_equal(pred_a, pred_b)}; scores identical: "
            f"{same_scores}; fold f1_macro {[round(f['f1_macro'], 4) for f in folds_a]}"
        )
        assert same and same_scores


def test_split_follows_the_seed(ledger):
    with ledger.case(
        "determinism",
        "train/test split: same seed twice, then another seed",
        "same seed: same rows; other seed: other rows",
    ) as case:
        data = load_labeled(NEWS_SMALL, "text", "primary")
        first = split_train_test(data, 0.25, seed=11)[1].texts
        again = split_train_test(data, 0.25, seed=11)[1].texts
        other = split_train_test(data, 0.25, seed=12)[1].texts
        case.saw(f"same seed identical: {first == again}; other seed differs: {first != other}")
        assert first == again and first != other
