"""`khabar simulate`: replay the active-learning loop on an already-labeled set.

The config's training rows play the pool; their labels are revealed batch by batch. A
repeat starts from one random initial batch (the same for every strategy), then each step
fits the config's Pipeline on the labels revealed so far, scores the evaluation rows (the
config's test set, or the held-out fold of a stratified k-fold split of the training rows
whose complement is the pool) with the config's headline metric, and picks the next batch
from the rest of the pool exactly as `khabar select` does (`runs.select`: comparable
scores, uncertainty, the strategy's ranking, the near-duplicate check). data.extra_train's
rows join every fit, as in training, and are never picked or counted as labels used.

Each strategy's learning curve (metric against labels used, mean and spread over repeats)
is logged to MLflow, drawn, and summed up in a table: the labels each strategy needs to
reach the metric `random` reaches with the whole budget.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from tqdm.auto import tqdm

from khabar.data.config import ExperimentConfig
from khabar.data.fit_set import model_inputs
from khabar.errors import KhabarError
from khabar.model.normalize import ArabicNormalizer
from khabar.model.pipeline import build_pipeline, class_scores, predict_labels
from khabar.record.metrics import compute_metrics
from khabar.record.plots import plot_learning_curves
from khabar.record.report import timestamped_name, write_new_folder
from khabar.record.resampling import MetricSpace
from khabar.record.tracking import connect
from khabar.runs.cross_validation import cv_splits
from khabar.runs.guard import fit_errors_as_user_errors, preflight
from khabar.runs.select import (
    STRATEGIES,
    comparable_scores,
    rank_candidates,
    story_vectors,
    uncertainty,
    without_near_duplicates,
)
from khabar.runs.train import load_training_data, resolve_config

FEATURE_MODES = ("labeled", "pool")


@dataclass
class SimulateResult:
    """What `simulate` returns and `khabar simulate` prints.

    Attributes
    ----------
    run_id : str
        The parent MLflow run (one child run per strategy).
    report_dir : str
        The folder holding learning_curve.png, learning_curve.json and summary.md.
    metric : str
        The headline metric of the curves (e.g. f1_macro).
    evaluated_on : str
        What each step is scored on: the test set, or held-out folds.
    steps : list of int
        Labels used at each point of the curves.
    curves : dict of str to dict
        Per strategy: ``mean``, ``std``, ``min``, ``max`` per step over repeats, and
        ``repeats`` (one curve per repeat, each the mean over folds).
    target : float
        The metric `random` reaches with the whole budget (its mean curve's last point).
    labels_needed : dict of str to int or None
        Per strategy, the first step whose mean reaches `target`; None: not reached.
    saving : dict of str to float or None
        Per strategy, the labels saved against random's `labels_needed`, in percent.
    seconds : float
        The simulation's wall time.
    """

    run_id: str
    report_dir: str
    metric: str
    evaluated_on: str
    steps: list[int]
    curves: dict[str, dict[str, list]]
    target: float
    labels_needed: dict[str, int | None]
    saving: dict[str, float | None]
    seconds: float

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict.

        Returns
        -------
        dict
            The fields by name.
        """
        return dataclasses.asdict(self)


@dataclass
class _Problem:
    """The labeled rows as the loop sees them, and how a step fits and scores."""

    config: ExperimentConfig
    inputs: pd.DataFrame  # the pool candidates' (training rows') model inputs
    labels: list  # scored labels of the training rows
    fit_labels: list  # what a model is fit on (joint labels with an auxiliary column)
    extra_inputs: pd.DataFrame  # data.extra_train rows: in every fit
    extra_fit_labels: list
    normalized: list[str]  # the training rows' normalized texts (near-duplicate check)
    classes: list[str]
    headline: str  # the metric the curves show
    groups: list | None  # each training row's group (grouped metric)
    features: str  # "labeled" or "pool"


@dataclass
class _Split:
    """One pool and the rows that score it, with the features used to fit and score."""

    pool: np.ndarray  # positions of the training rows in the pool
    train_rows: object  # every training row's model input (DataFrame or feature matrix)
    extra_rows: object
    eval_rows: object
    eval_labels: list
    eval_groups: list | None


def check_arguments(
    strategies: Sequence[str], initial: int, batch: int, budget: int, repeats: int, features: str
) -> None:
    """Refuse settings the simulation cannot run.

    Parameters
    ----------
    strategies : sequence of str
        The strategies to compare; `random` among them (the table's reference).
    initial, batch, budget, repeats : int
        The loop's sizes and the number of repeats.
    features : str
        One of `FEATURE_MODES`.

    Raises
    ------
    KhabarError
        One line naming the flag and the problem.
    """
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise KhabarError(
            f"--strategies: unknown {unknown[0]!r}; choose from {', '.join(STRATEGIES)}"
        )
    if "random" not in strategies or len(set(strategies)) != len(strategies):
        raise KhabarError(
            "--strategies: list each strategy once, random among them (the reference)"
        )
    if min(initial, batch, repeats) < 1:
        raise KhabarError("--initial, --batch and --repeats must be at least 1")
    if initial > budget:
        raise KhabarError(f"--initial {initial} is more than --budget {budget}")
    if budget < initial + batch:
        raise KhabarError(
            f"--budget {budget} leaves no batch after --initial {initial}: at least {initial + batch}"
        )
    if features not in FEATURE_MODES:
        raise KhabarError(f"--features-from {features!r}: one of {', '.join(FEATURE_MODES)}")


def step_schedule(initial: int, batch: int, budget: int, pool: int) -> list[int]:
    """Labels used at each step: initial, initial + batch, ..., capped by budget and pool.

    Parameters
    ----------
    initial, batch, budget : int
        The loop's sizes.
    pool : int
        The smallest pool the loop runs on (the last step takes what is left).

    Returns
    -------
    list of int
        Increasing label counts; the last is min(budget, pool).

    Raises
    ------
    KhabarError
        The initial batch would take the whole pool.
    """
    if initial >= pool:
        raise KhabarError(f"--initial {initial}: the pool holds only {pool} labeled items")
    end = min(budget, pool)
    steps = list(range(initial, end, batch))
    return [*steps, end]


def labels_needed(steps: Sequence[int], curve: Sequence[float], target: float) -> int | None:
    """The labels a curve first reaches `target` at.

    Parameters
    ----------
    steps : sequence of int
        Labels used at each point.
    curve : sequence of float
        The metric at each point.
    target : float
        The value to reach (a rounding error of 1e-9 below counts as reached).

    Returns
    -------
    int or None
        The first step whose value is at least `target`; None when none is.
    """
    for step, value in zip(steps, curve, strict=True):
        if value >= target - 1e-9:
            return int(step)
    return None


def savings(needed: dict[str, int | None]) -> dict[str, float | None]:
    """Each strategy's labels saved against random's, in percent.

    Parameters
    ----------
    needed : dict of str to int or None
        `labels_needed` per strategy; random's is the reference.

    Returns
    -------
    dict of str to float or None
        100 * (1 - needed / random's needed); None where a strategy never reaches it.
    """
    reference = needed["random"]
    return {
        name: None if n is None or not reference else 100.0 * (1 - n / reference)
        for name, n in needed.items()
    }


def _problem(config: ExperimentConfig, data, features: str) -> _Problem:
    """The training rows (candidates) apart from the extra rows (in every fit)."""
    fit = data.fit
    n = len(fit.labels) - fit.extra_rows
    grouped = config.evaluation.grouped_metric
    normalizer = ArabicNormalizer(**config.normalize.model_dump())
    return _Problem(
        config=config,
        inputs=fit.inputs.iloc[:n].reset_index(drop=True),
        labels=fit.labels[:n],
        fit_labels=fit.fit_labels[:n],
        extra_inputs=fit.inputs.iloc[n:].reset_index(drop=True),
        extra_fit_labels=fit.fit_labels[n:],
        normalized=normalizer.transform(fit.inputs[config.data.text_column].iloc[:n].tolist()),
        classes=fit.classes,
        headline=MetricSpace.of(
            fit.classes,
            multi_label=config.task == "multi_label",
            grouped=grouped,
            groups=data.train.frame[grouped.group_column].tolist() if grouped else None,
        ).headline,
        groups=data.train.frame[grouped.group_column].tolist() if grouped else None,
        features=features,
    )


def _take(rows, positions: np.ndarray):
    return rows.iloc[positions] if isinstance(rows, pd.DataFrame) else rows[positions]


def _stack(rows, extra):
    if extra is None:
        return rows
    if isinstance(rows, pd.DataFrame):
        return pd.concat([rows, extra], ignore_index=True)
    return sp.vstack([rows, extra], format="csr") if sp.issparse(rows) else np.vstack([rows, extra])


def _fold_indices(
    problem: _Problem, seed: int, folds: int
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(pool, held-out positions) per fold; one (every row, None) with a test set."""
    if folds == 0:
        return [(np.arange(len(problem.labels)), None)]
    splits = cv_splits(
        problem.inputs, problem.labels, folds=folds, seed=seed,
        multi_label=problem.config.task == "multi_label",
    )  # fmt: skip
    return [(np.sort(pool), np.sort(held_out)) for pool, held_out in splits]


def _split(problem: _Problem, data, pool: np.ndarray, held_out: np.ndarray | None) -> _Split:
    """The rows one pool is fit and scored with; featurized once with features="pool"."""
    config = problem.config
    if held_out is None:
        eval_rows = model_inputs(data.test, config)
        eval_labels = list(data.test.labels)
        grouped = config.evaluation.grouped_metric
        groups = data.test.frame[grouped.group_column].tolist() if grouped else None
    else:
        eval_rows = problem.inputs.iloc[held_out].reset_index(drop=True)
        eval_labels = [problem.labels[i] for i in held_out]
        groups = None if problem.groups is None else [problem.groups[i] for i in held_out]
    train_rows = problem.inputs
    extra = problem.extra_inputs if len(problem.extra_inputs) else None
    if problem.features == "pool":  # label-free features from every text the loop sees
        steps = clone(build_pipeline(config)[:-1])
        with fit_errors_as_user_errors(config):
            steps.fit(_stack(problem.inputs.iloc[pool].reset_index(drop=True), extra))
        train_rows, eval_rows = steps.transform(train_rows), steps.transform(eval_rows)
        extra = None if extra is None else steps.transform(extra)
    return _Split(pool, train_rows, extra, eval_rows, eval_labels, groups)


def _fit(problem: _Problem, split: _Split, labeled: np.ndarray) -> Pipeline:
    """The config's Pipeline (or its classifier, on pool features) fit on the labeled rows
    and the extra rows."""
    pipeline = build_pipeline(problem.config)
    model = (
        clone(pipeline)
        if problem.features == "labeled"
        else Pipeline([("classifier", clone(pipeline[-1]))])
    )
    rows = _stack(_take(split.train_rows, labeled), split.extra_rows)
    y = [problem.fit_labels[i] for i in labeled] + list(problem.extra_fit_labels)
    with fit_errors_as_user_errors(problem.config):
        model.fit(rows, y)
    return model


def _score(problem: _Problem, split: _Split, model: Pipeline) -> float:
    """The headline metric of `model` on the split's evaluation rows."""
    config = problem.config
    metrics = compute_metrics(
        split.eval_labels,
        predict_labels(model, split.eval_rows),
        problem.classes,
        multi_label=config.task == "multi_label",
        groups=split.eval_groups,
        grouped=config.evaluation.grouped_metric if split.eval_groups is not None else None,
    )
    return float(metrics[problem.headline])


def _next_batch(
    problem: _Problem, split: _Split, model: Pipeline, strategy: str, remaining: np.ndarray,
    n: int, rng: np.random.Generator, seed: int,
) -> np.ndarray:  # fmt: skip
    """The next n pool positions, picked as `khabar select` picks them. When only
    near-duplicates are left to fill the batch, they are taken, so every strategy's steps
    stay aligned."""
    multi = problem.config.task == "multi_label"
    if strategy == "random":  # rank_candidates ignores the scores; skip computing them
        u = np.zeros(len(remaining))
    else:
        raw, kind = class_scores(model, _take(split.train_rows, remaining))
        p = comparable_scores(raw, kind == "probability", multi)
        u = uncertainty(p, "breaking_ties" if strategy == "diverse" else strategy, multi)
    vectors = story_vectors([problem.normalized[i] for i in remaining])
    order = rank_candidates(strategy, u, vectors, n, rng, seed)
    chosen, _ = without_near_duplicates(order, vectors, n)
    if len(chosen) < n:
        taken = set(chosen)
        chosen += [int(i) for i in order if int(i) not in taken][: n - len(chosen)]
    return remaining[np.asarray(chosen, dtype=np.int64)]


def _initial(problem: _Problem, split: _Split, size: int, seed: int, fold: int):
    """The repeat's random initial batch (the same for every strategy), its fit and score."""
    rng = np.random.default_rng([seed, fold])
    labeled = np.sort(rng.choice(split.pool, size, replace=False))
    if problem.config.task != "multi_label":
        seen = {problem.fit_labels[i] for i in labeled} | set(problem.extra_fit_labels)
        if len(seen) < 2:
            raise KhabarError(
                f"--initial {size}: the random initial batch (seed {seed}) holds a single "
                "class; raise --initial"
            )
    model = _fit(problem, split, labeled)
    return labeled, model, _score(problem, split, model)


def _curve(
    problem: _Problem, split: _Split, strategy: str, start, steps: list[int], seed: int
) -> list[float]:
    """One strategy's metric at each step, from the shared initial batch."""
    labeled, model, first = start
    values = [first]
    remaining = np.setdiff1d(split.pool, labeled)
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy)])
    for size in steps[1:]:
        picked = _next_batch(
            problem, split, model, strategy, remaining, size - len(labeled), rng, seed
        )
        labeled = np.concatenate([labeled, picked])
        remaining = np.setdiff1d(remaining, picked)
        model = _fit(problem, split, labeled)
        values.append(_score(problem, split, model))
    return values


