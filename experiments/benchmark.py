"""Accuracy benchmark: khabar's configs and their peers, trained and scored on the same
splits in one run, on real Arabic data from ../shared/data.

    python experiments/benchmark.py [--only TASK ...] [--no-fasttext]

Protocol: for each task, every khabar candidate (a config in configs/ with a few --set
overrides) is scored by 5-fold CV on the training data; the best CV score is chosen. Test
sets (Mawqif) are then scored once, for the chosen candidate and for each peer. Peers:
plain scikit-learn (char_wb 2-5 TF-IDF + LinearSVC, no normalization, what a researcher
writes by hand) and fastText (optional `bench` extra). Every system's per-item predictions
are kept (the test set's, else the pooled out-of-fold ones of every CV repeat): each
headline number gets a 95% percentile bootstrap interval over items, and khabar − each
peer a paired-bootstrap interval and a paired approximate-randomization p-value. Seeds are
fixed: the same command prints the same numbers. Writes docs/results/benchmark.md (the
results page; with --only or without the fastText peer it says in its header that the run
was partial) and, beside the other generated reports, reports/benchmarks/accuracy.json,
accuracy.png and predictions.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("TQDM_DISABLE", "1")  # one line per result, not progress bars

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402

from khabar.data.config import ExperimentConfig  # noqa: E402
from khabar.data.dataset import LabeledData, join_labeled, load_labeled  # noqa: E402
from khabar.data.fit_set import build_fit_set, input_columns, model_inputs  # noqa: E402
from khabar.model.classifiers import MultiLabelOneVsRest  # noqa: E402
from khabar.model.pipeline import build_pipeline, predict_labels  # noqa: E402
from khabar.record.metrics import compute_metrics  # noqa: E402
from khabar.record.resampling import (  # noqa: E402
    MetricSpace,
    bootstrap_intervals,
    holm,
    paired_tests,
)
from khabar.runs.cross_validation import cross_validate  # noqa: E402
from khabar.runs.guard import load_config  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data"
REPORT_DIR = PROJECT / "reports" / "benchmarks"
COMMAND = "python experiments/benchmark.py"


@dataclass
class Task:
    name: str
    config: str  # the committed, chosen setup; candidates are --set overrides of it
    metric: str  # a key of khabar.record.metrics.compute_metrics
    metric_label: str
    data_label: str
    target: float | None
    candidates: dict[str, list[str]]
    published: str = "—"
    fasttext: bool = True


NBSVM = ["model.name=nbsvm", "model.params.C=0.1"]


def svc(c: float) -> list[str]:
    return ["model.name=linear_svc", f"model.params.C={c}"]


TARGET = "features.target_column=target"
# mawqif_stance learns stance jointly with the tweet's sentiment
# (khabar.model.decision.JointLabelClassifier); this turns it off.
NO_JOINT = "data.auxiliary_label_column=null"
C_HALF = "model.params.C=0.5"
# realnews_topic trains on khabar's own corpus too (data.extra_train); this turns it off.
NO_CORPUS = "data.extra_train=[]"
# realnews_stance commits char_wb; this is analyzer char (n-grams across word boundaries).
CHAR = "features.char={analyzer: char, ngram_range: [2, 5], min_df: 2, sublinear_tf: true}"
# The Mawqif and realnews_stance configs add mean word2vec vectors from unlabeled
# SaudiNewsNet (features.word_vectors); this turns them off.
NO_VECTORS = "features.word_vectors=null"
# News items' tone (khabar's corpus: `stance` positive / negative / neutral) as extra
# training rows for tweet sentiment, their labels renamed to Mawqif's (session 5: no gain).
TONE = "label_column: stance, labels: {positive: Positive, negative: Negative, neutral: Neutral}"
KHABAR_CORPUS = ["data/khabar_news_train.jsonl", "data/khabar_news_test.jsonl"]


def news_tone(paths: list[str]) -> str:
    return "data.extra_train=[" + ", ".join(f"{{path: {p}, {TONE}}}" for p in paths) + "]"


WORDS = "features.word={analyzer: word, ngram_range: [1, 2], min_df: 2, sublinear_tf: true}"
TASKS = [
    Task(
        "mawqif_stance",
        "configs/mawqif_stance.yaml",
        "stance_eval_f1",
        "StanceEval-F1 (macro-F1 of Favor, Against per target, averaged)",
        "Mawqif Train → Test (619)",
        0.75,
        {
            "char+word + word vectors, LinearSVC C=0.25, stance × sentiment, never None "
            "(committed)": [],
            "char+word, LinearSVC C=0.25, stance × sentiment, never None": [NO_VECTORS],
            "char+word, LinearSVC C=0.5, stance × sentiment, never None": [NO_VECTORS, C_HALF],
            "char+word, LinearSVC, never None (previous)": [NO_VECTORS, NO_JOINT, C_HALF],
            "char+word, LinearSVC": [
                NO_VECTORS,
                NO_JOINT,
                C_HALF,
                "model.exclude_from_predictions=[]",
            ],
            "target-aware char+word, LinearSVC, never None": [NO_VECTORS, NO_JOINT, C_HALF, TARGET],
            "char+word, NBSVM, never None": [NO_VECTORS, NO_JOINT, *NBSVM],
        },
        published="paper's best BERT 0.7889; StanceEval 2024 top 0.8438 (blind test)",
    ),
    Task(
        "mawqif_sentiment",
        "configs/mawqif_sentiment.yaml",
        "f1_macro",
        "macro-F1 (3 classes)",
        "Mawqif Train → Test (619)",
        0.70,
        {
            "char+word + word vectors, NBSVM C=0.1 (committed)": [],
            "char+word + word vectors, NBSVM C=0.1, + news tone (khabar corpus)": [
                news_tone(KHABAR_CORPUS)
            ],
            "char+word, NBSVM C=0.1": [NO_VECTORS],
            "char+word, NBSVM C=0.3": [NO_VECTORS, "model.params.C=0.3"],
            "char+word, LinearSVC": [NO_VECTORS, "model.name=linear_svc", "model.params.C=0.5"],
        },
    ),
    Task(
        "realnews_topic",
        "configs/realnews_topic.yaml",
        "f1_macro",
        "macro-F1 of `primary` (4 classes)",
        "realnews: 2,000 real items (realnews-dev + data/realnews/labels.jsonl), "
        "5-fold CV × 4 fold seeds",
        0.90,
        {
            "char+word, NBSVM C=0.1, + khabar corpus (committed)": [],
            "char+word, NBSVM C=0.1, realnews only": [NO_CORPUS],
            "char+word, LinearSVC, realnews only": [
                NO_CORPUS,
                "model.name=linear_svc",
                "model.params.C=0.5",
            ],
            "char only, NBSVM C=0.1, + khabar corpus": ["features.word=null"],
            "char+word, LinearSVC, + khabar corpus": [
                "model.name=linear_svc",
                "model.params.C=0.5",
            ],
        },
    ),
    Task(
        "realnews_topics",
        "configs/realnews_topics_multilabel.yaml",
        "f1_micro",
        "micro-F1 of `topics` (multi-label)",
        "realnews: 2,000 real items (realnews-dev + data/realnews/labels.jsonl), "
        "5-fold CV × 4 fold seeds",
        None,
        {
            "char+word, NBSVM C=0.1, + khabar corpus (committed)": [],
            "char+word, LinearSVC, + khabar corpus": svc(0.5),
            "char only, LinearSVC, + khabar corpus": [*svc(0.5), "features.word=null"],
            "char only, LinearSVC, realnews only (previous)": [
                *svc(0.5),
                "features.word=null",
                NO_CORPUS,
            ],
            "char+word, LinearSVC, realnews only": [*svc(0.5), NO_CORPUS],
            "char+word, NBSVM C=0.1, realnews only": [NO_CORPUS],
        },
        fasttext=False,
    ),
    Task(
        "realnews_stance",
        "configs/realnews_stance.yaml",
        "f1_macro",
        "macro-F1 (3 classes)",
        "realnews: 2,000 real items (realnews-dev + data/realnews/labels.jsonl), "
        "5-fold CV × 4 fold seeds",
        0.70,
        {
            "char_wb+word + word vectors, NBSVM C=0.3, + khabar corpus (committed)": [],
            "char_wb+word, NBSVM C=0.3, + khabar corpus (previous)": [NO_VECTORS],
            "char_wb+word + word vectors, LinearSVC C=0.5, + khabar corpus": svc(0.5),
            "char_wb+word, LinearSVC C=0.5, + khabar corpus": [NO_VECTORS, *svc(0.5)],
            "char+word, LinearSVC C=1, + khabar corpus": [NO_VECTORS, CHAR, *svc(1.0)],
            "char_wb+word, LinearSVC C=0.25, realnews only": [NO_VECTORS, *svc(0.25), NO_CORPUS],
        },
    ),
]


# ---------------------------------------------------------------- peers


def select_text(frame, column: str = "text") -> list[str]:
    return [str(t) for t in frame[column]]


def plain_sklearn(text_column: str, multi_label: bool) -> Pipeline:
    """What a researcher writes by hand: no normalization, char_wb 2-5, LinearSVC."""
    classifier = LinearSVC(C=0.5, class_weight="balanced", random_state=0)
    return Pipeline(
        [
            ("text", FunctionTransformer(select_text, kw_args={"column": text_column})),
            (
                "tfidf",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2
                ),
            ),
            ("svc", MultiLabelOneVsRest(classifier) if multi_label else classifier),
        ]
    )


class FastTextClassifier(ClassifierMixin, BaseEstimator):
    """fastText supervised behind the scikit-learn API, single-threaded so runs repeat."""

    # 50 epochs at lr 1.0: at lr 0.5 / 25 epochs fastText still predicts one class on
    # realnews-dev's 480-item training folds (long texts, few examples).
    def __init__(self, epoch: int = 50, lr: float = 1.0, seed: int = 42) -> None:
        self.epoch = epoch
        self.lr = lr
        self.seed = seed

    @staticmethod
    def _line(text: str) -> str:
        return " ".join(str(text).split())  # fastText reads one line per example

    def fit(self, X, y):
        import fasttext

        self.classes_ = np.unique(np.asarray(y, dtype=object))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as handle:
            for text, label in zip(X, y, strict=True):
                handle.write(f"__label__{str(label).replace(' ', '_')} {self._line(text)}\n")
            handle.flush()
            self.model_ = fasttext.train_supervised(
                handle.name,
                epoch=self.epoch,
                lr=self.lr,
                wordNgrams=2,
                minn=2,
                maxn=5,
                thread=1,
                seed=self.seed,
                verbose=0,
            )
        return self

    def predict(self, X) -> np.ndarray:
        # NumPy 2 shim: fastText's single-string predict calls np.array(copy=False), which
        # NumPy 2 refuses; the list form returns plain lists and works.
        labels, _ = self.model_.predict([self._line(t) for t in X], k=1)
        by_name = {str(c).replace(" ", "_"): c for c in self.classes_}
        return np.asarray([by_name[row[0].removeprefix("__label__")] for row in labels])

    def predict_proba(self, X) -> np.ndarray:
        """fastText's probability of each class (columns in `classes_` order): the
        cross-validation keeps every row's class scores."""
        # The list form of predict repeats the first probability for every label when k > 1
        # (fastText 0.9.3), and the single-string form needs NumPy < 2: the binding's own
        # one-line predict returns (probability, label) pairs.
        column = {str(c).replace(" ", "_"): j for j, c in enumerate(self.classes_)}
        out = np.zeros((len(X), len(self.classes_)))
        for i, text in enumerate(X):
            for value, label in self.model_.f.predict(self._line(text) + "\n", -1, 0.0, "strict"):
                out[i, column[label.removeprefix("__label__")]] = value
        return out


