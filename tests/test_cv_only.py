"""data.test_size: 0: no test set; train on every row, judge by CV, report out-of-fold."""

import json

from khabar.cli import main

from .conftest import write_config


def test_cv_only_run_trains_on_every_row(workdir, capsys):
    config = write_config(workdir, data={"test_size": 0})
    assert main(["train", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert "CV f1_macro" in out
    assert not any(key.startswith("test_") for key in metrics)
    assert 0 <= metrics["oof_f1_macro"] <= 1 and "cv_f1_macro_mean" in metrics
    summary = (workdir / result["report_dir"] / "summary.md").read_text(encoding="utf-8")
    assert "out-of-fold" in summary

    import mlflow

    params = mlflow.get_run(result["run_id"]).data.params
    assert params["data.train_rows"] == "96" and params["data.test_rows"] == "0"


def test_cv_only_multi_label(workdir, capsys):
    config = write_config(
        workdir,
        name="fixture-topics",
        task="multi_label",
        data={"label_column": "topics", "test_size": 0},
        evaluation={"cv_folds": 3, "cv_repeats": 2},  # repeated CV: fold seeds 7 and 8
    )
    assert main(["train", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert "oof_f1_micro" in metrics and "cv_f1_micro_mean" in metrics
    summary = (workdir / result["report_dir"] / "summary.md").read_text(encoding="utf-8")
    assert "3-fold, seed 7, repeated 2x" in summary
