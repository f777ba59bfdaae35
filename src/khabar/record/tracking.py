"""MLflow tracking: which store, a reachability check before any work, and what a run logs."""

from __future__ import annotations

import os
from typing import Any

import mlflow
import requests

from khabar.errors import KhabarError, first_line

DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


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


def connect(experiment: str, offline: bool = False) -> str:
    """Point MLflow at the store and select the experiment.

    An unreachable server is one clear error here, before any data is read or model
    trained.

    Parameters
    ----------
    experiment : str
        The MLflow experiment's name; created when missing.
    offline : bool, default False
        Use the local store, whatever MLFLOW_TRACKING_URI says.

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
    try:
        mlflow.set_experiment(experiment)
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
