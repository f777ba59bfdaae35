"""`khabar` as real processes, where exit codes, signals and separate interpreters matter:
the same config twice in two processes gives the same numbers; SIGINT and SIGTERM during
training leave earlier runs and reports untouched and mark the run KILLED; an unreachable
server and a read-only folder end in one line and exit code 2."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

import khabar

from ..conftest import NEWS_SMALL, write_config
from .conftest import (
    CliResult,
    khabar_command,
    leftovers,
    lost_files,
    only_line,
    process_env,
    run_process,
    tree_digest,
)

TIMEOUT = 900  # seconds; generous, the machine is shared
pytestmark = pytest.mark.slow


def _config(folder: Path, **sections) -> Path:
    """The fixture with word n-grams and the seeded SGD classifier, so that randomness
    (shuffling in CV and in SGD) has a chance to show up."""
    return write_config(
        folder,
        **{
            "name": "determinism",
            "experiment": "determinism",
            "features": {
                "char": {"analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 2},
                "word": {"analyzer": "word", "ngram_range": [1, 1], "min_df": 2},
            },
            "model": {"name": "sgd", "params": {"alpha": 0.0001}},
            **sections,
        },
    )


def _start(folder: Path, config: Path, *extra: str, **env: str) -> subprocess.Popen:
    """khabar train in its own folder and store; stdout and stderr go to files there.
    SIGINT is reset to its default so that Python turns it into KeyboardInterrupt even when
    the test runner itself ignores it (background jobs do)."""
    return subprocess.Popen(
        khabar_command("train", config, "--json", *extra),
        cwd=folder,
        env=process_env(folder, **env),
        stdout=open(folder / "stdout.txt", "w"),  # noqa: SIM115 - closed with the process
        stderr=open(folder / "stderr.txt", "w"),  # noqa: SIM115
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _finish(folder: Path, process: subprocess.Popen) -> CliResult:
    code = process.wait(timeout=TIMEOUT)
    read = lambda name: (folder / name).read_text(encoding="utf-8")  # noqa: E731
    return CliResult(code, read("stdout.txt"), read("stderr.txt"))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[tuple[Path, CliResult]]:
    """The same config trained in two processes at once, with different hash seeds."""
    folders = [tmp_path_factory.mktemp(f"process-{k}") for k in (1, 2)]
    processes = [
        _start(folder, _config(folder), PYTHONHASHSEED=str(seed))
        for folder, seed in zip(folders, (1, 2), strict=True)
    ]
    return [(f, _finish(f, p)) for f, p in zip(folders, processes, strict=True)]


def _output(result: CliResult) -> dict:
    return json.loads(result.out.strip().splitlines()[-1])


def _model_dir(folder: Path) -> Path:
    (skops_file,) = (folder / "mlruns").rglob("model.skops")
    return skops_file.parent


def test_same_config_same_numbers_in_two_processes(two_runs, ledger):
    (folder_a, a), (folder_b, b) = two_runs
    with ledger.case(
        "determinism",
        "same config and seed, two processes (PYTHONHASHSEED 1 and 2)",
        "identical metrics, predictions, scores, summary and figures",
    ) as case:
        case.crashed = a.crashed or b.crashed
        assert a.code == 0 and b.code == 0, (a.err[-2000:], b.err[-2000:])
        out_a, out_b = _output(a), _output(b)
        # Timings are measurements of the machine, not results.
        metrics_a = {k: v for k, v in out_a["metrics"].items() if not k.endswith("_seconds")}
        metrics_b = {k: v for k, v in out_b["metrics"].items() if not k.endswith("_seconds")}
        differing = sorted(k for k in metrics_a if metrics_a[k] != metrics_b.get(k))

        texts = [json.loads(line)["text"] for line in NEWS_SMALL.read_text("utf-8").splitlines()]
        model_a, model_b = (khabar.load_model(_model_dir(f)) for f in (folder_a, folder_b))
        same_predictions = list(model_a.predict(texts)) == list(model_b.predict(texts))
        same_scores = np.array_equal(
            model_a.decision_function(texts), model_b.decision_function(texts)
        )

        def report(folder: Path, result: dict) -> dict[str, bytes]:
            report_dir = folder / result["report_dir"]
            files = {p.name: p.read_bytes() for p in report_dir.iterdir()}
            summary = files["summary.md"].decode("utf-8").splitlines()
            kept = [line for line in summary if "MLflow run" not in line]
            files["summary.md"] = "\n".join(kept).encode()
            return files

        report_a, report_b = report(folder_a, out_a), report(folder_b, out_b)
        differing_files = sorted(n for n in report_a if report_a[n] != report_b.get(n))
        case.saw(
            f"{len(metrics_a)} metrics, differing {differing}; predictions on {len(texts)} texts "
            f"identical: {same_predictions}; scores identical: {same_scores}; report files "
            f"{sorted(report_a)}, differing {differing_files}; test f1_macro "
            f"{metrics_a['test_f1_macro']:.4f} and {metrics_b['test_f1_macro']:.4f}"
        )
        assert differing == [] and metrics_a == metrics_b
        assert same_predictions and same_scores
        assert differing_files == [] and set(report_a) == set(report_b)


def _runs(folder: Path) -> dict[str, tuple[str, dict]]:
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("determinism")
    return {
        run.info.run_id: (run.info.status, run.data.metrics)
        for run in client.search_runs([experiment.experiment_id])
    }


def _slow_config(folder: Path) -> Path:
    """Long n-grams and many folds: several seconds of cross-validation to interrupt."""
    return _config(
        folder,
        name="interrupted",
        features={
            "char": {"analyzer": "char_wb", "ngram_range": [1, 7], "min_df": 1},
            "word": {"analyzer": "word", "ngram_range": [1, 3], "min_df": 1},
        },
        evaluation={"cv_folds": 10, "misclassified_examples": 5},
    )


@pytest.mark.parametrize(
    ("signal_name", "process_index"), [("SIGINT", 0), ("SIGTERM", 1)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_during_training(two_runs, ledger, signal_name, process_index):
    folder, earlier = two_runs[process_index]
    assert earlier.code == 0, earlier.err[-2000:]
    with ledger.case(
        "faults",
        f"{signal_name} during training (cross-validation running)",
        "exit 130; run KILLED; earlier run, reports and artifacts untouched; no partial files",
        fault=True,
    ) as case:
        runs_before = _runs(folder)
        reports_before = tree_digest(folder / "reports")
        artifacts_before = tree_digest(folder / "mlruns")
        process = _start(folder, _slow_config(folder))
        stderr = folder / "stderr.txt"
        deadline = time.monotonic() + TIMEOUT
        # The progress bar appears once the MLflow run has started and CV is under way.
        while "cross-validation" not in stderr.read_text(encoding="utf-8"):
            assert process.poll() is None, stderr.read_text(encoding="utf-8")[-2000:]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.1)
        process.send_signal(getattr(signal, signal_name))
        result = _finish(folder, process)
        case.crashed = result.crashed

        runs_after = _runs(folder)
        new = {k: v for k, v in runs_after.items() if k not in runs_before}
        lost_runs = sum(runs_after.get(k) != v for k, v in runs_before.items())
        lost = lost_runs + lost_files(reports_before, tree_digest(folder / "reports"))
        lost += lost_files(artifacts_before, tree_digest(folder / "mlruns"))
        case.lost = lost
        partial = leftovers(folder / "reports") + leftovers(folder / "mlruns")
        case.saw(
            f"exit {result.code}; stderr ends {result.err.strip().splitlines()[-1]!r}; new run "
            f"status {[s for s, _ in new.values()]}; earlier runs/files changed {lost}; "
            f"report folders {len(reports_before)} files before, "
            f"{len(tree_digest(folder / 'reports'))} after; leftovers {partial}"
        )
        assert result.code == 130 and "interrupted" in result.err
        assert [status for status, _ in new.values()] == ["KILLED"]
        assert lost == 0 and partial == []
        assert tree_digest(folder / "reports") == reports_before  # no half-written report


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_real_process(tmp_path, ledger):
    with ledger.case(
        "faults",
        "tracking server unreachable (real process)",
        "exit code 2, stderr exactly one line, nothing written",
        fault=True,
    ) as case:
        env = process_env(tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{_closed_port()}")
        result = run_process("train", write_config(tmp_path), cwd=tmp_path, env=env)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "is unreachable" in message
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fixture-topic.yaml"]


def _without_permission_override() -> None:
    """In the child: give up root's power to ignore file permissions (CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH), so that a read-only folder is read-only for it too."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def _run_unprivileged(*argv: str, cwd: Path, env: dict[str, str]) -> CliResult:
    done = subprocess.run(
        khabar_command(*argv),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        preexec_fn=_without_permission_override if os.geteuid() == 0 else None,
    )
    if done.returncode == 97:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here, so no folder is read-only to root")
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_reports_folder_without_write_permission(tmp_path, ledger):
    read_only = tmp_path / "reports"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        with ledger.case(
            "faults",
            "reports folder without write permission (real process)",
            "exit 2 before training, one line: Permission denied",
            fault=True,
        ) as case:
            result = _run_unprivileged(
                "train", write_config(tmp_path), cwd=tmp_path, env=process_env(tmp_path)
            )
            case.crashed = result.crashed
            case.saw(result.summary())
            message = only_line(result)
            assert "reports_dir: cannot write to reports: Permission denied" in message
            assert not (tmp_path / "mlflow.db").exists()
    finally:
        read_only.chmod(0o755)


def test_working_folder_without_write_permission(tmp_path, ledger):
    """The default store is ./mlflow.db: a read-only working folder cannot hold it."""
    work = tmp_path / "work"
    work.mkdir()
    config = write_config(tmp_path, reports_dir=str(tmp_path / "reports"))
    work.chmod(0o555)
    try:
        with ledger.case(
            "faults",
            "working folder without write permission, default store ./mlflow.db",
            "exit 2, one line naming the store; no run, no report",
            fault=True,
        ) as case:
            env = {k: v for k, v in process_env(tmp_path).items() if k != "MLFLOW_TRACKING_URI"}
            result = _run_unprivileged("train", config, cwd=work, env=env)
            case.crashed = result.crashed
            case.saw(result.summary())
            message = only_line(result)
            assert f"tracking store sqlite:///mlflow.db: cannot write to {work}" in message
            assert "Permission denied" in message
            assert tree_digest(tmp_path / "reports") == {} and list(work.iterdir()) == []
    finally:
        work.chmod(0o755)
