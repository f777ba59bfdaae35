"""Select benchmark: `khabar select` end to end on all SaudiNewsNet articles, against
`khabar predict` scoring the same texts, measured in the same run.

The default topic model (`configs/topic.yaml`, what `make run` trains) is trained once into
a temporary MLflow store (SQLite; nothing lands in the project's mlflow.db or reports/) and
exported with `khabar export` to a temporary folder, which `--model` names. Each command
runs as a user runs it, a fresh process from the project root, timed around
`subprocess.run`:

- `khabar select --model MODEL --pool ../shared/data/saudinewsnet --n 200 --strategy S
  --exclude ../shared/data/realnews-dev/reserved_urls.txt --output TMP/S.json` for S in
  random, breaking_ties, diverse; the cold start (`--config configs/topic.yaml` instead of
  `--model`); and breaking_ties with the model's MLflow URI (`models:/m-…`, as `khabar
  train` prints it) instead of the folder;
- the reference: `khabar predict --model MODEL --input POOL.jsonl --output TMP/p.jsonl` on
  every pool article with text (title + lead, as select reads them, written once as JSONL).

One untimed warm-up of each command first (files in the page cache), then `--repeats`
rounds, the commands interleaved within a round. Before the timed rounds the script waits
until the 1-minute load average is below `--quiet-below` (polled every 30 s, at most
`--max-wait` minutes; then it runs anyway and the page says so). Afterwards one in-process
`select` per strategy with its steps timed shows where the time goes. Prints min and
median seconds, select / predict ratios and the verdict on the target (the whole pool,
`diverse` included, within 60 s end to end), and writes docs/results/select.md. Skips
cleanly when ../shared/data/saudinewsnet is absent.

    .venv/bin/python experiments/bench_select.py [--repeats 3] [--n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
POOL = SHARED_DATA / "saudinewsnet"
RESERVED = SHARED_DATA / "realnews-dev" / "reserved_urls.txt"
CONFIG = PROJECT / "configs" / "topic.yaml"
KHABAR = Path(sys.executable).parent / "khabar"
TARGET_SECONDS = 60.0
STRATEGIES = ("random", "breaking_ties", "diverse")
POLL_SECONDS = 30


def rel(path: Path) -> str:
    """A path as a command typed from the project root names it (../shared/…)."""
    return os.path.relpath(path, PROJECT)


def run(command: list[str], env: dict) -> tuple[float, str]:
    """Run a command from the project root; its wall time and stdout. Fails loudly."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n" + "\n".join(tail))
    return seconds, done.stdout


def wait_until_quiet(below: float, max_minutes: float) -> tuple[float, float, bool]:
    """Poll the 1-minute load average every POLL_SECONDS until it is below `below`.

    Returns the seconds waited, the load average when the wait ended, and whether the
    wait gave up (the load never fell below `below` within `max_minutes`)."""
    started = time.monotonic()
    while True:
        load = os.getloadavg()[0]
        waited = time.monotonic() - started
        if load < below:
            return waited, load, False
        if waited >= max_minutes * 60:
            print(f"load average {load:.2f} still >= {below:g} after {waited / 60:.0f} min; "
                  "running anyway")  # fmt: skip
            return waited, load, True
        print(f"waiting for a quiet machine: load average {load:.2f} >= {below:g} "
              f"({waited / 60:.1f} min so far)", flush=True)  # fmt: skip
        time.sleep(POLL_SECONDS)


def train_and_export(work: Path) -> tuple[str, Path]:
    """Train configs/topic.yaml into a temporary MLflow store and export the model to a
    folder. Returns the model's MLflow URI and the folder."""
    import mlflow
    import yaml

    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    from khabar.runs.train import train

    # the experiment made beforehand so that its artifacts land in the temporary folder
    # too (by default MLflow puts them under the working directory)
    experiment = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["experiment"]
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.create_experiment(experiment, artifact_location=(work / "artifacts").as_uri())
    # offline=False on purpose: offline=True records in ./mlflow.db whatever
    # MLFLOW_TRACKING_URI says; the temporary store is local SQLite, no server is needed
    result = train(CONFIG, overrides=[f"reports_dir={work / 'reports'}"], offline=False)
    print(f"trained {rel(CONFIG)}: run {result.run_id}, model {result.model_uri}, "
          f"test f1_macro {result.metrics.get('test_f1_macro', float('nan')):.4f}")  # fmt: skip
    folder = work / "model"
    run([str(KHABAR), "export", result.model_uri, "--output", str(folder)], dict(os.environ))
    return result.model_uri, folder