def fasttext_peer(text_column: str) -> Pipeline:
    return Pipeline(
        [
            ("text", FunctionTransformer(select_text, kw_args={"column": text_column})),
            ("fasttext", FastTextClassifier()),
        ]
    )


def fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------- scoring


def load(config: ExperimentConfig, path: str | list[str], also: tuple[str, ...] = ()) -> LabeledData:
    """`path` (or several files, joined) with every column `config` reads, and the columns
    `also` (other candidates')."""
    grouped = config.evaluation.grouped_metric
    extra = set(input_columns(config)[1:]) | ({grouped.group_column} if grouped else set())
    extra |= {c for c in (config.data.auxiliary_label_column, *also) if c}
    paths = [path] if isinstance(path, str) else path
    return join_labeled([
        load_labeled(
            one,
            config.data.text_column,
            config.data.label_column,
            multi_label=config.task == "multi_label",
            encoding=config.data.encoding,
            extra_columns=tuple(sorted(extra)),
            saudinewsnet=config.data.saudinewsnet,
        )
        for one in paths
    ])  # fmt: skip


def groups_of(config: ExperimentConfig, data: LabeledData) -> list | None:
    grouped = config.evaluation.grouped_metric
    return data.frame[grouped.group_column].tolist() if grouped else None


def cv_score(pipeline, config: ExperimentConfig, data: LabeledData, metric: str):
    """CV mean and std of `metric` over all folds of all repeats, and the out-of-fold
    predictions of `data`'s rows (data.extra_train joins every training fold, never scored)."""
    fit = build_fit_set(config, data)
    summary, _, out_of_fold = cross_validate(
        pipeline,
        fit,
        sorted(data.label_counts),
        folds=config.evaluation.cv_folds,
        seed=config.seed,
        multi_label=config.task == "multi_label",
        groups=groups_of(config, data),
        grouped=config.evaluation.grouped_metric,
        repeats=config.evaluation.cv_repeats,
    )
    return summary[f"cv_{metric}_mean"], summary[f"cv_{metric}_std"], out_of_fold


