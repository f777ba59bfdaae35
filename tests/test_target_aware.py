"""Target-aware features: per-target copies of the text features, and a model that reads the
target column from its input file at predict time."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from khabar.cli import main
from khabar.model.target_aware import TargetAwareFeatures

from .conftest import write_config, write_jsonl


def _frame(texts, targets):
    return pd.DataFrame({"text": texts, "target": targets})


def test_blocks_are_zero_outside_their_target():
    step = TargetAwareFeatures(TfidfVectorizer(), target_column="target")
    frame = _frame(["جيد جدا", "سيئ جدا", "جيد"], ["A", "B", "A"])
    matrix = step.fit(frame).transform(frame).toarray()
    width = len(step.features_.get_feature_names_out())
    assert matrix.shape == (3, 3 * width + 2)  # shared, block A, block B, one-hot of A and B
    shared, block_a, block_b = (matrix[:, k * width : (k + 1) * width] for k in range(3))
    np.testing.assert_allclose(block_a, shared * np.array([[1], [0], [1]]))
    np.testing.assert_allclose(block_b, shared * np.array([[0], [1], [0]]))
    np.testing.assert_array_equal(matrix[:, -2:], [[1, 0], [0, 1], [1, 0]])
    names = step.get_feature_names_out()
    assert len(names) == matrix.shape[1] and names[-1] == "target__B"


def test_unseen_target_keeps_only_shared_features():
    step = TargetAwareFeatures(TfidfVectorizer()).fit(_frame(["جيد", "سيئ"], ["A", "B"]))
    row = step.transform(_frame(["جيد"], ["C"])).toarray()[0]
    width = len(step.features_.get_feature_names_out())
    assert row[:width].sum() > 0 and row[width:].sum() == 0


def test_missing_target_column_is_named():
    step = TargetAwareFeatures(TfidfVectorizer(), target_column="target")
    with pytest.raises(ValueError, match="'target'"):
        step.fit(pd.DataFrame({"text": ["جيد"]}))


def test_same_word_opposite_stance_per_target_is_learned():
    # "مؤيد" means Favor for target A and Against for target B: only per-target
    # weights can get both right.
    texts = ["نحن مؤيد تماما", "نحن رافض تماما"] * 20
    targets = ["A"] * 20 + ["B"] * 20
    labels = ["Favor" if (i % 2 == 0) == (i < 20) else "Against" for i in range(40)]
    frame = _frame(texts, targets)
    aware = TargetAwareFeatures(TfidfVectorizer())
    aware_model = LinearSVC().fit(aware.fit_transform(frame), labels)
    assert list(aware_model.predict(aware.transform(frame))) == labels
    plain = TfidfVectorizer()
    plain_model = LinearSVC().fit(plain.fit_transform(texts), labels)
    assert (plain_model.predict(plain.transform(texts)) == labels).mean() <= 0.5


def _stance_rows(n):
    words = {"Favor": ["ممتاز", "رائع", "ندعم"], "Against": ["سيئ", "نرفض", "فاشل"]}
    rows = []
    for i in range(n):
        stance = ["Favor", "Against"][i % 2]
        target = ["لقاح", "تمكين"][(i // 2) % 2]
        text = f"{words[stance][i % 3]} {words[stance][(i + 1) % 3]} بشأن {target} رقم {i}"
        rows.append({"id": f"r{i}", "text": text, "target": target, "stance": stance})
    return rows


def test_train_and_predict_read_the_target_column(workdir, capsys):
    data = write_jsonl(workdir / "stance.jsonl", _stance_rows(60))
    config = write_config(
        workdir,
        name="fixture-stance",
        data={"train": str(data), "label_column": "stance"},
        features={
            "char": {"analyzer": "char_wb", "ngram_range": [2, 4], "min_df": 1},
            "target_column": "target",
        },
        evaluation={
            "cv_folds": 3,
            "grouped_metric": {
                "name": "stance_eval_f1",
                "group_column": "target",
                "labels": ["Favor", "Against"],
            },
        },
    )
    assert main(["train", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["metrics"]["test_stance_eval_f1"] > 0.8

    new = write_jsonl(workdir / "new.jsonl", _stance_rows(8))
    out = workdir / "pred.jsonl"
    model = result["model_uri"]
    assert main(["predict", "--model", model, "--input", str(new), "--output", str(out)]) == 0
    predictions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [p["id"] for p in predictions] == [f"r{i}" for i in range(8)]

    rows = [{k: v for k, v in row.items() if k != "target"} for row in _stance_rows(4)]
    no_target = write_jsonl(workdir / "no_target.jsonl", rows)
    capsys.readouterr()
    code = main(["predict", "--model", model, "--input", str(no_target), "--output", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "missing column 'target'" in err and err.count("\n") == 1
