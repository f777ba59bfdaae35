"""Per-item predictions kept beside a run: tables of scored items and a manifest saying
which items they are and how they are scored, so a later `khabar compare` can test two
runs on exactly the same items."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from khabar.data.config import GroupedMetricConfig
from khabar.errors import KhabarError
from khabar.record.resampling import INTERVAL_METHOD, MetricSpace, bootstrap_intervals

PREDICTIONS_DIR = "predictions"
MANIFEST = "manifest.json"
SPLITS = ("test", "oof")
METRIC_DEFINITIONS = {
    "accuracy": "share of items whose predicted label is the gold label",
    "f1_macro": "unweighted mean over classes of F1 (0 for a class never predicted nor gold)",
    "f1_micro": "F1 of true positives, predictions and gold labels pooled over classes",
    "hamming_loss": "share of wrong (item, class) decisions",
    "subset_accuracy": "share of items whose predicted label set is exactly the gold set",
    "f1_<class>": "F1 of one class: 2 TP / (predicted + gold)",
    "grouped": "macro-F1 over the grouped labels within each group, averaged over groups",
}


def item_hashes(ids: Sequence, texts: Sequence[str], gold: Sequence) -> list[str]:
    """One SHA-256 per item over its id, text and gold label(s).

    Parameters
    ----------
    ids : sequence
        The items' names.
    texts : sequence of str
        Their texts, as read (before normalization).
    gold : sequence
        Their gold labels (lists, multi-label).

    Returns
    -------
    list of str
        Hex digests, in order.
    """
    return [
        hashlib.sha256(json.dumps([str(i), t, g], ensure_ascii=False).encode()).hexdigest()
        for i, t, g in zip(ids, texts, gold, strict=True)
    ]


def items_sha256(hashes: Sequence[str]) -> str:
    """The SHA-256 of a run's scored items, in order (over their `item_hashes`).

    Parameters
    ----------
    hashes : sequence of str
        Per-item digests.

    Returns
    -------
    str
        A hex digest.
    """
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


@dataclass
class ScoredItems:
    """One split's scored items, as logged (`predictions/<split>.parquet`).

    Attributes
    ----------
    split : str
        "test" (a test set, or a file `khabar evaluate` scored) or "oof" (out of fold).
    table : DataFrame
        Columns id, gold, prediction, [group], [repeat, fold], score_<class>…, item_sha256;
        out of fold, one row per item and CV repeat.
    """

    split: str
    table: pd.DataFrame

    @property
    def repeats(self) -> int:
        """How many predictions each item has (CV repeats; 1 for a test set)."""
        return int(self.table["repeat"].max()) + 1 if "repeat" in self.table else 1

    @property
    def items(self) -> pd.DataFrame:
        """One row per item (the first repeat's)."""
        return self.table[self.table["repeat"] == 0] if "repeat" in self.table else self.table

    def counts(self, space: MetricSpace) -> np.ndarray:
        """Each item's count vector, summed over its repeats.

        Parameters
        ----------
        space : MetricSpace
            The task's metrics.

        Returns
        -------
        ndarray of shape (n_items, n_columns)
        """
        parts = (
            [self.table]
            if "repeat" not in self.table
            else [part for _, part in self.table.groupby("repeat", sort=True)]
        )
        total = None
        for part in parts:
            groups = part["group"].tolist() if "group" in part else None
            counts = space.item_counts(part["gold"].tolist(), part["prediction"].tolist(), groups)
            total = counts if total is None else total + counts
        return total


def intervals_of(manifest: Manifest, scored: ScoredItems, seed: int) -> dict:
    """Bootstrap intervals of every metric of a split, and the values they surround.

    Parameters
    ----------
    manifest : Manifest
        The task and its metrics.
    scored : ScoredItems
        The split (out of fold: documents resampled with all their repeats).
    seed : int
        The bootstrap's seed.

    Returns
    -------
    dict
        "intervals": metric name -> (low, high); "points": metric name -> value.
    """
    groups = scored.items["group"].tolist() if "group" in scored.table else None
    space = manifest.space(groups)
    counts = scored.counts(space)
    points = {name: float(value) for name, value in space.metrics(counts.sum(0)).items()}
    return {"intervals": bootstrap_intervals(space, counts, seed=seed), "points": points}


def prediction_table(
    ids: Sequence,
    gold: Sequence,
    predicted: Sequence,
    scores: np.ndarray,
    labels: Sequence[str],
    hashes: Sequence[str],
    *,
    groups: Sequence | None = None,
    repeat: int | None = None,
    folds: Sequence[int] | None = None,
) -> pd.DataFrame:
    """The table of one set of predictions.

    Parameters
    ----------
    ids, gold, predicted : sequence
        Per item: name, gold label(s), predicted label(s).
    scores : ndarray of shape (n_items, n_classes)
        The model's score of each class.
    labels : sequence of str
        The classes, in the order of the score columns.
    hashes : sequence of str
        Per-item digests (`item_hashes`).
    groups : sequence, optional
        Each item's group, for a grouped metric.
    repeat : int, optional
        The CV repeat (out-of-fold predictions).
    folds : sequence of int, optional
        The fold that held each item out.

    Returns
    -------
    DataFrame
        One row per item.
    """
    columns: dict = {"id": [str(i) for i in ids], "gold": list(gold), "prediction": list(predicted)}
    if groups is not None:
        columns["group"] = [str(g) for g in groups]
    if repeat is not None:
        columns["repeat"] = np.full(len(columns["id"]), repeat, dtype=np.int64)
        columns["fold"] = np.asarray(folds, dtype=np.int64)
    for k, label in enumerate(labels):
        columns[f"score_{label}"] = np.asarray(scores)[:, k]
    columns["item_sha256"] = list(hashes)
    return pd.DataFrame(columns)


@dataclass
class Manifest:
    """What a set of logged predictions is: the items, the task and the metrics.

    Attributes
    ----------
    task : str
        "single_label" or "multi_label".
    labels : list of str
        The classes.
    headline_metric : str
        The metric the run is judged by (`MetricSpace.headline`).
    splits : dict
        Per split: its file, n_items, items_sha256, repeats and the score kind.
    grouped_metric : dict or None
        The grouped metric's settings (name, group_column, labels).
    source : dict
        Where the predictions come from (run id, config, model, data file).
    """

    task: str
    labels: list[str]
    headline_metric: str
    splits: dict = field(default_factory=dict)
    grouped_metric: dict | None = None
    source: dict = field(default_factory=dict)

    def space(self, groups: Sequence | None = None) -> MetricSpace:
        """The metric space of these predictions.

        Parameters
        ----------
        groups : sequence, optional
            Each item's group (for the grouped metric).

        Returns
        -------
        MetricSpace
        """
        grouped = GroupedMetricConfig(**self.grouped_metric) if self.grouped_metric else None
        return MetricSpace.of(
            self.labels, multi_label=self.task == "multi_label", grouped=grouped, groups=groups
        )

    def as_dict(self) -> dict:
        """The manifest as written to manifest.json.

        Returns
        -------
        dict
        """
        return {
            "format": 1,
            "task": self.task,
            "labels": self.labels,
            "headline_metric": self.headline_metric,
            "grouped_metric": self.grouped_metric,
            "splits": self.splits,
            "source": self.source,
            "metric_definitions": METRIC_DEFINITIONS,
            "interval_method": INTERVAL_METHOD,
            "item_sha256": "SHA-256 of the JSON list [id, text, gold] of the item",
            "items_sha256": "SHA-256 of the items' item_sha256 values joined by newlines",
        }


def add_split(manifest: Manifest, scored: ScoredItems, score_kind: str) -> None:
    """Record a split's file, size and items hash in `manifest`.

    Parameters
    ----------
    manifest : Manifest
        Updated in place.
    scored : ScoredItems
        The split.
    score_kind : str
        What its score columns are ("probability", "decision", "score").
    """
    items = scored.items
    manifest.splits[scored.split] = {
        "file": f"{scored.split}.parquet",
        "n_items": len(items),
        "items_sha256": items_sha256(items["item_sha256"].tolist()),
        "repeats": scored.repeats,
        "score_kind": score_kind,
    }


def write_predictions(folder: Path, manifest: Manifest, splits: list[ScoredItems]) -> Path:
    """Write each split's parquet file and manifest.json into `folder`.

    Parameters
    ----------
    folder : Path
        Created when missing.
    manifest : Manifest
        The manifest (its splits filled in by `add_split`).
    splits : list of ScoredItems
        The tables.

    Returns
    -------
    Path
        `folder`.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for scored in splits:
        scored.table.to_parquet(folder / f"{scored.split}.parquet", index=False)
    (folder / MANIFEST).write_text(
        json.dumps(manifest.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return folder


def log_predictions(manifest: Manifest, splits: list[ScoredItems]) -> None:
    """Log the tables and the manifest as the active run's ``predictions/`` artifacts.

    Parameters
    ----------
    manifest : Manifest
        The manifest.
    splits : list of ScoredItems
        The tables.
    """
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_predictions(Path(tmp) / PREDICTIONS_DIR, manifest, splits)
        mlflow.log_artifacts(str(folder), artifact_path=PREDICTIONS_DIR)


def read_predictions(folder: Path, split: str) -> tuple[Manifest, ScoredItems]:
    """Read one split of predictions written by `write_predictions`.

    Parameters
    ----------
    folder : Path
        The folder holding manifest.json.
    split : str
        "test" or "oof".

    Returns
    -------
    manifest : Manifest
    scored : ScoredItems

    Raises
    ------
    KhabarError
        The folder has no manifest, or not that split.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise KhabarError(f"{folder}: no {MANIFEST} of logged predictions")
    raw = json.loads(path.read_text(encoding="utf-8"))
    manifest = Manifest(
        raw["task"], raw["labels"], raw["headline_metric"], raw["splits"],
        raw.get("grouped_metric"), raw.get("source", {}),
    )  # fmt: skip
    if split not in manifest.splits:
        raise KhabarError(f"{folder}: no {split!r} predictions (it has {sorted(manifest.splits)})")
    table = pd.read_parquet(folder / manifest.splits[split]["file"])
    if manifest.task == "multi_label":  # parquet lists come back as arrays
        for column in ("gold", "prediction"):
            table[column] = [list(value) for value in table[column]]
    return manifest, ScoredItems(split, table)