def test_score(pipeline, config: ExperimentConfig, train, test, metric):
    """`metric` on the test set after fitting on the fit set, and the test predictions."""
    fit = build_fit_set(config, train)
    pipeline.fit(fit.inputs, fit.fit_labels)
    test_inputs = model_inputs(test, config)
    predicted = (
        predict_labels(pipeline, test_inputs)
        if config.task == "multi_label"
        else [str(p) for p in pipeline.predict(test_inputs)]
    )
    metrics = compute_metrics(
        test.labels,
        predicted,
        sorted(train.label_counts),
        multi_label=config.task == "multi_label",
        groups=groups_of(config, test),
        grouped=config.evaluation.grouped_metric,
    )
    return metrics[metric], predicted


def load_task(task: Task) -> tuple[ExperimentConfig, LabeledData, LabeledData | None]:
    """The committed config, the training data and the test data (None without one)."""
    base = load_config(PROJECT / task.config)
    # candidates may learn an auxiliary label (data.auxiliary_label_column): read it too
    auxiliary = tuple(
        {
            load_config(PROJECT / task.config, o).data.auxiliary_label_column
            for o in task.candidates.values()
        }
        - {None}
    )
    train = load(base, base.data.train, auxiliary)
    test = load(base, base.data.test, auxiliary) if base.data.test else None
    return base, train, test


