"""What each batch of real labels buys: a learning curve of real labels (realnews-dev's 600,
then the labeling round's batches) for topic and stance, and `khabar compare` between the
600-label and the all-label model on the same folds.

    python experiments/realnews_growth.py [--only topic,stance]

Folds: 5-fold stratified CV over every real item (realnews-dev + data/realnews/labels.jsonl,
fold seed = the config's seed). At step b each fold's model is fit on the fold's training
items from realnews-dev and batches 1..b (plus the config's data.extra_train, as in every
khabar fit) and scores the fold's held-out items: every step is scored on the same items, so
steps differ only in the labels they were trained on. Intervals: 95% bootstrap over items.
Writes docs/results/realnews_growth.md, realnews_learning_curve.png, and the compare pages
under docs/results/compare/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.base import clone  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_page import command_line, markdown_table, start, write_results_page  # noqa: E402

from khabar.data.fit_set import build_fit_set, load_train_and_test  # noqa: E402
from khabar.model.pipeline import (  # noqa: E402
    build_pipeline,
    class_labels,
    class_scores,
    predict_labels,
)
from khabar.record.predictions import (  # noqa: E402
    Manifest,
    ScoredItems,
    add_split,
    intervals_of,
    item_hashes,
    prediction_table,
    write_predictions,
)
from khabar.record.resampling import MetricSpace  # noqa: E402
from khabar.runs.compare import compare, table_lines  # noqa: E402
from khabar.runs.cross_validation import cv_splits  # noqa: E402
from khabar.runs.guard import load_config  # noqa: E402

PROJECT = Path(__file__).resolve().parent.parent
LABELS = PROJECT / "data" / "realnews" / "labels.jsonl"
RESULTS = PROJECT / "docs" / "results"
TASKS = {"topic": "configs/realnews_topic.yaml", "stance": "configs/realnews_stance.yaml"}
FOLDS = 5


def batches_of(train_size: int) -> np.ndarray:
    """Each real item's batch: 0 for realnews-dev's rows (first), then labels.jsonl's."""
    later = pd.read_json(LABELS, lines=True)["batch"].to_numpy()
    return np.concatenate([np.zeros(train_size - len(later), dtype=int), later])


def curve(config_path: str) -> dict:
    """Out-of-fold predictions of every step, on the same folds."""
    config = load_config(PROJECT / config_path)
    train, _ = load_train_and_test(config)
    fit = build_fit_set(config, train)
    batch = batches_of(len(train.labels))
    steps = sorted(set(batch.tolist()))
    labels = sorted(set(train.labels))
    scored = len(fit.labels) - fit.extra_rows
    predicted = {b: [None] * scored for b in steps}
    scores = {b: np.zeros((scored, len(labels))) for b in steps}
    folds = np.zeros(scored, dtype=int)
    splits = cv_splits(fit.inputs, fit.labels, folds=FOLDS, seed=config.seed, multi_label=False,
                       always_train=fit.extra_rows)  # fmt: skip
    fit_labels = fit.fit_labels
    for fold, (train_idx, test_idx) in enumerate(splits):
        folds[test_idx] = fold
        real, extra = train_idx[train_idx < scored], train_idx[train_idx >= scored]
        for b in steps:
            rows = np.concatenate([real[batch[real] <= b], extra])
            model = clone(build_pipeline(config)).fit(fit.inputs.iloc[rows], [fit_labels[i] for i in rows])
            held_out = fit.inputs.iloc[test_idx]
            for i, label in zip(test_idx, predict_labels(model, held_out), strict=True):
                predicted[b][i] = label
            values, _ = class_scores(model, held_out)
            scores[b][np.ix_(test_idx, [labels.index(c) for c in class_labels(model)])] = values
            print(f"{config.name}: fold {fold + 1}/{FOLDS}, batches <= {b}: {len(rows) - len(extra)} real labels")
    ids = train.frame["id"].astype(str).tolist()
    hashes = item_hashes(ids, train.texts, train.labels)
    return {"config": config, "labels": labels, "gold": list(train.labels), "ids": ids, "hashes": hashes,
            "batch": batch, "steps": steps, "predicted": predicted, "scores": scores, "folds": folds}  # fmt: skip


def scored_items(result: dict, b: int) -> tuple[Manifest, ScoredItems]:
    labels = result["labels"]
    space = MetricSpace.of(labels, multi_label=False, grouped=None, groups=[])
    manifest = Manifest("single_label", labels, space.headline)
    manifest.source = {"config": str(result["config"].name), "real_labels": f"batches <= {b}",
                       "script": "experiments/realnews_growth.py"}  # fmt: skip
    table = prediction_table(result["ids"], result["gold"], result["predicted"][b], result["scores"][b],
                             labels, result["hashes"], repeat=0, folds=result["folds"])  # fmt: skip
    scored = ScoredItems("oof", table)
    add_split(manifest, scored, "decision")
    return manifest, scored


