"""Training: config -> data -> Pipeline -> CV + test metrics -> report -> MLflow run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from khabar import __version__, persist
from khabar.cache import FeatureCache
from khabar.config import ExperimentConfig
from khabar.dataset import (
    LabeledData,
    check_test_labels,
    clean_labels,
    clean_texts,
    find_leakage,
    load_labeled,
    map_labels,
    row_location,
    split_train_test,
)
from khabar.decision import joint_labels
from khabar.errors import KhabarError
from khabar.evaluate import choose_folds, compute_metrics, cross_validate, cv_splits
from khabar.guard import fit_errors_as_user_errors, preflight
from khabar.pipeline import (
    build_pipeline,
    class_labels,
    class_scores,
    input_columns,
    predict_labels,
    top_weighted_features,
)
from khabar.report import ReportInputs, write_report
from khabar.track import connect, flatten
from khabar.word_vectors import load_or_train


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
    return data.frame[input_columns(config)].reset_index(drop=True)


def fit_labels(data: LabeledData, config: ExperimentConfig) -> list:
    """The labels a model is fit on: the label column's, or with data.auxiliary_label_column
    each row's joint label (main + auxiliary, khabar.decision.JointLabelClassifier)."""
    auxiliary = config.data.auxiliary_label_column
    if auxiliary is None:
        return data.labels
    try:
        return joint_labels(data.labels, clean_labels(data.frame, auxiliary, data.path, False))
    except ValueError as exc:
        raise KhabarError(f"{data.path}: {exc}") from None


def _load_data(config: ExperimentConfig) -> tuple[LabeledData, LabeledData | None]:
    data = config.data
    multi = config.task == "multi_label"
    extra = tuple(
        c
        for c in [
            config.evaluation.grouped_metric and config.evaluation.grouped_metric.group_column,
            data.auxiliary_label_column,
        ]
        if c
    ) + tuple(input_columns(config)[1:])
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
    fit_labels(train, config)  # a blank auxiliary label fails now, before any run starts
    if data.test is None and data.test_size == 0:
        for column in input_columns(config)[1:]:
            clean_texts(train.frame, column, train.path)
        train.notes.append(
            "no test set (data.test_size: 0): trained on every row; judged by cross-validation, "
            "the report shows out-of-fold predictions"
        )
        return train, None
    if data.test is None:
        train, test = split_train_test(train, data.test_size, config.seed)
        test.notes.append(
            f"test set: stratified {data.test_size:.0%} split of {data.train} (seed {config.seed})"
        )
        train.notes.extend(test.notes)
    else:
        test = load(data.test)
    for column in input_columns(config)[1:]:  # a model's extra input may not be blank
        for part in (train, test):
            clean_texts(part.frame, column, part.path)
    check_test_labels(train, test)
    leaked = find_leakage(train, test)
    train.leaked_test_rows = len(leaked)
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
        print(
            f"warning: leakage: {len(leaked)} test texts also occur in the training data "
            f"({action}), e.g. {examples}"
        )
        if data.drop_leaked:
            keep = sorted(set(range(len(test.texts))) - set(leaked))
            if not keep:
                raise KhabarError(
                    f"{data.test or data.train}: every test text also occurs in the training "
                    "data; with data.drop_leaked=true no test rows are left"
                )
            test = test.subset(keep)
    return train, test


def _no_report(report_dir: Path, inputs: ReportInputs) -> list[Path]:
    return []


# A local sweep trains its variants one after another in one process, on the same data:
# inside `reuse_loaded_data()` each file is read and split once. Off otherwise, because
# holding the data would keep training from letting the texts go before the classifier fit.
_loaded: dict | None = None


@contextlib.contextmanager
def reuse_loaded_data():
    """Within this block, train() reads and splits each distinct data setting once."""
    global _loaded
    previous, _loaded = _loaded, {}
    try:
        yield
    finally:
        _loaded = previous


