"""`khabar select`: which pool items to label next (active learning).

A model scores the pool; each item's uncertainty comes from its class scores (see
`uncertainty`); a strategy picks N items; labeled items (by id or normalized text) and
near-duplicates of items already in the batch are never picked. The batch is written as
JSONL or as a Label Studio import file with its labeling interface.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import normalize as unit_rows
from threadpoolctl import threadpool_limits

from khabar.data.corpora import read_saudinewsnet_leads
from khabar.data.dataset import read_table, texts_or_reasons
from khabar.data.label_studio import import_task, label_config
from khabar.errors import KhabarError
from khabar.model.normalize import ArabicNormalizer
from khabar.model.pipeline import class_labels, is_multi_label
from khabar.model.stories import NEAR_DUPLICATE, same_story_rows, story_vectors

STRATEGIES = ("random", "least_confidence", "entropy", "breaking_ties", "diverse")
# diverse: cluster the most uncertain BETA * N items into N clusters.
BETA = 10


@dataclass
class SelectResult:
    """What `select` returns and `khabar select` prints.

    Attributes
    ----------
    output : str
        The file written (and `label_config` beside a Label Studio file).
    selected : int
        Items selected.
    pool : int
        Pool items read (with text).
    excluded : int
        Pool items left out as already labeled or listed in an exclude file.
    same_story : int
        Pool items left out as near-duplicates (the same story) of a labeled item.
    near_duplicates : int
        Candidates passed over as near-duplicates of an item already in the batch.
    skipped_without_text : int
        Pool rows (or SaudiNewsNet articles) without any text.
    strategy : str
        The strategy used.
    label_config : str
        The labeling interface written beside a .json output ("" otherwise).
    """

    output: str
    selected: int
    pool: int
    excluded: int
    same_story: int
    near_duplicates: int
    skipped_without_text: int
    strategy: str
    label_config: str = ""

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)


def read_pool(
    path: str | Path, text_column: str = "text", id_column: str = "id"
) -> tuple[pd.DataFrame, int]:
    """The pool: a table khabar reads, or a folder of SaudiNewsNet ZIPs (title + lead).

    Parameters
    ----------
    path : str or Path
        A .csv, .tsv, .jsonl, .json, .parquet or .txt file, or a folder of ZIPs.
    text_column, id_column : str
        The texts' and ids' columns (rows without an id are named by position).

    Returns
    -------
    pool : DataFrame
        The rows with text, with `id` and `text` columns.
    skipped : int
        Rows without text.

    Raises
    ------
    KhabarError
        The file cannot be read, or has no such text column.
    """
    path = Path(path)
    if path.is_dir():
        items, skipped = read_saudinewsnet_leads(path)
        return pd.DataFrame(items), skipped
    frame = read_table(path)
    texts, _ = texts_or_reasons(frame, text_column, path)
    keep = [i for i, text in enumerate(texts) if text is not None]
    pool = frame.iloc[keep].reset_index(drop=True)
    pool["text"] = [texts[i] for i in keep]
    pool["id"] = pool[id_column].astype(str) if id_column in pool else [str(i) for i in keep]
    return pool, len(frame) - len(keep)


def text_key(normalized: str) -> str:
    """The hash that says two texts are the same after normalization.

    Parameters
    ----------
    normalized : str
        A text as khabar's normalization leaves it.

    Returns
    -------
    str
        SHA-256 of the text with whitespace collapsed.
    """
    return hashlib.sha256(" ".join(normalized.split()).encode()).hexdigest()


def excluded_rows(
    pool: pd.DataFrame,
    normalized: list[str],
    files: Sequence[str | Path],
    normalizer: ArabicNormalizer,
) -> np.ndarray:
    """Which pool rows are already labeled (or listed) in the exclude files.

    A table matches by `id` (and `url` when both have one) and by normalized text; a
    ``.txt`` file is a list of ids or URLs, one per line (e.g. reserved_urls.txt).

    Parameters
    ----------
    pool : DataFrame
        The pool, with `id` and `text`.
    normalized : list of str
        The pool's texts, normalized.
    files : sequence of str or Path
        Labeled files, or .txt lists of ids/URLs.
    normalizer : ArabicNormalizer
        For the text match.

    Returns
    -------
    excluded : ndarray of bool
        True for each excluded pool row.
    labeled : list of str
        The normalized texts of the labeled tables' items (their own texts, or the pool's
        for rows they name by id or URL), for `same_story_rows`.
    """
    ids, keys, table_ids, labeled = set(), set(), set(), []
    for file in files:
        path = Path(file)
        if path.suffix == ".txt":
            if not path.is_file():
                raise KhabarError(f"{path}: no such exclude file")
            ids |= {
                line.strip()
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            }
            continue
        frame = read_table(path)
        for column in ("id", "url"):
            if column in frame:
                table_ids |= {str(value) for value in frame[column].dropna()}
        if "text" in frame:
            texts = normalizer.transform([str(t) for t in frame["text"].dropna()])
            keys |= {text_key(t) for t in texts}
            labeled += texts
    by_id, by_table = _named(pool, ids | table_ids), _named(pool, table_ids)
    by_text = np.array([text_key(t) in keys for t in normalized]) if keys else False
    labeled += [text for text, named in zip(normalized, by_table, strict=True) if named]
    return np.asarray(by_id | by_text, dtype=bool), labeled


def _named(pool: pd.DataFrame, ids: set[str]) -> np.ndarray:
    """Which pool rows have their id (or URL) in `ids`."""
    named = pool["id"].astype(str).isin(ids)
    if "url" in pool:
        named |= pool["url"].astype(str).isin(ids)
    return named.to_numpy()


def comparable_scores(scores: np.ndarray, probabilities: bool, multi_label: bool) -> np.ndarray:
    """Class scores on one scale: probabilities as they are; decision values (SVMs) through
    a softmax over classes (single-label) or a sigmoid per label (multi-label).

    Parameters
    ----------
    scores : ndarray of shape (n_items, n_classes)
        The model's scores.
    probabilities : bool
        The scores are probabilities.
    multi_label : bool
        One independent score per label.

    Returns
    -------
    ndarray of shape (n_items, n_classes)
        Values in [0, 1]; single-label rows sum to 1.
    """
    if probabilities:
        return scores
    if multi_label:
        return 1 / (1 + np.exp(-scores))
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def uncertainty(p: np.ndarray, strategy: str, multi_label: bool) -> np.ndarray:
    """Each item's uncertainty under a strategy (higher: more worth labeling).

    Single-label: least_confidence 1 - max p; entropy -sum p log p / log K; breaking_ties
    (and diverse) 1 - (p1 - p2), the gap between the top two. Multi-label, per label then
    the item's most uncertain label: 1 - |2p - 1| (least_confidence, breaking_ties,
    diverse) or the binary entropy in bits (entropy).

    Parameters
    ----------
    p : ndarray of shape (n_items, n_classes)
        Comparable scores (`comparable_scores`).
    strategy : str
        One of `STRATEGIES` other than random.
    multi_label : bool
        Scores are per label.

    Returns
    -------
    ndarray of shape (n_items,)
        Values in [0, 1].
    """
    if multi_label:
        if strategy == "entropy":
            q = np.clip(p, 1e-12, 1 - 1e-12)
            return (-(q * np.log2(q) + (1 - q) * np.log2(1 - q))).max(axis=1)
        return (1 - np.abs(2 * p - 1)).max(axis=1)
    if strategy == "least_confidence":
        return 1 - p.max(axis=1)
    if strategy == "entropy":
        q = np.clip(p, 1e-12, 1)
        return -(q * np.log(q)).sum(axis=1) / np.log(max(p.shape[1], 2))
    top = np.sort(p, axis=1)[:, ::-1]
    return 1 - (top[:, 0] - top[:, 1])


def without_near_duplicates(order: np.ndarray, vectors, n: int) -> tuple[list[int], int]:
    """The first n of `order` that are no near-duplicate of one taken before them.

    Parameters
    ----------
    order : ndarray of int
        Candidate positions, best first.
    vectors : sparse matrix or None
        Their `story_vectors`; None: no duplicate check.
    n : int
        How many to take.

    Returns
    -------
    chosen : list of int
        The positions taken, in order.
    passed : int
        Candidates passed over as near-duplicates (cosine > NEAR_DUPLICATE).
    """
    chosen: list[int] = []
    passed = 0
    for i in order:
        if (
            vectors is not None
            and chosen
            and (vectors[chosen] @ vectors[i].T).max() > NEAR_DUPLICATE
        ):
            passed += 1
            continue
        chosen.append(int(i))
        if len(chosen) == n:
            break
    return chosen, passed


def _clusters(vectors, k: int, seed: int) -> np.ndarray:
    """k-means on a TF-IDF -> SVD projection; one cluster id per row."""
    # One BLAS/OpenMP thread: on a busy machine more threads made this 5x slower, and on a
    # quiet one they gain nothing (docs/results/select.md).
    with threadpool_limits(1):
        return _cluster_points(vectors, k, seed)


def _cluster_points(vectors, k: int, seed: int) -> np.ndarray:
    dims = min(100, vectors.shape[1] - 1, vectors.shape[0] - 1)
    points = (
        vectors.toarray()
        if dims < 2
        else TruncatedSVD(dims, random_state=seed).fit_transform(vectors)
    )
    points = unit_rows(points)
    k = min(k, len(points))
    if len(points) > 5000:  # the whole pool (cold start): mini-batches keep it within seconds
        return MiniBatchKMeans(k, random_state=seed, n_init=3, batch_size=4096).fit_predict(points)
    return KMeans(k, random_state=seed, n_init=3).fit_predict(points)


def rank_candidates(
    strategy: str, u: np.ndarray, vectors, n: int, rng: np.random.Generator, seed: int
) -> np.ndarray:
    """Candidate positions, best first, for a strategy.

    Parameters
    ----------
    strategy : str
        One of `STRATEGIES`.
    u : ndarray of shape (n_candidates,)
        The candidates' uncertainty (`uncertainty`).
    vectors : sparse matrix or None
        Their `story_vectors` (diverse clusters them).
    n : int
        The batch size.
    rng : numpy.random.Generator
        For random order and tie-breaking.
    seed : int
        For the clustering.

    Returns
    -------
    ndarray of int
        Every candidate position once; take the first n (after `without_near_duplicates`).
    """
    tie_break = rng.random(len(u))
    if strategy == "random":
        return rng.permutation(len(u))
    by_uncertainty = np.lexsort((tie_break, -u))
    if strategy != "diverse" or vectors is None:
        return by_uncertainty
    top = by_uncertainty[: BETA * n]
    labels = _clusters(vectors[top], n, seed)
    best = {}
    for position, cluster in zip(top, labels, strict=True):  # top is most uncertain first
        best.setdefault(cluster, position)
    picked = np.array(sorted(best.values(), key=lambda i: (-u[i], tie_break[i])), dtype=np.int64)
    rest = np.setdiff1d(by_uncertainty, picked, assume_unique=True)
    return np.concatenate([picked, by_uncertainty[np.isin(by_uncertainty, rest)]])


def _cold_start_order(vectors, count: int, n: int, seed: int) -> np.ndarray:
    """Without a model: one item per k-means cluster of the pool, the one nearest its
    cluster's centre (by cosine to the cluster mean), larger clusters first."""
    if vectors is None:
        return np.arange(count)
    labels = _clusters(vectors, n, seed)
    picked = []
    for cluster in sorted(set(labels), key=lambda c: -np.sum(labels == c)):
        members = np.flatnonzero(labels == cluster)
        centre = np.asarray(vectors[members].mean(axis=0)).ravel()
        picked.append(members[np.argmax(vectors[members] @ centre)])
    rest = np.setdiff1d(np.arange(vectors.shape[0]), picked)
    return np.concatenate([np.array(picked, dtype=np.int64), rest])


