"""Scale benchmark: khabar against a plain scikit-learn pipeline on SaudiNewsNet.

Task: the newspaper (`source`, 14 classes) of each article from title + content, with a
stratified 80/20 split (seed 42, khabar's own split). In one run it measures, each step in
its own process (so that peak RSS is that process's own):

- reference: TfidfVectorizer(char_wb, (2, 5), sublinear_tf, min_df=2) + LinearSVC(C=0.5),
  trained on the training part, then predicting every article;
- khabar: `khabar train configs/saudinewsnet_source.yaml --set data.train=FILE` on the JSONL
  export, then `khabar predict` on every article (from the MLflow URI `khabar train` printed,
  and from the folder `khabar export` writes of it), plus the model's own throughput;

at 1/8, 1/4, 1/2 and all of the training part (the test part is always the same), and
prints ratios against the reference with each target's verdict. Writes the results page
docs/results/scale.md (with other --sizes / --reference-sizes than the defaults it says in
its header that the run was partial) and reports/benchmarks/scale.{json,png}. Skips
cleanly when ../shared/data is absent.

    python experiments/bench_scale.py                     # all sizes, reference at all sizes
    python experiments/bench_scale.py --sizes 0.125 1 --reference-sizes 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
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
DATA = PROJECT.parent / "shared" / "data" / "saudinewsnet"
CONFIG = PROJECT / "configs" / "saudinewsnet_source.yaml"
WORK = PROJECT / ".khabar-cache" / "bench_scale"
REPORTS = PROJECT / "reports" / "benchmarks"
SEED, TEST_SIZE = 42, 0.2
TARGETS = {
    "train_speedup": 3.0,
    "predict_speedup": 5.0,
    "predict_speedup_cli": 15.0,
    "memory_ratio": 0.5,
    "f1_drop": 0.005,
}
DEFAULT_SIZES = [0.125, 0.25, 0.5, 1.0]


# --- measuring one process ------------------------------------------------------------------


def measure(command: list[str], log: Path, env: dict | None = None) -> dict:
    """Run a command; its wall time, CPU time and peak RSS (its own, via wait4)."""
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT, env=env
        )
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"failed: {' '.join(command)}\n" + "\n".join(tail))
    return {
        "wall_seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
    }


# --- data -----------------------------------------------------------------------------------


def prepare(sizes: list[float]) -> dict:
    """The JSONL export (all articles), the fixed test part, and training parts by size."""
    from khabar.data.corpora import read_saudinewsnet, write_articles_jsonl
    from khabar.data.dataset import load_labeled, split_train_test

    WORK.mkdir(parents=True, exist_ok=True)
    everything = WORK / "articles.jsonl"
    count = write_articles_jsonl(read_saudinewsnet(DATA), everything)
    data = load_labeled(everything, "text", "source")
    train, test = split_train_test(data, TEST_SIZE, SEED)
    files = {"all": everything, "test": WORK / "test.jsonl"}
    _write_rows(test.frame, files["test"])
    import numpy as np

    order = np.random.default_rng(SEED).permutation(len(train.texts))
    for size in sizes:
        if size >= 1:
            files[size] = WORK / "train_1.jsonl"
            _write_rows(train.frame, files[size])
            continue
        keep = np.sort(order[: int(round(size * len(train.texts)))])
        files[size] = WORK / f"train_{size:g}.jsonl"
        _write_rows(train.frame.iloc[keep], files[size])
    return {"files": files, "articles": count, "train_rows": len(train.texts)}


def _write_rows(frame, path: Path) -> None:
    columns = ["id", "title", "content", "text", "source"]
    with open(path, "w", encoding="utf-8") as handle:
        for row in frame[columns].itertuples(index=False):
            handle.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False))
            handle.write("\n")


def _read_jsonl(path: Path) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            texts.append(record["text"])
            labels.append(record["source"])
    return texts, labels


# --- the steps that run in their own process -----------------------------------------------


def run_reference(train: Path, test: Path, everything: Path, out: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from khabar.record.metrics import compute_metrics

    texts, labels = _read_jsonl(train)
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        LinearSVC(C=0.5),
    )
    started = time.perf_counter()
    model.fit(texts, labels)
    train_seconds = time.perf_counter() - started
    del texts, labels
    test_texts, test_labels = _read_jsonl(test)
    metrics = compute_metrics(test_labels, model.predict(test_texts), sorted(set(test_labels)))
    # Peak so far: training and scoring the test part, what `khabar train` also does.
    train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    all_texts, _ = _read_jsonl(everything)
    started = time.perf_counter()
    model.predict(all_texts)
    predict_seconds = time.perf_counter() - started
    out.write_text(
        json.dumps(
            {
                "train_seconds": train_seconds,
                "predict_seconds": predict_seconds,
                "predicted": len(all_texts),
                "f1_macro": metrics["f1_macro"],
                "train_peak_rss_mb": train_peak,
            }
        )
    )


def run_model_throughput(model_uri: str, everything: Path, out: Path) -> None:
    """The trained khabar Pipeline's own prediction time on every article (in process)."""
    import pandas as pd

    import khabar

    model = khabar.load_model(model_uri)
    texts, _ = _read_jsonl(everything)
    frame = pd.DataFrame({"text": texts})
    model.predict(frame.head(2))  # the compiled loops are cached on disk; this loads them
    started = time.perf_counter()
    model.predict(frame)
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"predict_seconds": seconds, "predicted": len(texts)}))


