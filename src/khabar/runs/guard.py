"""Reliability guards: checks that run before any work starts, the translation of fitting
failures into one-line user errors, and SIGTERM handled like Ctrl-C."""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from khabar.data.config import ExperimentConfig, read_config
from khabar.errors import KhabarError
from khabar.model.classifiers import check_model_config
from khabar.record.tracking import check_reachable, tracking_uri


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment config, the model layer's checks included.

    First its structure (the data layer's `read_config`), then what only the model layer
    knows (the classifier's name and parameters).

    Parameters
    ----------
    path : str or Path
        The YAML config file.
    overrides : list of str, optional
        ``KEY=VALUE`` settings of dotted keys, as ``--set`` takes them.

    Returns
    -------
    ExperimentConfig
        The validated config.

    Raises
    ------
    KhabarError
        Every problem, in one line naming the file and the key.
    """
    config = read_config(path, overrides)
    try:
        check_model_config(config.model.name, config.model.params)
    except ValueError as exc:
        raise KhabarError(f"{path}: {exc}") from None
    return config


def check_input_files(config: ExperimentConfig) -> None:
    """Check that each data path the config names exists, and any word vectors' corpus.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.

    Raises
    ------
    KhabarError
        A file is missing or is a folder (named by its config field), or word vectors
        need gensim or a corpus that is missing.
    """
    extra = [
        (f"data.extra_train[{i}]", entry.path)
        for i, entry in enumerate(config.data.extra_train_files())
    ]
    train = config.data.train_files()
    for field, value in (
        *((f"data.train[{i}]" if len(train) > 1 else "data.train", f) for i, f in enumerate(train)),
        ("data.test", config.data.test),
        *extra,
    ):
        if value is None:
            continue
        path = Path(value)
        if not path.exists():
            raise KhabarError(f"{field}: data file not found: {value}")
        if not path.is_file():
            raise KhabarError(f"{field}: {value} is a folder; expected a data file")
    if config.features.word_vectors is not None:
        from khabar.model.word_vectors import check_sources, require_gensim

        require_gensim()
        check_sources(config.features.word_vectors)


def _write_problem(folder: Path) -> str | None:
    """Why nothing can be written in folder (created if missing), or None if it can."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file; expected a folder to write into"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".khabar-write-check-"):
            pass
    except OSError as exc:
        return f"cannot write to {folder}: {exc.strerror or type(exc).__name__}"
    return None


def check_writable_dir(folder: str | Path, field: str) -> None:
    """Create the folder and a scratch file in it now.

    An unwritable place then fails before training rather than after hours of it.

    Parameters
    ----------
    folder : str or Path
        The folder; created when missing.
    field : str
        The config field naming it, for the error (``reports_dir``).

    Raises
    ------
    KhabarError
        The folder cannot be created or written to, or is a file.
    """
    problem = _write_problem(Path(folder))
    if problem:
        raise KhabarError(f"{field}: {problem}")


def check_local_store(uri: str) -> None:
    """Check that a SQLite store's file and folder (for its journal) are writable.

    Checked here because MLflow itself retries an unopenable database for about two
    minutes. Other stores pass.

    Parameters
    ----------
    uri : str
        A tracking URI.

    Raises
    ------
    KhabarError
        The database file or its folder cannot be written.
    """
    if not uri.startswith("sqlite:///"):
        return
    database = Path(uri.removeprefix("sqlite:///").split("?")[0])
    if str(database) in ("", ".", ":memory:"):
        return
    problem = _write_problem(database.absolute().parent)
    if problem is None and database.exists():
        try:
            with open(database, "ab"):  # appends nothing; only asks for write access
                pass
        except OSError as exc:
            problem = f"cannot write to {database}: {exc.strerror or type(exc).__name__}"
    if problem:
        raise KhabarError(
            f"tracking store {uri}: {problem}; run from a writable folder or set "
            "MLFLOW_TRACKING_URI"
        )


def preflight(config: ExperimentConfig, *, offline: bool = False) -> None:
    """Check everything that can be checked before reading data or training.

    The tracking server answers (or the local store is writable), the input files exist,
    the reports folder is writable.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.
    offline : bool, default False
        Check the local store, whatever MLFLOW_TRACKING_URI says.

    Raises
    ------
    KhabarError
        The first check that fails.
    """
    uri = tracking_uri(offline=offline)
    check_reachable(uri)
    check_local_store(uri)
    check_input_files(config)
    check_writable_dir(config.reports_dir, "reports_dir")


# scikit-learn's words for the feature failures a user's data or settings cause.
_FEATURE_PROBLEMS = {
    "empty vocabulary": "no n-grams at all: after normalization the training texts are empty "
    "(only URLs, mentions, emoji or whitespace?)",
    "no terms remain": "features.*.min_df / max_df leave no n-gram",
    "max_df corresponds to < documents than min_df": "features.*.max_df keeps fewer documents "
    "than min_df",
}


def describe_fit_error(exc: ValueError, config: ExperimentConfig) -> str:
    """One line saying which setting or data made fitting fail.

    Parameters
    ----------
    exc : ValueError
        What scikit-learn raised.
    config : ExperimentConfig
        The experiment, whose model and training file the line names.

    Returns
    -------
    str
        The message of the KhabarError to raise.
    """
    message = " ".join(str(exc).split())
    for pattern, meaning in _FEATURE_PROBLEMS.items():
        if pattern in message:
            return f"{config.data.train_name()}: cannot build features: {meaning} ({message})"
    return (
        f"model.name={config.model.name} model.params={config.model.params}: fitting failed "
        f"on {config.data.train_name()}: {message}"
    )


@contextmanager
def fit_errors_as_user_errors(config: ExperimentConfig) -> Iterator[None]:
    """Within this block, a ValueError from fitting becomes a one-line KhabarError.

    scikit-learn raises ValueError for data or settings it cannot fit; the user gets one
    line naming the setting and the file (the original stays chained for the Python API).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment being fit.

    Raises
    ------
    KhabarError
        Instead of a ValueError raised in the block (see `describe_fit_error`).
    """
    try:
        yield
    except ValueError as exc:
        raise KhabarError(describe_fit_error(exc, config)) from exc


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within this block, SIGTERM raises KeyboardInterrupt, as Ctrl-C does.

    `kill` (SIGTERM, e.g. a job scheduler's time limit) then ends a run like Ctrl-C: the
    MLflow run is marked KILLED and partial report files are removed. Outside the main
    thread, where signal handlers cannot be set, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
