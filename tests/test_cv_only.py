"""data.test_size: 0: no test set; train on every row, judge by CV, report out-of-fold."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from khabar.cli import main

from .conftest import write_config


def out_of_fold(run_id: str, folder: Path) -> pd.DataFrame:
    """The run's logged out-of-fold predictions (oof.parquet)."""
    downloaded = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="predictions", dst_path=str(folder)
    )
    return pd.read_parquet(Path(downloaded) / "oof.parquet")


def test_cv_only_run_trains_on_every_row(workdir, capsys):
    config = write_config(workdir, data={"test_size": 0})
    assert main(["train", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    metrics = result["metrics"]
    assert "CV f1_macro" in out
    assert not any(key.startswith("test_") for key in metrics)
    assert "cv_f1_macro_mean" in metrics
    # Every row is scored once, out of fold; the logged F1 is scikit-learn's over them.
    oof = out_of_fold(result["run_id"], workdir / "dl")
    assert len(oof) == 96 and oof["id"].nunique() == 96
    classes = ["diplomacy", "migration", "other", "security"]
    expected = f1_score(oof["gold"], oof["prediction"], labels=classes, average="macro")
    assert metrics["oof_f1_macro"] == pytest.approx(expected, abs=1e-12)
    per_fold = [
        f1_score(part["gold"], part["prediction"], labels=classes, average="macro", zero_division=0)
        for _, part in oof.groupby("fold")
    ]
    assert metrics["cv_f1_macro_mean"] == pytest.approx(np.mean(per_fold), abs=1e-12)
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
    # Recomputed with scikit-learn from the logged label lists: oof_* is the first
    # repeat's, cv_*_mean the mean over the 3 x 2 folds.
    oof = out_of_fold(result["run_id"], workdir / "dl")
    assert len(oof) == 2 * 96 and oof.groupby("repeat")["id"].nunique().tolist() == [96, 96]
    binarize = MultiLabelBinarizer(classes=["diplomacy", "migration", "security"]).fit([])

    def f1_micro(part):
        truth, guess = (
            binarize.transform([list(v) for v in part[c]]) for c in ("gold", "prediction")
        )
        return f1_score(truth, guess, average="micro", zero_division=0)

    assert metrics["oof_f1_micro"] == pytest.approx(f1_micro(oof[oof["repeat"] == 0]), abs=1e-12)
    per_fold = [f1_micro(part) for _, part in oof.groupby(["repeat", "fold"])]
    assert len(per_fold) == 6
    assert metrics["cv_f1_micro_mean"] == pytest.approx(np.mean(per_fold), abs=1e-12)
    summary = (workdir / result["report_dir"] / "summary.md").read_text(encoding="utf-8")
    assert "3-fold, seed 7, repeated 2x" in summary