# --- the benchmark --------------------------------------------------------------------------


def bench(sizes: list[float], reference_sizes: list[float]) -> dict:
    print(f"data: {DATA}", flush=True)
    prepared = prepare(sizes)
    files = prepared["files"]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{WORK / 'mlflow.db'}",
        "PYTHONWARNINGS": "ignore",
    }
    python, khabar_cli = sys.executable, str(Path(sys.executable).with_name("khabar"))
    rows = []
    for size in sizes:
        label = size_label(size)
        train_file = files["all"] if size >= 1 else files[size]
        row: dict = {"size": size, "label": label}
        print(f"\n== {label} of the training part ==", flush=True)

        if size in reference_sizes:
            out = WORK / f"reference_{size:g}.json"
            process = measure(
                [python, __file__, "reference", str(files[size]), str(files["test"]),
                 str(files["all"]), str(out)],
                WORK / f"reference_{size:g}.log",
            )  # fmt: skip
            row["reference"] = {**json.loads(out.read_text()), **process}
            print(f"reference: {_describe(row['reference'])}", flush=True)

        # khabar: the full size trains on the JSONL export itself (its own 80/20 split);
        # smaller sizes name their training part and the same test part.
        overrides = ["--set", f"data.train={train_file}"]
        if size < 1:
            overrides += ["--set", f"data.test={files['test']}"]
        log = WORK / f"khabar_train_{size:g}.log"
        process = measure([khabar_cli, "train", str(CONFIG), *overrides, "--json"], log, env)
        result = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
        row["khabar"] = {
            **process,
            "train_seconds": process["wall_seconds"],  # end to end: the whole command
            "fit_seconds": result["metrics"]["fit_seconds"],
            "f1_macro": result["metrics"]["test_f1_macro"],
            "model_uri": result["model_uri"],
        }
        out = WORK / f"khabar_throughput_{size:g}.json"
        throughput = measure(
            [python, __file__, "throughput", result["model_uri"], str(files["all"]), str(out)],
            WORK / f"khabar_throughput_{size:g}.log",
            env,
        )
        row["khabar"].update(json.loads(out.read_text()))
        row["khabar"]["predict_process_peak_rss_mb"] = throughput["peak_rss_mb"]
        predictions = WORK / f"predictions_{size:g}.jsonl"
        cli = measure(
            [khabar_cli, "predict", "--model", result["model_uri"], "--input",
             str(files["all"]), "--output", str(predictions)],
            WORK / f"khabar_predict_{size:g}.log",
            env,
        )  # fmt: skip
        row["khabar"]["cli_predict_seconds"] = cli["wall_seconds"]
        row["khabar"]["cli_predict_peak_rss_mb"] = cli["peak_rss_mb"]
        row["khabar"]["cli_predict_folder_seconds"] = predict_from_export(
            khabar_cli, result["model_uri"], files["all"], size, env
        )
        print(f"khabar:    {_describe(row['khabar'])}", flush=True)
        rows.append(row)
    return {
        "articles": prepared["articles"],
        "train_rows": prepared["train_rows"],
        "cores": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "rows": rows,
        "verdict": verdict(rows),
        "growth": growth(rows),
    }