def _load_data_once(config: ExperimentConfig) -> tuple[LabeledData, LabeledData | None]:
    if _loaded is None:
        return _load_data(config)
    files = [Path(config.data.train), *([Path(config.data.test)] if config.data.test else [])]
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    key = json.dumps(
        [
            config.data.model_dump(mode="json"),
            config.task,
            config.seed,
            input_columns(config),
            config.evaluation.grouped_metric and config.evaluation.grouped_metric.group_column,
            stats,
        ],
        sort_keys=True,
    )
    if key not in _loaded:
        _loaded[key] = _load_data(config)
    # Copies whose notes (and anything training reassigns) are their own.
    return tuple(  # type: ignore[return-value]
        None if part is None else dataclasses.replace(part, notes=list(part.notes))
        for part in _loaded[key]
    )


def load_extra_train(
    config: ExperimentConfig, train: LabeledData | None = None
) -> list[LabeledData]:
    """data.extra_train's files in data.train's terms: the text under the config's text
    column, labels renamed by each entry's label map, every column training reads checked.
    With `train`, a label it never uses is refused: it would be a class nobody scores."""
    data = config.data
    auxiliary = (data.auxiliary_label_column,) if data.auxiliary_label_column else ()
    inputs = input_columns(config)[1:]
    seen = set(train.label_counts) if train is not None else None
    parts = []
    for i, entry in enumerate(data.extra_train_files()):
        text_column = entry.text_column or data.text_column
        part = load_labeled(
            entry.path,
            text_column,
            entry.label_column or data.label_column,
            multi_label=config.task == "multi_label",
            encoding=data.encoding,
            extra_columns=(*inputs, *auxiliary),
            needed_columns_only=True,
        )
        field = f"data.extra_train[{i}]"
        mapped = map_labels(part, entry.labels, field) if entry.labels else part.labels
        for position, (label, original) in enumerate(zip(mapped, part.labels, strict=True)):
            values = label if isinstance(label, list) else [label]
            if seen is not None and not seen.issuperset(values):
                renamed = f" (mapped from {original!r} by {field}.labels)" if entry.labels else ""
                raise KhabarError(
                    f"{entry.path}: {row_location(part.frame, position)}: label "
                    f"{sorted(set(values) - seen)[0]!r}{renamed} never occurs in training data "
                    f"{train.path} (labels: {sorted(seen)})"
                )
        part.labels = mapped
        for column in inputs:  # a model's extra input may not be blank
            clean_texts(part.frame, column, part.path)
        fit_labels(part, config)  # a blank auxiliary label fails here, before any run starts
        if text_column != data.text_column:  # the Pipeline reads the config's text column
            frame = part.frame.drop(columns=[data.text_column], errors="ignore")
            part.frame = frame.rename(columns={text_column: data.text_column})
        parts.append(part)
    return parts


def _run_name(config: ExperimentConfig) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{config.name}-{stamp}")


def train(
    config: ExperimentConfig,
    config_path: str | Path | None = None,
    parent_run_id: str | None = None,
    *,
    offline: bool = False,
) -> TrainResult:
    """Train, evaluate, report and log one experiment config as one MLflow run (a child of
    `parent_run_id` when given, as in a sweep). `offline` records to the local store even
    when MLFLOW_TRACKING_URI names a server."""
    # Server, input files and reports folder are checked before any work; the data is
    # validated before the store is opened, so a bad file creates no run at all.
    preflight(config, offline=offline)
    train_data, test_data = _load_data_once(config)
    extra = load_extra_train(config, train_data)
    multi = config.task == "multi_label"
    try:
        folds, fold_note = choose_folds(train_data.labels, config.evaluation.cv_folds, multi)
    except KhabarError as exc:
        raise KhabarError(f"{config.data.train}: {exc}") from None
    if config.features.word_vectors is not None:
        # Trained (once, then cached) before a run opens: a bad corpus leaves no failed run.
        load_or_train(config.features.word_vectors, config.normalize.model_dump())
    connect(config.experiment, offline=offline)
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
                extra,
                folds,
                notes,
                report_dir,
            )
        except KeyboardInterrupt:
            # A store that fails now must not turn a clean interruption into a traceback.
            with contextlib.suppress(Exception):
                mlflow.end_run(status="KILLED")
            raise
        except mlflow.exceptions.MlflowException as exc:  # e.g. the server went away mid-run
            first_line = (exc.message.strip().splitlines() or [type(exc).__name__])[0]
            message = f"run {run.info.run_id}: tracking store failed: {first_line}"
            _record_error(message)
            raise KhabarError(message) from None
        except OSError as exc:  # artifacts or reports: a full disk, a vanished folder
            message = f"run {run.info.run_id}: cannot write: {exc.strerror or exc}"
            _record_error(message)
            raise KhabarError(message) from None
        except KhabarError as exc:
            _record_error(str(exc))
            raise
        return TrainResult(run.info.run_id, result[0], result[1], str(result[2]))


