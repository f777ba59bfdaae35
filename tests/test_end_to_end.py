"""Train -> predict -> evaluate on the small fixture, through the CLI, with a temporary
MLflow store."""

import hashlib
import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from khabar.cli import main

from .conftest import NEWS_SMALL, write_config


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train_json(capsys, config, *overrides) -> dict:
    args = ["train", str(config), "--json"]
    for item in overrides:
        args += ["--set", item]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def new_texts(workdir):
    rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()][::9]
    path = workdir / "new.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n" for r in rows
        ),
        encoding="utf-8",
    )
    return path, rows


def logged_predictions(run_id: str, folder: Path) -> Path:
    """The run's per-item predictions (test.parquet, oof.parquet), downloaded."""
    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="predictions", dst_path=str(folder)
        )
    )


def test_train_predict_evaluate_single_label(workdir, capsys, new_texts):
    config = write_config(workdir)
    result = train_json(capsys, config)
    assert set(result) >= {"run_id", "model_uri", "metrics", "report_dir"}
    assert "cv_f1_macro_mean" in result["metrics"]
    # The logged test F1 is scikit-learn's on the model's own predictions of the test rows.
    import khabar

    fitted = khabar.load_model(result["model_uri"])
    by_id = {
        r["id"]: r for r in map(json.loads, NEWS_SMALL.read_text(encoding="utf-8").splitlines())
    }
    test = pd.read_parquet(logged_predictions(result["run_id"], workdir / "dl") / "test.parquet")
    assert len(test) == 24 and list(test["gold"]) == [by_id[i]["primary"] for i in test["id"]]
    predicted = [str(p) for p in fitted.predict([by_id[i]["text"] for i in test["id"]])]
    assert list(test["prediction"]) == predicted
    classes = ["diplomacy", "migration", "other", "security"]
    expected = f1_score(test["gold"], predicted, labels=classes, average="macro", zero_division=0)
    assert result["metrics"]["test_f1_macro"] == pytest.approx(expected, abs=1e-12)

    report = workdir / result["report_dir"]
    for name in (
        "summary.md",
        "confusion_matrix.png",
        "per_class.png",
        "precision_recall.png",
        "top_ngrams.png",
    ):
        assert (report / name).stat().st_size > 0, name
    summary = (report / "summary.md").read_text(encoding="utf-8")
    assert "Most confidently misclassified" in summary and "f1_macro" in summary

    run = mlflow.get_run(result["run_id"])
    assert run.data.params["model.params.C"] == "0.5"
    assert (
        run.data.params["data.train_sha256"] == hashlib.sha256(NEWS_SMALL.read_bytes()).hexdigest()
    )
    assert run.data.metrics["test_f1_macro"] == pytest.approx(result["metrics"]["test_f1_macro"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result["run_id"], "report")}
    assert "report/top_ngrams.png" in artifacts

    path, rows = new_texts
    for model in (result["model_uri"], f"runs:/{result['run_id']}/model"):
        out = workdir / "pred.jsonl"
        code, _, err = run_cli(
            capsys, "predict", "--model", model, "--input", str(path), "--output", str(out)
        )
        assert code == 0, err
        predictions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        assert [p["id"] for p in predictions] == [r["id"] for r in rows]
        assert {p["prediction"] for p in predictions} <= {
            "security",
            "migration",
            "diplomacy",
            "other",
        }
        assert {k for k in predictions[0] if k.startswith("score_")} == {
            "score_diplomacy",
            "score_migration",
            "score_other",
            "score_security",
        }

    csv_out = workdir / "pred.csv"
    assert (
        run_cli(
            capsys,
            "predict",
            "--model",
            result["model_uri"],
            "--input",
            str(path),
            "--output",
            str(csv_out),
        )[0]
        == 0
    )
    frame = pd.read_csv(csv_out)
    assert len(frame) == len(rows) and list(frame.columns[:2]) == ["id", "prediction"]

    code, out, err = run_cli(
        capsys,
        "evaluate",
        "--model",
        result["model_uri"],
        "--data",
        str(NEWS_SMALL),
        "--label-column",
        "primary",
    )
    assert code == 0, err
    evaluation = json.loads(out.strip().splitlines()[-1])
    # Accuracy over the whole file, recomputed from the model's own predictions.
    everything = list(by_id.values())
    truth = [r["primary"] for r in everything]
    guessed = [str(p) for p in fitted.predict([r["text"] for r in everything])]
    assert evaluation["metrics"]["accuracy"] == pytest.approx(accuracy_score(truth, guessed))
    assert evaluation["metrics"]["accuracy"] > 0.5  # it has seen most of these items
    assert (workdir / evaluation["report_dir"] / "confusion_matrix.png").exists()