def score_candidates(task: Task, train: LabeledData, result: dict):
    """CV every candidate into result["candidates"]; the best one (result["chosen"]) and
    its CV (mean, std, out-of-fold predictions)."""
    cv = {}
    for label, overrides in task.candidates.items():
        config = load_config(PROJECT / task.config, overrides)
        cv[label] = cv_score(build_pipeline(config), config, train, task.metric)
        mean, std, _ = cv[label]
        print(f"  {task.name}: candidate {label}: CV {mean:.4f} ± {std:.4f}", flush=True)
        result["candidates"].append(
            {"label": label, "overrides": overrides, "cv_mean": mean, "cv_std": std}
        )
    best = max(result["candidates"], key=lambda c: c["cv_mean"])
    result["chosen"] = best["label"]
    if best["overrides"]:
        print(f"  note: CV prefers {best['label']!r} over the committed {task.config}")
    return best, cv[best["label"]]


def systems_of(task: Task, base: ExperimentConfig, best: dict, use_fasttext: bool, result):
    """(name, pipeline, config) of the chosen khabar candidate and of each peer; a peer sees
    the task's own data and labels only: no extra rows or labels."""
    config = load_config(PROJECT / task.config, best["overrides"])
    systems = [(f"{KHABAR}: {best['label']}", build_pipeline(config), config)]
    plain = base.model_copy(
        update={
            "data": base.data.model_copy(update={"extra_train": [], "auxiliary_label_column": None})
        }
    )
    multi = base.task == "multi_label"
    systems.append(("plain scikit-learn", plain_sklearn(base.data.text_column, multi), plain))
    if task.fasttext and not multi:
        if use_fasttext:
            systems.append(("fastText", fasttext_peer(base.data.text_column), plain))
        else:
            result["peers"].append({"system": "fastText", "skipped": FASTTEXT_MISSING})
    return systems


