"""The Python API at the package root, alone: a notebook user's train -> predict -> evaluate
round, and the empty-text behaviour of training and prediction."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

import khabar
from khabar.cli import main
from khabar.errors import KhabarError

from .conftest import NEWS_SMALL, write_config, write_jsonl

ROWS = [json.loads(line) for line in NEWS_SMALL.read_text("utf-8").splitlines()]


def test_train_predict_evaluate_through_the_package_root(workdir):
    config = write_config(workdir)
    trained = khabar.train(config, overrides=["model.params.C=0.3"])
    assert set(trained.as_dict()) == {"run_id", "model_uri", "metrics", "report_dir"}
    run = mlflow.get_run(trained.run_id)
    assert run.data.params["model.params.C"] == "0.3"  # the override reached the run
    assert 0 <= trained.metrics["test_f1_macro"] <= 1

    model = khabar.load_model(trained.model_uri)
    texts = [r["text"] for r in ROWS[:5]]
    from_list = khabar.predict(model, texts)
    assert from_list.rows == 5 and from_list.empty_rows == 0 and from_list.output is None
    assert from_list.predictions["prediction"].tolist() == list(model.predict(texts))

    out = workdir / "predictions.jsonl"
    from_file = khabar.predict(trained.model_uri, NEWS_SMALL, out)
    written = pd.read_json(out, lines=True)
    assert from_file.rows == len(ROWS) == len(written)
    assert written["id"].tolist() == [r["id"] for r in ROWS]

    evaluated = khabar.evaluate(trained.model_uri, NEWS_SMALL, label_column="primary")
    gold = [r["primary"] for r in ROWS]
    accuracy = np.mean([p == g for p, g in zip(written["prediction"], gold, strict=True)])
    assert evaluated.metrics["accuracy"] == pytest.approx(accuracy)
    assert (workdir / evaluated.report_dir / "summary.md").is_file()


def test_a_config_object_with_overrides_and_load_config(workdir):
    config = khabar.load_config(write_config(workdir), ["evaluation.cv_folds=2"])
    assert config.evaluation.cv_folds == 2
    with pytest.raises(KhabarError, match="unknown classifier 'forest'"):
        khabar.load_config(write_config(workdir), ["model.name=forest"])
    result = khabar.train(config, ["model.name=complement_nb", "model.params={}"])
    assert mlflow.get_run(result.run_id).data.params["model.name"] == "complement_nb"


def _with_blank_texts(folder):
    rows = [dict(r) for r in ROWS]
    rows[3]["text"] = "   "
    rows[10]["text"] = None
    return write_jsonl(folder / "blanks.jsonl", rows)


def test_training_refuses_empty_texts_by_default_and_drops_them_when_asked(workdir, capsys):
    path = _with_blank_texts(workdir)
    config = write_config(workdir, data={"train": str(path)})
    with pytest.raises(KhabarError, match=r"blanks.jsonl: line 4: 'text' is empty"):
        khabar.train(config)
    result = khabar.train(config, ["data.empty_texts=drop"])
    out = capsys.readouterr().out
    assert "warning: empty texts: 2 rows" in out and "fx-003, fx-010" in out
    params = mlflow.get_run(result.run_id).data.params
    assert params["data.empty_texts_dropped"] == "2"
    rows = int(params["data.train_rows"]) + int(params["data.test_rows"])
    assert rows == len(ROWS) - 2
    summary = (workdir / result.report_dir / "summary.md").read_text("utf-8")
    assert "empty texts: 2 rows" in summary and "fx-003, fx-010" in summary


@pytest.fixture
def svc_model(in_shared_store):
    return in_shared_store.runs["svc"].model_uri


def test_predict_keeps_a_row_for_each_input_row_and_says_why_some_are_null(
    svc_model, tmp_path, capsys
):
    out = tmp_path / "p.jsonl"
    code = main(["predict", "--model", svc_model, "--input", str(_with_blank_texts(tmp_path)),
                 "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("khabar: warning:") == 1 and f"2 of {len(ROWS)} rows have no text" in err
    written = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [w["id"] for w in written] == [r["id"] for r in ROWS]
    assert written[3]["prediction"] is None and written[3]["reason"] == "empty text"
    assert written[10]["prediction"] is None and written[10]["reason"] == "missing text"
    assert all(w["prediction"] is not None and w["reason"] is None for w in written[:3])
    complete = khabar.predict(svc_model, NEWS_SMALL).predictions
    kept = [i for i in range(len(ROWS)) if i not in (3, 10)]
    assert [written[i]["prediction"] for i in kept] == complete["prediction"].iloc[kept].tolist()


def test_blank_lines_of_a_text_file_separate_and_rows_keep_their_line(svc_model, tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text(f"{ROWS[0]['text'].splitlines()[0]}\n\n  \n{ROWS[1]['text']}\n", "utf-8")
    result = khabar.predict(svc_model, path)
    assert result.predictions["line"].tolist() == [1, 4]
    assert result.empty_rows == 0 and "reason" not in result.predictions


def test_serving_answers_null_for_a_row_without_text(svc_model):
    from khabar.runs.serve import predictions

    model = khabar.load_model(svc_model)
    rows = predictions(model, pd.DataFrame({"text": [ROWS[0]["text"], ""]}))
    json.dumps(rows, allow_nan=False)  # valid JSON: no NaN scores
    assert rows[0]["prediction"] is not None and rows[0]["reason"] is None
    assert rows[1]["prediction"] is None and rows[1]["reason"] == "empty text"
    assert all(value is None for key, value in rows[1].items() if key.startswith("score_"))
