"""Serving over HTTP, end to end: a registered model served on a free loopback port answers
POST /invocations with exactly what `khabar predict` writes for the same Arabic texts."""

from __future__ import annotations

import json
import sys

import pytest
import requests

from khabar.cli import main
from khabar.runs.registry import register

from .background import free_port, khabar_command, running, server_env
from .conftest import NEWS_SMALL

pytestmark = pytest.mark.integration

MODEL = "models:/serving-topic@champion"


@pytest.fixture(scope="module")
def registered(shared_store, tmp_path_factory):
    """The shared store's linear SVC run registered (alias champion), and khabar predict's
    output for it on new texts."""
    folder = tmp_path_factory.mktemp("serving")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
        register(shared_store.runs["svc"].run_id, "serving-topic", "champion")
        rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
        texts = [r["text"] for r in rows[::7]] + ["وزير الخارجية يستقبل سفير اليابان"]
        new = folder / "new.jsonl"
        new.write_text(
            "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts),
            encoding="utf-8",
        )
        out = folder / "predicted.jsonl"
        assert main(["predict", "--model", MODEL, "--input", str(new), "--output", str(out)]) == 0
        expected = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        yield folder, texts, expected, shared_store.tracking_uri


def test_khabar_serve_answers_like_khabar_predict(registered):
    folder, texts, expected, store = registered
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = khabar_command("serve", "--model", MODEL, "--port", str(port))
    with running(
        command, server_env(MLFLOW_TRACKING_URI=store), f"{base}/ping", folder / "khabar-serve.log"
    ):
        answer = requests.post(f"{base}/invocations", json={"inputs": texts}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected
        split = {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}}
        assert requests.post(f"{base}/invocations", json=split, timeout=60).json() == {
            "predictions": expected
        }
        # A row without text gets a null prediction and its reason, not a refused batch.
        blank = requests.post(f"{base}/invocations", json={"inputs": ["نص", " "]}, timeout=60)
        assert blank.status_code == 200, blank.text
        second = blank.json()["predictions"][1]
        assert second["prediction"] is None and second["reason"] == "empty text"
        records = {"dataframe_records": [{"text": "نص"}, {"text": ["not", "a", "text"]}]}
        bad = requests.post(f"{base}/invocations", json=records, timeout=60)
        assert bad.status_code == 400 and "row 2" in bad.json()["message"]
        assert requests.get(f"{base}/version", timeout=10).json()["labels"] == [
            "diplomacy",
            "migration",
            "other",
            "security",
        ]


def test_mlflow_models_serve_on_the_registered_model(registered):
    folder, texts, expected, store = registered
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        MODEL,
        "--env-manager",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with running(
        command, server_env(MLFLOW_TRACKING_URI=store), f"{base}/ping", folder / "mlflow-serve.log"
    ):
        answer = requests.post(f"{base}/invocations", json={"inputs": texts}, timeout=60)
        assert answer.status_code == 200, answer.text
        # MLflow's pyfunc returns the Pipeline's predict(): the labels, without scores.
        assert answer.json()["predictions"] == [row["prediction"] for row in expected]