def score_system(task: Task, system, pipeline, config, train, test, cv=None):
    """One system's row (CV mean and std, test score) and its scored items: the test set,
    else every training row out of fold in each CV repeat. `cv`: its CV, already run."""
    mean, std, out_of_fold = cv or cv_score(pipeline, config, train, task.metric)
    row = {"system": system, "cv_mean": mean, "cv_std": std, "test": None}
    if test is None:
        groups = groups_of(config, train)
        items = Items(train.labels, out_of_fold.predicted, groups, out_of_fold.folds)
    else:
        row["test"], predicted = test_score(pipeline, config, train, test, task.metric)
        items = Items(test.labels, [predicted], groups_of(config, test))
    shown = f"test {row['test']:.4f}" if row["test"] is not None else "(CV only)"
    print(f"  {task.name}: {system}: CV {mean:.4f} ± {std:.4f}, {shown}", flush=True)
    return row, items


def run_task(task: Task, use_fasttext: bool) -> dict:
    started = time.perf_counter()
    base, train, test = load_task(task)
    result: dict = {"task": task.name, "config": task.config, "candidates": [], "peers": []}
    best, best_cv = score_candidates(task, train, result)
    items = {}
    for system, pipeline, config in systems_of(task, base, best, use_fasttext, result):
        cv = best_cv if system.startswith(f"{KHABAR}:") else None
        row, items[short_name(system)] = score_system(
            task, system, pipeline, config, train, test, cv
        )
        result["peers"].append(row)
    space = metric_space(base, sorted(train.label_counts), items[KHABAR].groups)
    stats = intervals_and_tests(task.metric, space, items, seed=base.seed)
    for row in result["peers"]:
        row.update(stats.get(short_name(row["system"]), {}))
        print(f"  {task.name}: {stats_line(row)}", flush=True)
    check_point_values(result["peers"])
    result["predictions"] = predictions_record(items)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


FASTTEXT_MISSING = "fastText not installed (pip install -e '.[bench]'): peer skipped"


# ---------------------------------------------------------------- intervals and tests

KHABAR = "khabar"
N_RESAMPLES = 10_000  # bootstrap resamples per interval
N_PERMUTATIONS = 10_000  # approximate randomization relabelings per paired test


def short_name(system: str) -> str:
    """A row's system name without the candidate: "khabar", or the peer's name."""
    return system.split(":")[0]


@dataclass
class Items:
    """One system's predictions of a task's scored items, in order: the test set (one
    list), or every training row out of fold (one list per CV repeat)."""

    gold: list
    predicted: list[list]
    groups: list | None = None
    folds: np.ndarray | None = None  # out of fold: the fold that held each row out, per repeat

    def counts(self, space: MetricSpace) -> np.ndarray:
        """Each item's count vector summed over its repeats: a bootstrap resamples a
        document with all its repeats (as khabar.record.predictions.ScoredItems.counts)."""
        return sum(space.item_counts(self.gold, p, self.groups) for p in self.predicted)

    def same_as(self, other: Items) -> bool:
        """Scored on the same items: gold labels, groups, CV repeats and folds alike."""
        folds = (self.folds is None) == (other.folds is None) and (
            self.folds is None or np.array_equal(self.folds, other.folds)
        )
        return (
            self.gold == other.gold
            and self.groups == other.groups
            and len(self.predicted) == len(other.predicted)
            and folds
        )


def metric_space(config: ExperimentConfig, labels: list[str], groups: list | None):
    return MetricSpace.of(
        labels,
        multi_label=config.task == "multi_label",
        grouped=config.evaluation.grouped_metric,
        groups=groups,
    )


