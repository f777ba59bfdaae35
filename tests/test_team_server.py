"""A team's shared tracking server: `mlflow server` with a PostgreSQL backend store and a
local artifact root; train, register, export and predict through it over HTTP."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from sklearn.metrics import f1_score

from khabar.cli import main

from .background import free_port, running, server_env
from .conftest import NEWS_SMALL, write_config

pytestmark = pytest.mark.integration


def _postgres_bin() -> Path | None:
    """Debian keeps the server binaries out of PATH, in /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    return Path(versions[-1]).parent if versions else None


POSTGRES_BIN = _postgres_bin()


@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL cluster on a free loopback port, trusting local connections
    only; its URL for SQLAlchemy (psycopg 3 driver)."""
    if POSTGRES_BIN is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
        )
    # PostgreSQL refuses to run as root: as root, run it as the postgres user, in a folder
    # that user owns (pytest's tmp_path is private to root).
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="khabar-pg-"))
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    run = dict(check=True, capture_output=True, text=True)
    subprocess.run(
        [*as_user, str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "khabar",
         "--auth=trust", "-E", "UTF8", "--no-sync"],
        **run,
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(
        [*as_user, str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
         "-w", "-o", options, "start"],
        **run,
    )  # fmt: skip
    try:
        with psycopg.connect(
            f"postgresql://khabar@127.0.0.1:{port}/postgres", autocommit=True
        ) as c:
            c.execute("CREATE DATABASE mlflow")
        yield f"postgresql+psycopg://khabar@127.0.0.1:{port}/mlflow"
    finally:
        subprocess.run(
            [*as_user, str(POSTGRES_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


def test_train_register_predict_through_a_postgres_backed_server(
    postgres_url, tmp_path, monkeypatch, capsys
):
    artifacts = tmp_path / "artifacts"
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", postgres_url,
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with running(command, server_env(), f"{server}/health", tmp_path / "server.log"):
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server)

        assert main(["train", str(write_config(tmp_path)), "--json"]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (
            main(["register", result["run_id"], "--name", "team-topic", "--alias", "champion"]) == 0
        )
        texts = tmp_path / "texts.jsonl"
        texts.write_text(NEWS_SMALL.read_text(encoding="utf-8"), encoding="utf-8")
        by_alias, exported = tmp_path / "by_alias.jsonl", tmp_path / "export"
        args = ["--input", str(texts), "--output", str(by_alias)]
        assert main(["predict", "--model", "models:/team-topic@champion", *args]) == 0
        assert main(["export", "models:/team-topic@champion", "--output", str(exported)]) == 0
        by_folder = tmp_path / "by_folder.jsonl"
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(exported),
                    "--input",
                    str(texts),
                    "--output",
                    str(by_folder),
                ]
            )
            == 0
        )
        capsys.readouterr()

    assert by_alias.read_text(encoding="utf-8") == by_folder.read_text(encoding="utf-8")
    assert len(by_alias.read_text(encoding="utf-8").splitlines()) == 96
    metadata = json.loads((exported / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["run_id"] == result["run_id"]
    assert metadata["metrics"]["test_f1_macro"] == result["metrics"]["test_f1_macro"]
    # The metric is scikit-learn's over the per-item predictions in the artifact root.
    (table,) = artifacts.rglob("predictions/test.parquet")
    test = pd.read_parquet(table)
    classes = ["diplomacy", "migration", "other", "security"]
    expected = f1_score(test["gold"], test["prediction"], labels=classes, average="macro")
    assert len(test) == 24 and result["metrics"]["test_f1_macro"] == pytest.approx(expected)

    # The run, its metrics and the registry live in PostgreSQL; the files in the artifact root.
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as connection:
        runs = connection.execute("SELECT run_uuid FROM runs").fetchall()
        metric = connection.execute(
            "SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'test_f1_macro'",
            (result["run_id"],),
        ).fetchone()
        alias = connection.execute(
            "SELECT version FROM registered_model_aliases WHERE name = 'team-topic' AND alias = 'champion'"
        ).fetchone()
    assert runs == [(result["run_id"],)]
    assert metric[0] == pytest.approx(result["metrics"]["test_f1_macro"])
    assert alias == (1,)
    assert list(artifacts.rglob("model.skops")) and list(artifacts.rglob("confusion_matrix.png"))
