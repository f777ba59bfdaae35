"""Learning a main label jointly with an auxiliary one (Mawqif: stance x sentiment)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

from khabar.cli import main
from khabar.data.config import ExperimentConfig
from khabar.data.fit_set import JOINT_SEPARATOR, joint_labels, main_label
from khabar.model.decision import ExcludeFromPredictions, JointLabelClassifier
from khabar.record.model_files import load_skops, save_skops

from .conftest import write_config, write_jsonl


def _two_faced_classes():
    """Main class A sits at (3, 0) and (-3, 0), B at (0, 3) and (0, -3): no line separates A
    from B, but each (main, auxiliary) sub-class lies in its own direction."""
    rng = np.random.default_rng(0)
    centers = {("A", "east"): (3, 0), ("A", "west"): (-3, 0), ("B", "north"): (0, 3)}
    centers[("B", "south")] = (0, -3)
    keys = [key for key in centers for _ in range(40)]
    X = np.vstack([rng.normal(centers[key], 0.6) for key in keys])
    main = [m for m, _ in keys]
    auxiliary = [a for _, a in keys]
    return X, np.asarray(main), joint_labels(main, auxiliary)


def test_sub_classes_separate_what_the_main_labels_cannot():
    X, main, joint = _two_faced_classes()
    plain = LinearSVC(random_state=0).fit(X, main)
    assert (plain.predict(X) == main).mean() < 0.7
    model = JointLabelClassifier(LinearSVC(random_state=0)).fit(X, joint)
    assert list(model.classes_) == ["A", "B"]
    assert (model.predict(X) == main).mean() > 0.95
    # each main class scores the best of its sub-classes
    inner = model.estimator_.decision_function(X)
    columns = [str(c) for c in model.estimator_.classes_]
    best_a = inner[:, [i for i, c in enumerate(columns) if main_label(c) == "A"]].max(axis=1)
    np.testing.assert_allclose(model.decision_function(X)[:, 0], best_a)
    assert model.coef_.shape == (2, 2)


def test_probabilities_are_summed_over_sub_classes():
    X, main, joint = _two_faced_classes()
    model = JointLabelClassifier(LogisticRegression()).fit(X, joint)
    proba = model.predict_proba(X)
    # By hand: each main class's probability is the sum of its sub-classes' columns,
    # found from the inner model's joint class names.
    inner = model.estimator_.predict_proba(X)
    names = [str(c) for c in model.estimator_.classes_]
    assert sorted(names) == sorted(set(joint))
    expected = np.column_stack(
        [inner[:, [i for i, c in enumerate(names) if main_label(c) == m]].sum(axis=1) for m in "AB"]
    )
    assert list(model.classes_) == ["A", "B"]
    np.testing.assert_allclose(proba, expected)
    assert (proba.argmax(axis=1) == (main == "B")).mean() > 0.95


def test_works_under_exclude_from_predictions_and_survives_skops(tmp_path):
    X, main, joint = _two_faced_classes()
    model = ExcludeFromPredictions(JointLabelClassifier(LinearSVC(random_state=0)), ("B",))
    model.fit(X, joint)
    assert set(model.predict(X)) == {"A"}
    from sklearn.pipeline import Pipeline

    path = tmp_path / "model.skops"
    save_skops(Pipeline([("classifier", model)]), path)
    np.testing.assert_array_equal(load_skops(path).predict(X), model.predict(X))


def test_plain_labels_and_the_separator_are_refused():
    X, main, _ = _two_faced_classes()
    with pytest.raises(ValueError, match="needs joint labels"):
        JointLabelClassifier(LinearSVC()).fit(X, main)
    with pytest.raises(ValueError, match="U\\+001F"):
        joint_labels([f"a{JOINT_SEPARATOR}b"], ["x"])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "multi_label"}, "single_label tasks only"),
        (
            {
                "data": {
                    "train": "x.csv",
                    "label_column": "stance",
                    "auxiliary_label_column": "stance",
                }
            },
            "must differ",
        ),
    ],
)
def test_config_refuses_what_cannot_work(changes, message):
    raw = {
        "name": "n",
        "experiment": "e",
        "data": {"train": "x.csv", "label_column": "stance", "auxiliary_label_column": "sentiment"},
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.model_validate(raw)


def _rows(n):
    words = {
        ("Favor", "Positive"): "ممتاز رائع",
        ("Favor", "Neutral"): "ندعم القرار",
        ("Against", "Negative"): "سيئ فاشل",
        ("Against", "Neutral"): "نرفض القرار",
    }
    keys = list(words)
    return [
        {
            "id": f"r{i}",
            "text": f"{words[keys[i % 4]]} رقم {i}",
            "stance": keys[i % 4][0],
            "sentiment": keys[i % 4][1],
        }
        for i in range(n)
    ]


def test_train_learns_joint_classes_and_predict_needs_no_auxiliary_column(workdir, capsys):
    data = write_jsonl(workdir / "stance.jsonl", _rows(48))
    config = write_config(
        workdir,
        name="fixture-joint",
        data={"train": str(data), "label_column": "stance", "auxiliary_label_column": "sentiment"},
    )
    assert main(["train", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert metrics["cv_f1_macro_mean"] > 0.9 and metrics["test_f1_macro"] > 0.9
    assert not any("Positive" in key or "Neutral" in key for key in metrics)  # scored on stance

    model = mlflow.sklearn.load_model(result["model_uri"])
    inner = model[-1].estimator_
    assert {main_label(c) for c in inner.classes_} == {"Favor", "Against"}
    assert len(inner.classes_) == 4  # learned stance x sentiment
    new = write_jsonl(workdir / "new.jsonl", [{"id": r["id"], "text": r["text"]} for r in _rows(8)])
    out = workdir / "pred.jsonl"
    assert (
        main(["predict", "--model", result["model_uri"], "--input", str(new), "--output", str(out)])
        == 0
    )
    predicted = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {p["prediction"] for p in predicted} <= {"Favor", "Against"}
    assert {k for k in predicted[0] if k.startswith("score_")} == {"score_Favor", "score_Against"}
    # evaluating on a labeled file scores stance; the sentiment column is simply not read
    labeled = write_jsonl(workdir / "labeled.jsonl", _rows(12))
    capsys.readouterr()
    code = main(
        [
            "evaluate",
            "--model",
            result["model_uri"],
            "--data",
            str(labeled),
            "--label-column",
            "stance",
        ]
    )
    assert code == 0
    evaluation = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["metrics"]
    rows = _rows(12)
    stance = [r["stance"] for r in rows]
    guessed = [str(p) for p in model.predict(pd.DataFrame({"text": [r["text"] for r in rows]}))]
    assert evaluation["f1_macro"] == pytest.approx(f1_score(stance, guessed, average="macro"))
    assert evaluation["accuracy"] == pytest.approx(accuracy_score(stance, guessed))
    assert {"f1_Favor", "f1_Against"} <= set(evaluation)
    assert not any("Positive" in key or "Neutral" in key for key in evaluation)


def test_blank_auxiliary_label_is_a_one_line_error_before_any_run(workdir, capsys):
    rows = _rows(24)
    rows[5]["sentiment"] = " "
    data = write_jsonl(workdir / "stance.jsonl", rows)
    config = write_config(
        workdir,
        name="fixture-joint-bad",
        data={"train": str(data), "label_column": "stance", "auxiliary_label_column": "sentiment"},
    )
    code = main(["train", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "stance.jsonl" in err and "'sentiment' is empty" in err and "6" in err
    assert not (workdir / "mlflow.db").exists()  # failed before the store was opened
