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

Run: .venv/bin/python experiments/reliability_real_data.py   (prints its figures; writes
only to a temporary folder, which it removes)."""

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

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MAWQIF = SHARED / "mawqif"
REALNEWS = SHARED / "realnews-dev" / "realnews_dev.jsonl"


def mawqif_check() -> bool:
    ok = True
    loaded = {}
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
    leaked = find_leakage(loaded["Train"], loaded["Test"])
    print(f"mawqif leakage: {len(leaked)} of {len(loaded['Test'].texts)} test texts occur in Train")
    return ok


def cp1256_check(folder: Path) -> bool:
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
    return same and len(data.texts) == len(encodable) and refused.startswith("not valid utf-8")


def determinism_check(folder: Path) -> bool:
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
            return False
        result = json.loads(out.strip().splitlines()[-1])["metrics"]
        metrics.append({k: v for k, v in result.items() if not k.endswith("_seconds")})
    differing = sorted(k for k in metrics[0] if metrics[0][k] != metrics[1].get(k))
    print(
        f"realnews determinism: {len(metrics[0])} metrics in two processes, differing: "
        f"{differing}; test f1_macro {metrics[0]['test_f1_macro']:.4f} / "
        f"{metrics[1]['test_f1_macro']:.4f}; cv f1_macro {metrics[0]['cv_f1_macro_mean']:.4f}"
    )
    return not differing and metrics[0] == metrics[1]


def main() -> int:
    if not MAWQIF.is_dir() or not REALNEWS.is_file():
        print(f"skipped: shared reference data not found at {SHARED}")
        return 0
    with tempfile.TemporaryDirectory(prefix="khabar-reliability-") as scratch:
        results = {
            "mawqif": mawqif_check(),
            "cp1256": cp1256_check(Path(scratch)),
            "determinism": determinism_check(Path(scratch)),
        }
    print("all checks passed" if all(results.values()) else f"FAILED: {results}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