def _run_all(
    problem: _Problem, data, strategies: Sequence[str], steps: list[int], indices: list, seed: int
) -> dict[str, np.ndarray]:
    """Every strategy's curves: shape (repeats, steps), each the mean over folds."""
    curves = {s: np.zeros((len(indices), len(steps))) for s in strategies}
    total = sum(len(folds) for folds in indices)
    with tqdm(total=total, desc="simulate", unit="fold") as progress:
        for r, folds in enumerate(indices):
            for fold, (pool, held_out) in enumerate(folds):
                split = _split(problem, data, pool, held_out)
                start = _initial(problem, split, steps[0], seed + r, fold)
                for strategy in strategies:
                    values = _curve(problem, split, strategy, start, steps, seed + r)
                    curves[strategy][r] += np.asarray(values) / len(folds)
                progress.update()
    return curves


def _summaries(curves: dict[str, np.ndarray]) -> dict[str, dict[str, list]]:
    return {
        name: {
            "mean": values.mean(axis=0).tolist(),
            "std": values.std(axis=0).tolist(),
            "min": values.min(axis=0).tolist(),
            "max": values.max(axis=0).tolist(),
            "repeats": values.tolist(),
        }
        for name, values in curves.items()
    }


def summary_table(result: SimulateResult) -> str:
    """The Markdown table of a simulation: each strategy's metric with the whole budget,
    the labels it needs to reach random's, and the saving against random.

    Parameters
    ----------
    result : SimulateResult
        A finished simulation.

    Returns
    -------
    str
        A Markdown table, one row per strategy.
    """
    budget = result.steps[-1]
    lines = [
        f"| strategy | {result.metric} at {budget} labels (mean ± std) | "
        f"labels to reach {result.target:.3f} | saving vs random |",
        "|---|---|---|---|",
    ]
    for name, curve in result.curves.items():
        needed, saving = result.labels_needed[name], result.saving[name]
        lines.append(
            f"| {name} | {curve['mean'][-1]:.3f} ± {curve['std'][-1]:.3f} | "
            f"{'not reached' if needed is None else needed} | "
            f"{'—' if saving is None else f'{saving:+.0f}%'} |"
        )
    return "\n".join(lines)