def intervals_and_tests(metric: str, space: MetricSpace, items: dict[str, Items], seed: int):
    """Per system: `metric` on its items ("point": the test value, or pooled over every
    out-of-fold prediction of every repeat) and its 95% percentile bootstrap interval
    ("ci"); per peer also khabar − peer ("vs_khabar": delta, paired-bootstrap "ci",
    approximate-randomization "p_value")."""
    counts = {}
    for name, scored in items.items():
        if not scored.same_as(items[KHABAR]):
            raise ValueError(f"{name} is not scored on khabar's items (gold, groups or folds)")
        counts[name] = scored.counts(space)
    stats = {}
    for name, count in counts.items():
        low, high = bootstrap_intervals(space, count, n_resamples=N_RESAMPLES, seed=seed)[metric]
        point = float(space.metrics(count.sum(0))[metric])
        stats[name] = {"point": point, "ci": [low, high], "repeats": len(items[name].predicted)}
        if name != KHABAR:
            stats[name]["vs_khabar"] = paired(space, count, counts[KHABAR], metric, seed)
    return stats


def paired(space: MetricSpace, peer, khabar, metric: str, seed: int) -> dict:
    """khabar − peer on the same items: its paired-bootstrap 95% interval and the two-sided
    p-value of paired approximate randomization."""
    tested = paired_tests(
        space, peer, khabar, n_resamples=N_RESAMPLES, n_permutations=N_PERMUTATIONS, seed=seed
    )[metric]
    return {"delta": tested.delta, "ci": [tested.ci_low, tested.ci_high], "p_value": tested.p_value}


def stats_line(row: dict) -> str:
    """What the run prints of a row's interval and test (the table's cells)."""
    if "skipped" in row:
        return f"{row['system']}: skipped"
    where = "test" if row["test"] is not None else f"pooled out of fold ({row['repeats']} repeats)"
    tested = f"; khabar − peer {delta_cell(row)}" if "vs_khabar" in row else ""
    return f"{short_name(row['system'])}: {where} {row['point']:.4f} {interval(row['ci'])}{tested}"


def check_point_values(rows: list[dict]) -> None:
    """The item-level test value is the one compute_metrics gave (the two computations agree)."""
    for row in rows:
        if row.get("test") is not None and abs(row["point"] - row["test"]) > 1e-9:
            raise AssertionError(f"{row['system']}: test {row['test']} but {row['point']} by items")


def predictions_record(items: dict[str, Items]) -> dict:
    """The scored items and every system's predictions, for predictions.json."""
    first = items[KHABAR]
    return {
        "gold": first.gold,
        "groups": first.groups,
        "folds": None if first.folds is None else first.folds.tolist(),
        "predicted": {name: scored.predicted for name, scored in items.items()},
    }


# ---------------------------------------------------------------- report


def headline(row: dict) -> float:
    return row["test"] if row["test"] is not None else row["cv_mean"]


def draw_interval(ax, x: float, row: dict, first: bool) -> None:
    """The row's 95% interval (of its test value, or its pooled out-of-fold value) as a
    black bar with a tick at that value."""
    if "ci" not in row:
        return
    low, high = row["ci"]
    label = "95% interval (test; CV: pooled out of fold)" if first else None
    ax.vlines(x, low, high, colors="black", linewidth=1.2, label=label)
    ax.plot([x], [row["point"]], marker="_", color="black", markersize=8)