def step_rows(result: dict) -> list[dict]:
    """Per step: the real labels available, and macro-F1 [CI] on all items, on realnews-dev's
    and on the new items."""
    rows = []
    seed = result["config"].seed
    for b in result["steps"]:
        manifest, scored = scored_items(result, b)
        found = intervals_of(manifest, scored, seed)
        row = {"step": b, "labels": int((result["batch"] <= b).sum()),
               "f1": found["points"]["f1_macro"], "ci": found["intervals"]["f1_macro"]}  # fmt: skip
        for name, mask in (("dev", result["batch"] == 0), ("new", result["batch"] > 0)):
            part = ScoredItems("oof", scored.table[mask].reset_index(drop=True))
            sub = intervals_of(manifest, part, seed)
            row[name] = (sub["points"]["f1_macro"], sub["intervals"]["f1_macro"])
        rows.append(row)
    return rows


def plot(all_rows: dict[str, list[dict]], path: Path) -> None:
    figure, axes = plt.subplots(1, len(all_rows), figsize=(5.5 * len(all_rows), 4), squeeze=False)
    for axis, (task, rows) in zip(axes[0], all_rows.items(), strict=True):
        x = [r["labels"] for r in rows]
        for key, name, colour in (("f1", "all real items", "C0"), ("dev", "realnews-dev items", "C1"),
                                  ("new", "new items", "C2")):  # fmt: skip
            if key == "f1":
                y, low, high = [r["f1"] for r in rows], [r["ci"][0] for r in rows], [r["ci"][1] for r in rows]
            else:
                y, low, high = [r[key][0] for r in rows], [r[key][1][0] for r in rows], [r[key][1][1] for r in rows]
            axis.plot(x, y, marker="o", color=colour, label=name)
            axis.fill_between(x, low, high, color=colour, alpha=0.15)
        axis.set_title(f"realnews {task}: out-of-fold macro-F1 (95% CI)")
        axis.set_xlabel("real labeled items (before the 5-fold split)")
        axis.set_ylabel("macro-F1")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def compare_ends(task: str, result: dict, work: Path) -> tuple[str, Path]:
    """`khabar compare` between the first step (600 labels) and the last (all)."""
    folders = []
    for b, name in ((result["steps"][0], f"{task}-600"), (result["steps"][-1], f"{task}-all")):
        manifest, scored = scored_items(result, b)
        folders.append(write_predictions(work / name, manifest, [scored]))
    # This script owns its compare pages: replace the last run's (compare never overwrites).
    shutil.rmtree(RESULTS / "compare" / f"{task}-600-vs-{task}-all", ignore_errors=True)
    outcome = compare(str(folders[0]), str(folders[1]), split="oof", seed=result["config"].seed,
                      reports_dir=RESULTS)  # fmt: skip
    return "\n".join(table_lines(outcome)) + f"\n\n{outcome.verdict}", Path(outcome.report_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(TASKS))
    args = parser.parse_args(argv)
    started, clock = start(), time.perf_counter()
    all_rows, sections = {}, []
    for task in args.only.split(","):
        result = curve(TASKS[task])
        all_rows[task] = rows = step_rows(result)
        table = markdown_table(
            ["after batch", "real labels", "macro-F1, all real items [95% CI]",
             "realnews-dev items", "new items"],
            [[r["step"] or "realnews-dev", r["labels"], f"{r['f1']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]",
              f"{r['dev'][0]:.3f} [{r['dev'][1][0]:.3f}, {r['dev'][1][1]:.3f}]",
              f"{r['new'][0]:.3f} [{r['new'][1][0]:.3f}, {r['new'][1][1]:.3f}]"] for r in rows],
        )  # fmt: skip
        text, folder = compare_ends(task, result, PROJECT / "reports" / "realnews_growth")
        relative = folder.relative_to(RESULTS)
        sections.append((f"{task} (`{TASKS[task]}`)", table))
        sections.append((f"{task}: 600 labels against all, same folds (`khabar compare`)",
                         f"{text}\n\nFull page: [{relative}/compare.md]({relative}/compare.md)"))  # fmt: skip
    plot(all_rows, RESULTS / "realnews_learning_curve.png")
    sections.insert(0, (None, "![learning curve](realnews_learning_curve.png)"))
    write_results_page(
        "realnews_growth",
        "What real labels buy: learning curve and 600 against all",
        command_line(__file__, argv),
        sections,
        started,
        measures=("Out-of-fold macro-F1 of the committed realnews configs trained on realnews-dev's "
                  "600 items and then each batch of the labeling round in turn (the authored corpus "
                  "in every fit), all steps scored on the same held-out items of 5 stratified folds "
                  "over every real item."),  # fmt: skip
        notes=[f"{FOLDS} folds, fold seed = each config's seed; 95% bootstrap intervals over items "
               f"(10,000 resamples); {time.perf_counter() - clock:.0f} s of fitting and scoring"],  # fmt: skip
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
