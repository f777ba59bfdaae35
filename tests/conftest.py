from __future__ import annotations

from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
NEWS_SMALL = FIXTURES / "news_small.jsonl"
PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    """A fresh working directory with its own MLflow store, so tests never touch the user's."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


def write_config(folder: Path, **sections) -> Path:
    """A small, fast experiment config on the fixture; sections override the defaults."""
    config = {
        "name": "fixture-topic",
        "experiment": "fixture",
        "task": "single_label",
        "seed": 7,
        "data": {
            "train": str(NEWS_SMALL),
            "text_column": "text",
            "label_column": "primary",
            "test_size": 0.25,
        },
        "features": {"char": {"analyzer": "char_wb", "ngram_range": [2, 4], "min_df": 1}},
        "model": {"name": "linear_svc", "params": {"C": 0.5}},
        "evaluation": {"cv_folds": 3, "misclassified_examples": 5},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path = folder / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path