@dataclass
class _Scored:
    """The candidates' model outputs (empty without a model)."""

    labels: list[str]
    multi_label: bool
    predicted: list
    scores: np.ndarray | None
    uncertainty: np.ndarray


def _score(
    pipeline: Pipeline | None, candidates: pd.DataFrame, pool: str, strategy: str, labels
) -> _Scored:
    from khabar.runs.predict import predict_frame

    if pipeline is None:
        # labels: the config's labels and whether it is multi-label
        return _Scored(
            labels[0], labels[1], [None] * len(candidates), None, np.zeros(len(candidates))
        )
    labels, multi = class_labels(pipeline), is_multi_label(pipeline)
    output = predict_frame(pipeline, candidates, pool, "text", allow_empty=False)
    raw = output[[f"score_{label}" for label in labels]].to_numpy(dtype=np.float64)
    p = comparable_scores(raw, hasattr(pipeline, "predict_proba"), multi)
    kind = "breaking_ties" if strategy in ("random", "diverse") else strategy
    return _Scored(labels, multi, output["prediction"].tolist(), raw, uncertainty(p, kind, multi))


def select(
    model: str | Path | None,
    pool: str | Path,
    n: int,
    output: str | Path,
    *,
    strategy: str = "breaking_ties",
    exclude: Sequence[str | Path] = (),
    seed: int = 0,
    config: str | Path | None = None,
    text_column: str = "text",
    id_column: str = "id",
    pre_annotate: bool = True,
) -> SelectResult:
    """Pick the `n` pool items most worth labeling next and write them for labeling.

    Parameters
    ----------
    model : str, Path or None
        A trained model (MLflow URI or folder); None for a cold start with `config`.
    pool : str or Path
        The unlabeled items: a table, or a folder of SaudiNewsNet ZIPs.
    n : int
        How many.
    output : str or Path
        A new .jsonl (rows with rank, uncertainty, prediction, scores) or .json (Label Studio).
    strategy : str, default "breaking_ties"
        One of `STRATEGIES`.
    exclude : sequence of str or Path
        Labeled files (matched by id, URL and normalized text) or .txt lists of ids/URLs.
    seed : int, default 0
        Seeds random order, ties and clustering.
    config : str or Path, optional
        Without a model: the experiment whose labels the batch gets (a cold start).
    text_column, id_column : str
        The pool's columns.
    pre_annotate : bool, default True
        Label Studio tasks carry the model's choice (False: blind labeling).

    Returns
    -------
    SelectResult

    Raises
    ------
    KhabarError
        Bad arguments, an unreadable pool or exclude file, a model that cannot score it.
    """
    _check_arguments(model, config, strategy, n, Path(output))
    pipeline, labels = _model_or_labels(model, config)
    normalizer = pipeline.named_steps["normalize"] if pipeline is not None else ArabicNormalizer()
    columns = (text_column, id_column)
    frame, skipped, excluded, candidates, texts = _candidates(pool, exclude, *columns, normalizer)
    scored = _score(pipeline, candidates, str(pool), strategy, labels)
    strategy, chosen, passed = _choose(pipeline is None, strategy, scored, texts, n, seed)
    batch = _batch(candidates, chosen, scored, strategy)
    config_path = _write(batch, Path(output), scored, model or "", pre_annotate)
    counts = (len(frame), int(excluded[0].sum()), int(excluded[1].sum()), passed, skipped)
    return SelectResult(str(output), len(batch), *counts, strategy, config_path)