def test_multi_label_predictions_are_lists(workdir, capsys, new_texts):
    config = write_config(
        workdir, name="fixture-topics", task="multi_label", data={"label_column": "topics"}
    )
    result = train_json(capsys, config)
    assert {"test_f1_micro", "test_hamming_loss"} <= set(result["metrics"])
    path, rows = new_texts
    out = workdir / "topics.jsonl"
    assert (
        run_cli(
            capsys,
            "predict",
            "--model",
            result["model_uri"],
            "--input",
            str(path),
            "--output",
            str(out),
        )[0]
        == 0
    )
    predictions = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(predictions) == len(rows)
    assert all(isinstance(p["prediction"], list) for p in predictions)
    assert all(set(p["prediction"]) <= {"security", "migration", "diplomacy"} for p in predictions)


def test_txt_input_and_python_api(workdir, capsys):
    import khabar

    result = train_json(
        capsys,
        write_config(workdir),
        "model.name=logistic_regression",
        "model.params={}",
        "model.calibrate=false",
    )
    txt = workdir / "texts.txt"
    txt.write_text(
        "وزير الداخلية يبحث مع نظيره مكافحة الإرهاب\nارتفاع أسعار النفط\n", encoding="utf-8"
    )
    out = workdir / "p.csv"
    assert (
        run_cli(
            capsys,
            "predict",
            "--model",
            result["model_uri"],
            "--input",
            str(txt),
            "--output",
            str(out),
        )[0]
        == 0
    )
    frame = pd.read_csv(out)
    assert len(frame) == 2
    assert frame.filter(like="score_").sum(axis=1).round(4).eq(1.0).all()  # probabilities
    model = khabar.load_model(result["model_uri"])
    assert len(model.predict(["وزير الخارجية يستقبل السفير"])) == 1


def test_user_errors_exit_2_with_one_line(workdir, capsys):
    config = write_config(workdir)
    code, _, err = run_cli(capsys, "train", str(config), "--set", "data.trian=x.jsonl")
    assert code == 2 and err.count("\n") == 1 and "no key 'data.trian'" in err
    code, _, err = run_cli(capsys, "train", str(config), "--set", "data.train=missing.jsonl")
    assert code == 2 and "data file not found: missing.jsonl" in err
    code, _, err = run_cli(
        capsys, "predict", "--model", "no/such/model", "--input", "x.jsonl", "--output", "y.jsonl"
    )
    assert code == 2 and "model not found" in err


def test_extra_training_data_joins_every_fit_but_is_never_scored(workdir, capsys):
    import mlflow

    rows = NEWS_SMALL.read_text(encoding="utf-8").splitlines()
    base, extra = workdir / "base.jsonl", workdir / "extra.jsonl"
    base.write_text("\n".join(rows[:60]) + "\n", encoding="utf-8")
    extra.write_text("\n".join(rows[60:]) + "\n", encoding="utf-8")
    config = write_config(workdir, data={"train": str(base), "test_size": 0.25})
    plain = train_json(capsys, config)
    more = train_json(capsys, config, f"data.extra_train=[{extra}]")
    params = mlflow.get_run(more["run_id"]).data.params
    assert params["data.extra_train_rows"] == str(len(rows) - 60)
    # The same 45 / 15 split of data.train is scored either way; only training grows.
    assert params["data.test_rows"] == "15"
    assert mlflow.get_run(plain["run_id"]).data.params["data.extra_train_rows"] == "0"
    # Scored rows are those of data.train only: the same test and out-of-fold items either
    # way, none of them an extra row.
    extra_ids = {json.loads(line)["id"] for line in rows[60:]}
    for split in ("test", "oof"):
        items = []
        for name, run in (("plain", plain), ("more", more)):
            folder = logged_predictions(run["run_id"], workdir / name)
            items.append(set(pd.read_parquet(folder / f"{split}.parquet")["id"]))
        assert items[0] == items[1] and not items[1] & extra_ids
    assert len(items[1]) == 45  # oof: every training row of data.train, once
    code, _, err = run_cli(capsys, "train", str(config), "--set", "data.extra_train=[nope.jsonl]")
    assert code == 2 and "data.extra_train[0]: data file not found" in err