def _summary_markdown(result: SimulateResult, config: ExperimentConfig, settings: dict) -> str:
    steps = result.steps
    curve_rows = [
        f"| {step} | "
        + " | ".join(f"{c['mean'][i]:.3f} ± {c['std'][i]:.3f}" for c in result.curves.values())
        + " |"
        for i, step in enumerate(steps)
    ]
    return "\n".join([
        f"# Simulated active learning: {config.name}",
        "",
        f"Labels revealed batch by batch from the training rows of `{config.data.train_name()}`; "
        f"scored on {result.evaluated_on}. Metric: `{result.metric}`, mean over "
        f"{settings['repeats']} repeats (seeds {config.seed}..{config.seed + settings['repeats'] - 1}).",
        "",
        f"- Settings: initial {settings['initial']} (random, the same for every strategy), "
        f"batch {settings['batch']}, budget {settings['budget']}, features from "
        f"{settings['features_from']}",
        f"- Extra training rows (data.extra_train): {settings['extra_rows']} in every fit, "
        "never picked, not counted as labels used",
        "",
        f"## Labels needed to reach random's {result.metric} with the whole budget "
        f"({result.target:.3f} at {steps[-1]} labels)",
        "",
        summary_table(result),
        "",
        "## Learning curves (mean ± std over repeats)",
        "",
        "| labels | " + " | ".join(result.curves) + " |",
        "|---|" + "---|" * len(result.curves),
        *curve_rows,
        "",
        "![learning curves](learning_curve.png)",
        "",
    ])  # fmt: skip


