"""What serving over HTTP costs: `khabar serve` (a separate process, POST /invocations)
against predicting in-process on the same texts, measured in the same run.

    .venv/bin/python experiments/bench_serving.py [--repeats 3]

The model is trained on the project's small fixture (no MLflow, so nothing is recorded);
the texts are the real news items of ../shared/data/realnews-dev when present, else the
fixture's own texts. Prints milliseconds per text and ratios to in-process prediction, and
writes the results page docs/results/serving.md (its header names the texts timed).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import requests

from khabar.data.config import ExperimentConfig
from khabar.model.pipeline import build_pipeline
from khabar.record.model_files import SKOPS_FILE, save_skops
from khabar.runs.predict import load_model, predict_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIXTURE = PROJECT / "tests" / "fixtures" / "news_small.jsonl"
REAL_NEWS = SHARED_DATA / "realnews-dev" / "realnews_dev.jsonl"


def read_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def best_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--single", type=int, default=100, help="one-text requests to time")
    parser.add_argument(
        "--model", help="serve this model folder instead (prints its figures, writes no page)"
    )
    args = parser.parse_args(argv)
    page_started = start()

    if REAL_NEWS.is_file():
        texts, source = read_texts(REAL_NEWS), f"{REAL_NEWS.relative_to(SHARED_DATA.parent)}"
        page_source = "realnews-dev (`../shared/data/realnews-dev/realnews_dev.jsonl`)"
    else:
        print(f"note: {REAL_NEWS} not found; timing on the fixture's texts instead")
        texts, source = read_texts(FIXTURE), FIXTURE.name
        page_source = f"the fixture `{shown(FIXTURE)}` (realnews-dev was not found)"
    print(f"texts: {len(texts)} from {source}")

    config = ExperimentConfig.model_validate(
        {
            "name": "bench-serving",
            "experiment": "bench",
            "data": {"train": str(FIXTURE), "label_column": "primary"},
            "features": {"char": {"ngram_range": [2, 5]}, "word": {"analyzer": "word"}},
        }
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.model or scratch
        if args.model is None:
            train = pd.read_json(FIXTURE, lines=True)
            fitted = build_pipeline(config).fit(train[["text"]], train["primary"])
            save_skops(fitted, Path(folder) / SKOPS_FILE)
        model = load_model(folder)  # what the server loads, through the same policy
        frame = pd.DataFrame({"text": texts})
        in_process = best_seconds(lambda: predict_frame(model, frame, "bench"), args.repeats)
        expected = predict_frame(model, frame, "bench").to_dict(orient="records")

        port = free_port()
        command = [sys.executable, "-m", "khabar.cli", "serve", "--model", folder]
        launched = time.perf_counter()
        server = subprocess.Popen(
            [*command, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                try:
                    if requests.get(f"{url}/ping", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            ping_s = time.perf_counter() - launched
            session = requests.Session()
            started = time.perf_counter()  # the first request after /ping: warmed up already
            session.post(f"{url}/invocations", json={"inputs": texts[:1]}, timeout=60)
            first_ms = (time.perf_counter() - started) * 1000

            def one_batch():
                answer = session.post(f"{url}/invocations", json={"inputs": texts}, timeout=600)
                answer.raise_for_status()
                return answer.json()["predictions"]

            assert one_batch() == expected, "served predictions differ from in-process ones"
            batch = best_seconds(one_batch, args.repeats)
            singles = texts[: args.single]
            per_request = []
            for text in singles:
                started = time.perf_counter()
                session.post(f"{url}/invocations", json={"inputs": [text]}, timeout=60)
                per_request.append(time.perf_counter() - started)
            single_ms = statistics.median(per_request) * 1000
        finally:
            server.terminate()
            server.wait(timeout=30)

    in_process_one = best_seconds(lambda: predict_frame(model, frame.head(1), "bench"), 20)
    per_text = 1000 / len(texts)
    print(f"in-process, one batch:    {in_process * per_text:8.3f} ms/text")
    print(f"HTTP, one batch:          {batch * per_text:8.3f} ms/text   "
          f"ratio {batch / in_process:5.2f}x in-process")  # fmt: skip
    print(f"in-process, one text:     {in_process_one * 1000:8.3f} ms/request")
    print(f"HTTP, one text (median):  {single_ms:8.3f} ms/request "
          f"ratio {single_ms / (in_process_one * 1000):5.2f}x in-process")  # fmt: skip
    print(f"first request after /ping: {first_ms:8.3f} ms; /ping answered after {ping_s:.2f} s")
    if args.model is not None:
        return 0
    rows = [
        ("one batch of all texts", "in process", f"{in_process * per_text:.3f} ms/text", "1.00x"),
        ("one batch of all texts", "HTTP `/invocations`", f"{batch * per_text:.3f} ms/text",
         f"**{batch / in_process:.2f}x**"),
        ("one text per request", "in process", f"{in_process_one * 1000:.3f} ms/request",
         "1.00x"),
        ("one text per request", "HTTP `/invocations` (median)", f"{single_ms:.3f} ms/request",
         f"**{single_ms / (in_process_one * 1000):.2f}x**"),
        ("the first request, one text", "HTTP, right after /ping answers",
         f"{first_ms:.3f} ms/request", f"{first_ms / (in_process_one * 1000):.2f}x"),
    ]  # fmt: skip
    page = write_results_page(
        "serving",
        "Serving benchmark: HTTP against in-process prediction",
        command_line(__file__, argv),
        [
            (
                None,
                markdown_table(["requests", "where", "time", "ratio to in process"], rows)
                + f"\n\nBatch times are the best of {args.repeats} repeats; the one-text HTTP "
                f"time is the median of {len(singles)} requests, the in-process one the best of "
                "20. The served predictions were checked equal to the in-process ones. The "
                f"server answered /ping {ping_s:.2f} s after it was launched (start-up, model "
                "load and one warm-up prediction before the port opens).",
            )
        ],
        page_started,
        measures=(
            "What serving over HTTP costs: `khabar serve` (a separate process, POST "
            "/invocations) against predicting in process on the same texts, in one batch and "
            "one text per request, measured in the same run."
        ),
        notes=[
            f"Texts: {len(texts)} from {page_source}; model: char 2-5 + word n-grams trained on "
            f"the fixture `{shown(FIXTURE)}` (nothing recorded in MLflow)"
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
