"""What the MLflow UI shows without a click: experiment and run descriptions, the data as
MLflow datasets (the runs table's Dataset column, search by dataset), the runs table's
shared view, and summary.md's per-class tables."""

from __future__ import annotations

import json

import mlflow
import pytest

from khabar.record.metrics import metric_key
from khabar.record.tracking import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG, SHARED_VIEW_TAG
from khabar.runs.train import train
from khabar.runs.ui import headline_columns, runs_table_url

from .conftest import NEWS_SMALL, write_config, write_jsonl

pytestmark = pytest.mark.integration


def _run(result):
    return mlflow.get_run(result.run_id)


def test_the_experiment_describes_its_task_labels_and_kind(in_shared_store):
    run = _run(in_shared_store.runs["svc"])
    tags = mlflow.get_experiment(run.info.experiment_id).tags
    assert tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    description = tags[DESCRIPTION_TAG]
    assert "single-label" in description and "`primary`" in description
    assert "diplomacy, migration, other, security" in description  # the fixture's labels


def test_a_run_describes_its_config_data_and_headline_metric_with_its_interval(in_shared_store):
    run = _run(in_shared_store.runs["svc"])
    text, metrics = run.data.tags[DESCRIPTION_TAG], run.data.metrics
    assert "shared-topic-svc" in text and "linear_svc" in text and "news_small.jsonl" in text
    assert f"{run.data.params['data.train_rows']} rows" in text
    low, value, high = (metrics[f"test_f1_macro{s}"] for s in ("_ci_low", "", "_ci_high"))
    assert f"test_f1_macro**: {value:.3f} (95% CI {low:.3f}-{high:.3f})" in text


def test_train_and_test_are_logged_as_mlflow_datasets_searchable_by_name(in_shared_store):
    run = _run(in_shared_store.runs["svc"])
    inputs = {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
        for i in run.inputs.dataset_inputs
    }
    assert set(inputs) == {"train", "test"}
    assert inputs["train"].name == "news_small.jsonl (train split)"
    assert json.loads(inputs["train"].source)["uri"] == str(NEWS_SMALL.resolve())
    assert inputs["train"].digest != inputs["test"].digest  # one file, two splits
    rows = {name: json.loads(d.profile)["num_rows"] for name, d in inputs.items()}
    assert rows == {
        "train": int(run.data.params["data.train_rows"]),
        "test": int(run.data.params["data.test_rows"]),
    }
    schema = json.loads(inputs["train"].schema)["mlflow_colspec"]
    assert {"text", "primary"} <= {column["name"] for column in schema}
    found = mlflow.search_runs(
        [run.info.experiment_id],
        filter_string=f"dataset.digest = '{inputs['test'].digest}'",
        output_format="list",
    )
    both = {r.run_id for r in in_shared_store.runs.values()}
    assert {r.info.run_id for r in found} == both  # same data, same digest


def test_extra_training_rows_are_a_dataset_of_their_own(workdir):
    extra = [json.loads(line) for line in NEWS_SMALL.read_text("utf-8").splitlines()[:8]]
    extra_file = write_jsonl(workdir / "more.jsonl", extra)
    config = write_config(
        workdir,
        data={"extra_train": [str(extra_file)]},
        evaluation={"cv_folds": 3, "log_model": False, "write_report": False},
    )
    run = _run(train(config))
    contexts = {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset
        for i in run.inputs.dataset_inputs
    }
    assert contexts["extra_train"].name == "more.jsonl"
    assert json.loads(contexts["extra_train"].profile)["num_rows"] == 8
    assert "plus 8 extra training rows" in run.data.tags[DESCRIPTION_TAG]


def test_the_runs_table_link_shows_the_latest_experiments_headline_columns(in_shared_store):
    run = _run(in_shared_store.runs["nb"])  # trained last
    experiment_id = run.info.experiment_id
    url = runs_table_url("http://ui")
    assert url.startswith(f"http://ui/#/experiments/{experiment_id}/runs?workflowType=")
    key = url.split("viewStateShareKey=")[1]
    state = json.loads(mlflow.get_experiment(experiment_id).tags[SHARED_VIEW_TAG + key])
    assert state["selectedColumns"] == headline_columns(run.data.metrics)
    assert "metrics.`test_f1_macro`" in state["selectedColumns"]
    assert "attributes.`Dataset`" in state["selectedColumns"]


def test_an_empty_store_links_to_the_ui_itself(workdir):
    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    assert runs_table_url("http://ui") == "http://ui"


def test_summary_reads_like_a_classification_report(in_shared_store):
    result = in_shared_store.runs["svc"]
    metrics = _run(result).data.metrics
    summary = (in_shared_store.folder / result.report_dir / "summary.md").read_text("utf-8")
    test_part = summary.split("## Test metrics")[1].split("## Cross-validation")[0]
    assert "| class | precision | recall | F1 [95% CI] | support |" in test_part
    for label in ("diplomacy", "migration", "other", "security"):
        key = metric_key(label)
        row = next(line for line in test_part.splitlines() if line.startswith(f"| {label} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1] == f"{metrics[f'test_precision_{key}']:.3f}"
        assert cells[2] == f"{metrics[f'test_recall_{key}']:.3f}"
        assert cells[3].startswith(f"{metrics[f'test_f1_{key}']:.3f} [")
    support = sum(
        int(line.strip("|").split("|")[-1])
        for line in test_part.splitlines()
        if line.startswith("| ")
        and line.split("|")[1].strip() in {"diplomacy", "migration", "other", "security"}
    )
    assert support == int(_run(result).data.params["data.test_rows"])
    assert "precision_diplomacy" not in summary  # no flat list of per-class metric rows
    cv_part = summary.split("## Cross-validation")[1]
    mean, std = metrics["cv_f1_macro_mean"], metrics["cv_f1_macro_std"]
    assert f"| f1_macro | {mean:.3f} ± {std:.3f} |" in cv_part
