"""What explaining costs: `khabar explain` to JSONL against `khabar predict` on the same news
items, in the same process, with the same loaded model (target: at most 3x).

    .venv/bin/python experiments/bench_explain.py [--items 1000] [--repeats 5]

Models are fit on khabar's own corpus (data/, as `khabar train` fits its final model; nothing
recorded in MLflow), saved with skops and loaded as the commands load them. The items are
SaudiNewsNet articles cut as realnews-dev's texts (title + lead, reserved URLs left out) from
../shared/data when present, else khabar's own texts. Both commands read the same JSONL file
and write JSONL; the two are timed alternately and each explained score is checked against
the predicted one. Writes docs/results/explain.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from khabar.data.corpora import read_saudinewsnet_leads
from khabar.data.fit_set import build_fit_set, load_train_and_test
from khabar.model.pipeline import build_pipeline
from khabar.record.model_files import SKOPS_FILE, save_skops
from khabar.runs.explain import explain
from khabar.runs.guard import load_config
from khabar.runs.predict import load_model, predict

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
SAUDINEWSNET = SHARED_DATA / "saudinewsnet"
RESERVED = SHARED_DATA / "realnews-dev" / "reserved_urls.txt"
# (what the row shows, config, overrides): the first row is the one the target is about.
MODELS = [
    ("topic (`configs/topic.yaml`: char_wb 2-5 + word 1-2, LinearSVC)", "configs/topic.yaml", []),
    ("topics, multi-label (`configs/topics_multilabel.yaml`, its 3 labels each)",
     "configs/topics_multilabel.yaml", []),
    ("topic, fast engine + FastLinearSVC (float32 scores)", "configs/topic.yaml",
     ["features.char.engine=fast", "model.name=fast_linear_svc"]),
    ("topic, NBSVM", "configs/topic.yaml", ["model.name=nbsvm", "model.params={C: 0.1}"]),
]  # fmt: skip


def news_items(count: int) -> tuple[list[dict], str]:
    """`count` news items to explain, and where they come from."""
    if SAUDINEWSNET.is_dir():
        reserved = set(RESERVED.read_text("utf-8").split()) if RESERVED.is_file() else set()
        items, _ = read_saudinewsnet_leads(SAUDINEWSNET)
        items = [i for i in items if i["url"] not in reserved][:count]
        source = (
            "SaudiNewsNet (`../shared/data/saudinewsnet`), title + lead, reserved URLs left out"
        )
        return [{"id": i["id"], "text": i["text"]} for i in items], source
    print(f"note: {SAUDINEWSNET} not found; timing on khabar's own texts instead")
    rows = []
    for name in ("data/khabar_news_test.jsonl", "data/khabar_news_train.jsonl"):
        rows += [json.loads(line) for line in (PROJECT / name).read_text("utf-8").splitlines()]
    return [{"id": r["id"], "text": r["text"]} for r in rows[:count]], "khabar's own corpus (data/)"


def fit_and_load(config_path: str, overrides: list[str], folder: Path):
    config = load_config(PROJECT / config_path, overrides)
    train, _ = load_train_and_test(config)
    fit = build_fit_set(config, train)
    save_skops(build_pipeline(config).fit(fit.inputs, fit.fit_labels), folder / SKOPS_FILE)
    return load_model(folder)


def check_scores(explained: Path, predicted: Path) -> int:
    """Each explained label's score against khabar predict's score (or probability)."""
    checked = 0
    whys = explained.read_text("utf-8").splitlines()
    for why, what in zip(whys, predicted.read_text("utf-8").splitlines(), strict=True):
        why, what = json.loads(why), json.loads(what)
        assert why["prediction"] == what["prediction"]
        for e in why["explanations"]:
            shown_score = e.get("probability", e["score"])
            # 6 decimals in predict's file, and a float32 model's own rounding
            assert abs(shown_score - what[f"score_{e['label']}"]) <= 2e-6 * (1 + abs(shown_score))
            listed = sum(f["contribution"] for f in e["features"])
            assert abs(e["intercept"] + listed - e["score"]) <= 1e-6
            checked += 1
    return checked


def time_both(model, source: Path, folder: Path, repeats: int) -> dict:
    times = {"predict": [], "explain": []}
    for _ in range(repeats):  # alternately, so a drifting machine hits both alike
        started = time.perf_counter()
        predict(model, source, folder / "predicted.jsonl")
        times["predict"].append(time.perf_counter() - started)
        started = time.perf_counter()
        explain(model, source, folder / "explained.jsonl", top=10)
        times["explain"].append(time.perf_counter() - started)
    started = time.perf_counter()
    explain(model, source, folder / "explained.html", top=10, limit=100)
    html = time.perf_counter() - started
    checked = check_scores(folder / "explained.jsonl", folder / "predicted.jsonl")
    return {**{k: statistics.median(v) for k, v in times.items()},
            **{f"{k}_min": min(v) for k, v in times.items()}, "html": html, "checked": checked}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    page_started = start()
    items, source_name = news_items(args.items)
    print(f"items: {len(items)} from {source_name}")
    rows, results = [], []
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        source = folder / "items.jsonl"
        pd.DataFrame(items).to_json(source, orient="records", lines=True, force_ascii=False)
        for k, (label, config_path, overrides) in enumerate(MODELS):
            (folder / f"model-{k}").mkdir()
            model = fit_and_load(config_path, overrides, folder / f"model-{k}")
            found = time_both(model, source, folder, args.repeats)
            ratio = found["explain"] / found["predict"]
            print(f"{label}: predict {found['predict']:.2f} s, explain {found['explain']:.2f} s, "
                  f"ratio {ratio:.2f}x; HTML for 100 items {found['html']:.2f} s")  # fmt: skip
            results.append((label, found, ratio))
            rows.append((label, f"{found['predict']:.2f} ({found['predict_min']:.2f})",
                         f"{found['explain']:.2f} ({found['explain_min']:.2f})",
                         f"**{ratio:.2f}x**" if k == 0 else f"{ratio:.2f}x", f"{found['html']:.2f}",
                         found["checked"]))  # fmt: skip
    headline = results[0][2]
    verdict = "within" if headline <= 3 else "over"
    table = markdown_table(
        ["model", "predict, s: median (best)", "explain to JSONL, s: median (best)",
         "ratio (medians)", "explain to HTML, 100 items, s", "scores checked"],
        rows,
    )  # fmt: skip
    text = (
        f"{table}\n\nOn {len(items)} items, `khabar explain` (top 10 features per label, spans "
        f"in the input text) costs **{headline:.2f}x** `khabar predict` with the topic model: "
        f"{verdict} the 3x target. Times are medians of {args.repeats} alternating runs of "
        "each command's function (`khabar.predict`, `khabar.explain`: read the file, "
        "featurize, score, write JSONL) on the same loaded model. Every explained score was "
        "checked against the score predict wrote (its probability where it writes one), and "
        "every listed contribution sum plus the intercept against the score (1e-6)."
    )
    page = write_results_page(
        "explain",
        "Explanation cost: khabar explain against khabar predict",
        command_line(__file__, argv),
        [(None, text)],
        page_started,
        measures=(
            "What exact explanations cost: `khabar explain` to JSONL against `khabar predict` "
            "on the same news items, in the same process, with the same loaded model."
        ),
        notes=[
            f"Items: {len(items)} from {source_name}",
            "Models: fit on khabar's own corpus (`data/khabar_news_train.jsonl`) as `khabar "
            "train` fits its final model, saved with skops and loaded as the commands load them",
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