def _write_report(
    report_dir: Path, result: SimulateResult, config: ExperimentConfig, settings: dict
) -> Path:
    def fill(folder: Path) -> None:
        plot_learning_curves(
            result.steps, result.curves, result.metric,
            f"{config.name}: {result.metric} against labels used", folder / "learning_curve.png",
            target=result.target,
        )  # fmt: skip
        numbers = {**result.as_dict(), "settings": settings}
        numbers.pop("report_dir")
        (folder / "learning_curve.json").write_text(
            json.dumps(numbers, indent=1, ensure_ascii=False), encoding="utf-8"
        )
        (folder / "summary.md").write_text(
            _summary_markdown(result, config, settings), encoding="utf-8"
        )

    return write_new_folder(report_dir, fill)


def _log_to_mlflow(
    result: SimulateResult, config: ExperimentConfig, settings: dict, offline: bool
) -> str:
    """One parent run (settings, the table, the report) and one child run per strategy
    (the curve, step = labels used). Returns the parent run's id."""
    connect(f"{config.experiment}-simulate", offline=offline)
    metric = result.metric
    with mlflow.start_run(run_name=timestamped_name(f"{config.name}-simulate")) as parent:
        mlflow.log_params({**settings, "strategies": ",".join(result.curves)})
        mlflow.log_metric(f"random_{metric}_at_budget", result.target)
        for name, curve in result.curves.items():
            with mlflow.start_run(run_name=name, nested=True):
                mlflow.log_params({"strategy": name, **settings})
                for i, step in enumerate(result.steps):
                    mlflow.log_metric(metric, curve["mean"][i], step=step)
                    mlflow.log_metric(f"{metric}_std", curve["std"][i], step=step)
                needed = result.labels_needed[name]
                if needed is not None:
                    mlflow.log_metric("labels_needed", needed)
        for name, needed in result.labels_needed.items():
            if needed is not None:
                mlflow.log_metric(f"labels_needed_{name}", needed)
                mlflow.log_metric(f"saving_pct_{name}", result.saving[name])
        mlflow.log_artifacts(result.report_dir, artifact_path="report")
        return parent.info.run_id