def _candidates(pool, exclude, text_column: str, id_column: str, normalizer) -> tuple:
    """The pool, its rows without text, the excluded rows' mask, the rest and their
    normalized texts."""
    frame, skipped = read_pool(pool, text_column, id_column)
    normalized = normalizer.transform(frame["text"].tolist())
    excluded, labeled = excluded_rows(frame, normalized, exclude, normalizer)
    same_story = np.zeros_like(excluded)
    remaining = [text for text, out in zip(normalized, excluded, strict=True) if not out]
    same_story[~excluded] = same_story_rows(remaining, labeled)
    candidates = frame[~(excluded | same_story)].reset_index(drop=True)
    if candidates.empty:
        raise KhabarError(f"{pool}: every item is excluded or has no text; nothing to select")
    kept = [text for text, out in zip(normalized, excluded | same_story, strict=True) if not out]
    return frame, skipped, (excluded, same_story), candidates, kept


def _choose(cold: bool, strategy: str, scored: _Scored, texts: list[str], n: int, seed: int):
    """The strategy's name as recorded, the chosen positions, near-duplicates passed over."""
    vectors = story_vectors(texts)
    if cold:
        order, strategy = _cold_start_order(vectors, len(texts), n, seed), "cold_start"
    else:
        rng = np.random.default_rng(seed)
        order = rank_candidates(strategy, scored.uncertainty, vectors, n, rng, seed)
    return (strategy, *without_near_duplicates(order, vectors, n))


