"""`khabar simulate` (runs.simulate): the replayed active-learning loop on the fixture."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from khabar.errors import KhabarError
from khabar.runs import simulate as sim
from khabar.runs.simulate import (
    check_arguments,
    labels_needed,
    savings,
    simulate,
    step_schedule,
    summary_table,
)
from tests.conftest import write_config

SMALL = {"initial": 10, "batch": 10, "budget": 40}


@pytest.fixture
def fits(monkeypatch) -> list[np.ndarray]:
    """Every labeled set a simulation fits on, in order."""
    seen: list[np.ndarray] = []
    original = sim._fit

    def recording(problem, split, labeled):
        seen.append(np.array(labeled))
        return original(problem, split, labeled)

    monkeypatch.setattr(sim, "_fit", recording)
    return seen


def test_curves_steps_shared_start_report_and_mlflow(workdir, fits):
    config = write_config(workdir)
    result = simulate(config, repeats=2, **{**SMALL, "budget": 30})
    assert result.steps == [10, 20, 30]
    assert result.metric == "f1_macro" and "test set" in result.evaluated_on
    for curve in result.curves.values():
        assert len(curve["mean"]) == 3 and len(curve["repeats"]) == 2
    for r in range(2):  # one initial fit per repeat, its score the start of every curve
        assert len({c["repeats"][r][0] for c in result.curves.values()}) == 1
    # per repeat: the initial fit, then 2 steps for each of 3 strategies, each from it
    assert len(fits) == 2 * (1 + 3 * 2)
    for r in range(2):
        block = fits[r * 7 : (r + 1) * 7]
        initial = block[0]
        assert len(initial) == 10
        for labeled in block[1:]:
            assert np.array_equal(labeled[:10], initial) and len(set(labeled)) == len(labeled)
    assert not np.array_equal(fits[0], fits[7])  # repeats draw their own initial batch
    folder = Path(result.report_dir)
    assert folder.resolve().parent == (workdir / "reports" / "simulate").resolve()
    for name in ("learning_curve.png", "learning_curve.json", "summary.md"):
        assert (folder / name).is_file()
    numbers = json.loads((folder / "learning_curve.json").read_text(encoding="utf-8"))
    assert numbers["steps"] == result.steps and numbers["settings"]["repeats"] == 2
    assert "labels to reach" in (folder / "summary.md").read_text(encoding="utf-8")
    client = mlflow.MlflowClient()
    children = mlflow.search_runs(
        experiment_names=["fixture-simulate"],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
        output_format="list",
    )
    assert sorted(run.info.run_name for run in children) == sorted(result.curves)
    for child in children:
        history = client.get_metric_history(child.info.run_id, "f1_macro")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == result.steps
        assert client.get_metric_history(child.info.run_id, "f1_macro_std")
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "report")}
    assert "report/learning_curve.png" in artifacts


def test_seeded_runs_repeat_exactly(workdir):
    config = write_config(workdir)
    first = simulate(config, repeats=1, strategies=("random", "diverse"), **SMALL)
    second = simulate(config, repeats=1, strategies=("random", "diverse"), **SMALL)
    assert first.curves == second.curves
    assert first.report_dir != second.report_dir  # a new folder each time


def test_folds_cap_steps_at_the_pool(workdir):
    # 96 rows, 3 folds: each pool holds 64 rows, so a budget of 500 stops there
    config = write_config(workdir, data={"test_size": 0})
    result = simulate(
        config, strategies=("random", "breaking_ties"), initial=20, batch=20, budget=500,
        repeats=1, features_from="pool",
    )  # fmt: skip
    assert result.steps == [20, 40, 60, 64]
    assert "held-out folds (3-fold" in result.evaluated_on
    # the whole pool labeled: every strategy fits the same rows at the last step
    assert result.curves["random"]["mean"][-1] == pytest.approx(
        result.curves["breaking_ties"]["mean"][-1]
    )
    assert result.labels_needed["random"] <= 64


def test_joint_labels_and_multi_label(workdir):
    joint = write_config(workdir, name="joint", data={"auxiliary_label_column": "stance"})
    result = simulate(joint, repeats=1, strategies=("random", "entropy"), **SMALL)
    assert result.steps == [10, 20, 30, 40]
    multi = write_config(workdir, name="multi", task="multi_label", data={"label_column": "topics"})
    result = simulate(multi, repeats=1, features_from="pool", **SMALL)
    assert result.metric == "f1_micro" and len(result.curves) == 3


def test_labels_needed_and_savings_on_hand_made_curves():
    steps = [50, 100, 150, 200]
    random = [0.50, 0.60, 0.65, 0.70]
    target = random[-1]
    assert labels_needed(steps, random, target) == 200
    assert labels_needed(steps, [0.55, 0.70, 0.72, 0.71], target) == 100
    assert labels_needed(steps, [0.5, 0.6, 0.6, 0.69], target) is None
    assert labels_needed(steps, [0.5, 0.7 - 1e-12, 0.6, 0.6], target) == 100  # rounding
    needed = {"random": 200, "breaking_ties": 100, "diverse": None}
    assert savings(needed) == {"random": 0.0, "breaking_ties": 50.0, "diverse": None}
    assert step_schedule(50, 50, 600, 480) == [50, 100, 150, 200, 250, 300, 350, 400, 450, 480]
    assert step_schedule(50, 50, 200, 1000) == [50, 100, 150, 200]
    assert step_schedule(50, 40, 200, 1000) == [50, 90, 130, 170, 200]


def test_summary_table_says_not_reached():
    result = sim.SimulateResult(
        "", "", "f1_macro", "", [10, 20], {
            "random": {"mean": [0.5, 0.7], "std": [0.0, 0.01]},
            "diverse": {"mean": [0.4, 0.6], "std": [0.0, 0.02]},
        }, 0.7, {"random": 20, "diverse": None}, {"random": 0.0, "diverse": None}, 1.0,
    )  # fmt: skip
    table = summary_table(result)
    assert "| random | 0.700 ± 0.010 | 20 | +0% |" in table
    assert "| diverse | 0.600 ± 0.020 | not reached | — |" in table


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"strategies": ("random", "smart")}, "unknown 'smart'"),
        ({"strategies": ("breaking_ties",)}, "random among them"),
        ({"strategies": ("random", "random")}, "each strategy once"),
        ({"initial": 700}, "more than --budget"),
        ({"budget": 80}, "leaves no batch"),
        ({"batch": 0}, "at least 1"),
        ({"repeats": 0}, "at least 1"),
        ({"features": "all"}, "--features-from"),
    ],
)
def test_bad_settings_are_refused(arguments, message):
    settings = {
        "strategies": ("random", "diverse"), "initial": 50, "batch": 50, "budget": 600,
        "repeats": 1, "features": "labeled", **arguments,
    }  # fmt: skip
    with pytest.raises(KhabarError, match=message):
        check_arguments(**settings)


def test_refusals_before_any_run(workdir):
    config = write_config(workdir)
    with pytest.raises(KhabarError, match="unknown 'smart'"):
        simulate(config, strategies=("random", "smart"))
    with pytest.raises(KhabarError, match="the pool holds only 72"):  # 96 rows, 25% test
        simulate(config, initial=80, batch=10, budget=100, repeats=1)
    assert not (workdir / "reports" / "simulate").exists()
