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
    monkeypatch.setattr(sys.modules["results_page"], "RESULTS_DIR", tmp_path / "results")
    assert benchmark.main([]) == 0
    assert "benchmark skipped: no reference data" in capsys.readouterr().out
    assert not (tmp_path / "reports").exists()
    assert not (tmp_path / "results").exists()  # a skipped run writes no results page


def test_results_page_heads_the_tables_with_command_time_machine_and_scope(tmp_path, monkeypatch):
    benchmark = _load()  # puts experiments/ on sys.path, where results_page.py lives
    results_page = sys.modules["results_page"]
    monkeypatch.setattr(results_page, "RESULTS_DIR", tmp_path)
    command = results_page.command_line(SCRIPT, ["--only", "realnews_topic"])
    assert command.endswith("experiments/benchmark.py --only realnews_topic")
    page = results_page.write_results_page(
        "benchmark",
        "Accuracy benchmark",
        command,
        [("Scores", results_page.markdown_table(["task", "score"], [("t", "0.900")]))],
        results_page.start(),
        measures="What it measures.",
        partial="only realnews_topic.",
    )
    assert page == tmp_path / "benchmark.md"
    text = page.read_text(encoding="utf-8")
    assert text.startswith("# Accuracy benchmark\n")
    assert "**Partial run:** only realnews_topic." in text
    assert f"`{command}`" in text and "wall time" in text
    assert "Python " in text and "scikit-learn " in text and " cores" in text
    assert text.index("What it measures.") < text.index("## Scores") < text.index("| t | 0.900 |")
    every_task = [{"task": task.name} for task in benchmark.TASKS]
    assert benchmark.partial_run(every_task, use_fasttext=True) is None
    assert "not run: mawqif_stance" in benchmark.partial_run(every_task[1:], use_fasttext=True)
    assert "fastText peer was skipped" in benchmark.partial_run(every_task, use_fasttext=False)


def test_every_task_config_loads():
    from khabar.runs.guard import load_config

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


def test_test_scores_fit_on_the_extra_training_rows_too(tmp_path):
    """A candidate with data.extra_train is scored on the test set after fitting on the
    extra rows as well, as `khabar train` does (cv_score and test_score share khabar's fit set)."""
    import json

    from khabar.runs.guard import load_config

    from .conftest import NEWS_SMALL, write_config

    benchmark = _load()
    rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
    base, extra = tmp_path / "base.jsonl", tmp_path / "extra.jsonl"
    base.write_text("".join(json.dumps(r) + "\n" for r in rows[:40]), encoding="utf-8")
    extra.write_text(
        "".join(
            json.dumps({"body": r["text"], "kind": r["primary"].upper()}) + "\n" for r in rows[40:]
        ),
        encoding="utf-8",
    )
    mapping = {label.upper(): label for label in {r["primary"] for r in rows}}
    entry = {"path": str(extra), "text_column": "body", "label_column": "kind", "labels": mapping}
    config = load_config(
        write_config(tmp_path, data={"train": str(base), "test": str(base)}),
        [f"data.extra_train={json.dumps([entry])}"],
    )
    train = benchmark.load(config, config.data.train)

    class Recorder:
        def fit(self, X, y):
            self.fitted = (len(X), set(y))
            return self

        def predict(self, X):
            return [train.labels[0]] * len(X)

    recorder = Recorder()
    benchmark.test_score(recorder, config, train, train, "f1_macro")
    assert recorder.fitted == (len(rows), set(mapping.values()))