def _check_arguments(model, config, strategy: str, n: int, output: Path) -> None:
    if (model is None) == (config is None):
        raise KhabarError("give --model MODEL, or --config CONFIG for a cold start without a model")
    if strategy not in STRATEGIES:
        raise KhabarError(f"--strategy {strategy!r}: one of {', '.join(STRATEGIES)}")
    if n < 1:
        raise KhabarError(f"--n {n}: select at least 1 item")
    if output.suffix not in (".jsonl", ".json"):
        raise KhabarError(f"{output}: write .jsonl (rows) or .json (a Label Studio import file)")
    if output.exists():
        raise KhabarError(f"{output}: already exists; choose a new file")


def _model_or_labels(model, config) -> tuple[Pipeline | None, tuple[list[str], bool]]:
    """The model, or without one the config's labels and whether it is multi-label."""
    if model is not None:
        from khabar.runs.predict import load_model

        return load_model(model), ([], False)
    from khabar.data.fit_set import load_train_and_test
    from khabar.model.stories import story_detection
    from khabar.runs.guard import load_config

    experiment = load_config(config)
    train, _ = load_train_and_test(experiment, stories=story_detection(experiment))
    return None, (sorted(train.label_counts), experiment.task == "multi_label")


def _batch(
    candidates: pd.DataFrame, chosen: list[int], scored: _Scored, strategy: str
) -> pd.DataFrame:
    batch = candidates.iloc[chosen].reset_index(drop=True)
    batch.insert(0, "rank", np.arange(1, len(batch) + 1))
    batch["strategy"] = strategy
    batch["uncertainty"] = scored.uncertainty[chosen] if scored.scores is not None else np.nan
    batch["prediction"] = [scored.predicted[i] for i in chosen]
    if scored.scores is not None:
        for k, label in enumerate(scored.labels):
            batch[f"score_{label}"] = scored.scores[chosen, k]
    return batch


