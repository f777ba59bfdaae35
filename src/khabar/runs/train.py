"""Training one experiment config as one MLflow run, in named steps: load the data and
build the fit set (before the run opens) -> log the inputs -> cross-validate -> fit the
final model -> score the test set (or out of fold) -> write the report -> log the model."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.pipeline import Pipeline

from khabar.data.config import ExperimentConfig, apply_overrides
from khabar.data.dataset import LabeledData
from khabar.data.fit_set import (
    FitSet,
    build_fit_set,
    input_columns,
    load_extra_train,
    load_train_and_test,
    model_inputs,
    split_groups_of,
)
from khabar.errors import KhabarError, first_line
from khabar.model.pipeline import (
    build_pipeline,
    class_labels,
    class_scores,
    predict_labels,
    top_weighted_features,
)
from khabar.model.stories import best_match, normalized, raw_story_ids, story_detection
from khabar.model.word_vectors import load_or_train
from khabar.record import model_files
from khabar.record.explain import Explainer, pushing_ngrams
from khabar.record.metrics import compute_metrics
from khabar.record.predictions import (
    Manifest,
    ScoredItems,
    add_split,
    intervals_of,
    item_hashes,
    log_predictions,
    prediction_table,
)
from khabar.record.report import ReportInputs, confident_mistakes, timestamped_name, write_report
from khabar.record.resampling import MetricSpace
from khabar.record.tracking import (
    DESCRIPTION_TAG,
    RESOLVED_CONFIG_ARTIFACT,
    connect,
    flatten,
    log_dataset,
)
from khabar.runs.cross_validation import (
    OutOfFold,
    choose_folds,
    cross_validate,
    extra_outside,
)
from khabar.runs.describe import dataset_inputs, experiment_description, run_description
from khabar.runs.feature_cache import FeatureCache
from khabar.runs.guard import fit_errors_as_user_errors, load_config, preflight
from khabar.version import __version__


@dataclass
class TrainResult:
    """What `train` returns and `khabar train --json` prints.

    Attributes
    ----------
    run_id : str
        The MLflow run.
    model_uri : str
        The logged model (``models:/m-…``); empty when the config logs no model.
    metrics : dict of str to float
        Every metric logged: ``test_*`` (or ``oof_*`` without a test set), ``cv_*``.
    report_dir : str
        The folder holding summary.md and the plots.
    """

    run_id: str
    model_uri: str
    metrics: dict[str, float]
    report_dir: str

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict, as `khabar train --json` prints it.

        Returns
        -------
        dict
            The fields by name.
        """
        return dataclasses.asdict(self)


@dataclass
class TrainingData:
    """The data of one run, loaded and checked before the run opens.

    Attributes
    ----------
    train : LabeledData
        The training rows (data.train, or its training part).
    test : LabeledData or None
        The test rows; None: no test set, the training rows are scored out of fold.
    fit : FitSet
        What the models are fit on: the training rows, then data.extra_train's.
    folds : int
        The CV's fold count (evaluation.cv_folds, reduced for a rare class).
    notes : list of str
        Notes for the report.
    empty_texts_dropped : int, default 0
        Rows without text dropped (data.empty_texts: drop), over every file.
    item_hashes : dict of str to list of str
        Per-item digests of the training ("train") and test ("test") rows, taken while
        the texts are loaded: the logged predictions name their items by them.
    datasets : list of (Dataset, str)
        The tables read, as MLflow dataset inputs with their contexts (schema samples).
    split_groups : list or None
        Each fit row's CV group under evaluation.groups (extra rows too).
    extra_rows_left_out : int
        Extra rows that share a group with a scored row (left out of one fold's fit).
    """

    train: LabeledData
    test: LabeledData | None  # None: no test set; scored out of fold
    fit: FitSet
    folds: int
    notes: list[str]
    empty_texts_dropped: int = 0  # rows without text dropped (data.empty_texts: drop)
    item_hashes: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    datasets: list = dataclasses.field(default_factory=list)
    split_groups: list | None = None  # each fit row's CV group (evaluation.groups)
    extra_rows_left_out: int = 0  # extra rows sharing a group with a scored row

    @property
    def scored(self) -> LabeledData:
        """The rows the report scores: the test set, or the training rows out of fold."""
        return self.train if self.test is None else self.test