def write_pool(path: Path) -> tuple[int, int]:
    """The pool as select reads it (title + lead per article with text) as JSONL."""
    from khabar.data.corpora import read_saudinewsnet_leads

    items, skipped = read_saudinewsnet_leads(POOL)
    with open(path, "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item, ensure_ascii=False) + "\n")
    return len(items), skipped


# --- where the time goes: one in-process select with its steps timed -----------------------

# select's own steps (module-level functions it calls by name), timed by wrapping them
STEPS = (
    "_model_or_labels", "_candidates", "read_pool", "excluded_rows", "_score",
    "story_vectors", "rank_candidates", "_cold_start_order", "_clusters",
    "without_near_duplicates", "_batch", "_write",
)  # fmt: skip
STAGES = (
    ("load the model (cold start: read the config's training labels)", "load"),
    ("read the pool (ZIPs → title + lead)", "read"),
    ("normalize the pool's texts", "normalize"),
    ("match the exclude list", "exclude"),
    ("score the candidates (model)", "score"),
    ("word TF-IDF of the candidates (near-duplicates, clustering)", "tfidf"),
    ("cluster (SVD + k-means)", "cluster"),
    ("rank", "rank"),
    ("drop near-duplicates", "dedup"),
    ("write the batch", "write"),
    ("other", "other"),
)


def step_times(call) -> dict[str, float]:
    """Seconds per stage of one in-process `select` call (`call()` runs it)."""
    from khabar.runs import select as module

    totals: dict[str, float] = defaultdict(float)
    originals = {name: getattr(module, name) for name in STEPS}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - started

        return wrapper

    for name, function in originals.items():
        setattr(module, name, timed(name, function))
    try:
        started = time.perf_counter()
        call()
        total = time.perf_counter() - started
    finally:
        for name, function in originals.items():
            setattr(module, name, function)
    t = totals
    stages = {
        "load": t["_model_or_labels"],
        "read": t["read_pool"],
        "normalize": t["_candidates"] - t["read_pool"] - t["excluded_rows"],
        "exclude": t["excluded_rows"],
        "score": t["_score"],
        "tfidf": t["story_vectors"],
        "cluster": t["_clusters"],
        "rank": t["rank_candidates"] + t["_cold_start_order"] - t["_clusters"],
        "dedup": t["without_near_duplicates"],
        "write": t["_batch"] + t["_write"],
    }
    stages["other"] = total - sum(stages.values())
    stages["total"] = total
    return stages


def import_seconds(env: dict, repeats: int) -> float:
    """Best time of a fresh interpreter importing what `khabar select --model` imports."""
    code = "import khabar.cli, khabar.runs.select, khabar.runs.predict"
    return min(run([sys.executable, "-c", code], env)[0] for _ in range(repeats))


# --- the run --------------------------------------------------------------------------------


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds of every command")
    parser.add_argument("--n", type=int, default=200, help="items to select")
    parser.add_argument("--quiet-below", type=float, default=1.0,
                        help="wait until the 1-minute load average is below this")  # fmt: skip
    parser.add_argument("--max-wait", type=float, default=45.0,
                        help="minutes to wait for a quiet machine before running anyway")  # fmt: skip
    args = parser.parse_args(argv)
    if not POOL.is_dir() or not any(POOL.glob("*.zip")):
        print(f"skipped: {POOL} not found (the SaudiNewsNet ZIPs); nothing measured, no page")
        return 0
    if not RESERVED.is_file():
        print(f"skipped: {RESERVED} not found; nothing measured, no page")
        return 0
    os.chdir(PROJECT)  # the configs' data paths are relative to the project root
    page_started = start()

    with tempfile.TemporaryDirectory(prefix="khabar-bench-select-") as folder:
        work = Path(folder)
        model_uri, model_dir = train_and_export(work)
        env = dict(os.environ)  # with the temporary MLFLOW_TRACKING_URI, for the models:/ URI
        pool_file = work / "pool.jsonl"
        pool_size, without_text = write_pool(pool_file)
        print(f"pool: {pool_size} SaudiNewsNet articles with text ({without_text} without)")

        select = [str(KHABAR), "select", "--pool", rel(POOL), "--n", str(args.n),
                  "--exclude", rel(RESERVED), "--json"]  # fmt: skip
        cases = {f"select {s}": [*select, "--model", str(model_dir), "--strategy", s]
                 for s in STRATEGIES}  # fmt: skip
        cases["select cold start"] = [*select, "--config", rel(CONFIG)]
        cases["select breaking_ties, models:/ URI"] = [
            *select, "--model", model_uri, "--strategy", "breaking_ties"
        ]  # fmt: skip
        predict = [str(KHABAR), "predict", "--model", str(model_dir), "--input", str(pool_file)]
        cases["predict (reference)"] = predict
        results: dict[str, dict] = {}

        def once(name: str, tag: str) -> float:
            output = work / "out" / tag / f"{name.replace(' ', '_').replace(',', '')}"
            output.parent.mkdir(parents=True, exist_ok=True)
            command = [
                *cases[name],
                "--output",
                f"{output}.{'jsonl' if 'predict' in name else 'json'}",
            ]
            took, stdout = run(command, env)
            if name.startswith("select"):
                result = json.loads(stdout.strip().splitlines()[-1])
                assert result["selected"] == args.n, result
                results[name] = result
            return took

        print("warm-up: every command once, untimed", flush=True)
        for name in cases:
            print(f"  {name}: {once(name, 'warm-up'):.1f} s", flush=True)

        waited, load_before, gave_up = wait_until_quiet(args.quiet_below, args.max_wait)
        print(f"timed rounds start at load average {load_before:.2f}", flush=True)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(args.repeats):
            for name in cases:
                took = once(name, f"round-{round_}")
                times[name].append(took)
                print(f"  round {round_ + 1}, {name}: {took:.1f} s", flush=True)
        load_after = os.getloadavg()[0]

        print("where the time goes: one in-process select per strategy, steps timed", flush=True)
        from threadpoolctl import threadpool_info, threadpool_limits

        from khabar.runs.select import select as select_function

        threads = ", ".join(
            sorted({f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()})
        )
        steps = {}
        runs = [(s, s, None) for s in (*STRATEGIES, "cold start")]
        runs += [(f"{s}, 1 thread", s, 1) for s in ("diverse", "cold start")]
        for column, strategy, limit in runs:
            model, config = (None, CONFIG) if strategy == "cold start" else (model_dir, None)
            output = work / "out" / "steps" / f"{column.replace(' ', '_').replace(',', '')}.json"

            def call(model=model, config=config, strategy=strategy, output=output, limit=limit):
                with threadpool_limits(limits=limit):  # None: as the machine gives them
                    select_function(model, POOL, args.n, output, strategy=strategy
                                    if config is None else "breaking_ties", exclude=[RESERVED],
                                    config=config)  # fmt: skip

            steps[column] = step_times(call)
        imports = import_seconds(env, args.repeats)

    base = statistics.median(times["predict (reference)"])
    rows, verdicts = [], {}
    print()
    for name, values in times.items():
        low, mid = min(values), statistics.median(values)
        ratio = mid / base
        target = ""
        if name.startswith("select"):
            met = mid <= TARGET_SECONDS
            verdicts[name] = met
            target = "met" if met else "**NOT met**"
        print(f"{name:38s} min {low:6.1f} s  median {mid:6.1f} s  ratio {ratio:5.2f}x predict"
              + (f"  target {TARGET_SECONDS:g} s: {'met' if verdicts[name] else 'NOT met'}"
                 if name in verdicts else ""))  # fmt: skip
        rows.append((name, seconds(low), seconds(mid), f"{ratio:.2f}x", target))
    print(f"imports of a fresh `khabar select` process: {imports:.1f} s")
    print()
    header = f"{'step':62s}" + "".join(f"{s:>19s}" for s in steps)
    print(header)
    step_rows = []
    for label, key in (*STAGES, ("**total (in process)**", "total")):
        cells = [steps[s][key] for s in steps]
        print(f"{label:62s}" + "".join(f"{c:18.2f}s" for c in cells))
        step_rows.append((label, *(f"{c:.2f} s" for c in cells)))

    example = results["select diverse"]
    all_met = all(verdicts.values())
    quiet = (
        f"The timed rounds began at a 1-minute load average of {load_before:.2f}, after "
        f"waiting {waited / 60:.1f} min for it to fall below {args.quiet_below:.1f}; it was "
        f"{load_after:.2f} when they ended (the benchmark's own processes included)."
    )
    if gave_up:
        quiet = (
            f"**The machine never became quiet:** the load average stayed at or above "
            f"{args.quiet_below:.1f} for the {args.max_wait:g} min the script waits, so the timed "
            f"rounds ran anyway at a load average of {load_before:.2f} ({load_after:.2f} when "
            "they ended); other work shared the 2 cores and the times are pessimistic."
        )
    shown_commands = "\n".join(
        f"    {shown(KHABAR)} " + " ".join(c[1:]).replace(str(work), "TMP") + f" --output TMP/{o}"
        for c, o in (
            (cases["select diverse"], "diverse.json"),
            (cases["select cold start"], "cold_start.json"),
            (predict, "p.jsonl"),
        )
    )
    page = write_results_page(
        "select",
        "Select benchmark: `khabar select` on all of SaudiNewsNet, end to end",
        command_line(__file__, argv),
        [
            (
                "End to end",
                markdown_table(
                    [
                        "command",
                        "min",
                        "median",
                        "ratio to predict (medians)",
                        f"target: within {TARGET_SECONDS:g} s (median)",
                    ],
                    rows,
                )  # fmt: skip
                + f"\n\nEach command is a fresh process started from the project root, timed "
                f"around `subprocess.run`: {args.repeats} round{'s' if args.repeats > 1 else ''} after one untimed warm-up, "
                "the commands interleaved within each round. The commands (TMP: the "
                f"temporary folder):\n\n{shown_commands}\n\n"
                f"Every select run picked {args.n} items of {example['pool']:,} pool articles, "
                f"{example['excluded']:,} excluded by `{rel(RESERVED)}` "
                f"({example['skipped_without_text']} articles without text skipped); `predict` "
                f"scores all {pool_size:,} (select scores only the "
                f"{example['pool'] - example['excluded']:,} not excluded). A fresh interpreter "
                f"importing what `khabar select` imports takes {seconds(imports)} of each run.\n\n"
                + quiet,
            ),
            (
                "Target",
                f"All {example['pool']:,} SaudiNewsNet articles with text, `diverse` included, "
                f"within {TARGET_SECONDS:g} s end to end: **{'met' if all_met else 'NOT met'}** "
                f"(`diverse`: median {seconds(statistics.median(times['select diverse']))}; "
                "every select command above, by its median).",
            ),
            (
                "Where the time goes",
                markdown_table(["step", *steps], step_rows)
                + "\n\nOne in-process `select` call per strategy (after the timed rounds, so "
                "its modules are imported and its files cached), each step timed by wrapping "
                "the `khabar.runs.select` function doing it. Normalizing is `_candidates` less "
                "reading and matching; `rank` is ranking less clustering; the cold start runs "
                "k-means on the whole pool, the model strategies score it, `diverse` clusters "
                f"only the {10 * args.n:,} most uncertain. Thread pools as the machine gives "
                f"them: {threads}; the `1 thread` columns limit them to one "
                "(`threadpoolctl.threadpool_limits(1)`).",
            ),
        ],
        page_started,
        measures=(
            "How long `khabar select` takes end to end, as a user runs it, on all of "
            "SaudiNewsNet (a folder of ZIPs) with the default topic model, for each strategy "
            "and the cold start, against `khabar predict` scoring the same texts in the same "
            "run."
        ),
        notes=[
            f"Model: `{rel(CONFIG)}` (what `make run` trains), trained once into a temporary "
            "MLflow store (SQLite) and exported with `khabar export` to a temporary folder, "
            "which `--model` names; one row loads it from the store by its `models:/` URI "
            "instead",
            f"Pool: `{rel(POOL)}` ({len(list(POOL.glob('*.zip')))} ZIPs, {pool_size:,} "
            f"articles with text); reference input: the same texts (title + lead) as JSONL",
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
