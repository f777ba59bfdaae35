"""`khabar ui` stopped by SIGTERM (kill, a process supervisor) or Ctrl-C (SIGINT) stops the
MLflow server it started, uvicorn and its workers, and frees the port."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import time

import psutil
import pytest
import requests

from .background import free_port, khabar_command, server_env

pytestmark = pytest.mark.integration

START_SECONDS = 180
STOP_SECONDS = 30


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait_ready(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, f"khabar ui exited with {process.returncode}"
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"khabar ui not ready after {START_SECONDS}s")


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stopping_khabar_ui_stops_its_server_and_frees_the_port(workdir, sig, status):
    port = free_port()
    # Its own session, as under a supervisor: the signal reaches khabar ui alone, not the
    # processes it started.
    process = subprocess.Popen(
        khabar_command("ui", "--port", str(port)),
        env=server_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started: list[psutil.Process] = []
    try:
        _wait_ready(process, port)
        started = psutil.Process(process.pid).children(recursive=True)
        assert any("uvicorn" in " ".join(p.cmdline()) for p in started)
        process.send_signal(sig)
        assert process.wait(timeout=STOP_SECONDS) == status
        gone, alive = psutil.wait_procs(started, timeout=5)
        assert not alive, [p.cmdline() for p in alive]
        assert _port_free(port)
    finally:  # a failed test leaves nothing running either
        if process.poll() is None:
            process.kill()
        for child in started:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
