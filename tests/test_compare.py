"""Per-item predictions kept by runs, intervals in reports, and `khabar compare`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from khabar.cli import main
from khabar.record.metrics import compute_metrics

from .conftest import NEWS_SMALL, write_config, write_jsonl

FAST = {"cv_folds": 3, "misclassified_examples": 5, "log_model": False}


def _train(workdir: Path, capsys, **sections) -> dict:
    sections.setdefault("evaluation", FAST)
    config = write_config(workdir, **sections)
    assert main(["train", str(config), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _predictions(run_id: str, folder: Path) -> Path:
    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="predictions", dst_path=str(folder)
        )
    )


def _json_tail(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def two_runs(workdir, capsys) -> tuple[dict, dict]:
    """A linear SVC and a complement NB trained on the same split of the fixture."""
    svc = _train(workdir, capsys, name="svc")
    nb = _train(workdir, capsys, name="nb", model={"name": "complement_nb", "params": {}})
    return svc, nb


def test_a_run_keeps_the_items_it_scored_and_their_intervals(workdir, capsys):
    result = _train(workdir, capsys, evaluation={**FAST, "cv_repeats": 2})
    metrics = result["metrics"]
    folder = _predictions(result["run_id"], workdir / "downloaded")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    test = pd.read_parquet(folder / "test.parquet")
    oof = pd.read_parquet(folder / "oof.parquet")
    labels = manifest["labels"]
    assert manifest["headline_metric"] == "f1_macro" and manifest["task"] == "single_label"
    # The test table holds the scored predictions: its metric is the logged one.
    assert len(test) == 24 == manifest["splits"]["test"]["n_items"]
    logged = compute_metrics(test["gold"], test["prediction"], labels)["f1_macro"]
    assert logged == pytest.approx(metrics["test_f1_macro"], abs=1e-12)
    assert list(test.columns[:3]) == ["id", "gold", "prediction"]
    assert [f"score_{label}" for label in labels] == [c for c in test if c.startswith("score_")]
    digest = hashlib.sha256("\n".join(test["item_sha256"]).encode()).hexdigest()
    assert manifest["splits"]["test"]["items_sha256"] == digest
    # Out of fold: every training item once per repeat, and the folds are the CV's own.
    assert len(oof) == 2 * 72 and sorted(oof["repeat"].unique()) == [0, 1]
    assert (oof.groupby("repeat")["id"].nunique() == 72).all()
    per_fold = [
        compute_metrics(part["gold"], part["prediction"], labels)["f1_macro"]
        for _, part in oof.groupby(["repeat", "fold"])
    ]
    assert np.mean(per_fold) == pytest.approx(metrics["cv_f1_macro_mean"], abs=1e-12)
    pooled = compute_metrics(oof["gold"], oof["prediction"], labels)["f1_macro"]
    assert pooled == pytest.approx(metrics["cv_f1_macro_pooled"], abs=1e-12)
    for prefix in ("test", "cv"):
        low, high = metrics[f"{prefix}_f1_macro_ci_low"], metrics[f"{prefix}_f1_macro_ci_high"]
        value = metrics["test_f1_macro" if prefix == "test" else "cv_f1_macro_pooled"]
        assert low < value < high and high - low < 0.5
    summary = (workdir / result["report_dir"] / "summary.md").read_text(encoding="utf-8")
    value, low, high = (metrics[f"test_f1_macro{s}"] for s in ("", "_ci_low", "_ci_high"))
    assert f"| f1_macro | {value:.3f} [{low:.3f}, {high:.3f}] |" in summary


def test_a_run_without_test_set_logs_out_of_fold_intervals(workdir, capsys):
    result = _train(workdir, capsys, data={"test_size": 0})
    metrics = result["metrics"]
    assert (
        metrics["oof_f1_macro_ci_low"] < metrics["oof_f1_macro"] < metrics["oof_f1_macro_ci_high"]
    )
    # One repeat: the out-of-fold score is the pooled CV predictions.
    assert metrics["oof_f1_macro"] == pytest.approx(metrics["cv_f1_macro_pooled"], abs=1e-12)
    folder = _predictions(result["run_id"], workdir / "downloaded")
    assert not (folder / "test.parquet").exists() and (folder / "oof.parquet").exists()


def test_compare_two_runs(two_runs, workdir, capsys):
    svc, nb = two_runs
    before = mlflow.get_run(svc["run_id"]).data.metrics
    assert main(["compare", svc["run_id"], nb["run_id"], "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    for key in (
        "metric",
        "a",
        "b",
        "delta",
        "ci_low",
        "ci_high",
        "p_value",
        "n_items",
        "per_class",
    ):
        assert key in result
    assert result["metric"] == "f1_macro" and result["n_items"] == 24
    assert result["a"] == pytest.approx(svc["metrics"]["test_f1_macro"], abs=1e-12)
    assert result["b"] == pytest.approx(nb["metrics"]["test_f1_macro"], abs=1e-12)
    assert result["delta"] == pytest.approx(result["b"] - result["a"], abs=1e-12)
    assert result["ci_low"] <= result["delta"] <= result["ci_high"]
    assert 0 < result["p_value"] <= 1 and "verdict:" in out and "McNemar" in out
    assert set(result["per_class"]) == {"f1_diplomacy", "f1_migration", "f1_other", "f1_security"}
    for row in result["per_class"].values():
        assert row["p_holm"] >= row["p_value"]
    report = workdir / result["report_dir"]
    assert (report / "compare.md").is_file() and (report / "forest.png").stat().st_size > 1000
    assert mlflow.get_run(svc["run_id"]).data.metrics == before  # neither run changes


def test_compare_a_run_with_itself_finds_no_difference(two_runs, capsys):
    svc, _ = two_runs
    assert main(["compare", svc["run_id"], svc["run_id"], "--split", "oof", "--json"]) == 0
    result = _json_tail(capsys)
    assert result["split"] == "oof" and result["n_items"] == 72
    assert result["delta"] == 0 and result["p_value"] == 1 and result["mcnemar"]["p_value"] == 1
    assert result["verdict"].startswith("no significant difference")


def test_compare_refuses_runs_scored_on_different_items(two_runs, workdir, capsys):
    svc, _ = two_runs
    other = _train(workdir, capsys, name="other-seed", seed=8)  # another test split
    assert main(["compare", svc["run_id"], other["run_id"]]) == 2
    err = capsys.readouterr().err
    assert "scored different items:" in err and "of 24 items differ" in err
    assert len(err.strip().splitlines()) == 1


def test_compare_refuses_different_label_sets(two_runs, workdir, capsys):
    svc, _ = two_runs
    stance = _train(workdir, capsys, name="stance", data={"label_column": "stance"})
    assert main(["compare", svc["run_id"], stance["run_id"]]) == 2
    assert "different label sets" in capsys.readouterr().err


def test_compare_refuses_a_run_without_predictions(two_runs, workdir, capsys):
    svc, _ = two_runs
    mlflow.set_experiment("older")
    with mlflow.start_run() as old:
        mlflow.log_metric("test_f1_macro", 0.5)
    assert main(["compare", svc["run_id"], old.info.run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {old.info.run_id}: no logged predictions" in err and "khabar train" in err


def test_compare_refuses_an_unknown_metric_and_a_model_without_data(two_runs, capsys):
    svc, nb = two_runs
    assert main(["compare", svc["run_id"], nb["run_id"], "--metric", "f1_micro"]) == 2
    assert "--metric 'f1_micro': not a metric of this task" in capsys.readouterr().err
    assert main(["compare", svc["run_id"], "no-such-model-folder"]) == 2
    assert "give --data FILE --label-column L" in capsys.readouterr().err


def test_compare_two_models_on_a_file(shared_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
    a, b = (shared_store.runs[k].model_uri for k in ("svc", "nb"))
    args = ["compare", a, b, "--data", str(NEWS_SMALL), "--label-column", "primary", "--json"]
    assert main(args) == 0
    result = _json_tail(capsys)
    assert result["n_items"] == 96 and result["split"] == "test"
    assert result["sources"] == {"a": a, "b": b}
    # A file without the model's text column: one line, exit 2.
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"body": "نص", "primary": "other"}])
    assert main(["compare", a, b, "--data", str(bad), "--label-column", "primary"]) == 2
    err = capsys.readouterr().err
    assert "cannot score" in err and len(err.strip().splitlines()) == 1


def test_evaluate_writes_predictions_that_compare_takes(
    shared_store, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
    folders = []
    for key in ("svc", "nb"):
        out = tmp_path / f"pred-{key}"
        model = shared_store.runs[key].model_uri
        assert main(["evaluate", "--model", model, "--data", str(NEWS_SMALL),
                     "--label-column", "primary", "--output", str(out)]) == 0  # fmt: skip
        result = _json_tail(capsys)
        assert result["predictions_dir"] == str(out)
        assert result["metrics"]["f1_macro_ci_low"] <= result["metrics"]["f1_macro"]
        folders.append(out)
    assert main(["evaluate", "--model", model, "--data", str(NEWS_SMALL),
                 "--label-column", "primary", "--output", str(folders[0])]) == 2  # fmt: skip
    assert "already holds predictions" in capsys.readouterr().err
    assert main(["compare", str(folders[0]), str(folders[1]), "--json"]) == 0
    assert _json_tail(capsys)["n_items"] == 96


def test_sweep_ranking_shows_every_key_and_the_ties(workdir, capsys):
    config = write_config(workdir, evaluation={**FAST})
    sweep = workdir / "sweep.yaml"
    sweep.write_text(
        f"name: tiny\nbase: {config}\nmetric: cv_f1_macro_mean\n"
        "grid:\n  model.params.C: [0.5, 1.0]\n"
        "variants:\n  - {model.name: complement_nb, model.params: {}}\n",
        encoding="utf-8",
    )
    assert main(["sweep", str(sweep), "--json"]) == 0
    result = _json_tail(capsys)
    ranking = (Path(result["report_dir"]) / "ranking.md").read_text(encoding="utf-8")
    assert "| model.name |" in ranking and '"complement_nb"' in ranking
    assert "| pooled [95% CI] | Δ vs best | p vs best | tie |" in ranking and "| best |" in ranking
    for variant in result["variants"][1:]:
        comparison = variant["comparison"]
        assert comparison["tie"] == (comparison["p_vs_best"] >= 0.05)
        assert comparison["ci_low"] <= comparison["value"] <= comparison["ci_high"]


GROUPED = {"name": "stance_f1", "group_column": "primary", "labels": ["positive", "negative"]}


def test_compare_uses_the_grouped_metric_as_headline(workdir, capsys):
    runs = [
        _train(
            workdir,
            capsys,
            name=f"stance-{c}",
            data={"label_column": "stance"},
            model={"name": "linear_svc", "params": {"C": c}},
            evaluation={**FAST, "grouped_metric": GROUPED},
        )  # fmt: skip
        for c in (0.5, 0.05)
    ]
    assert main(["compare", runs[0]["run_id"], runs[1]["run_id"], "--json"]) == 0
    result = _json_tail(capsys)
    assert result["metric"] == "stance_f1"
    assert result["a"] == pytest.approx(runs[0]["metrics"]["test_stance_f1"], abs=1e-12)
    assert result["b"] == pytest.approx(runs[1]["metrics"]["test_stance_f1"], abs=1e-12)
    assert "stance_f1" not in result["per_class"] and "f1_positive" in result["per_class"]


def test_compare_multi_label_runs_and_refuses_another_task(two_runs, workdir, capsys):
    svc, _ = two_runs
    topics = [
        _train(workdir, capsys, name=f"topics-{c}", task="multi_label",
               data={"label_column": "topics"}, model={"name": "linear_svc", "params": {"C": c}})
        for c in (0.5, 0.1)
    ]  # fmt: skip
    assert main(["compare", topics[0]["run_id"], topics[1]["run_id"], "--json"]) == 0
    result = _json_tail(capsys)
    assert result["metric"] == "f1_micro"
    assert result["b"] == pytest.approx(topics[1]["metrics"]["test_f1_micro"], abs=1e-12)
    assert {"f1_macro", "hamming_loss", "subset_accuracy"} <= set(result["metrics"])
    assert main(["compare", svc["run_id"], topics[0]["run_id"]]) == 2
    assert "A and B are different tasks: single_label vs multi_label" in capsys.readouterr().err