def predict_from_export(khabar_cli: str, model_uri: str, everything: Path, size, env) -> float:
    """`khabar predict` on every article from the model's export folder: its wall time."""
    import shutil

    folder = WORK / f"export_{size:g}"
    shutil.rmtree(folder, ignore_errors=True)
    measure([khabar_cli, "export", model_uri, "--output", str(folder)],
            WORK / f"khabar_export_{size:g}.log", env)  # fmt: skip
    cli = measure(
        [khabar_cli, "predict", "--model", str(folder), "--input", str(everything),
         "--output", str(WORK / f"predictions_folder_{size:g}.jsonl")],
        WORK / f"khabar_predict_folder_{size:g}.log",
        env,
    )  # fmt: skip
    return cli["wall_seconds"]


def _describe(result: dict) -> str:
    rate = result["predicted"] / result["predict_seconds"]
    return (
        f"train {result['train_seconds']:.1f} s, predict {rate:.0f} articles/s, "
        f"peak RSS {result['peak_rss_mb']:.0f} MB, CPU/wall "
        f"{result['cpu_seconds'] / result['wall_seconds']:.2f}, macro-F1 {result['f1_macro']:.4f}"
    )


def verdict(rows: list[dict]) -> dict:
    """Ratios against the reference at the largest size where both were measured."""
    both = [row for row in rows if "reference" in row]
    if not both:
        return {}
    row = max(both, key=lambda r: r["size"])
    reference, ours = row["reference"], row["khabar"]
    ratios = {
        "size": row["label"],
        "train_speedup": reference["train_seconds"] / ours["train_seconds"],
        "train_speedup_fit_only": reference["train_seconds"] / ours["fit_seconds"],
        "predict_speedup": (ours["predicted"] / ours["predict_seconds"])
        / (reference["predicted"] / reference["predict_seconds"]),
        "predict_speedup_cli": (ours["predicted"] / ours["cli_predict_seconds"])
        / (reference["predicted"] / reference["predict_seconds"]),
        "predict_speedup_cli_folder": (ours["predicted"] / ours["cli_predict_folder_seconds"])
        / (reference["predicted"] / reference["predict_seconds"]),
        # training processes against the reference's peak up to the same point (training
        # and scoring the test part; its later prediction of every article is excluded)
        "memory_ratio": ours["peak_rss_mb"] / reference["train_peak_rss_mb"],
        "memory_ratio_whole_processes": ours["peak_rss_mb"] / reference["peak_rss_mb"],
        "predict_memory_ratio": ours["cli_predict_peak_rss_mb"] / reference["peak_rss_mb"],
        "f1_drop": reference["f1_macro"] - ours["f1_macro"],
    }
    ratios["met"] = {
        "train_speedup": ratios["train_speedup"] >= TARGETS["train_speedup"],
        "predict_speedup": ratios["predict_speedup"] >= TARGETS["predict_speedup"],
        "predict_speedup_cli": ratios["predict_speedup_cli"] >= TARGETS["predict_speedup_cli"],
        "predict_speedup_cli_folder": (
            ratios["predict_speedup_cli_folder"] >= TARGETS["predict_speedup_cli"]
        ),
        "memory_ratio": ratios["memory_ratio"] <= TARGETS["memory_ratio"],
        "f1_drop": ratios["f1_drop"] <= TARGETS["f1_drop"],
    }
    return ratios


