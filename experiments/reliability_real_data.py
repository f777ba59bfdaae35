"""Reliability on real data (../shared/data): what the unit suite checks on the fixture,
checked on public Arabic data that no one on the project wrote.

1. Mawqif CSVs (UTF-8 with a byte-order mark, literal `None` stance labels): khabar reads
   every row, keeps `None` as a label and the header's first column as `ID`; the counts
   are compared with Python's csv module, read independently. Leakage between the
   published train and test files is counted.
2. realnews-dev, re-encoded as Windows-1256 in a temporary folder: read back with
   data.encoding=cp1256 it gives the same texts; read as UTF-8 it is refused in one line.
3. Determinism: the same config trained on realnews-dev in two processes (different
   PYTHONHASHSEED) gives identical metrics.

Run: .venv/bin/python experiments/reliability_real_data.py   (prints its figures and writes
docs/results/reliability_real_data.md; its data go only to a temporary folder, which it
removes)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import yaml

from khabar.data.dataset import find_leakage, load_labeled
from khabar.errors import KhabarError

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MAWQIF = SHARED / "mawqif"
REALNEWS = SHARED / "realnews-dev" / "realnews_dev.jsonl"


# Each check prints its figures and returns (passed, rows of the results page): (what, figure).


def mawqif_check() -> tuple[bool, list[tuple[str, str]]]:
    ok = True
    loaded = {}
    rows = []
    for part in ("Train", "Test"):
        path = MAWQIF / f"Mawqif_AllTargets_{part}.csv"
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reference = list(csv.DictReader(handle))
        data = load_labeled(path, "text", "stance")
        loaded[part] = data
        same_labels = data.labels == [row["stance"] for row in reference]
        first_column = str(data.frame.columns[0])
        print(
            f"mawqif {part}: csv module {len(reference)} rows, khabar {len(data.texts)} rows; "
            f"labels identical: {same_labels}; label counts {dict(Counter(data.labels))}; "
            f"first column {first_column!r}"
        )
        ok &= len(reference) == len(data.texts) and same_labels and first_column == "ID"
        counts = ", ".join(f"{k} {v}" for k, v in sorted(Counter(data.labels).items()))
        rows += [
            (f"Mawqif {part}: rows (csv module / khabar)", f"{len(reference)} / {len(data.texts)}"),
            (f"Mawqif {part}: stance labels identical to the csv module's", str(same_labels)),
            (f"Mawqif {part}: stance counts", counts),
            (f"Mawqif {part}: first column (after the byte-order mark)", f"`{first_column}`"),
        ]
    leaked = find_leakage(loaded["Train"], loaded["Test"])
    print(f"mawqif leakage: {len(leaked)} of {len(loaded['Test'].texts)} test texts occur in Train")
    rows.append(
        (
            "Mawqif leakage: test texts that occur in Train",
            f"{len(leaked)} of {len(loaded['Test'].texts)}",
        )
    )
    return ok, rows


def cp1256_check(folder: Path) -> tuple[bool, list[tuple[str, str]]]:
    rows = [json.loads(line) for line in REALNEWS.read_text(encoding="utf-8").splitlines()]
    # Windows-1256 cannot hold every character (some punctuation, emoji): keep the rows it can.
    encodable = []
    for row in rows:
        try:
            row["text"].encode("cp1256")
        except UnicodeEncodeError:
            continue
        encodable.append(row)
    path = folder / "realnews_cp1256.csv"
    with open(path, "w", encoding="cp1256", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", "text", "primary"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(encodable)
    data = load_labeled(path, "text", "primary", encoding="cp1256")
    # csv normalizes \r\n inside quoted fields to \n on the way back; compare on that basis.
    same = data.texts == [row["text"].replace("\r\n", "\n") for row in encodable]
    try:
        load_labeled(path, "text", "primary")
        refused = "not refused"
    except KhabarError as exc:
        refused = str(exc).split(": ", 1)[1]
    print(
        f"realnews as cp1256: {len(encodable)} of {len(rows)} rows encodable; read back with "
        f"cp1256: {len(data.texts)} rows, texts identical: {same}; read as UTF-8: {refused[:90]}…"
    )
    ok = same and len(data.texts) == len(encodable) and refused.startswith("not valid utf-8")
    figures = [
        ("realnews-dev rows encodable in cp1256", f"{len(encodable)} of {len(rows)}"),
        ("read back with `data.encoding=cp1256`: rows", str(len(data.texts))),
        ("read back with `data.encoding=cp1256`: texts identical", str(same)),
        (
            "read as UTF-8 (khabar's error, before its hint)",
            "**not refused**" if refused == "not refused" else refused.split(" (Arabic")[0],
        ),
    ]
    return ok, figures


def determinism_check(folder: Path) -> tuple[bool, list[tuple[str, str]]]:
    config = {
        "name": "realnews-determinism",
        "experiment": "realnews-determinism",
        "seed": 13,
        "data": {"train": str(REALNEWS), "label_column": "primary", "test_size": 0.25},
        "features": {
            "char": {"analyzer": "char_wb", "ngram_range": [2, 5], "min_df": 2},
            "word": {"analyzer": "word", "ngram_range": [1, 2], "min_df": 2},
        },
        "model": {"name": "sgd", "params": {}},
        "evaluation": {"cv_folds": 5},
    }
    metrics = []
    processes = []
    for seed in (1, 2):
        workdir = folder / f"process-{seed}"
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["PYTHONHASHSEED"] = str(seed)
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "khabar.cli", "train", "config.yaml", "--json", "--offline"],
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    for process in processes:
        out, _ = process.communicate()
        if process.returncode != 0:
            print(f"training failed with exit code {process.returncode}")
            return False, [("training", f"failed with exit code {process.returncode}")]
        result = json.loads(out.strip().splitlines()[-1])["metrics"]
        metrics.append({k: v for k, v in result.items() if not k.endswith("_seconds")})
    differing = sorted(k for k in metrics[0] if metrics[0][k] != metrics[1].get(k))
    print(
        f"realnews determinism: {len(metrics[0])} metrics in two processes, differing: "
        f"{differing}; test f1_macro {metrics[0]['test_f1_macro']:.4f} / "
        f"{metrics[1]['test_f1_macro']:.4f}; cv f1_macro {metrics[0]['cv_f1_macro_mean']:.4f}"
    )
    rows = [
        ("metrics compared (timings excluded)", str(len(metrics[0]))),
        ("metrics that differ between the two processes", ", ".join(differing) or "none"),
        (
            "test macro-F1 (process 1 / process 2)",
            f"{metrics[0]['test_f1_macro']:.4f} / {metrics[1]['test_f1_macro']:.4f}",
        ),
        ("CV macro-F1 mean", f"{metrics[0]['cv_f1_macro_mean']:.4f}"),
    ]
    return not differing and metrics[0] == metrics[1], rows


CHECKS = {  # name: (heading of the page's section, what it checks)
    "mawqif": (
        "Mawqif CSVs",
        "UTF-8 with a byte-order mark and literal `None` stance labels: khabar reads every "
        "row, keeps `None` as a label and the first column as `ID`, compared with Python's "
        "csv module read independently; leakage between the published Train and Test.",
    ),
    "cp1256": (
        "realnews-dev re-encoded as Windows-1256",
        "Written to a temporary folder as cp1256 CSV: read back with `data.encoding=cp1256` "
        "it gives the same texts; read as UTF-8 it is refused in one line.",
    ),
    "determinism": (
        "Determinism across processes",
        "The same config (char_wb + word n-grams, SGD, seed 13) trained on realnews-dev by "
        "`khabar train` in two processes with different `PYTHONHASHSEED`: identical metrics.",
    ),
}


def main(argv: list[str] | None = None) -> int:
    if not MAWQIF.is_dir() or not REALNEWS.is_file():
        print(f"skipped: shared reference data not found at {SHARED}")
        return 0
    started = start()
    with tempfile.TemporaryDirectory(prefix="khabar-reliability-") as scratch:
        checked = {
            "mawqif": mawqif_check(),
            "cp1256": cp1256_check(Path(scratch)),
            "determinism": determinism_check(Path(scratch)),
        }
    results = {name: passed for name, (passed, _) in checked.items()}
    print("all checks passed" if all(results.values()) else f"FAILED: {results}")
    verdict = "passed" if all(results.values()) else "FAILED"
    sections = [
        (
            None,
            markdown_table(
                ["check", "outcome"],
                [(CHECKS[n][0], "passed" if ok else "**FAILED**") for n, ok in results.items()],
            )
            + f"\n\nAll checks: **{verdict}**.",
        )
    ]
    for name, (passed, rows) in checked.items():
        heading, what = CHECKS[name]
        outcome = "passed" if passed else "**FAILED**"
        table = markdown_table(["figure", "value"], rows)
        sections.append((f"{heading}: {outcome}", f"{what}\n\n{table}"))
    page = write_results_page(
        "reliability_real_data",
        "Reliability on real data",
        command_line(__file__, argv),
        sections,
        started,
        measures=(
            "Whether what the unit suite checks on the fixture also holds on public Arabic "
            "data no one on the project wrote (../shared/data): reading files exactly, "
            "encodings, and run-to-run determinism."
        ),
    )
    print(f"wrote {shown(page)}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
