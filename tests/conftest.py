from __future__ import annotations

import json
from dataclasses import dataclass
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


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    """A JSONL data file, one object per line, UTF-8."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), "utf-8")
    return path


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


@dataclass
class SharedStore:
    folder: Path
    tracking_uri: str
    runs: dict  # short name -> khabar.runs.train.TrainResult


@pytest.fixture(scope="session")
def shared_store(tmp_path_factory) -> SharedStore:
    """One MLflow store holding two finished trainings of the fixture ("svc": linear SVC,
    "nb": complement NB), shared by the reuse, serving and UI tests: a training costs about
    10 s, mostly MLflow logging the model. Tests that read it must not train into it."""
    from khabar.runs.train import train

    folder = tmp_path_factory.mktemp("shared-store")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        for short, model in (
            ("svc", {"name": "linear_svc", "params": {"C": 0.5}}),
            ("nb", {"name": "complement_nb", "params": {}}),
        ):
            path = write_config(folder, name=f"shared-topic-{short}", model=model)
            runs[short] = train(path)
    return SharedStore(folder, uri, runs)


@pytest.fixture
def in_shared_store(shared_store, monkeypatch) -> SharedStore:
    """Work in the shared store's folder, with MLflow pointed at it."""
    monkeypatch.chdir(shared_store.folder)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
    import mlflow

    mlflow.set_tracking_uri(shared_store.tracking_uri)  # a direct MLflow call sees it too
    return shared_store
