"""Training: config -> data -> Pipeline -> CV + test metrics -> report -> MLflow run."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline

from khabar import __version__, persist
from khabar.cache import FeatureCache
from khabar.config import ExperimentConfig
from khabar.dataset import (
    LabeledData,
    check_test_labels,
    find_leakage,
    load_labeled,
    split_train_test,
)
from khabar.evaluate import choose_folds, compute_metrics, cross_validate
from khabar.pipeline import (
    build_pipeline,
    class_labels,
    class_scores,
    predict_labels,
    top_weighted_features,
)
from khabar.report import ReportInputs, write_report
from khabar.track import connect, flatten


@dataclass
class TrainResult:
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    report_dir: str

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "model_uri": self.model_uri,
            "metrics": self.metrics,
            "report_dir": self.report_dir,
        }


def model_inputs(data: LabeledData, config: ExperimentConfig) -> pd.DataFrame:
    """The columns the Pipeline reads: the text column (and any extra column it needs)."""
    return data.frame[[config.data.text_column]].reset_index(drop=True)


def _load_data(config: ExperimentConfig) -> tuple[LabeledData, LabeledData]:
    data = config.data
    multi = config.task == "multi_label"
    extra = tuple(
        c
        for c in [
            config.evaluation.grouped_metric and config.evaluation.grouped_metric.group_column
        ]
        if c
    )
    load = partial(
        load_labeled,
        text_column=data.text_column,
        label_column=data.label_column,
        multi_label=multi,
        encoding=data.encoding,
        extra_columns=extra,
        needed_columns_only=True,  # corpus-sized files: only what training reads
    )
    train = load(data.train)
    if data.test is None:
        train, test = split_train_test(train, data.test_size, config.seed)
        test.notes.append(
            f"test set: stratified {data.test_size:.0%} split of {data.train} (seed {config.seed})"
        )
        train.notes.extend(test.notes)
    else:
        test = load(data.test)
    check_test_labels(train, test)
    leaked = find_leakage(train, test)
    if leaked:
        examples = "; ".join(repr(test.texts[i][:60]) for i in leaked[:3])
        action = (
            "dropped from the test set"
            if data.drop_leaked
            else "kept (set data.drop_leaked=true to drop)"
        )
        train.notes.append(
            f"leakage: {len(leaked)} test texts also occur in training, {action}: {examples}"
        )
        print(f"warning: {len(leaked)} test texts also occur in the training data ({action})")
        if data.drop_leaked:
            keep = sorted(set(range(len(test.texts))) - set(leaked))
            test = test.subset(keep)
    return train, test


def _no_report(report_dir: Path, inputs: ReportInputs) -> list[Path]:
    return []


def _run_name(config: ExperimentConfig) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{config.name}-{stamp}")


def train(
    config: ExperimentConfig,
    config_path: str | Path | None = None,
    parent_run_id: str | None = None,
) -> TrainResult:
    """Train, evaluate, report and log one experiment config as one MLflow run (a child of
    `parent_run_id` when given, as in a sweep)."""
    connect(config.experiment)  # fails before any work when the store is unreachable
    train_data, test_data = _load_data(config)
    multi = config.task == "multi_label"
    groups_column = (
        config.evaluation.grouped_metric.group_column if config.evaluation.grouped_metric else None
    )
    folds, fold_note = choose_folds(train_data.labels, config.evaluation.cv_folds, multi)
    notes = list(train_data.notes) + ([fold_note] if fold_note else [])
    if fold_note:
        print(f"note: {fold_note}")

    run_name = _run_name(config)
    report_dir = Path(config.reports_dir) / config.experiment / run_name
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else None
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        try:
            result = _train_in_run(
                config,
                config_path,
                train_data,
                test_data,
                multi,
                groups_column,
                folds,
                notes,
                report_dir,
            )
        except KeyboardInterrupt:
            mlflow.end_run(status="KILLED")
            raise
        return TrainResult(run.info.run_id, result[0], result[1], str(report_dir))


def _train_in_run(
    config, config_path, train_data, test_data, multi, groups_column, folds, notes, report_dir
):
    pipeline = build_pipeline(config)
    X_train, X_test = model_inputs(train_data, config), model_inputs(test_data, config)  # noqa: N806
    grouped = config.evaluation.grouped_metric
    train_groups = train_data.frame[groups_column].tolist() if groups_column else None
    test_groups = test_data.frame[groups_column].tolist() if groups_column else None

    mlflow.log_params(flatten(config.model_dump(mode="json")))
    mlflow.log_params(
        {
            "data.train_rows": len(train_data.texts),
            "data.test_rows": len(test_data.texts),
            "data.train_sha256": train_data.sha256,
            "data.test_sha256": test_data.sha256,
            "evaluation.cv_folds_used": folds,
            "khabar_version": __version__,
        }
    )
    mlflow.log_dict(
        {"train": train_data.label_counts, "test": test_data.label_counts}, "data/label_counts.json"
    )
    if config_path is not None:
        mlflow.log_artifact(str(config_path), artifact_path="config")
    mlflow.log_dict(config.model_dump(mode="json"), "config/resolved.yaml")

    labels = sorted(train_data.label_counts)
    feature_cache = FeatureCache() if config.evaluation.cache_features else None
    started = time.perf_counter()
    cv_summary: dict[str, float] = {}
    if config.evaluation.cross_validate:
        cv_summary, _ = cross_validate(
            pipeline,
            X_train,
            train_data.labels,
            labels,
            folds=folds,
            seed=config.seed,
            multi_label=multi,
            groups=train_groups,
            grouped=grouped,
            n_jobs=config.evaluation.n_jobs,
            cache=feature_cache,
        )
    cv_seconds = time.perf_counter() - started

    started = time.perf_counter()
    scorer, test_inputs = pipeline, X_test
    if feature_cache is None:
        pipeline.fit(X_train, train_data.labels)
    else:  # features from the cache; the test set is scored on its cached matrix
        features = feature_cache.featurize(
            pipeline[:-1], X_train, X_test, config.data.text_column
        )
        classifier = pipeline[-1].fit(features.fit_matrix, train_data.labels)
        pipeline = Pipeline([*features.steps.steps, ("classifier", classifier)])
        scorer, test_inputs = Pipeline([("classifier", classifier)]), features.eval_matrix
    fit_seconds = time.perf_counter() - started
    if scorer is pipeline:  # featurize the test set once, for predictions and scores
        scorer, test_inputs = Pipeline([("classifier", pipeline[-1])]), pipeline[:-1].transform(X_test)
    labels = class_labels(pipeline)
    predicted = predict_labels(scorer, test_inputs)
    scores, score_kind = class_scores(scorer, test_inputs)
    test_metrics = compute_metrics(
        test_data.labels, predicted, labels, multi_label=multi, groups=test_groups, grouped=grouped
    )
    metrics = {
        **{f"test_{k}": v for k, v in test_metrics.items()},
        **cv_summary,
        "fit_seconds": fit_seconds,
        "cv_seconds": cv_seconds,
    }
    mlflow.log_metrics(metrics)

    # A sweep's children skip their own plots: the sweep writes one comparison report.
    report_files = (write_report if config.evaluation.write_report else _no_report)(
        report_dir,
        ReportInputs(
            title=f"{config.name} ({config.experiment})",
            labels=labels,
            multi_label=multi,
            texts=test_data.texts,
            y_true=test_data.labels,
            y_pred=predicted,
            scores=scores,
            score_kind=score_kind,
            test_metrics=test_metrics,
            cv_metrics=cv_summary,
            top_features=top_weighted_features(pipeline),
            facts={
                "MLflow run": mlflow.active_run().info.run_id,
                "task": config.task,
                "classifier": f"{config.model.name} {config.model.params}",
                "train": f"{config.data.train} ({len(train_data.texts)} rows)",
                "test": f"{config.data.test or 'split of train'} ({len(test_data.texts)} rows)",
                "CV": f"{folds}-fold, seed {config.seed}"
                if config.evaluation.cross_validate
                else "none (evaluation.cross_validate: false)",
            },
            notes=notes,
            misclassified_examples=config.evaluation.misclassified_examples,
        ),
    )
    for path in report_files:
        mlflow.log_artifact(str(path), artifact_path="report")

    if not config.evaluation.log_model:  # a sweep's child: metrics only, no model
        return "", metrics
    example = X_test.head(3)
    output = pipeline.predict(example)
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(example, output),
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=persist.types_to_trust(pipeline),
        pip_requirements=persist.pip_requirements(pipeline),
    )
    return info.model_uri, metrics
