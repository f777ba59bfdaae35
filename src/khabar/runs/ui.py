"""`khabar ui`: the MLflow UI on khabar's tracking store, opened on the runs table of the most
recent experiment with its headline metrics as columns; stopping it (Ctrl-C or SIGTERM)
stops every process it started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import webbrowser
from collections.abc import Iterable, Iterator

import mlflow
import requests

from khabar.errors import KhabarError
from khabar.record.tracking import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    runs_table_view,
    tracking_uri,
    use_store,
)

# The columns the runs table opens with, when the latest run logged them: the data, then
# the headline metric (test set, or out of fold without one) and the CV's. Few, so they fit
# beside MLflow's assistant panel; the run's description carries the interval.
ATTRIBUTE_COLUMNS = ("Dataset",)
HEADLINE_METRICS = ("test_f1_macro", "oof_f1_macro", "cv_f1_macro_mean")
START_SECONDS = 180  # a small shared machine can take a while to start MLflow's server
STOP_SECONDS = 10  # SIGTERM's grace before SIGKILL


class _Terminated(Exception):
    """SIGTERM arrived (a `kill`, a process supervisor)."""


def headline_columns(metric_names: Iterable[str]) -> list[str]:
    """The runs table's columns, as the UI names them, for a run that logged these metrics.

    Parameters
    ----------
    metric_names : iterable of str
        The metrics a run logged.

    Returns
    -------
    list of str
        ``attributes.`Dataset``` and ``metrics.`<name>``` of each logged headline metric.
    """
    logged = set(metric_names)
    return [f"attributes.`{name}`" for name in ATTRIBUTE_COLUMNS] + [
        f"metrics.`{name}`" for name in HEADLINE_METRICS if name in logged
    ]


def runs_table_url(base: str) -> str:
    """The URL of the most recent experiment's runs table, its headline columns shown.

    The column choice is stored as the experiment's shared view; an experiment without a
    kind is marked a model-development one, so the UI shows runs, not its GenAI overview.

    Parameters
    ----------
    base : str
        The UI's address, ``http://host:port``.

    Returns
    -------
    str
        ``<base>/#/experiments/<id>/runs?...``; `base` itself when the store holds no run.
    """
    experiments = mlflow.search_experiments()
    latest = mlflow.search_runs(
        [e.experiment_id for e in experiments],
        max_results=1,
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    if not latest:
        return base
    run = latest[0]
    experiment_id = run.info.experiment_id
    experiment = mlflow.get_experiment(experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        mlflow.MlflowClient().set_experiment_tag(
            experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND
        )
    view = runs_table_view(experiment_id, headline_columns(run.data.metrics))
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning&{view}"


def _raise_terminated(signum, frame) -> None:
    raise _Terminated


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_group(process: subprocess.Popen, grace: float = STOP_SECONDS) -> None:
    """Stop a process started in its own session, and every process of its group.

    MLflow's UI is a uvicorn server with workers: SIGTERM goes to all of them, SIGKILL to
    whatever is left after `grace` seconds.

    Parameters
    ----------
    process : Popen
        Started with ``start_new_session=True`` (its pid is its group's id).
    grace : float, default STOP_SECONDS
        Seconds between SIGTERM and SIGKILL.
    """
    deadline = time.monotonic() + grace
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        while time.monotonic() < deadline:
            process.poll()  # reaps the leader, so an empty group is seen as gone
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        deadline = time.monotonic() + grace
    process.wait()


def _open_when_ready(process: subprocess.Popen, base: str, url: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                webbrowser.open(url)
                return
        time.sleep(0.5)


def _on_server(uri: str, open_browser: bool) -> int:
    """A tracking server is its own UI: print (and open) its runs table's link."""
    try:
        use_store()
        url = runs_table_url(uri.rstrip("/"))
    except KhabarError as exc:  # unreachable now: its address is all there is to give
        url = uri
        print(f"note: {exc}")
    print(f"the tracking server {uri} serves the MLflow UI itself: {url}")
    if open_browser:
        webbrowser.open(url)
    return 0


def ui(host: str = "127.0.0.1", port: int = 5000, open_browser: bool = False) -> int:
    """Serve the MLflow UI on the local store until stopped; print the runs table's URL.

    With a tracking server (MLFLOW_TRACKING_URI http(s)), the server is the UI: only the
    URL is printed (and opened).

    Parameters
    ----------
    host : str, default "127.0.0.1"
        The bind address.
    port : int, default 5000
        The port.
    open_browser : bool, default False
        Open the URL in the user's browser once the UI answers.

    Returns
    -------
    int
        The exit status: the UI's own when it exits by itself, 0 when stopped by SIGTERM,
        130 by Ctrl-C.
    """
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return _on_server(uri, open_browser)
    use_store()
    base = f"http://{host}:{port}"
    url = runs_table_url(base)
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri()]
    command += ["--host", host, "--port", str(port)]
    print(f"MLflow UI (store {uri}); Ctrl-C stops it. Runs table:\n{url}", flush=True)
    with _sigterm_raises():
        process = subprocess.Popen(command, start_new_session=True)
        try:
            if open_browser:
                _open_when_ready(process, base, url)
            return process.wait()
        except _Terminated:
            return 0
        except KeyboardInterrupt:
            return 130
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM: still stop all
            stop_group(process)
