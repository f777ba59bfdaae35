"""Faults injected in-process: a tracking server that answers with an error, a store that
cannot be created, an unwritable reports folder, interruptions and a full disk while
files are written. Each ends in one clear line or a clean interruption, and nothing
written earlier is lost."""

from __future__ import annotations

import errno
import http.server
import threading

import numpy as np
import pandas as pd
import pytest

from khabar.errors import KhabarError
from khabar.record import plots
from khabar.record.metrics import compute_metrics
from khabar.record.report import ReportInputs, write_report
from khabar.runs import predict as predict_module
from khabar.runs.predict import write_table

from ..conftest import write_config
from .conftest import (
    SMALL_FEATURES,
    leftovers,
    lost_files,
    one_error_line,
    only_line,
    run_main,
    tree_digest,
)


class _Failing(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def failing_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tracking_server_answers_with_an_error(workdir, ledger, monkeypatch, failing_server):
    with ledger.case(
        "faults",
        "tracking server answers 503 on /health",
        "exit 2 before any work, one line; nothing written",
        fault=True,
    ) as case:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", failing_server)
        result = run_main("train", write_config(workdir))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "is unreachable (HTTPError)" in message and failing_server in message
        assert not (workdir / "mlflow.db").exists() and not (workdir / "mlruns").exists()
        assert tree_digest(workdir / "reports") == {}


def test_tracking_store_cannot_be_created(workdir, ledger, monkeypatch):
    with ledger.case(
        "faults",
        "tracking store path blocked (SQLite file under a regular file)",
        "exit 2 before any work, one line naming the store; no run",
        fault=True,
    ) as case:
        blocker = workdir / "blocker"
        blocker.write_text("not a folder", encoding="utf-8")
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
        result = run_main("train", write_config(workdir))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert f"tracking store sqlite:///{blocker}/mlflow.db: {blocker} is a file" in message
        assert tree_digest(workdir / "reports") == {}


def test_reports_folder_blocked_by_a_file(workdir, ledger):
    with ledger.case(
        "faults",
        "reports_dir is a file, not a folder",
        "exit 2 before training, one line naming reports_dir",
        fault=True,
    ) as case:
        (workdir / "reports").write_text("a file where the folder should be", encoding="utf-8")
        result = run_main("train", write_config(workdir))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "reports_dir: reports is a file" in message
        assert not (workdir / "mlflow.db").exists()  # failed before the store was opened


def test_reports_folder_below_a_file(workdir, ledger):
    with ledger.case(
        "faults",
        "reports_dir below a file (cannot be created)",
        "exit 2 before training, one line naming reports_dir",
        fault=True,
    ) as case:
        (workdir / "blocker").write_text("x", encoding="utf-8")
        result = run_main("train", write_config(workdir, reports_dir="blocker/reports"))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "reports_dir: cannot write to blocker/reports" in message
        assert not (workdir / "mlflow.db").exists()


def _predictions(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": range(n), "prediction": ["None"] * n, "score_None": np.linspace(0, 1, n)}
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_interrupted_prediction_write(tmp_path, ledger, monkeypatch, suffix):
    with ledger.case(
        "faults",
        f"Ctrl-C while writing predictions ({suffix})",
        "the earlier output file unchanged, no temporary file left",
        fault=True,
    ) as case:
        output = tmp_path / f"predictions{suffix}"
        write_table(_predictions(5), output)
        before = tree_digest(tmp_path)
        real_write = predict_module._write_to

        def write_then_interrupt(frame, temporary, kind):
            real_write(frame, temporary, kind)  # the new file is complete on disk ...
            raise KeyboardInterrupt  # ... when the user presses Ctrl-C

        monkeypatch.setattr(predict_module, "_write_to", write_then_interrupt)
        with pytest.raises(KeyboardInterrupt):
            write_table(_predictions(500), output)
        case.lost = lost_files(before, tree_digest(tmp_path))
        case.saw(f"KeyboardInterrupt; {case.lost} files changed; leftovers {leftovers(tmp_path)}")
        assert case.lost == 0 and leftovers(tmp_path) == []
        assert tree_digest(tmp_path) == before


def test_disk_full_while_writing_predictions(tmp_path, ledger, monkeypatch):
    with ledger.case(
        "faults",
        "disk full while writing predictions",
        "one-line error naming the file; earlier output unchanged",
        fault=True,
    ) as case:
        output = tmp_path / "predictions.jsonl"
        write_table(_predictions(5), output)
        before = tree_digest(tmp_path)

        def full_disk(frame, temporary, kind):
            temporary.write_text('{"id": 0', encoding="utf-8")  # half a line, then ENOSPC
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(predict_module, "_write_to", full_disk)
        with pytest.raises(KhabarError) as info:
            write_table(_predictions(500), output)
        message = str(info.value)
        case.lost = lost_files(before, tree_digest(tmp_path))
        case.saw(f"KhabarError: {message}")
        assert message.split("/")[-1] == "predictions.jsonl: cannot write: No space left on device"
        assert case.lost == 0 and leftovers(tmp_path) == []


def _report_inputs() -> ReportInputs:
    labels = ["None", "NA"]
    y_true = ["None", "NA", "None", "NA"]
    y_pred = ["None", "None", "None", "NA"]
    return ReportInputs(
        title="fault test",
        labels=labels,
        multi_label=False,
        texts=["نص أول", "نص ثان", "نص ثالث", "نص رابع"],
        y_true=y_true,
        y_pred=y_pred,
        scores=np.array([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]]),
        score_kind="probability",
        test_metrics=compute_metrics(y_true, y_pred, labels),
        top_features={"None": [("أمن", 1.0)], "NA": [("هجرة", 0.5)]},
    )


def test_interrupted_report_leaves_earlier_reports(tmp_path, ledger, monkeypatch):
    with ledger.case(
        "faults",
        "Ctrl-C while the report is being written",
        "no partial report folder; earlier reports unchanged",
        fault=True,
    ) as case:
        earlier = write_report(tmp_path / "exp" / "run-1", _report_inputs())
        before = tree_digest(tmp_path)

        def interrupt(*args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(plots, "plot_top_ngrams", interrupt)
        with pytest.raises(KeyboardInterrupt):
            write_report(tmp_path / "exp" / "run-2", _report_inputs())
        after = tree_digest(tmp_path)
        case.lost = lost_files(before, after)
        case.saw(
            f"KeyboardInterrupt; earlier report {len(earlier)} files, {case.lost} changed; "
            f"new files {sorted(set(after) - set(before))}; leftovers {leftovers(tmp_path)}"
        )
        assert after == before and leftovers(tmp_path) == []


def test_two_reports_with_the_same_name(tmp_path, ledger):
    with ledger.case(
        "faults",
        "two runs with the same report folder name (same second)",
        "the second gets a fresh folder; the first is untouched",
    ) as case:
        first = write_report(tmp_path / "exp" / "run", _report_inputs())
        before = tree_digest(tmp_path)
        second = write_report(tmp_path / "exp" / "run", _report_inputs())
        case.lost = lost_files(before, tree_digest(tmp_path))
        case.saw(f"first in {first[0].parent.name}/, second in {second[0].parent.name}/")
        assert case.lost == 0
        assert first[0].parent.name == "run" and second[0].parent.name == "run-2"
        assert (second[0].parent / "summary.md").is_file() and leftovers(tmp_path) == []


def test_tracking_store_file_damaged(workdir, ledger):
    with ledger.case(
        "faults",
        "tracking store file damaged (not a SQLite database)",
        "exit 2, one line naming the store; the file left as it was",
        fault=True,
    ) as case:
        store = workdir / "mlflow.db"
        store.write_bytes(b"not a database at all\n")
        result = run_main("train", write_config(workdir))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = one_error_line(result)
        assert "tracking store sqlite:///" in message and "file is not a database" in message
        case.lost = int(store.read_bytes() != b"not a database at all\n")
        assert case.lost == 0


def test_disk_full_while_writing_the_report(tmp_path, ledger, monkeypatch):
    with ledger.case(
        "faults",
        "disk full while the report is being written",
        "one-line error naming the report; no partial folder; earlier reports unchanged",
        fault=True,
    ) as case:
        write_report(tmp_path / "exp" / "run-1", _report_inputs())
        before = tree_digest(tmp_path)

        def full_disk(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(plots, "plot_per_class", full_disk)
        with pytest.raises(KhabarError) as info:
            write_report(tmp_path / "exp" / "run-2", _report_inputs())
        message = str(info.value)
        case.lost = lost_files(before, tree_digest(tmp_path))
        case.saw(f"KhabarError: {message.replace(str(tmp_path) + '/', '')}")
        assert message.endswith("exp/run-2: No space left on device")
        assert case.lost == 0 and tree_digest(tmp_path) == before and leftovers(tmp_path) == []


@pytest.mark.slow
def test_artifact_store_full_during_a_run(workdir, ledger, monkeypatch):
    import mlflow

    with ledger.case(
        "faults",
        "artifact store full while the model is logged (end of a run)",
        "exit 2, one line naming the run; run FAILED with the reason",
        fault=True,
    ) as case:

        def full_disk(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        import importlib

        # mlflow.sklearn is a lazy module: patch the real one that train.py ends up calling.
        monkeypatch.setattr(importlib.import_module("mlflow.sklearn"), "log_model", full_disk)
        result = run_main("train", write_config(workdir, features=SMALL_FEATURES))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = one_error_line(result)
        assert "cannot write: No space left on device" in message
        (run,) = mlflow.search_runs(experiment_names=["fixture"], output_format="list")
        assert run.info.status == "FAILED" and run.info.run_id in message
        assert "No space left" in run.data.tags["khabar.error"]
        assert leftovers(workdir / "reports") == []


@pytest.mark.slow
def test_tracking_store_fails_mid_run(workdir, ledger, monkeypatch):
    import mlflow
    from mlflow.exceptions import MlflowException

    with ledger.case(
        "faults",
        "tracking store fails mid-run (logging metrics)",
        "exit 2, one line naming the run; no report published",
        fault=True,
    ) as case:

        def store_gone(*args, **kwargs):
            raise MlflowException("API request to http://tracking/api failed: connection refused")

        monkeypatch.setattr(mlflow, "log_metrics", store_gone)
        result = run_main("train", write_config(workdir, features=SMALL_FEATURES))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = one_error_line(result)
        assert "tracking store failed: API request" in message
        assert tree_digest(workdir / "reports") == {}
