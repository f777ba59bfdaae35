"""MLflow tracking: which store, a reachability check before any work, and what a run logs."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import requests
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import PandasDataset

from khabar.errors import KhabarError, first_line

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"
# MLflow's own tags: the description the UI shows (experiments and runs), and the experiment
# kind that makes the UI open the runs table instead of its GenAI overview.
DESCRIPTION_TAG = "mlflow.note.content"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# The runs table's shared view (columns, sort) is an experiment tag named by this prefix and
# a key; the URL names the key (?viewStateShareKey=...).
SHARED_VIEW_TAG = "mlflow.sharedViewState."
# A dataset input's schema is read from its first rows; the rows themselves are never logged.
SCHEMA_SAMPLE_ROWS = 100


def tracking_uri(offline: bool = False) -> str:
    """The tracking store's URI.

    Parameters
    ----------
    offline : bool, default False
        Always the local store, whatever MLFLOW_TRACKING_URI says.

    Returns
    -------
    str
        MLFLOW_TRACKING_URI when set, else an embedded SQLite store in the working
        directory (`DEFAULT_TRACKING_URI`).
    """
    if offline:
        return DEFAULT_TRACKING_URI
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def check_reachable(uri: str) -> None:
    """Check that an http(s) tracking server answers /health; other stores are local.

    Parameters
    ----------
    uri : str
        A tracking URI.

    Raises
    ------
    KhabarError
        The server does not answer within 5 seconds, or answers with an error; the
        message suggests --offline.
    """
    if not uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{uri.rstrip('/')}/health", timeout=5).raise_for_status()
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise KhabarError(
            f"tracking server {uri} is unreachable ({reason}); start it, or run with "
            "--offline (or unset MLFLOW_TRACKING_URI) to record in the local store mlflow.db"
        ) from None


def use_store(offline: bool = False) -> str:
    """Point MLflow at the store.

    An unreachable server is one clear error here, not minutes of MLflow's retries later.

    Parameters
    ----------
    offline : bool, default False
        Use the local store, whatever MLFLOW_TRACKING_URI says.

    Returns
    -------
    str
        The store's URI.

    Raises
    ------
    KhabarError
        The tracking server is unreachable.
    """
    uri = tracking_uri(offline)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def connect(experiment: str, offline: bool = False, description: str = "") -> str:
    """Point MLflow at the store and select the experiment.

    An unreachable server is one clear error here, before any data is read or model
    trained.

    Parameters
    ----------
    experiment : str
        The MLflow experiment's name; created when missing.
    offline : bool, default False
        Use the local store, whatever MLFLOW_TRACKING_URI says.
    description : str, default ""
        The experiment's description in the MLflow UI; "" leaves it as it is. The
        experiment is marked a model-development one either way, so the UI opens its
        runs table.

    Returns
    -------
    str
        The store's URI.

    Raises
    ------
    KhabarError
        The server is unreachable, or the store cannot be opened or refuses the
        experiment.
    """
    uri = use_store(offline)
    tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND}
    if description:
        tags[DESCRIPTION_TAG] = description
    try:
        mlflow.set_experiment(experiment)
        mlflow.set_experiment_tags(tags)
    except mlflow.exceptions.MlflowException as exc:
        raise KhabarError(f"tracking store {uri}: {first_line(exc)}") from None
    except Exception as exc:  # e.g. a SQLite file that cannot be created: OSError, SQLAlchemy
        raise KhabarError(f"tracking store {uri}: cannot open it: {first_line(exc)}") from None
    return uri


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {'model.params.C': 0.5, ...}, the form MLflow params take.

    Parameters
    ----------
    config : dict
        A nested mapping (a config's ``model_dump``).
    prefix : str, default ""
        Put before every key (the path of `config` itself, ending in ".").

    Returns
    -------
    dict
        Dotted key -> value; an empty mapping stays a value.
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


# Where training logs the resolved config; export reads it back for an export's metadata.
RESOLVED_CONFIG_ARTIFACT = "config/resolved.yaml"


class _SampledDataset(PandasDataset):
    """A table's schema from its first rows, its profile from its full row count."""

    def __init__(self, sample: pd.DataFrame, rows: int, **kwargs: Any):
        super().__init__(sample, **kwargs)
        self._rows = rows

    @property
    def profile(self) -> dict[str, int]:
        """The full table's row count (not the sample's)."""
        return {"num_rows": self._rows}


