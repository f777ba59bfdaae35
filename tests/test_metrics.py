import pytest

from khabar.data.config import GroupedMetricConfig
from khabar.data.fit_set import FitSet
from khabar.errors import KhabarError
from khabar.record.metrics import compute_metrics, grouped_f1
from khabar.runs.cross_validation import choose_folds


def test_single_label_metrics_by_hand():
    metrics = compute_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert metrics["accuracy"] == 0.75
    assert metrics["precision_a"] == 1.0 and metrics["recall_a"] == 0.5
    assert metrics["f1_b"] == pytest.approx(0.8)
    assert metrics["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_multi_label_metrics_by_hand():
    truth = [["security"], ["security", "migration"], []]
    pred = [["security"], ["security"], ["diplomacy"]]
    metrics = compute_metrics(truth, pred, ["diplomacy", "migration", "security"], multi_label=True)
    # 2 true positives, 1 false positive, 1 false negative -> micro F1 = 4 / 6
    assert metrics["f1_micro"] == pytest.approx(4 / 6)
    assert metrics["hamming_loss"] == pytest.approx(2 / 9)
    assert metrics["subset_accuracy"] == pytest.approx(1 / 3)


def test_grouped_f1_is_stanceeval_metric():
    # Per target: macro-F1 over Favor and Against only ("None" is ignored), then averaged.
    truth = ["Favor", "Against", "None", "Favor", "Favor"]
    pred = ["Favor", "Favor", "None", "Favor", "Against"]
    groups = ["t1", "t1", "t1", "t2", "t2"]
    t1 = (2 / 3 + 0.0) / 2  # Favor: p=1/2, r=1 -> 2/3; Against: 0
    t2 = (2 / 3 + 0.0) / 2  # Favor: p=1, r=1/2 -> 2/3; Against: no gold, one false -> 0
    assert grouped_f1(truth, pred, groups, ["Favor", "Against"]) == pytest.approx((t1 + t2) / 2)
    spec = GroupedMetricConfig(group_column="target", labels=["Favor", "Against"])
    metrics = compute_metrics(
        truth, pred, ["Against", "Favor", "None"], groups=groups, grouped=spec
    )
    assert metrics["f1_grouped"] == pytest.approx((t1 + t2) / 2)


def test_fold_reduction_and_single_class():
    assert choose_folds(["a"] * 10 + ["b"] * 10, 5, False) == (5, None)
    folds, note = choose_folds(["a"] * 10 + ["b"] * 3, 5, False)
    assert folds == 3 and "reduced from 5 to 3" in note
    with pytest.raises(KhabarError, match="single class"):
        choose_folds(["a"] * 10, 5, False)
    with pytest.raises(KhabarError, match="only 1 training example"):
        choose_folds(["a"] * 10 + ["b"], 5, False)


def test_repeated_cv_runs_each_fold_seed_and_summarizes_all_folds(tmp_path):
    import json

    import numpy as np
    import pandas as pd

    from khabar.model.pipeline import build_pipeline
    from khabar.runs.cross_validation import cross_validate
    from khabar.runs.guard import load_config

    from .conftest import NEWS_SMALL, write_config

    config = load_config(write_config(tmp_path))
    rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
    X = pd.DataFrame({"text": [r["text"] for r in rows]})
    y = [r["primary"] for r in rows]

    def cv(seed, repeats=1):
        return cross_validate(
            build_pipeline(config),
            FitSet.plain(X, y),
            sorted(set(y)),
            folds=3,
            seed=seed,
            repeats=repeats,
        )

    summary, folds, _ = cv(7, repeats=2)
    (_, first, _), (_, second, _) = cv(7), cv(8)
    assert folds == first + second  # repeat r uses fold seed seed + r
    scores = [fold["f1_macro"] for fold in folds]
    assert summary["cv_f1_macro_mean"] == pytest.approx(np.mean(scores))
    assert summary["cv_f1_macro_std"] == pytest.approx(np.std(scores))
    assert first != second  # the repeats really differ
