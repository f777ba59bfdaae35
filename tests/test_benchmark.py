"""The accuracy benchmark script: skips cleanly without data; its fastText peer works; its
intervals and paired tests are computed on the same items and shown in the table."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
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


def test_every_task_config_loads_each_candidate_changes_it_and_its_metric_exists():
    from khabar.record.resampling import MetricSpace
    from khabar.runs.guard import load_config

    benchmark = _load()
    for task in benchmark.TASKS:
        base = load_config(benchmark.PROJECT / task.config)
        space = MetricSpace.of(
            ["x", "y"],
            multi_label=base.task == "multi_label",
            grouped=base.evaluation.grouped_metric,
            groups=["g"],
        )
        assert task.metric in space.names(), (task.name, task.metric)
        for label, overrides in task.candidates.items():
            config = load_config(benchmark.PROJECT / task.config, overrides)
            # A candidate whose overrides change nothing would be the committed config twice.
            assert (config == base) == (not overrides), (task.name, label)


def test_fasttext_peer_learns_a_toy_task():
    pytest.importorskip("fasttext", reason="optional 'bench' extra not installed")
    benchmark = _load()
    frame = pd.DataFrame({"text": ["قطة جميلة جدا", "كلب كبير جدا"] * 20})
    labels = ["cat label", "dog"] * 20
    model = benchmark.fasttext_peer("text").fit(frame, labels)
    assert list(model.predict(frame)) == labels
    # class scores, for the out-of-fold predictions cross-validation keeps
    probabilities = model.predict_proba(frame)
    assert probabilities.shape == (40, 2)
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-3)
    assert list(model.classes_[probabilities.argmax(axis=1)]) == labels


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


STANCE = ["Against", "Favor", "None"]


def _stance_items(benchmark, seed: int, accuracy: float, repeats: int = 1, folds=None):
    rng = np.random.default_rng(0)  # the same items for every system
    gold = [STANCE[i] for i in rng.integers(0, 3, size=120)]
    groups = [["covid", "women", "vision"][i] for i in rng.integers(0, 3, size=120)]
    own = np.random.default_rng(seed)
    predicted = [
        [g if own.random() < accuracy else STANCE[own.integers(0, 3)] for g in gold]
        for _ in range(repeats)
    ]
    return benchmark.Items(gold, predicted, groups, folds)


def test_intervals_and_paired_tests_are_on_the_same_items():
    from khabar.data.config import GroupedMetricConfig
    from khabar.record.metrics import compute_metrics

    benchmark = _load()
    grouped = GroupedMetricConfig(
        name="stance_eval_f1", group_column="target", labels=["Favor", "Against"]
    )
    khabar = _stance_items(benchmark, seed=1, accuracy=0.8)
    items = {
        "khabar": khabar,
        "plain scikit-learn": _stance_items(benchmark, seed=2, accuracy=0.5),
        "fastText": benchmark.Items(khabar.gold, khabar.predicted, khabar.groups),  # a copy
    }
    space = benchmark.MetricSpace.of(STANCE, grouped=grouped, groups=khabar.groups)
    stats = benchmark.intervals_and_tests("stance_eval_f1", space, items, seed=42)
    for name, scored in items.items():
        expected = compute_metrics(
            scored.gold, scored.predicted[0], STANCE, groups=scored.groups, grouped=grouped
        )["stance_eval_f1"]
        assert stats[name]["point"] == pytest.approx(expected)  # the test value, by items
        low, high = stats[name]["ci"]
        assert low < stats[name]["point"] < high
    assert "vs_khabar" not in stats["khabar"]
    better = stats["plain scikit-learn"]["vs_khabar"]
    assert better["delta"] == pytest.approx(
        stats["khabar"]["point"] - stats["plain scikit-learn"]["point"]
    )  # khabar − peer
    assert 0 < better["ci"][0] < better["delta"] < better["ci"][1]
    assert better["p_value"] < 0.01
    same = stats["fastText"]["vs_khabar"]
    assert same["delta"] == 0 and same["ci"] == [0, 0] and same["p_value"] == 1
    assert stats == benchmark.intervals_and_tests("stance_eval_f1", space, items, seed=42)

    other_gold = benchmark.Items(list(reversed(khabar.gold)), khabar.predicted, khabar.groups)
    with pytest.raises(ValueError, match="not scored on khabar's items"):
        benchmark.intervals_and_tests(
            "stance_eval_f1", space, {**items, "fastText": other_gold}, seed=42
        )


def test_pooled_out_of_fold_counts_sum_a_documents_repeats():
    from khabar.record.metrics import compute_metrics

    benchmark = _load()
    folds = np.zeros((3, 120), dtype=np.int64)
    khabar = _stance_items(benchmark, seed=1, accuracy=0.8, repeats=3, folds=folds)
    space = benchmark.MetricSpace.of(STANCE)
    counts = khabar.counts(space)
    assert counts.shape[0] == 120 and counts[:, 0].tolist() == [3] * 120  # 3 repeats each
    pooled = compute_metrics(khabar.gold * 3, sum(khabar.predicted, []), STANCE)["f1_macro"]
    peer = _stance_items(benchmark, seed=2, accuracy=0.6, repeats=3, folds=folds)
    stats = benchmark.intervals_and_tests(
        "f1_macro", space, {"khabar": khabar, "plain scikit-learn": peer}, seed=42
    )
    assert stats["khabar"]["point"] == pytest.approx(pooled)
    assert stats["khabar"]["repeats"] == 3
    moved = benchmark.Items(peer.gold, peer.predicted, peer.groups, folds + 1)
    with pytest.raises(ValueError, match="folds"):  # other CV folds: not a paired comparison
        benchmark.intervals_and_tests(
            "f1_macro", space, {"khabar": khabar, "plain scikit-learn": moved}, seed=42
        )


def _fake_results():
    def row(system, test, point, ci, delta=None):
        out = {"system": system, "cv_mean": 0.7031, "cv_std": 0.0131, "test": test}
        out.update({"point": point, "ci": ci, "repeats": 1 if test is not None else 4})
        if delta is not None:
            out["vs_khabar"] = {"delta": delta[0], "ci": delta[1], "p_value": delta[2]}
        return out

    stance = {
        "task": "mawqif_stance",
        "chosen": "the committed one",
        "seconds": 1.0,
        "candidates": [],
        "peers": [
            row("khabar: the committed one", 0.7141, 0.7141, [0.6801, 0.7482]),
            row("plain scikit-learn", 0.6851, 0.6851, [0.65, 0.72], (0.029, [-0.01, 0.068], 0.14)),
            {"system": "fastText", "skipped": "fastText not installed"},
        ],
    }
    topic = {
        "task": "realnews_topic",
        "chosen": "the committed one",
        "seconds": 1.0,
        "candidates": [],
        "peers": [
            row("khabar: the committed one", None, 0.8993, [0.87, 0.925]),
            row("plain scikit-learn", None, 0.86, [0.83, 0.89], (0.0393, [0.02, 0.06], 0.00009)),
            row("fastText", None, 0.826, [0.79, 0.85], (0.0733, [0.05, 0.1], 0.0012)),
        ],
    }
    return [stance, topic]


def test_accuracy_table_shows_intervals_and_paired_tests(tmp_path):
    benchmark = _load()
    results = _fake_results()
    header, rule, stance, topic = benchmark.accuracy_table(results)
    assert "| Δ khabar − scikit-learn [95% CI], p |" in header
    assert "| Δ khabar − fastText [95% CI], p |" in header
    assert len({line.count("|") for line in (header, rule, stance, topic)}) == 1
    assert "**0.714** [0.680, 0.748] (CV 0.703 ± 0.013): the committed one" in stance
    assert (
        "| **0.685** [0.650, 0.720] (CV 0.703 ± 0.013) | +0.029 [-0.010, +0.068], p = 0.140 |"
        in (stance)
    )
    assert "| skipped | — |" in stance
    assert "| CV 0.703 ± 0.013; pooled 0.899 [0.870, 0.925]: the committed one" in topic
    assert "| +0.039 [+0.020, +0.060], p < 0.001 |" in topic
    assert "| +0.073 [+0.050, +0.100], p = 0.001 |" in topic
    note = " ".join(benchmark.intervals_note(results))
    assert "percentile bootstrap over items" in note and "10,000" in note
    assert "all its repeats" in note and "approximate" in note
    # Holm over 0.14, 0.00009, 0.0012: 0.00027, 0.0024 and 0.14 -> 2 below 0.05
    assert "not adjusted for the 3 comparisons (after Holm's adjustment 2 have p < 0.05)" in note
    assert "lean optimistic" in note
    assert "[low, high] is a 95% interval" in benchmark.summary(results, 1.0)
    assert benchmark.stats_line(results[1]["peers"][1]).startswith(
        "plain scikit-learn: pooled out of fold (4 repeats) 0.8600 [0.830, 0.890]; khabar − peer"
    )
    benchmark.write_plot(results, tmp_path / "accuracy.png")  # intervals drawn, skips skipped
    assert (tmp_path / "accuracy.png").stat().st_size > 0
