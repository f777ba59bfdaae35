"""The accuracy benchmark script: skips cleanly without data; its fastText peer works."""

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "benchmark.py"


def _load():
    spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def test_skips_with_a_clear_message_without_data(tmp_path, capsys, monkeypatch):
    benchmark = _load()
    monkeypatch.setattr(benchmark, "DATA", tmp_path / "absent")
    monkeypatch.setattr(benchmark, "REPORT_DIR", tmp_path / "reports")
    assert benchmark.main([]) == 0
    assert "benchmark skipped: no reference data" in capsys.readouterr().out
    assert not (tmp_path / "reports").exists()


def test_every_task_config_loads():
    from khabar.config import load_config

    benchmark = _load()
    for task in benchmark.TASKS:
        for overrides in task.candidates.values():
            load_config(benchmark.PROJECT / task.config, overrides)


def test_fasttext_peer_learns_a_toy_task():
    pytest.importorskip("fasttext", reason="optional 'bench' extra not installed")
    benchmark = _load()
    frame = pd.DataFrame({"text": ["قطة جميلة جدا", "كلب كبير جدا"] * 20})
    labels = ["cat label", "dog"] * 20
    model = benchmark.fasttext_peer("text").fit(frame, labels)
    assert list(model.predict(frame)) == labels


def test_second_reader_labels_are_valid_and_the_agreement_script_skips_without_data(
    tmp_path, capsys, monkeypatch
):
    import json

    path = SCRIPT.parents[1] / "data" / "second_reader_labels.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len({row["id"] for row in rows}) == len(rows) == 600
    for row in rows:
        assert set(row) == {"id", "primary", "topics", "stance", "confidence"}
        assert row["stance"] in {"positive", "negative", "neutral"}
        assert row["confidence"] in {"high", "low"}
        assert set(row["topics"]) <= {"security", "migration", "diplomacy"}
        assert (row["primary"] == "other") == (row["topics"] == []), row["id"]
    spec = importlib.util.spec_from_file_location(
        "reader_agreement", SCRIPT.parent / "reader_agreement.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "DEV", tmp_path / "absent.jsonl")
    assert module.main() == 0
    assert "reader agreement skipped" in capsys.readouterr().out