def test_extra_training_file_with_its_own_columns_and_label_names(workdir, capsys):
    """Another dataset's schema (text under `body`, labels under `tone` in its own words)
    joins training through a label map; labels the map or training lacks are refused."""
    rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
    names = {"security": "SEC", "migration": "MIG", "diplomacy": "DIP", "other": "OTH"}
    extra = workdir / "other_schema.jsonl"
    extra.write_text(
        "".join(
            json.dumps({"body": r["text"], "tone": names[r["primary"]]}, ensure_ascii=False) + "\n"
            for r in rows[60:]
        ),
        encoding="utf-8",
    )
    base = workdir / "base.jsonl"
    base.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[:60]), "utf-8")
    config = write_config(workdir, data={"train": str(base), "test_size": 0.25})
    mapping = {value: key for key, value in names.items()}
    entry = {"path": str(extra), "text_column": "body", "label_column": "tone", "labels": mapping}
    result = train_json(capsys, config, f"data.extra_train={json.dumps([entry])}")
    run = mlflow.get_run(result["run_id"])
    assert run.data.params["data.extra_train_rows"] == str(len(rows) - 60)
    import khabar

    # The file's labels became the config's: the model knows exactly the four classes.
    assert set(khabar.load_model(result["model_uri"]).classes_) == set(names)
    runs_before = len(mlflow.search_runs(search_all_experiments=True))

    forgetful = {**entry, "labels": {k: v for k, v in mapping.items() if k != "OTH"}}
    code, _, err = run_cli(
        capsys, "train", str(config), "--set", f"data.extra_train={json.dumps([forgetful])}"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(extra) in err and "line " in err and "'OTH'" in err
    assert "data.extra_train[0].labels" in err

    typo = {**entry, "labels": {**mapping, "OTH": "others"}}
    code, _, err = run_cli(
        capsys, "train", str(config), "--set", f"data.extra_train={json.dumps([typo])}"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    line = next(i for i, r in enumerate(rows[60:], 1) if r["primary"] == "other")
    mapped = "label 'others' (mapped from 'OTH' by data.extra_train[0].labels)"
    assert f"{extra}: line {line}: {mapped}" in err
    assert "never occurs in training data" in err
    # Refused before any run opened.
    assert len(mlflow.search_runs(search_all_experiments=True)) == runs_before


def test_extra_training_csv_is_checked_like_the_training_data(tmp_path):
    """A CSV extra file with its own text column: blank auxiliary labels and blank model
    inputs are refused with the file and row, as for data.train."""
    from khabar.data.dataset import load_labeled
    from khabar.data.fit_set import load_extra_train
    from khabar.errors import KhabarError
    from khabar.runs.guard import load_config

    extra = tmp_path / "extra.csv"
    pd.DataFrame(
        {"body": ["خبر اول", "خبر ثان"], "primary": ["security", "other"], "tone": ["a", ""]}
    ).to_csv(extra, index=False)
    entry = {"path": str(extra), "text_column": "body"}
    config = load_config(
        write_config(tmp_path),
        [f"data.extra_train={json.dumps([entry])}", "data.auxiliary_label_column=tone"],
    )
    train = load_labeled(NEWS_SMALL, "text", "primary")
    with pytest.raises(KhabarError, match=r"extra.csv: row 2: .*tone"):
        load_extra_train(config, train)
    pd.DataFrame({"body": ["خبر اول"], "primary": ["security"], "tone": ["a"]}).to_csv(
        extra, index=False
    )
    (part,) = load_extra_train(config, train)
    assert list(part.frame["text"]) == ["خبر اول"] and part.labels == ["security"]