def simulate(
    config: ExperimentConfig | str | Path,
    *,
    strategies: Sequence[str] = ("random", "breaking_ties", "diverse"),
    initial: int = 50,
    batch: int = 50,
    budget: int = 600,
    repeats: int = 3,
    overrides: list[str] | None = None,
    reports_dir: str | Path | None = None,
    features_from: str = "labeled",
    offline: bool = False,
) -> SimulateResult:
    """Replay the active-learning loop on a config's labeled rows and compare strategies.

    Parameters
    ----------
    config : ExperimentConfig, str or Path
        The experiment, or its YAML file: its training rows are the pool, its test set
        (or held-out folds of evaluation.cv_folds without one) scores each step.
    strategies : sequence of str, default ("random", "breaking_ties", "diverse")
        Strategies of `khabar select` to compare; random is the reference.
    initial, batch, budget : int, default 50, 50, 600
        The random initial batch (shared by the strategies within a repeat), the labels
        revealed per step, and the labels used at most (capped by the pool).
    repeats : int, default 3
        Repeats, seeded config.seed, config.seed + 1, ... (initial batch, folds, ties).
    overrides : list of str, optional
        ``KEY=VALUE`` settings of dotted config keys.
    reports_dir : str or Path, optional
        Where ``simulate/<name>-<time>/`` is written; the config's reports_dir by default.
    features_from : {"labeled", "pool"}, default "labeled"
        "labeled": each step fits the whole Pipeline, as `khabar train` would; "pool": the
        feature steps once per pool on its texts (no labels), each step the classifier only.
    offline : bool, default False
        Record in the local store even when MLFLOW_TRACKING_URI names a server.

    Returns
    -------
    SimulateResult
        The curves, the table's figures, the MLflow run and the report folder.

    Raises
    ------
    KhabarError
        Bad settings, data or store, in one line; checked before the simulation starts.
    """
    started, strategies = time.perf_counter(), tuple(strategies)
    check_arguments(strategies, initial, batch, budget, repeats, features_from)
    config, data, problem = _prepare(config, overrides, reports_dir, offline, features_from)
    folds = 0 if data.test is not None else data.folds
    indices = [_fold_indices(problem, config.seed + r, folds) for r in range(repeats)]
    smallest = min(len(pool) for split in indices for pool, _ in split)
    steps = step_schedule(initial, batch, budget, smallest)
    curves = _summaries(_run_all(problem, data, strategies, steps, indices, config.seed))
    settings = dict(config=config.name, initial=initial, batch=batch, budget=budget, repeats=repeats,
                    features_from=features_from, folds=folds, extra_rows=data.fit.extra_rows)  # fmt: skip
    result = _result(problem, data, steps, curves, folds)
    result.seconds = time.perf_counter() - started
    return _publish(result, config, settings, offline)


