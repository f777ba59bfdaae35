"""Model files benchmark: size and load time of khabar's skops model files against pickling
the same fitted Pipeline, and `khabar predict` on two texts against a plain unpickle-and-predict
script, each measured in the same run.

Models: the default topics model (`configs/topic.yaml`, the first model `make run` trains),
the multi-label topics model (`configs/topics_multilabel.yaml`) and the SaudiNewsNet source
model (`configs/saudinewsnet_source.yaml` on the JSONL export experiments/bench_scale.py
writes; left out when ../shared/data is absent). For each, in its own process: fit the final
Pipeline as `khabar train` does (no CV), save it as model.skops (a model folder `khabar
predict` takes) and pickled, log it as `khabar train` logs it (an MLflow model in the
benchmark's own store), and compare the predictions and scores of the Pipeline before saving
with the loaded model's. Then, in a fresh process each, load times (median of repeats after
one warm-up each), and whole-process times of `khabar predict` on two texts (from the folder
and from the MLflow URI) against `python plain_predict.py model.pkl` (median of repeats).

    .venv/bin/python experiments/bench_model_files.py [--models topic ...] [--repeats 5]
        [--before reports/benchmarks/model_files_before.json]

--before: a JSON this script wrote at an earlier commit; the page shows those figures
beside this run's. Writes reports/benchmarks/model_files.json and the results page
docs/results/model_files.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import (  # noqa: E402
    command_line,
    markdown_table,
    shown,
    start,
    write_results_page,
)

PROJECT = Path(__file__).resolve().parents[1]
SAUDINEWSNET = PROJECT.parent / "shared" / "data" / "saudinewsnet"
ARTICLES = PROJECT / ".khabar-cache" / "bench_scale" / "articles.jsonl"
WORK = PROJECT / ".khabar-cache" / "bench_model_files"
REPORTS = PROJECT / "reports" / "benchmarks"
TARGETS = {"size_ratio": 2.0, "load_ratio": 5.0, "load_seconds_topic": 1.0, "predict_ratio": 2.0}
MODELS = {
    "topic": (PROJECT / "configs" / "topic.yaml", []),
    "topics-multilabel": (PROJECT / "configs" / "topics_multilabel.yaml", []),
    "saudinewsnet-source": (
        PROJECT / "configs" / "saudinewsnet_source.yaml",
        [f"data.train={ARTICLES}"],
    ),
}
PLAIN_SCRIPT = '''"""Unpickle a Pipeline and predict texts (one per line): the baseline."""
import pickle
import sys

import pandas as pd

with open(sys.argv[1], "rb") as handle:
    model = pickle.load(handle)
with open(sys.argv[2], encoding="utf-8") as handle:
    texts = [line.strip() for line in handle if line.strip()]
print(model.predict(pd.DataFrame({"text": texts})))
'''


# --- in its own process: fit, save, log, compare ---------------------------------------------


def prepare(name: str) -> None:
    """Fit the model as `khabar train` does, save it three ways, compare predictions."""
    import mlflow
    import numpy as np

    from khabar.data.config import read_config
    from khabar.data.fit_set import model_inputs
    from khabar.model.pipeline import build_pipeline, class_scores
    from khabar.record.model_files import load_skops, save_skops
    from khabar.runs.train import fit_final, load_training_data, log_model

    path, overrides = MODELS[name]
    config = read_config(path, [*overrides, "evaluation.cross_validate=false"])
    data = load_training_data(config)
    fitted = fit_final(build_pipeline(config), config, data, None)
    pipeline, seconds = fitted.pipeline, fitted.seconds
    inputs = model_inputs(data.scored, config)
    folder = WORK / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.skops").unlink(missing_ok=True)
    save_skops(pipeline, folder / "model.skops")
    with open(folder / "model.pkl", "wb") as handle:
        pickle.dump(pipeline, handle, protocol=pickle.HIGHEST_PROTOCOL)
    texts = [" ".join(text.split()) for text in inputs[config.data.text_column].head(2)]
    (folder / "two_lines.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")

    mlflow.set_tracking_uri(f"sqlite:///{WORK / 'mlflow.db'}")
    if mlflow.get_experiment_by_name("bench-model-files") is None:
        mlflow.create_experiment("bench-model-files", artifact_location=str(WORK / "artifacts"))
    mlflow.set_experiment("bench-model-files")
    with mlflow.start_run(run_name=name):
        model_uri = log_model(pipeline, inputs.head(3))

    loaded = load_skops(folder / "model.skops")
    before_scores, kind = class_scores(pipeline, inputs)
    after_scores, _ = class_scores(loaded, inputs)
    identical = bool(
        np.array_equal(np.asarray(pipeline.predict(inputs)), np.asarray(loaded.predict(inputs)))
        and np.array_equal(before_scores, after_scores)
    )
    with zipfile.ZipFile(folder / "model.skops") as archive:
        members = {info.filename: info.file_size for info in archive.infolist()}
    result = {
        "fit_seconds": seconds,
        "rows_compared": len(inputs),
        "score_kind": kind,
        "identical": identical,
        "skops_bytes": (folder / "model.skops").stat().st_size,
        "schema_json_bytes": members.get("schema.json", 0),
        "skops_members": len(members),
        "pickle_bytes": (folder / "model.pkl").stat().st_size,
        "model_uri": model_uri,
        "n_features": int(loaded[-1].n_features_in_),
    }
    (folder / "prepared.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


def time_loads(name: str, repeats: int) -> None:
    """In one fresh process: the median load time of model.skops (khabar's loader, under its
    trust policy) and of model.pkl, each after one warm-up load that imports the classes."""
    from khabar.record.model_files import load_skops

    folder = WORK / name

    def unpickle():
        with open(folder / "model.pkl", "rb") as handle:
            return pickle.load(handle)

    def median_seconds(load) -> float:
        load()  # imports every class the file names
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            load()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    result = {
        "skops_load_seconds": median_seconds(lambda: load_skops(folder / "model.skops")),
        "pickle_load_seconds": median_seconds(unpickle),
    }
    (folder / "loads.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


# --- whole processes ------------------------------------------------------------------------


def run_step(arguments: list[str], env: dict) -> None:
    command = [sys.executable, __file__, *arguments]
    finished = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
    if finished.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{finished.stderr[-3000:]}")


def median_process_seconds(command: list[str], env: dict, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        finished = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if finished.returncode != 0:
            raise SystemExit(f"failed: {' '.join(command)}\n{finished.stderr[-3000:]}")
    return statistics.median(times)


def bench_model(name: str, repeats: int, env: dict) -> dict:
    print(f"\n== {name} ==", flush=True)
    run_step(["prepare", name], env)
    run_step(["loads", name, "--repeats", str(repeats)], env)
    folder = WORK / name
    result = {
        **json.loads((folder / "prepared.json").read_text(encoding="utf-8")),
        **json.loads((folder / "loads.json").read_text(encoding="utf-8")),
    }
    khabar = str(Path(sys.executable).with_name("khabar"))
    two = str(folder / "two_lines.txt")
    out = str(folder / "two_predictions.jsonl")
    plain = WORK / "plain_predict.py"
    plain.write_text(PLAIN_SCRIPT, encoding="utf-8")
    commands = {
        "predict_folder_seconds": [khabar, "predict", "--model", str(folder), "--input", two,
                                   "--output", out],
        "predict_mlflow_seconds": [khabar, "predict", "--model", result["model_uri"],
                                   "--input", two, "--output", out],
        "plain_seconds": [sys.executable, str(plain), str(folder / "model.pkl"), two],
    }  # fmt: skip
    for key, command in commands.items():
        result[key] = median_process_seconds(command, env, repeats)
    result.update(ratios(name, result))
    print(json.dumps(result, indent=2), flush=True)
    return result


def ratios(name: str, result: dict) -> dict:
    values = {
        "size_ratio": result["skops_bytes"] / result["pickle_bytes"],
        "load_ratio": result["skops_load_seconds"] / result["pickle_load_seconds"],
        "predict_folder_ratio": result["predict_folder_seconds"] / result["plain_seconds"],
        "predict_mlflow_ratio": result["predict_mlflow_seconds"] / result["plain_seconds"],
    }
    met = {
        "size_ratio": values["size_ratio"] <= TARGETS["size_ratio"],
        "load_ratio": values["load_ratio"] <= TARGETS["load_ratio"],
        "predict_folder_ratio": values["predict_folder_ratio"] <= TARGETS["predict_ratio"],
        "predict_mlflow_ratio": values["predict_mlflow_ratio"] <= TARGETS["predict_ratio"],
        "identical": result["identical"],
    }
    if name == "topic":
        met["load_seconds"] = result["skops_load_seconds"] <= TARGETS["load_seconds_topic"]
    return {**values, "met": met}


def ensure_articles() -> bool:
    """The SaudiNewsNet JSONL export bench_scale.py writes; False when the data is absent."""
    if ARTICLES.is_file():
        return True
    if not SAUDINEWSNET.is_dir():
        return False
    from khabar.data.corpora import read_saudinewsnet, write_articles_jsonl

    ARTICLES.parent.mkdir(parents=True, exist_ok=True)
    write_articles_jsonl(read_saudinewsnet(SAUDINEWSNET), ARTICLES)
    return True


# --- the page -------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f}"


def _verdict(met: bool | None) -> str:
    return "—" if met is None else ("met" if met else "**not met**")


ROWS = [
    ("model.skops, MB", lambda r: _mb(r["skops_bytes"]), None),
    ("… of which schema.json, MB", lambda r: _mb(r["schema_json_bytes"]), None),
    ("pickled Pipeline, MB", lambda r: _mb(r["pickle_bytes"]), None),
    ("size ratio skops / pickle", lambda r: f"{r['size_ratio']:.2f}", "size_ratio"),
    ("load model.skops (khabar's loader), s", lambda r: f"{r['skops_load_seconds']:.3f}",
     "load_seconds"),
    ("unpickle, s", lambda r: f"{r['pickle_load_seconds']:.3f}", None),
    ("load ratio skops / pickle", lambda r: f"{r['load_ratio']:.1f}", "load_ratio"),
    ("`khabar predict` (model folder), two texts, s",
     lambda r: f"{r['predict_folder_seconds']:.2f}", None),
    ("`khabar predict` (MLflow URI), two texts, s",
     lambda r: f"{r['predict_mlflow_seconds']:.2f}", None),
    ("plain unpickle-and-predict script, s", lambda r: f"{r['plain_seconds']:.2f}", None),
    ("predict ratio, folder / plain", lambda r: f"{r['predict_folder_ratio']:.2f}",
     "predict_folder_ratio"),
    ("predict ratio, MLflow URI / plain", lambda r: f"{r['predict_mlflow_ratio']:.2f}",
     "predict_mlflow_ratio"),
    ("predictions and scores identical to the Pipeline before saving",
     lambda r: f"{'yes' if r['identical'] else '**no**'} ({r['rows_compared']:,} rows)",
     "identical"),
]  # fmt: skip
TARGET_TEXT = {
    "size_ratio": f"≤ {TARGETS['size_ratio']:g}",
    "load_ratio": f"≤ {TARGETS['load_ratio']:g}",
    "load_seconds": f"≤ {TARGETS['load_seconds_topic']:g} s (topic)",
    "predict_folder_ratio": f"≤ {TARGETS['predict_ratio']:g}",
    "predict_mlflow_ratio": f"≤ {TARGETS['predict_ratio']:g}",
    "identical": "yes",
}


def model_table(name: str, result: dict, before: dict | None) -> str:
    header = ["figure", *(["before"] if before else []), "now", "target", "verdict"]
    rows = []
    for label, show, key in ROWS:
        earlier = [show(before)] if before else []
        met = result["met"].get(key) if key else None
        target = TARGET_TEXT.get(key, "—") if key and (key in result["met"]) else "—"
        rows.append([label, *earlier, show(result), target, _verdict(met)])
    return (
        f"{result['n_features']:,} features; fit {result['fit_seconds']:.1f} s.\n\n"
        + markdown_table(header, rows)
    )


def write_page(summary: dict, started, argv, before: dict | None, partial: str | None) -> Path:
    sections = []
    for name, result in summary["models"].items():
        earlier = (before or {}).get("models", {}).get(name)
        sections.append((f"`{name}`", model_table(name, result, earlier)))
    notes = [
        f"Repeats: {summary['repeats']} per timing (median); loads after one warm-up load in a "
        "fresh process; whole-process timings include Python start-up and imports",
        "Pickle: `pickle.dump(pipeline, protocol=pickle.HIGHEST_PROTOCOL)` of the same fitted "
        "Pipeline; plain script: unpickle it and `predict` the two texts",
    ]
    if before:
        notes.append(f"Before: {before['code']}, run {before['run_at']}, same script")
    return write_results_page(
        "model_files",
        "Model files: size, load time and `khabar predict` start-up against pickle",
        command_line(__file__, argv),
        sections,
        started,
        measures=(
            "The size and load time of khabar's skops model files against pickling the same "
            "fitted Pipeline, `khabar predict` on two texts (whole process) against a plain "
            "unpickle-and-predict script, and whether the loaded model predicts exactly as the "
            "Pipeline did before saving; ratios are measured in the same run."
        ),
        partial=partial,
        notes=notes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", nargs="?", choices=["prepare", "loads"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="a JSON this script wrote earlier")
    parser.add_argument("--json", type=Path, default=REPORTS / "model_files.json")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.name)
        return 0
    if args.step == "loads":
        time_loads(args.name, args.repeats)
        return 0
    started = start()
    names = list(args.models)
    left_out = []
    if "saudinewsnet-source" in names and not ensure_articles():
        names.remove("saudinewsnet-source")
        left_out.append("saudinewsnet-source (../shared/data is absent)")
    left_out += [name for name in MODELS if name not in args.models]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{WORK / 'mlflow.db'}",
           "PYTHONWARNINGS": "ignore"}  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    models = {name: bench_model(name, args.repeats, env) for name in names}
    summary = {
        "code": started.code,
        "run_at": f"{started.at:%Y-%m-%d %H:%M %Z}",
        "repeats": args.repeats,
        "models": models,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    partial = f"models left out: {', '.join(left_out)}." if left_out else None
    page = write_page(summary, started, argv, before, partial)
    print(f"wrote {shown(page)} and {shown(args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
