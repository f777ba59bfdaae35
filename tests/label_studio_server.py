"""A real Label Studio for integration tests: from its own virtual environment
(`make label-studio`: its pins clash with khabar's), on a free loopback port, with its
own data folder, a preset user and API token, no telemetry; always stopped (its process
group), its log shown when it fails to start."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from .background import free_port, running
from .conftest import PROJECT

VENV = PROJECT / ".venv-labelstudio"
# KHABAR_LABEL_STUDIO: another `label-studio` executable (e.g. one installed elsewhere).
EXECUTABLE = Path(os.environ.get("KHABAR_LABEL_STUDIO") or VENV / "bin" / "label-studio")
INSTALL_LOG = VENV / "install.log"
USER = "annotator@khabar.test"
PASSWORD = "khabar-round-trip"
TOKEN = "khabar0round0trip0token"


def missing_reason() -> str | None:
    """Why Label Studio cannot run here (not installed, with the install's last lines), or
    None when its executable is there."""
    if EXECUTABLE.is_file() and os.access(EXECUTABLE, os.X_OK):
        return None
    reason = f"Label Studio is not installed ({EXECUTABLE} missing; `make label-studio`)"
    if EXECUTABLE.is_relative_to(VENV) and INSTALL_LOG.is_file():  # what the install said
        lines = INSTALL_LOG.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        useful = [line for line in lines if line.strip() and not line.startswith("WARNING")]
        if useful:
            reason += f": the install failed: {useful[-1][:300]}"
    return reason


def server_env(data_dir: Path) -> dict[str, str]:
    """Label Studio's settings: the data folder, the user and its legacy token (the
    `Authorization: Token ...` header), and nothing sent anywhere (Sentry, analytics,
    version checks)."""
    env = {key: value for key, value in os.environ.items() if key != "CI"}  # CI: extra apps
    env.update(
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_USERNAME=USER,
        LABEL_STUDIO_PASSWORD=PASSWORD,
        LABEL_STUDIO_USER_TOKEN=TOKEN,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        COLLECT_ANALYTICS="false",
        LATEST_VERSION_CHECK="false",
    )
    return env


@dataclass
class LabelStudio:
    """A running Label Studio and its REST API, authenticated as the preset user."""

    url: str
    session: requests.Session

    def call(self, method: str, path: str, **options) -> requests.Response:
        response = self.session.request(method, f"{self.url}{path}", timeout=60, **options)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:500]}"
        return response

    def create_project(self, title: str, label_config: str) -> int:
        body = {"title": title, "label_config": label_config}
        return self.call("POST", "/api/projects", json=body).json()["id"]

    def import_tasks(self, project: int, tasks: list[dict]) -> None:
        result = self.call("POST", f"/api/projects/{project}/import", json=tasks).json()
        assert result["task_count"] == len(tasks), result

    def tasks(self, project: int) -> list[dict]:
        """The project's tasks, in order (id, data, total_annotations, ...)."""
        answer = self.call("GET", "/api/tasks", params={"project": project, "page_size": 1000})
        return sorted(answer.json()["tasks"], key=lambda task: task["id"])

    def annotate(self, task: int, choices: list[str] | None, cancelled: bool = False) -> None:
        """An annotation through the API: the choices, or a cancelled (skipped) one."""
        result = []
        if choices is not None:
            value = {"choices": choices}
            result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": value}]
        body = {"result": result, "was_cancelled": cancelled}
        self.call("POST", f"/api/tasks/{task}/annotations", json=body)

    def export(self, project: int, export_type: str, folder: Path) -> Path:
        """Every task of the project in one export format, saved as Label Studio names it."""
        params = {"exportType": export_type, "download_all_tasks": "true"}
        response = self.call("GET", f"/api/projects/{project}/export", params=params)
        disposition = response.headers.get("Content-Disposition", "")
        name = disposition.split("filename=")[-1].strip('"') or f"export-{export_type}"
        path = folder / f"{export_type}-{name}"
        path.write_bytes(response.content)
        return path


@contextmanager
def label_studio(data_dir: Path, log: Path) -> Iterator[LabelStudio]:
    """Start Label Studio on 127.0.0.1 and a free port; stop it on leaving.

    Parameters
    ----------
    data_dir : Path
        Its database and media (made if missing).
    log : Path
        Its output, shown when it fails to start.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        *(str(EXECUTABLE), "start", "--no-browser", "--data-dir", str(data_dir)),
        *("--internal-host", "127.0.0.1", "--port", str(port)),
    ]
    url = f"http://127.0.0.1:{port}"
    with running(command, server_env(data_dir), f"{url}/health", log):
        session = requests.Session()
        session.headers["Authorization"] = f"Token {TOKEN}"
        yield LabelStudio(url, session)