def _publish(
    result: SimulateResult, config: ExperimentConfig, settings: dict, offline: bool
) -> SimulateResult:
    """Write the report folder, then log the runs (the folder as the parent's artifacts)."""
    report_dir = Path(config.reports_dir) / "simulate" / timestamped_name(config.name)
    result.report_dir = str(_write_report(report_dir, result, config, settings))
    result.run_id = _log_to_mlflow(result, config, settings, offline)
    return result


def _result(problem: _Problem, data, steps: list[int], curves: dict, folds: int) -> SimulateResult:
    """The curves with the table's figures (run id, folder and time filled in later)."""
    target = curves["random"]["mean"][-1]
    needed = {name: labels_needed(steps, c["mean"], target) for name, c in curves.items()}
    evaluated_on = (
        f"the test set ({len(data.test.labels)} rows)" if data.test is not None
        else f"held-out folds ({folds}-fold stratified per repeat, the pool the other folds; "
        "mean over folds)"
    )  # fmt: skip
    return SimulateResult(
        "", "", problem.headline, evaluated_on, steps, curves, target, needed, savings(needed), 0.0
    )


def _prepare(config, overrides, reports_dir, offline: bool, features_from: str):
    """The config (reports_dir applied), checked before any work, its data and the problem."""
    config, _ = resolve_config(config, overrides)
    if reports_dir is not None:
        config = config.model_copy(update={"reports_dir": str(reports_dir)})
    preflight(config, offline=offline)
    data = load_training_data(config)
    return config, data, _problem(config, data, features_from)