@dataclass
class FittedModel:
    """The final Pipeline and the test rows it scores, featurized once.

    Attributes
    ----------
    pipeline : Pipeline
        The fitted Pipeline, as it is logged.
    classifier : Pipeline
        The classifier step alone, for featurized rows.
    test_features : sparse matrix or None
        The test rows' feature matrix (None without a test set).
    seconds : float
        The final fit's wall time.
    """

    pipeline: Pipeline
    classifier: Pipeline  # the classifier step alone, for featurized rows
    test_features: object  # the test rows' feature matrix (None without a test set)
    seconds: float


@dataclass
class Scores:
    """Predictions and metrics on the scored rows (test set, or out of fold).

    Attributes
    ----------
    predicted : list
        One predicted label (or list of labels) per scored row.
    scores : ndarray of shape (n_samples, n_classes)
        The model's score of each class for each scored row.
    score_kind : str
        "probability" or "decision".
    metrics : dict of str to float
        As `khabar.record.metrics.compute_metrics` returns them.
    """

    predicted: list
    scores: np.ndarray
    score_kind: str
    metrics: dict[str, float]


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


def _load_once(config: ExperimentConfig) -> tuple[LabeledData, LabeledData | None]:
    if _loaded is None:
        return load_train_and_test(config, same_story, story_detection(config))
    files = [Path(f) for f in config.data.train_files()]
    files += [Path(config.data.test)] if config.data.test else []
    stats = [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
    grouped = config.evaluation.grouped_metric
    key = json.dumps(
        [
            config.data.model_dump(mode="json"),
            [config.task, config.seed, input_columns(config), grouped and grouped.group_column,
             config.evaluation.groups],
            stats,
        ],
        sort_keys=True,
    )
    if key not in _loaded:
        _loaded[key] = load_train_and_test(config, same_story, story_detection(config))
    # Copies whose notes (and anything training reassigns) are their own.
    return tuple(  # type: ignore[return-value]
        None if part is None else dataclasses.replace(part, notes=list(part.notes))
        for part in _loaded[key]
    )


def load_training_data(config: ExperimentConfig) -> TrainingData:
    """Step 1, before any run opens: read and check everything a run needs.

    The data, the extra rows and the fold count are checked, and word vectors trained (or
    found cached), so a bad input leaves no failed run.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.

    Returns
    -------
    TrainingData
        The run's data; warnings (leakage, dropped rows) and a reduced fold count are
        printed.

    Raises
    ------
    KhabarError
        Any problem with the data files or the word vectors' corpus, or data that cannot
        be cross-validated.
    """
    train, test = _load_once(config)
    extra = load_extra_train(config, train)
    for note in train.notes:
        if note.startswith(("leakage:", "empty texts:")):
            print(f"warning: {note}")
    fit = build_fit_set(config, train, extra)
    dropped = sum(len(part.dropped_empty) for part in (train, test, *extra) if part is not None)
    try:
        folds, fold_note = choose_folds(
            train.labels, config.evaluation.cv_folds, config.task == "multi_label"
        )
    except KhabarError as exc:
        raise KhabarError(f"{config.data.train_name()}: {exc}") from None
    if fold_note:
        print(f"note: {fold_note}")
    if config.features.word_vectors is not None:
        load_or_train(config.features.word_vectors, config.normalize.model_dump())
    notes = list(train.notes) + ([fold_note] if fold_note else [])
    hashes = {
        name: item_hashes(item_ids(config, part), part.texts, part.labels)
        for name, part in (("train", train), ("test", test))
        if part is not None
    }
    datasets = dataset_inputs(config, train, test, extra, hashes)
    groups, left_out = split_groups(config, fit, test, train)
    if groups is not None:
        notes.append(_groups_note(config, groups, fit.extra_rows, left_out))
    return TrainingData(train, test, fit, folds, notes, dropped, hashes, datasets, groups, left_out)


def _groups_note(config: ExperimentConfig, groups: list, extra_rows: int, left_out: int) -> str:
    scored = groups[: len(groups) - extra_rows]
    note = (
        f"CV folds by {config.evaluation.groups}: {len(set(scored))} groups over "
        f"{len(scored)} scored rows, each group on one side of every fold"
    )
    if extra_rows:
        note += (
            f"; {left_out} of {extra_rows} extra rows share a group with a scored row and are "
            "left out of the fit of the fold that scores it"
        )
    return note


def log_inputs(config: ExperimentConfig, config_path: str | Path | None, data: TrainingData):
    """Step 2: log the config as params, the data as MLflow datasets, label counts, the
    config files.

    Parameters
    ----------
    config : ExperimentConfig
        The resolved config, logged as params and as a YAML artifact.
    config_path : str or Path or None
        The YAML file the config came from, logged as it is; None for a config object.
    data : TrainingData
        The run's data, whose row counts, hashes and label counts are logged.
    """
    test = data.test
    for dataset, context in data.datasets:
        log_dataset(dataset, context)
    mlflow.log_params(flatten(config.model_dump(mode="json")))
    mlflow.log_params(
        {
            "data.train_rows": len(data.train.labels),
            "data.extra_train_rows": data.fit.extra_rows,
            "data.test_rows": 0 if test is None else len(test.labels),
            "data.train_sha256": data.train.sha256,
            "data.test_sha256": "" if test is None else test.sha256,
            "evaluation.cv_folds_used": data.folds,
            "data.leaked_test_rows": data.train.leaked_test_rows,
            "data.near_duplicate_test_rows": data.train.near_duplicate_test_rows,
            "data.extra_rows_left_out": data.extra_rows_left_out,
            "data.empty_texts_dropped": data.empty_texts_dropped,
            "khabar_version": __version__,
        }
    )
    mlflow.log_dict(
        {"train": data.train.label_counts, "test": {} if test is None else test.label_counts},
        "data/label_counts.json",
    )
    if config_path is not None:
        mlflow.log_artifact(str(config_path), artifact_path="config")
    mlflow.log_dict(config.model_dump(mode="json"), RESOLVED_CONFIG_ARTIFACT)


def same_story(test_texts: list[str], train_texts: list[str]):
    """Each test text's closest training text and their story cosine (normalized texts).

    Parameters
    ----------
    test_texts, train_texts : list of str
        Raw texts.

    Returns
    -------
    tuple of ndarray
        Closest training position and cosine per test text (`khabar.model.stories.best_match`).
    """
    return best_match(normalized(test_texts), normalized(train_texts))


def split_groups(
    config: ExperimentConfig, fit: FitSet, test: LabeledData | None, train: LabeledData
) -> tuple[list | None, int]:
    """Every fit row's group for the CV (evaluation.groups), extra rows included.

    Stories are found over train + extra + test together, so a story that links two
    training rows through a test row is still one story.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    fit : FitSet
        The fit rows (training rows, then extra rows).
    test : LabeledData or None
        The test rows.
    train : LabeledData
        The training rows (their frame holds a group column).

    Returns
    -------
    groups : list or None
        Story numbers ("story"), the column's values (each extra row its own group), or
        None without evaluation.groups.
    extra_left_out : int
        Extra rows sharing a group with a scored row: each is left out of the fit of the
        fold that scores its group.
    """
    groups = config.evaluation.groups
    if groups is None:
        return None, 0
    if groups == "story":
        texts = fit.inputs[config.data.text_column].tolist()
        found = raw_story_ids(texts + ([] if test is None else test.texts),
                        config.data.near_duplicate_threshold)[: len(texts)].tolist()  # fmt: skip
    else:
        found = split_groups_of(config, train) + [f"extra-{i}" for i in range(fit.extra_rows)]
    scored = len(found) - fit.extra_rows
    extra = np.arange(scored, len(found))
    return found, len(extra) - len(extra_outside(extra, found, found[:scored]))


def _groups(config: ExperimentConfig, data: LabeledData) -> list | None:
    grouped = config.evaluation.grouped_metric
    return data.frame[grouped.group_column].tolist() if grouped else None


def cross_validate_fit_set(
    pipeline: Pipeline, config: ExperimentConfig, data: TrainingData, cache: FeatureCache | None
) -> tuple[dict[str, float], OutOfFold | None, float]:
    """Step 3: k-fold CV (repeated if configured) of the training rows.

    Extra rows join every fit and are never scored. Without a test set the CV runs even
    when evaluation.cross_validate is off (once, unreported): its out-of-fold predictions
    are the run's score.

    Parameters
    ----------
    pipeline : Pipeline
        The unfitted Pipeline.
    config : ExperimentConfig
        The experiment (evaluation section, seed, task).
    data : TrainingData
        The run's data.
    cache : FeatureCache or None
        Reuse featurized folds.

    Returns
    -------
    summary : dict of str to float
        The cv_* metrics; {} when evaluation.cross_validate is off.
    out_of_fold : OutOfFold or None
        Every training row predicted by the fold model that held it out; None when no CV
        ran.
    seconds : float
        The CV's wall time.

    Raises
    ------
    KhabarError
        Fitting failed on the data or the settings; names the setting and the file.
    """
    started = time.perf_counter()
    reported = config.evaluation.cross_validate
    if not reported and data.test is not None:
        return {}, None, 0.0
    with fit_errors_as_user_errors(config):
        summary, _, out_of_fold = cross_validate(
            pipeline,
            data.fit,
            data.fit.classes,
            folds=data.folds,
            seed=config.seed,
            multi_label=config.task == "multi_label",
            groups=_groups(config, data.train),
            grouped=config.evaluation.grouped_metric,
            n_jobs=config.evaluation.n_jobs,
            cache=cache,
            repeats=config.evaluation.cv_repeats if reported else 1,
            split_groups=data.split_groups,
        )
    return (summary if reported else {}), out_of_fold, time.perf_counter() - started


def fit_final(
    pipeline: Pipeline, config: ExperimentConfig, data: TrainingData, cache: FeatureCache | None
) -> FittedModel:
    """Step 4: fit the final model on the whole fit set, and featurize the test rows.

    Without a cache and with a test set, the training texts are let go of between the
    features and the classifier's fit.

    Parameters
    ----------
    pipeline : Pipeline
        The unfitted Pipeline; its classifier (and without `cache` its feature steps) is
        fit in place.
    config : ExperimentConfig
        The experiment.
    data : TrainingData
        The run's data.
    cache : FeatureCache or None
        Take the features from the cache.

    Returns
    -------
    FittedModel
        The fitted Pipeline, its classifier alone and the test rows' features.

    Raises
    ------
    KhabarError
        Fitting failed on the data or the settings; names the setting and the file.
    """
    started = time.perf_counter()
    fit = data.fit
    test_inputs = None if data.test is None else model_inputs(data.test, config)
    with fit_errors_as_user_errors(config):
        if cache is not None:  # features from the cache, the scored rows' matrix with them
            scored = test_inputs if test_inputs is not None else model_inputs(data.train, config)
            features = cache.featurize(pipeline[:-1], fit.inputs, scored, pipeline[0].text_column)
            classifier = Pipeline([("classifier", pipeline[-1])])
            classifier.fit(features.fit_matrix, fit.fit_labels)
            pipeline = Pipeline([*features.steps.steps, ("classifier", classifier[-1])])
            test_features = None if data.test is None else features.eval_matrix
            return FittedModel(pipeline, classifier, test_features, time.perf_counter() - started)
        # Features, then the classifier: in between, the training texts can go (at corpus
        # scale they are ~140 MB of the process's peak). Out-of-fold scoring needs them.
        matrix = pipeline[:-1].fit_transform(fit.inputs, fit.fit_labels)
        if data.test is not None:
            fit.release_inputs()
            data.train.drop_texts(config.data.text_column)
        pipeline[-1].fit(matrix, fit.fit_labels)
        del matrix
    seconds = time.perf_counter() - started
    test_features = None if test_inputs is None else pipeline[:-1].transform(test_inputs)
    return FittedModel(pipeline, Pipeline([("classifier", pipeline[-1])]), test_features, seconds)


def score(
    fitted: FittedModel, config: ExperimentConfig, data: TrainingData, out_of_fold: OutOfFold | None
) -> Scores:
    """Step 5: predictions and metrics on the test set, or out of fold without one.

    Parameters
    ----------
    fitted : FittedModel
        The final model and the test rows' features.
    config : ExperimentConfig
        The experiment.
    data : TrainingData
        The run's data.
    out_of_fold : OutOfFold or None
        The CV's predictions; without a test set, its first repeat is the score.

    Returns
    -------
    Scores
        Predictions, scores and metrics of the scored rows.
    """
    labels = class_labels(fitted.pipeline)
    if data.test is None:
        predicted, kind = out_of_fold.predicted[0], out_of_fold.score_kind
        scores = out_of_fold.scores[0][:, [out_of_fold.labels.index(label) for label in labels]]
    else:
        predicted = predict_labels(fitted.classifier, fitted.test_features)
        scores, kind = class_scores(fitted.classifier, fitted.test_features)
    metrics = compute_metrics(
        data.scored.labels,
        predicted,
        labels,
        multi_label=config.task == "multi_label",
        groups=_groups(config, data.scored),
        grouped=config.evaluation.grouped_metric,
    )
    return Scores(predicted, scores, kind, metrics)


def _ids(config: ExperimentConfig, data: LabeledData) -> list[str] | None:
    column = config.data.id_column
    return [str(i) for i in data.frame[column]] if column in data.frame.columns else None


def item_ids(config: ExperimentConfig, data: LabeledData) -> list[str]:
    """The rows' names: data.id_column's values, else their positions in the split.

    Parameters
    ----------
    config : ExperimentConfig
        Its data.id_column.
    data : LabeledData
        The rows.

    Returns
    -------
    list of str
    """
    ids = _ids(config, data)
    return ids if ids is not None else [str(i) for i in range(len(data.labels))]


def _manifest(config: ExperimentConfig, labels: list[str]) -> Manifest:
    grouped = config.evaluation.grouped_metric
    space = MetricSpace.of(
        labels, multi_label=config.task == "multi_label", grouped=grouped, groups=[]
    )
    return Manifest(
        config.task,
        labels,
        space.headline,
        grouped_metric=grouped.model_dump() if grouped else None,
        source={"run_id": mlflow.active_run().info.run_id, "config": config.name,
                "experiment": config.experiment},
    )  # fmt: skip


def keep_predictions(
    config: ExperimentConfig,
    data: TrainingData,
    labels: list[str],
    scored: Scores,
    out_of_fold: OutOfFold | None,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Step 6: bootstrap intervals of the scored metrics, and the per-item predictions.

    The test predictions (``predictions/test.parquet``) and the CV's out-of-fold ones,
    every repeat (``predictions/oof.parquet``), are logged with a manifest. Intervals
    resample items: for the CV, documents with all their repeats (the pooled predictions).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment (its seed seeds the bootstrap).
    data : TrainingData
        The run's data and its item hashes.
    labels : list of str
        The final model's classes.
    scored : Scores
        The scored rows' predictions.
    out_of_fold : OutOfFold or None
        The CV's predictions.

    Returns
    -------
    dict
        By metric prefix ("test", "cv", and "oof" without a test set): "intervals" (metric
        name -> (low, high)) and "points" (the metric values the intervals surround).
    """
    manifest = _manifest(config, labels)
    splits = []
    if data.test is not None:
        splits.append(ScoredItems("test", prediction_table(
            item_ids(config, data.test), data.test.labels, scored.predicted, scored.scores,
            labels, data.item_hashes["test"], groups=_groups(config, data.test))))  # fmt: skip
        add_split(manifest, splits[-1], scored.score_kind)
    if out_of_fold is not None:
        splits.append(_out_of_fold_items(config, data, labels, out_of_fold))
        add_split(manifest, splits[-1], out_of_fold.score_kind)
    log_predictions(manifest, splits)
    found = {"test" if s.split == "test" else "cv": intervals_of(manifest, s, config.seed)
             for s in splits}  # fmt: skip
    if data.test is None:  # the oof_* metrics are the first repeat's
        first = ScoredItems("oof", splits[-1].items)
        found["oof"] = (
            found["cv"] if splits[-1].repeats == 1 else intervals_of(manifest, first, config.seed)
        )
    if not config.evaluation.cross_validate:  # the CV ran only to score out of fold
        found.pop("cv", None)
    return found


def _out_of_fold_items(config, data, labels, out_of_fold: OutOfFold) -> ScoredItems:
    order = [out_of_fold.labels.index(label) for label in labels]
    tables = [
        prediction_table(
            item_ids(config, data.train),
            data.train.labels,
            out_of_fold.predicted[r],
            out_of_fold.scores[r][:, order],
            labels,
            data.item_hashes["train"],
            groups=_groups(config, data.train),
            repeat=r,
            folds=out_of_fold.folds[r],
        )  # fmt: skip
        for r in range(len(out_of_fold.predicted))
    ]
    return ScoredItems("oof", pd.concat(tables, ignore_index=True))


def interval_metrics(intervals: dict) -> dict[str, float]:
    """The intervals as MLflow metrics: ``<prefix>_<metric>_ci_low`` / ``_ci_high``.

    Prefixes: ``test`` (the test set), ``cv`` (the CV's predictions pooled over repeats,
    whose point values are logged as ``cv_<metric>_pooled``), ``oof`` (without a test set,
    the first repeat's, as the ``oof_*`` metrics).

    Parameters
    ----------
    intervals : dict
        As `keep_predictions` returns them.

    Returns
    -------
    dict of str to float
    """
    metrics = {}
    for prefix, found in intervals.items():
        for name, (low, high) in found["intervals"].items():
            metrics[f"{prefix}_{name}_ci_low"] = low
            metrics[f"{prefix}_{name}_ci_high"] = high
        if prefix == "cv":
            metrics.update({f"cv_{name}_pooled": v for name, v in found["points"].items()})
    return metrics


def _facts(config: ExperimentConfig, data: TrainingData) -> dict[str, str]:
    evaluation = config.evaluation
    cv = f"{data.folds}-fold, seed {config.seed}"
    if evaluation.cv_repeats > 1:
        cv += f", repeated {evaluation.cv_repeats}x (seeds from {config.seed})"
    test = (
        "none: out-of-fold predictions of the CV on train"
        if data.test is None
        else f"{config.data.test or 'split of train'} ({len(data.test.labels)} rows)"
    )
    return {
        "MLflow run": mlflow.active_run().info.run_id,
        "task": config.task,
        "classifier": f"{config.model.name} {config.model.params}",
        "train": f"{config.data.train_name()} ({len(data.train.labels)} rows)",
        "test": test,
        "CV": cv if evaluation.cross_validate else "none (evaluation.cross_validate: false)",
    }


def _report_inputs(config, data, fitted, scored, cv_summary, intervals) -> ReportInputs:
    cv = intervals.get("cv", {"intervals": {}, "points": {}})
    return ReportInputs(
        title=f"{config.name} ({config.experiment})",
        labels=class_labels(fitted.pipeline),
        multi_label=config.task == "multi_label",
        texts=data.scored.texts,
        y_true=data.scored.labels,
        y_pred=scored.predicted,
        scores=scored.scores,
        score_kind=scored.score_kind,
        test_metrics=scored.metrics,
        test_intervals=intervals["oof" if data.test is None else "test"]["intervals"],
        cv_metrics={**cv_summary, **{f"cv_{n}_pooled": v for n, v in cv["points"].items()}},
        cv_intervals={f"cv_{name}_pooled": ci for name, ci in cv["intervals"].items()},
        cv_support=data.train.label_counts,
        top_features=top_weighted_features(fitted.pipeline),
        facts=_facts(config, data),
        notes=data.notes,
        misclassified_examples=config.evaluation.misclassified_examples,
        ids=_ids(config, data.scored),
    )


def mistake_ngrams(
    config: ExperimentConfig, data: TrainingData, fitted: FittedModel, inputs: ReportInputs
) -> tuple[dict[int, list[tuple[str, str, float]]], str]:
    """For the report's most confidently misclassified rows: the three n-grams that pushed
    the wrong label most, exact contributions of the final model.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    data : TrainingData
        The run's data.
    fitted : FittedModel
        The final model and the test rows' features.
    inputs : ReportInputs
        The report's rows and scores (they pick the misclassified rows).

    Returns
    -------
    ngrams : dict of int to list of (str, str, float)
        By scored row: (n-gram, block, contribution), strongest first; {} when the model
        cannot be explained exactly or nothing is misclassified.
    note : str
        What the contributions are, for the report.
    """
    mistakes = confident_mistakes(inputs)
    try:
        explainer = Explainer(fitted.pipeline) if mistakes else None
    except KhabarError:
        explainer = None
    if explainer is None:
        return {}, ""
    rows = [mistake.row for mistake in mistakes]
    if data.test is not None:  # the very features the scores came from
        X = fitted.test_features[rows]
    else:
        X = fitted.pipeline[:-1].transform(model_inputs(data.scored, config).iloc[rows])
    scores = explainer.row_scores(X)
    found = {}
    for k, mistake in enumerate(mistakes):
        one = explainer.label_explanation(X, k, mistake.label, scores)
        found[mistake.row] = pushing_ngrams(explainer, one, 3, -1 if mistake.missed else 1)
    note = (
        f"N-grams: the three that pushed the wrong label most (a missed label: away from it), "
        f"value × weight in the {explainer.form.explained}; `khabar explain` shows them all."
    )
    if data.test is None:
        note += (
            " Out of fold, the prediction came from a CV fold's model; the n-grams are the "
            "final model's (refit on every training row), which may predict otherwise."
        )
    return found, note


def write_run_report(
    config: ExperimentConfig,
    data: TrainingData,
    fitted: FittedModel,
    scored: Scores,
    cv_summary: dict[str, float],
    intervals: dict,
    report_dir: Path,
) -> Path:
    """Step 6: summary.md and plots under reports/, logged as the run's `report` artifacts.

    A sweep's children write none (evaluation.write_report off): the sweep writes one
    comparison report.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    data : TrainingData
        The run's data.
    fitted : FittedModel
        The final model (its classes and top-weighted n-grams).
    scored : Scores
        Predictions and metrics of the scored rows.
    cv_summary : dict of str to float
        The cv_* metrics.
    intervals : dict
        The bootstrap intervals, as `keep_predictions` returns them.
    report_dir : Path
        The planned report folder.

    Returns
    -------
    Path
        The report folder: a fresh name if the planned one was taken; `report_dir` when
        no report is written.
    """
    if not config.evaluation.write_report:
        return report_dir
    inputs = _report_inputs(config, data, fitted, scored, cv_summary, intervals)
    inputs.mistake_ngrams, inputs.mistake_ngrams_note = mistake_ngrams(config, data, fitted, inputs)
    files = write_report(report_dir, inputs)
    for path in files:
        mlflow.log_artifact(str(path), artifact_path="report")
    return files[0].parent if files else report_dir


def log_model(pipeline: Pipeline, example) -> str:
    """Step 7: log the fitted Pipeline as an MLflow model in skops format (no pickle).

    Parameters
    ----------
    pipeline : Pipeline
        The fitted Pipeline.
    example : DataFrame
        A few input rows: the model's input example, and with its predictions the
        signature.

    Returns
    -------
    str
        The logged model's URI.
    """
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=infer_signature(example, pipeline.predict(example)),
        input_example=example,
        serialization_format="skops",
        skops_trusted_types=model_files.types_to_trust(pipeline),
        pip_requirements=model_files.pip_requirements(pipeline),
    )
    return info.model_uri


def _train_in_run(
    config: ExperimentConfig, config_path: str | Path | None, data: TrainingData, report_dir: Path
) -> tuple[str, dict[str, float], Path]:
    log_inputs(config, config_path, data)
    pipeline = build_pipeline(config)
    cache = FeatureCache() if config.evaluation.cache_features else None
    example = model_inputs(data.scored, config).head(3)
    cv_summary, out_of_fold, cv_seconds = cross_validate_fit_set(pipeline, config, data, cache)
    fitted = fit_final(pipeline, config, data, cache)
    scored = score(fitted, config, data, out_of_fold)
    intervals = keep_predictions(config, data, class_labels(fitted.pipeline), scored, out_of_fold)
    prefix = "oof" if data.test is None else "test"
    metrics = {
        **{f"{prefix}_{k}": v for k, v in scored.metrics.items()},
        **cv_summary,
        **interval_metrics(intervals),
        "fit_seconds": fitted.seconds,
        "cv_seconds": cv_seconds,
    }
    mlflow.log_metrics(metrics)
    rows = {"train": len(data.train.labels), "extra_train": data.fit.extra_rows,
            "test": 0 if data.test is None else len(data.test.labels)}  # fmt: skip
    mlflow.set_tag(DESCRIPTION_TAG, run_description(config, rows, data.folds, metrics))
    report_dir = write_run_report(config, data, fitted, scored, cv_summary, intervals, report_dir)
    model_uri = log_model(fitted.pipeline, example) if config.evaluation.log_model else ""
    return model_uri, metrics, report_dir


def resolve_config(
    config: ExperimentConfig | str | Path, overrides: list[str] | None = None
) -> tuple[ExperimentConfig, Path | None]:
    """A validated config from a config object or a YAML path, with `overrides` applied.

    Parameters
    ----------
    config : ExperimentConfig, str or Path
        A config, or its YAML file.
    overrides : list of str, optional
        ``KEY=VALUE`` settings of dotted config keys.

    Returns
    -------
    config : ExperimentConfig
        The validated config.
    path : Path or None
        The YAML file, when `config` is one.

    Raises
    ------
    KhabarError
        The YAML file or an override is invalid, or an override names no config key.
    pydantic.ValidationError
        An override gives a config object an invalid value.
    """
    if isinstance(config, ExperimentConfig):
        if not overrides:
            return config, None
        raw = apply_overrides(config.model_dump(mode="json"), overrides)
        return ExperimentConfig.model_validate(raw), None
    return load_config(config, overrides), Path(config)


def train(
    config: ExperimentConfig | str | Path,
    overrides: list[str] | None = None,
    *,
    config_path: str | Path | None = None,
    parent_run_id: str | None = None,
    offline: bool = False,
) -> TrainResult:
    """Train, evaluate, report and log one experiment as one MLflow run.

    Parameters
    ----------
    config : ExperimentConfig, str or Path
        The experiment, or its YAML file.
    overrides : list of str, optional
        ``KEY=VALUE`` settings of dotted config keys (``model.params.C=0.3``).
    config_path : str or Path, optional
        The YAML file to log beside the resolved config (implied when `config` is a path).
    parent_run_id : str, optional
        Makes the run a child of this one (a sweep's variants).
    offline : bool, default False
        Record in the local store even when MLFLOW_TRACKING_URI names a server.

    Returns
    -------
    TrainResult
        The run id, model URI, metrics and report folder.

    Raises
    ------
    KhabarError
        Any problem a user can cause, in one line; the data is checked before a run opens.
    """
    config, yaml_path = resolve_config(config, overrides)
    config_path = config_path or yaml_path
    preflight(config, offline=offline)  # server, input files, reports folder
    data = load_training_data(config)
    labels = sorted(data.train.label_counts)
    connect(config.experiment, offline, experiment_description(config, labels))
    run_name = timestamped_name(config.name)
    report_dir = Path(config.reports_dir) / config.experiment / run_name
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else None
    with mlflow.start_run(run_name=run_name, tags=tags) as run:
        with _run_errors_as_user_errors(run.info.run_id):
            model_uri, metrics, report_dir = _train_in_run(config, config_path, data, report_dir)
        return TrainResult(run.info.run_id, model_uri, metrics, str(report_dir))


@contextlib.contextmanager
def _run_errors_as_user_errors(run_id: str):
    """Inside an open run: a failure ends it FAILED with the reason as a tag, as one
    KhabarError line; Ctrl-C ends it KILLED."""
    try:
        yield
    except KeyboardInterrupt:
        # A store that fails now must not turn a clean interruption into a traceback.
        with contextlib.suppress(Exception):
            mlflow.end_run(status="KILLED")
        raise
    except mlflow.exceptions.MlflowException as exc:  # e.g. the server went away mid-run
        message = f"run {run_id}: tracking store failed: {first_line(exc)}"
        _record_error(message)
        raise KhabarError(message) from None
    except OSError as exc:  # artifacts or reports: a full disk, a vanished folder
        message = f"run {run_id}: cannot write: {exc.strerror or exc}"
        _record_error(message)
        raise KhabarError(message) from None
    except KhabarError as exc:
        _record_error(str(exc))
        raise


def _record_error(message: str) -> None:
    """The run ends FAILED (by the context manager); say why where the UI shows it, unless
    the store itself is what failed."""
    with contextlib.suppress(Exception):
        mlflow.set_tag("khabar.error", message[:5000])