def write_plot(results: list[dict], path: Path) -> None:
    systems = ["khabar", "plain scikit-learn", "fastText"]
    colors = {"khabar": "#1b7837", "plain scikit-learn": "#762a83", "fastText": "#e08214"}
    fig, ax = plt.subplots(figsize=(2.2 * len(results) + 2, 4.5))
    width = 0.26
    for k, result in enumerate(results):
        rows = {r["system"].split(":")[0]: r for r in result["peers"] if "skipped" not in r}
        for j, system in enumerate(systems):
            if system in rows:
                value = headline(rows[system])
                x = k + (j - 1) * width
                ax.bar(x, value, width, color=colors[system], label=system if k == 0 else None)
                draw_interval(ax, x, rows[system], first=k == 0 and j == 0)
                # The value sits inside its bar, clear of the target line.
                ax.text(
                    x,
                    0.03,
                    f"{value:.3f}",
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    rotation=90,
                    color="white",
                )
        target = next(t.target for t in TASKS if t.name == result["task"])
        if target is not None:
            ax.hlines(target, k - 1.6 * width, k + 1.6 * width, colors="black", linestyles="--")
    ax.set_xticks(range(len(results)), [r["task"] for r in results], rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score (test where there is one, else 5-fold CV)")
    ax.set_title("khabar vs peers (dashed: target; black lines: 95% bootstrap intervals)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


SCORES_NOTE = [
    "test set where the task has one (scored once, after choosing by CV on training",
    "data), else 5-fold CV on the 2,000 real news items repeated over 4 fold seeds (evaluation.cv_repeats).",
    "± is the std over folds.",
]


def intervals_note(results: list[dict]) -> list[str]:
    """How the intervals and p-values are computed, for the text above the table."""
    return [
        f"[low, high] is a 95% interval: percentile bootstrap over items ({N_RESAMPLES:,}",
        "resamples, seeded), of the test value, or for CV tasks of the *pooled* out-of-fold",
        "value (the metric of every training row's out-of-fold predictions in all 4 fold",
        "seeds together; each document is resampled with all its repeats). It reflects",
        "which items were drawn, not retraining on other data. Δ = khabar − peer on the same",
        "items (the test set, or the same training rows in the same CV folds), with its",
        "paired-bootstrap 95% interval and the two-sided p-value of a paired approximate",
        f"randomization test ({N_PERMUTATIONS:,} random swaps of an item's two predictions),",
        f"{multiple_comparisons(results)} In CV tasks khabar's config is the best of its",
        "candidates on these same folds, so its value and Δ lean optimistic; a test set is",
        "scored once, after the choice.",
    ]


def multiple_comparisons(results: list[dict]) -> str:
    """The p-values are per comparison; how many stay below 0.05 after Holm's adjustment."""
    p_values = [
        row["vs_khabar"]["p_value"]
        for result in results
        for row in result["peers"]
        if "vs_khabar" in row
    ]
    kept = sum(p < 0.05 for p in holm(p_values)) if p_values else 0
    return (
        f"not adjusted for the {len(p_values)} comparisons (after Holm's adjustment {kept} "
        "have p < 0.05)."
    )


def interval(low_high) -> str:
    low, high = low_high
    return f"[{low:.3f}, {high:.3f}]"


def system_cell(row: dict) -> str:
    """A system's headline: the test value with its interval and its CV, or its CV and
    the pooled out-of-fold value with its interval."""
    if "skipped" in row:
        return "skipped"
    cv = f"CV {row['cv_mean']:.3f} ± {row['cv_std']:.3f}"
    ci = f" {interval(row['ci'])}" if "ci" in row else ""
    if row["test"] is not None:
        return f"**{row['test']:.3f}**{ci} ({cv})"
    return f"{cv}; pooled {row['point']:.3f}{ci}" if "point" in row else cv


def delta_cell(row: dict | None) -> str:
    """khabar − the peer, its paired 95% interval and its p-value; "—" without a test."""
    if row is None or "vs_khabar" not in row:
        return "—"
    tested = row["vs_khabar"]
    low, high = tested["ci"]
    p = tested["p_value"]
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return f"{tested['delta']:+.3f} [{low:+.3f}, {high:+.3f}], {p_text}"


PEERS = ["plain scikit-learn", "fastText"]


def accuracy_table(results: list[dict]) -> list[str]:
    lines = [
        "| task | data | metric | khabar (chosen config) | plain scikit-learn "
        "| Δ khabar − scikit-learn [95% CI], p | fastText | Δ khabar − fastText [95% CI], p "
        "| target | published |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        task = next(t for t in TASKS if t.name == result["task"])
        rows = {short_name(row["system"]): row for row in result["peers"]}
        khabar = f"{system_cell(rows[KHABAR])}: {result['chosen']}, `{task.config}`"
        peers = [
            f"{system_cell(rows[peer]) if peer in rows else '—'} | {delta_cell(rows.get(peer))}"
            for peer in PEERS
        ]
        target = f"≥ {task.target:.2f}" if task.target is not None else "—"
        lines.append(
            f"| {task.name} | {task.data_label} | {task.metric_label} | {khabar} | "
            f"{' | '.join(peers)} | {target} | {task.published} |"
        )
    return lines


def candidates_tables(results: list[dict]) -> list[str]:
    lines = []
    for result in results:
        lines += [f"### {result['task']} ({result['seconds']:.0f} s)", ""]
        lines += ["| candidate | overrides of the config | CV mean | CV std |", "|---|---|---|---|"]
        for c in result["candidates"]:
            mark = " ← chosen" if c["label"] == result["chosen"] else ""
            overrides = " ".join(f"`{o}`" for o in c["overrides"]) or "(as committed)"
            lines.append(
                f"| {c['label']}{mark} | {overrides} | {c['cv_mean']:.4f} | {c['cv_std']:.4f} |"
            )
        lines.append("")
    return lines


def summary(results: list[dict], seconds: float) -> str:
    """What the script prints at the end: the accuracy table."""
    lines = [
        "# Accuracy benchmark",
        "",
        f"Command: `{COMMAND}` (seeds fixed; {seconds:.0f} s on this machine). Scores are the",
        *SCORES_NOTE,
        "",
        *intervals_note(results),
        "",
        *accuracy_table(results),
    ]
    return "\n".join(lines)


def partial_run(results: list[dict], use_fasttext: bool) -> str | None:
    """What this run left out of the full benchmark, or None for a full run."""
    parts = []
    left_out = [t.name for t in TASKS if t.name not in {r["task"] for r in results}]
    if left_out:
        parts.append(
            f"only {', '.join(r['task'] for r in results)} (`--only`); "
            f"not run: {', '.join(left_out)}."
        )
    if not use_fasttext:
        parts.append(
            "The fastText peer was skipped (`--no-fasttext`, or fastText is not installed)."
        )
    return " ".join(parts) or None


def write_page(results: list[dict], started, use_fasttext: bool, argv) -> Path:
    return write_results_page(
        "benchmark",
        "Accuracy benchmark",
        command_line(__file__, argv),
        [
            (
                None,
                "\n".join(
                    [
                        "Seeds fixed: the same command gives the same numbers. Scores are the",
                        *SCORES_NOTE,
                        "",
                        *intervals_note(results),
                        "",
                        *accuracy_table(results),
                        "",
                        "A bar plot with the intervals (`accuracy.png`), every figure "
                        "(`accuracy.json`) and every system's per-item predictions "
                        "(`predictions.json`) are written beside it in reports/benchmarks/ "
                        "(generated, not committed).",
                    ]
                ),
            ),
            ("Candidates (CV on training data)", "\n".join(candidates_tables(results))),
        ],
        started,
        measures=(
            "For each task on real Arabic data (Mawqif tweets, the 2,000 real news items), "
            "khabar's candidate configs are compared by 5-fold CV on training data and the "
            "best one is scored against two peers (plain scikit-learn, fastText) on the same "
            "splits; test sets are scored once."
        ),
        partial=partial_run(results, use_fasttext),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[t.name for t in TASKS], default=None)
    parser.add_argument("--no-fasttext", action="store_true", help="skip the fastText peer")
    args = parser.parse_args(argv)
    os.chdir(PROJECT)  # configs name their data relative to the project root
    if not DATA.is_dir():
        print(f"benchmark skipped: no reference data at {DATA} (see the project README)")
        return 0
    use_fasttext = not args.no_fasttext and fasttext_available()
    if not args.no_fasttext and not use_fasttext:
        print(FASTTEXT_MISSING)
    page_started = start()
    started = time.perf_counter()
    results = []
    for task in TASKS:
        if args.only and task.name not in args.only:
            continue
        print(f"{task.name} ({task.config})", flush=True)
        results.append(run_task(task, use_fasttext))
    seconds = time.perf_counter() - started
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    predictions = {result["task"]: result.pop("predictions") for result in results}
    (REPORT_DIR / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    write_plot(results, REPORT_DIR / "accuracy.png")
    (REPORT_DIR / "accuracy.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    page = write_page(results, page_started, use_fasttext, argv)
    print()
    print(summary(results, seconds))
    print(f"wrote {shown(page)} (plot and JSON in {shown(REPORT_DIR)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