def _write(
    batch: pd.DataFrame, output: Path, scored: _Scored, model_version, pre_annotate: bool
) -> str:
    """The batch as JSONL rows or a Label Studio import file (+ label_config.xml), atomically."""
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    records = json.loads(batch.to_json(orient="records", force_ascii=False))
    if output.suffix == ".jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        config_path = ""
    else:
        tasks = [_task(r, scored, str(model_version), pre_annotate) for r in records]
        text = json.dumps(tasks, ensure_ascii=False, indent=1)
        config_file = output.with_name("label_config.xml")
        interface = label_config(scored.labels, scored.multi_label)
        if config_file.exists() and config_file.read_text(encoding="utf-8") != interface:
            raise KhabarError(
                f"{config_file}: holds another task's labels; write to another folder"
            )
        config_file.write_text(interface, encoding="utf-8")
        config_path = str(config_file)
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, output)
    return config_path


def _task(record: dict, scored: _Scored, model_version: str, pre_annotate: bool) -> dict:
    meta = {key: record.pop(key) for key in ("rank", "strategy", "uncertainty")}
    predicted = record.pop("prediction")
    if not pre_annotate:  # blind labeling: the reader does not see the model's choice
        predicted = None
    for label in scored.labels:
        record.pop(f"score_{label}", None)
    if predicted is not None and not isinstance(predicted, list):
        predicted = [predicted]
    item_id, text = str(record.pop("id")), record.pop("text")
    extra = {key: value for key, value in record.items() if value is not None}
    return import_task(item_id, text, extra=extra, predicted=predicted,
                       uncertainty=meta["uncertainty"], model_version=model_version, meta=meta)  # fmt: skip
