"""Servers started by integration tests: on a free loopback port, in their own process
group (MLflow's servers spawn workers), always stopped, their log shown when they fail."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

# A server on the 2-core CI machine, shared with other jobs, can take a while to start.
START_TIMEOUT_SECONDS = 180

# MLflow's servers: one worker, and no job runner (it starts a dozen consumers for GenAI
# features khabar does not use); both only make startup slower on a small machine.
LEAN_MLFLOW_SERVER = {"MLFLOW_WORKERS": "1", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def khabar_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "khabar.cli", *args]


def server_env(**extra: str) -> dict[str, str]:
    """The test's environment, with the venv's scripts (uvicorn, mlflow) on PATH."""
    env = dict(os.environ, **LEAN_MLFLOW_SERVER, **extra)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever is left."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.5)  # the leader is gone; its workers get the next signal too


@contextmanager
def running(
    command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen]:
    """Start COMMAND, wait until READY_URL answers 200, yield, then stop it."""
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"{command[:4]} exited with {process.returncode}:\n{_tail(log)}"
                )
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{ready_url} not ready after {START_TIMEOUT_SECONDS}s:\n{_tail(log)}"
                )
            time.sleep(0.3)
        yield process
    finally:
        stop(process)