def log_dataset(dataset: PandasDataset, context: str) -> None:
    """Log a dataset as the active run's input, once more if another process logged the
    same dataset at the same moment.

    Two runs of one experiment logging one file at once (parallel sweep variants) race to
    insert the same dataset row, and the store refuses the second with a unique-constraint
    error; a second try finds the row and only links it to the run.

    Parameters
    ----------
    dataset : PandasDataset
        As `dataset_input` makes it.
    context : str
        Its role in the run ("training", "extra_training", "test").
    """
    try:
        mlflow.log_input(dataset, context=context)
    except mlflow.exceptions.MlflowException as exc:
        if "unique constraint" not in str(exc).lower():  # SQLite and PostgreSQL say so
            raise
        mlflow.log_input(dataset, context=context)


def dataset_input(
    frame: pd.DataFrame, *, name: str, path: str, digest: str, targets: str | None
) -> PandasDataset:
    """A table as an MLflow dataset: name, source file, digest, schema and row count.

    Logged with `mlflow.log_input`, it fills the runs table's Dataset column and lets
    `search_runs` filter on ``dataset.name`` / ``dataset.digest``. Only the first
    `SCHEMA_SAMPLE_ROWS` rows are kept (for the schema), so a corpus costs nothing.

    Parameters
    ----------
    frame : DataFrame
        The table as loaded.
    name : str
        The name the UI shows.
    path : str
        The file it was read from (the dataset's source).
    digest : str
        A content digest (MLflow keeps at most 36 characters).
    targets : str or None
        The label column, when `frame` has it.

    Returns
    -------
    PandasDataset
    """
    sample = frame.head(SCHEMA_SAMPLE_ROWS).copy()
    targets = targets if targets in sample.columns else None
    with warnings.catch_warnings():
        # MLflow registers its local-file source twice and warns that a path is ambiguous.
        warnings.filterwarnings("ignore", message="The specified dataset source")
        source = resolve_dataset_source(str(Path(path).resolve()))
    return _SampledDataset(
        sample, len(frame), source=source, targets=targets, name=name, digest=digest[:36]
    )


def items_digest(item_hashes: Sequence[str]) -> str:
    """A short digest of a table's rows, from their per-item digests.

    Parameters
    ----------
    item_hashes : sequence of str
        One digest per row, in order.

    Returns
    -------
    str
        12 hex characters; a train and a test split of one file get different ones.
    """
    return hashlib.sha256("\n".join(item_hashes).encode()).hexdigest()[:12]


def runs_table_view(experiment_id: str, columns: Sequence[str], order_by: str = "") -> str:
    """Store the runs table's columns as the experiment's shared view; its URL query.

    This is the state MLflow's "Share" button saves: the UI reads it from the experiment
    tag named by the URL's ``viewStateShareKey``.

    Parameters
    ----------
    experiment_id : str
        The experiment.
    columns : sequence of str
        Column ids as the UI names them: ``metrics.`test_f1_macro```,
        ``attributes.`Dataset```.
    order_by : str, default ""
        A column to sort by, descending; "" keeps the UI's order (newest first).

    Returns
    -------
    str
        ``viewStateShareKey=<key>``, for the runs table's URL.
    """
    state: dict[str, Any] = {"selectedColumns": list(columns)}
    if order_by:
        state.update(orderByKey=order_by, orderByAsc=False)
    value = json.dumps(state, sort_keys=True)
    key = "khabar-" + hashlib.sha256(value.encode()).hexdigest()[:12]
    mlflow.MlflowClient().set_experiment_tag(experiment_id, SHARED_VIEW_TAG + key, value)
    return f"viewStateShareKey={key}"