def _record_error(message: str) -> None:
    """The run ends FAILED (by the context manager); say why where the UI shows it, unless
    the store itself is what failed."""
    with contextlib.suppress(Exception):
        mlflow.set_tag("khabar.error", message[:5000])


def _train_in_run(
    config,
    config_path,
    train_data,
    test_data,
    extra,
    folds,
    notes,
    report_dir,
):
    multi = config.task == "multi_label"
    grouped = config.evaluation.grouped_metric
    groups_column = grouped.group_column if grouped else None
    pipeline = build_pipeline(config)
    X_train = model_inputs(train_data, config)  # noqa: N806
    # data.extra_train: more labeled rows for every fit (CV folds, final model), never scored.
    y_fit = train_data.labels + [label for part in extra for label in part.labels]
    # What the models are fit on: y_fit itself, or joint labels (data.auxiliary_label_column).
    y_model = fit_labels(train_data, config) + [
        label for part in extra for label in fit_labels(part, config)
    ]
    X_fit = pd.concat([X_train, *(model_inputs(part, config) for part in extra)], ignore_index=True)  # noqa: N806
    always_train = len(y_fit) - len(train_data.labels)
    train_groups = train_data.frame[groups_column].tolist() if groups_column else None
    cv_only = test_data is None
    if cv_only:  # the report shows out-of-fold predictions on the training rows
        test_data = train_data
    X_test = model_inputs(test_data, config)  # noqa: N806
    test_groups = test_data.frame[groups_column].tolist() if groups_column else None

    mlflow.log_params(flatten(config.model_dump(mode="json")))
    mlflow.log_params(
        {
            "data.train_rows": len(train_data.texts),
            "data.extra_train_rows": always_train,
            "data.test_rows": 0 if cv_only else len(test_data.texts),
            "data.train_sha256": train_data.sha256,
            "data.test_sha256": "" if cv_only else test_data.sha256,
            "evaluation.cv_folds_used": folds,
            "data.leaked_test_rows": train_data.leaked_test_rows,
            "khabar_version": __version__,
        }
    )
    mlflow.log_dict(
        {"train": train_data.label_counts, "test": {} if cv_only else test_data.label_counts},
        "data/label_counts.json",
    )
    if config_path is not None:
        mlflow.log_artifact(str(config_path), artifact_path="config")
    mlflow.log_dict(config.model_dump(mode="json"), "config/resolved.yaml")

    labels = sorted({*train_data.label_counts, *(x for part in extra for x in part.label_counts)})
    feature_cache = FeatureCache() if config.evaluation.cache_features else None
    started = time.perf_counter()
    cv_summary: dict[str, float] = {}
    if config.evaluation.cross_validate:
        with fit_errors_as_user_errors(config):
            cv_summary, _ = cross_validate(
                pipeline,
                X_fit,
                y_fit,
                labels,
                folds=folds,
                seed=config.seed,
                multi_label=multi,
                groups=train_groups,
                grouped=grouped,
                n_jobs=config.evaluation.n_jobs,
                cache=feature_cache,
                always_train=always_train,
                fit_labels=y_model,
                repeats=config.evaluation.cv_repeats,
            )
    cv_seconds = time.perf_counter() - started

    started = time.perf_counter()
    scorer, test_inputs = pipeline, X_test
    with fit_errors_as_user_errors(config):
        if feature_cache is None:
            # Features, then the classifier: in between, the training texts can go (at
            # corpus scale they are ~140 MB of the process's peak). Out-of-fold scoring
            # (no test set) still needs them.
            matrix = pipeline[:-1].fit_transform(X_fit, y_model)
            if not cv_only:
                del X_fit, X_train
                train_data.drop_texts(config.data.text_column)
            pipeline[-1].fit(matrix, y_model)
            del matrix
        else:  # features from the cache; the test set is scored on its cached matrix
            features = feature_cache.featurize(
                pipeline[:-1], X_fit, X_test, config.data.text_column
            )
            classifier = pipeline[-1].fit(features.fit_matrix, y_model)
            pipeline = Pipeline([*features.steps.steps, ("classifier", classifier)])
            scorer, test_inputs = Pipeline([("classifier", classifier)]), features.eval_matrix
    fit_seconds = time.perf_counter() - started
    if scorer is pipeline:  # featurize the test set once, for predictions and scores
        scorer, test_inputs = (
            Pipeline([("classifier", pipeline[-1])]),
            pipeline[:-1].transform(X_test),
        )
    labels = class_labels(pipeline)
    if cv_only:
        predicted, scores, score_kind = _out_of_fold(
            pipeline, X_fit, y_fit, config, folds, always_train, y_model
        )
    else:
        predicted = predict_labels(scorer, test_inputs)
        scores, score_kind = class_scores(scorer, test_inputs)
    test_metrics = compute_metrics(
        test_data.labels, predicted, labels, multi_label=multi, groups=test_groups, grouped=grouped
    )
    metrics = {
        **{f"{'oof' if cv_only else 'test'}_{k}": v for k, v in test_metrics.items()},
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
                "train": f"{config.data.train} ({len(train_data.labels)} rows)",
                "test": "none: out-of-fold predictions of the CV on train"
                if cv_only
                else f"{config.data.test or 'split of train'} ({len(test_data.texts)} rows)",
                "CV": f"{folds}-fold, seed {config.seed}"
                + (
                    f", repeated {config.evaluation.cv_repeats}x (seeds from {config.seed})"
                    if config.evaluation.cv_repeats > 1
                    else ""
                )
                if config.evaluation.cross_validate
                else "none (evaluation.cross_validate: false)",
            },
            notes=notes,
            misclassified_examples=config.evaluation.misclassified_examples,
        ),
    )
    if report_files:  # a fresh name if the planned one was taken
        report_dir = report_files[0].parent
    for path in report_files:
        mlflow.log_artifact(str(path), artifact_path="report")

    if not config.evaluation.log_model:  # a sweep's child: metrics only, no model
        return "", metrics, report_dir
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
    return info.model_uri, metrics, report_dir


def _out_of_fold(
    pipeline,
    X,  # noqa: N803
    y,
    config: ExperimentConfig,
    folds: int,
    always_train: int = 0,
    y_model: list | None = None,
):
    """Each row predicted by a model fit on the other folds (the same folds as the CV);
    `y_model`: the labels fit on, when they differ from `y` (joint labels)."""
    y_model = y if y_model is None else y_model
    splits = cv_splits(
        X,
        y,
        folds=folds,
        seed=config.seed,
        multi_label=config.task == "multi_label",
        always_train=always_train,
    )
    labels = class_labels(pipeline)
    scored = len(y) - always_train
    predicted: list = [None] * scored
    scores = np.zeros((scored, len(labels)))
    kind = "decision"
    for train_rows, test_rows in splits:
        model = clone(pipeline).fit(X.iloc[train_rows], [y_model[i] for i in train_rows])
        fold_scores, kind = class_scores(model, X.iloc[test_rows])
        columns = [labels.index(label) for label in class_labels(model)]
        scores[np.ix_(test_rows, columns)] = fold_scores
        for i, label in zip(test_rows, predict_labels(model, X.iloc[test_rows]), strict=True):
            predicted[i] = label
    return predicted, scores, kind
