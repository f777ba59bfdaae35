"""What the MLflow UI says about khabar's experiments and runs: their descriptions, and the
data of each run as MLflow dataset inputs (the runs table's Dataset column)."""

from __future__ import annotations

from pathlib import Path

from mlflow.data.pandas_dataset import PandasDataset

from khabar.data.config import ExperimentConfig
from khabar.data.dataset import LabeledData
from khabar.record.tracking import dataset_input, items_digest

# The contexts the runs table shows beside each dataset.
TRAIN, EXTRA_TRAIN, TEST = "train", "extra_train", "test"


def _file_names(paths: list[str]) -> str:
    return " + ".join(Path(path).name for path in paths)


def experiment_description(config: ExperimentConfig, labels: list[str]) -> str:
    """The experiment's description: the task, its labels and the config last trained.

    Parameters
    ----------
    config : ExperimentConfig
        The config being trained into the experiment.
    labels : list of str
        The training data's labels.

    Returns
    -------
    str
        Markdown, as the UI renders it.
    """
    kind = "multi-label" if config.task == "multi_label" else "single-label"
    return (
        f"Arabic news classification ({kind}), trained with khabar: normalized text -> "
        f"TF-IDF character n-grams -> a scikit-learn classifier.\n\n"
        f"**Labels** ({len(labels)}): {', '.join(labels)}.\n\n"
        f"**Last config**: `{config.name}`: {config.model.name} {config.model.params or ''} "
        f"on {_file_names(config.data.train_files())}, label column "
        f"`{config.data.label_column}`, seed {config.seed}."
    )


def run_description(
    config: ExperimentConfig, rows: dict[str, int], folds: int, metrics: dict[str, float]
) -> str:
    """One paragraph on a run: its config, its data and its headline metric.

    Parameters
    ----------
    config : ExperimentConfig
        The run's config.
    rows : dict of str to int
        Row counts by context (``train``, ``extra_train``, ``test``; 0: none).
    folds : int
        The CV's fold count.
    metrics : dict of str to float
        The run's metrics (the headline one, its interval and the CV's mean when logged).

    Returns
    -------
    str
    """
    headline = f"{'test' if rows.get(TEST) else 'oof'}_f1_macro"  # the metric a run is judged by
    text = (
        f"`{config.name}`: {config.model.name} {config.model.params or ''} on "
        f"{_file_names(config.data.train_files())} ({rows[TRAIN]} rows"
    )
    if rows.get(EXTRA_TRAIN):
        text += f", plus {rows[EXTRA_TRAIN]} extra training rows"
    scored = (
        f"scored on {rows[TEST]} test rows"
        if rows.get(TEST)
        else "scored out of fold (no test set)"
    )
    text += f"), {scored}. **{headline}**: {metrics.get(headline, float('nan')):.3f}"
    low, high = metrics.get(f"{headline}_ci_low"), metrics.get(f"{headline}_ci_high")
    if low is not None and high is not None:
        text += f" (95% CI {low:.3f}-{high:.3f})"
    cv = metrics.get("cv_f1_macro_mean")
    if cv is not None:
        text += f"; {folds}-fold CV f1_macro {cv:.3f} ± {metrics.get('cv_f1_macro_std', 0):.3f}"
    text += "."
    if config.evaluation.write_report:
        text += " The report is in the artifacts' `report/summary.md`."
    return text


def dataset_inputs(
    config: ExperimentConfig,
    train: LabeledData,
    test: LabeledData | None,
    extra: list[LabeledData],
    hashes: dict[str, list[str]],
) -> list[tuple[PandasDataset, str]]:
    """Each table a run reads as an MLflow dataset, with its context.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    train, test : LabeledData
        The training rows and the test rows (None: no test set).
    extra : list of LabeledData
        data.extra_train's tables.
    hashes : dict of str to list of str
        Per-item digests of the training ("train") and test ("test") rows.

    Returns
    -------
    list of (PandasDataset, str)
        (dataset, context) pairs: train, each extra table, test.
    """
    label = config.data.label_column
    first = config.data.train_files()[0]
    split = test is not None and not config.data.test
    train_name = _file_names(config.data.train_files())
    tables = [
        (train, f"{train_name} (train split)" if split else train_name, first,
         items_digest(hashes["train"]), label, TRAIN),
    ]  # fmt: skip
    for entry, part in zip(config.data.extra_train_files(), extra, strict=True):
        tables.append(
            (part, Path(entry.path).name, entry.path, part.sha256, entry.label_column or label,
             EXTRA_TRAIN)
        )  # fmt: skip
    if test is not None:
        test_name = f"{train_name} (test split)" if split else Path(str(config.data.test)).name
        test_path = first if split else str(config.data.test)
        tables.append((test, test_name, test_path, items_digest(hashes["test"]), label, TEST))
    return [
        (dataset_input(t.frame, name=name, path=path, digest=digest, targets=targets), context)
        for t, name, path, digest, targets, context in tables
    ]
