"""`khabar serve` answers POST /explain with exactly the rows `khabar explain` writes, and
POST /invocations as before."""

from __future__ import annotations

import json
import threading

import pytest
import requests

import khabar
from khabar.record.model_files import save_skops
from khabar.runs.serve import make_server

from .test_explain import SPECIAL, fit_case, make_data_files


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explain-serve")
    pipeline, frame = fit_case("linear_svc", make_data_files(folder))
    (folder / "model").mkdir()
    save_skops(pipeline, folder / "model" / "model.skops")
    server = make_server(str(folder / "model"), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder / "model", frame
    finally:
        server.shutdown()
        server.server_close()


def test_explain_answers_the_rows_khabar_explain_writes(served, tmp_path):
    base, model, frame = served
    texts = [*frame["text"][:4], *SPECIAL]
    out = tmp_path / "why.jsonl"
    khabar.explain(str(model), texts, out, top=3, labels=["security"])
    expected = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    answer = requests.post(
        f"{base}/explain?top=3&label=security", json={"inputs": texts}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"explanations": expected}
    records = {"dataframe_records": [{"id": "a", "text": texts[0]}, {"id": "b", "text": " "}]}
    rows = requests.post(f"{base}/explain", json=records, timeout=60).json()["explanations"]
    assert [row["id"] for row in rows] == ["a", "b"]
    assert len(rows[0]["explanations"][0]["features"]) == 11  # top 10 and the rest
    assert rows[1]["reason"] == "empty text" and rows[1]["explanations"] == []
    predicted = requests.post(f"{base}/invocations", json={"inputs": texts}, timeout=60).json()
    assert [p["prediction"] for p in predicted["predictions"]] == [
        r["prediction"] for r in expected
    ]


def test_explain_refuses_bad_options_in_one_line(served):
    base, _, _ = served
    for query, message in (
        ("top=ten", "top must be a whole number"),
        ("top=-2", "top must be 0"),
        ("label=sports", "label 'sports': the model's labels are"),
    ):
        answer = requests.post(f"{base}/explain?{query}", json={"inputs": ["نص"]}, timeout=60)
        assert answer.status_code == 400 and message in answer.json()["message"], answer.text
    answer = requests.post(f"{base}/explained", json={"inputs": ["نص"]}, timeout=60)
    assert answer.status_code == 404


@pytest.mark.parametrize("case", ["linear_svc", "target_aware"])
def test_the_server_predicts_once_before_its_port_opens(case, tmp_path, monkeypatch):
    """Warming up pays one-time costs before /ping can answer; a model that reads a column
    besides the text (target-aware) warms up too."""
    from khabar.runs import serve

    pipeline, _ = fit_case(case, make_data_files(tmp_path))
    (tmp_path / "model").mkdir()
    save_skops(pipeline, tmp_path / "model" / "model.skops")
    seen = []

    def spy(model, frame):
        seen.append(list(frame.columns))
        return serve.json_records(serve.predict_frame(model, frame, serve.REQUEST_NAME))

    class Server(serve._ModelServer):
        def __init__(self, *args, **kwargs):
            seen.append("bound")
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(serve, "predictions", spy)
    monkeypatch.setattr(serve, "_ModelServer", Server)
    server = make_server(str(tmp_path / "model"), "127.0.0.1", 0)
    server.server_close()
    assert seen == [["text", "target"] if case == "target_aware" else ["text"], "bound"]