def growth(rows: list[dict]) -> dict:
    """Exponent b of cost ~ size^b between the smallest and the largest size (1 = linear)."""
    import math

    if len(rows) < 2:
        return {}
    small, large = rows[0], rows[-1]
    scale = math.log(large["size"] / small["size"])
    result = {}
    for key in ("train_seconds", "fit_seconds", "peak_rss_mb"):
        result[f"khabar_{key}"] = math.log(large["khabar"][key] / small["khabar"][key]) / scale
    if "reference" in small and "reference" in large:
        for key in ("train_seconds", "peak_rss_mb"):
            ratio = large["reference"][key] / small["reference"][key]
            result[f"reference_{key}"] = math.log(ratio) / scale
    return result


def size_label(size: float) -> str:
    return "all" if size >= 1 else f"1/{round(1 / size)}"


# The verdict's ratios, as the page shows them: (key, what, target or None).
RATIOS = [
    ("train_speedup", "training speed-up, end to end (`khabar train` vs the reference's fit)",
     f"≥ {TARGETS['train_speedup']:g}x"),
    ("train_speedup_fit_only", "training speed-up, fit only", None),
    ("predict_speedup", "prediction speed-up, in process (articles/s)",
     f"≥ {TARGETS['predict_speedup']:g}x"),
    ("predict_speedup_cli", "prediction speed-up, `khabar predict` end to end (MLflow URI)",
     f"≥ {TARGETS['predict_speedup_cli']:g}x"),
    ("predict_speedup_cli_folder", "prediction speed-up, `khabar predict` end to end (export "
     "folder)", f"≥ {TARGETS['predict_speedup_cli']:g}x"),
    ("memory_ratio", "peak memory of training, khabar / reference (training + scoring the test "
     "part)", f"≤ {TARGETS['memory_ratio']:g}"),
    ("memory_ratio_whole_processes", "peak memory, whole processes", None),
    ("predict_memory_ratio", "peak memory of `khabar predict` / the reference's whole process",
     None),
    ("f1_drop", "macro-F1 drop (reference − khabar)", f"≤ {TARGETS['f1_drop']:g}"),
]  # fmt: skip


def systems_table(summary: dict) -> str:
    rows = []
    for row in summary["rows"]:
        for system in ("reference", "khabar"):
            if system in row:
                r = row[system]
                rows.append(
                    (
                        row["label"],
                        system,
                        f"{r['train_seconds']:.1f}",
                        f"{r.get('fit_seconds', r['train_seconds']):.1f}",
                        f"{r['predicted'] / r['predict_seconds']:.0f}",
                        f"{r.get('train_peak_rss_mb', r['peak_rss_mb']):.0f}",
                        f"{r['cpu_seconds'] / r['wall_seconds']:.2f}",
                        f"{r['f1_macro']:.4f}",
                    )
                )
    header = ["size", "system", "train s", "fit s", "predict articles/s",
              "peak RSS MB (train)", "CPU/wall", "macro-F1"]  # fmt: skip
    return "\n".join(
        [
            markdown_table(header, rows),
            "",
            "Train s: `khabar train` end to end (the whole command) against the reference's fit.",
            "Peak RSS (train): the reference's peak after training and scoring the test part",
            "(before it predicts every article); khabar's training process.",
        ]
    )


def verdict_table(verdict: dict) -> str:
    if not verdict:
        return "No size was measured for both systems: no ratios."
    rows = []
    for key, what, target in RATIOS:
        value = verdict[key]
        shown_value = f"{value:.4f}" if key == "f1_drop" else f"{value:.2f}"
        if "speedup" in key:
            shown_value += "x"
        met = verdict["met"].get(key)
        rows.append(
            (what, f"**{shown_value}**" if target else shown_value, target or "—",
             "—" if met is None else ("met" if met else "**not met**"))
        )  # fmt: skip
    return f"At size {verdict['size']} (the largest measured for both):\n\n" + markdown_table(
        ["ratio against the reference", "value", "target", "verdict"], rows
    )


def growth_table(growth: dict) -> str:
    if not growth:
        return "One size only: no growth exponent."
    return markdown_table(
        ["cost", "exponent b (cost ~ size^b; 1 = linear)"],
        [(f"`{key}`", f"{value:.2f}") for key, value in growth.items()],
    )


def partial_run(sizes: list[float], reference_sizes: list[float]) -> str | None:
    """What this run left out of the default benchmark, or None for a full run."""
    parts = []
    if sorted(sizes) != DEFAULT_SIZES:
        parts.append(
            "sizes " + ", ".join(size_label(s) for s in sorted(sizes)) + " of the training part "
            "(default: " + ", ".join(size_label(s) for s in DEFAULT_SIZES) + ")"
        )
    if sorted(reference_sizes) != sorted(sizes):
        parts.append(
            "the reference measured at " + ", ".join(size_label(s) for s in sorted(reference_sizes))
            + " only"
        )  # fmt: skip
    return ("; ".join(parts) + ".") if parts else None


def write_reports(summary: dict, started, argv, sizes, reference_sizes) -> Path:
    """reports/benchmarks/scale.{json,png} and the results page docs/results/scale.md."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / "scale.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    plot(summary["rows"], REPORTS / "scale.png")
    return write_results_page(
        "scale",
        "Scale benchmark (SaudiNewsNet, newspaper of each article)",
        command_line(__file__, argv),
        [
            ("Measured", systems_table(summary)),
            ("Ratios against the reference", verdict_table(summary["verdict"])),
            ("Growth with the corpus size", growth_table(summary["growth"])),
            (
                None,
                "The plot (`scale.png`: training time and peak memory by size) and every "
                "figure (`scale.json`) are written beside it in reports/benchmarks/ "
                "(generated, not committed).",
            ),
        ],
        started,
        measures=(
            "Training time, prediction throughput, peak memory and macro-F1 of khabar's "
            "corpus-scale setup (`configs/saudinewsnet_source.yaml`: fast engine + "
            "FastLinearSVC) against a plain scikit-learn pipeline (TfidfVectorizer char_wb "
            "2-5 + LinearSVC) on SaudiNewsNet, at several fractions of the corpus; each "
            "step in its own process."
        ),
        partial=partial_run(sizes, reference_sizes),
        notes=[
            f"Data: {summary['articles']:,} articles; training part {summary['train_rows']:,} "
            f"(stratified 80/20, seed {SEED}); {summary['cores']} cores; load average at the "
            f"end of the measurements {summary['load_average_at_end']}"
        ],
    )


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for system, style in (("reference", "o--"), ("khabar", "s-")):
        points = [row for row in rows if system in row]
        if not points:
            continue
        x = [row["size"] for row in points]
        left.plot(x, [row[system]["train_seconds"] for row in points], style, label=system)
        memory = "train_peak_rss_mb" if system == "reference" else "peak_rss_mb"
        right.plot(x, [row[system][memory] for row in points], style, label=system)
    for ax, title, unit in (
        (left, "Training time (end to end)", "seconds"),
        (right, "Peak memory: training + scoring the test part", "MB (peak RSS)"),
    ):
        ax.set_xlabel("fraction of the training part (24,778 articles = 1)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command")
    run = commands.add_parser("run", help="the benchmark (default)")
    for sub in (parser, run):
        sub.add_argument("--sizes", type=float, nargs="+", default=DEFAULT_SIZES)
        sub.add_argument("--reference-sizes", type=float, nargs="+", default=None)
    reference = commands.add_parser("reference")
    reference.add_argument("paths", nargs=4)
    throughput = commands.add_parser("throughput")
    throughput.add_argument("paths", nargs=3)
    args = parser.parse_args(argv)
    if args.command == "reference":
        run_reference(*map(Path, args.paths))
        return 0
    if args.command == "throughput":
        run_model_throughput(args.paths[0], Path(args.paths[1]), Path(args.paths[2]))
        return 0
    if not DATA.is_dir():
        print(f"skipped: SaudiNewsNet not found at {DATA} (../shared/data is absent)")
        return 0
    started = start()
    sizes = sorted(args.sizes)
    reference_sizes = sorted(args.reference_sizes or sizes)
    summary = bench(sizes, reference_sizes)
    page = write_reports(summary, started, argv, sizes, reference_sizes)
    print("\n" + json.dumps(summary["verdict"], indent=2))
    print(json.dumps(summary["growth"], indent=2))
    print(f"wrote {shown(page)}, {REPORTS / 'scale.json'} and {REPORTS / 'scale.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
