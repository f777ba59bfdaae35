"""Bootstrap intervals and paired significance tests of khabar's metrics, vectorized.

Every metric khabar reports is a function of counts summed over items: per-class true
positives, predicted and gold counts, correct items, group sizes. So an item is a small
vector of counts, a metric is a function of the summed vectors, and a resample is fully
described by how many times it draws each *distinct* item vector. Drawing those
multiplicities (multinomial for the bootstrap, binomial swap counts for approximate
randomization) and multiplying them by the distinct vectors gives every resample's sums at
once, with the same distribution as resampling item indices and no Python loop over
resamples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from khabar.data.config import GroupedMetricConfig
from khabar.record.metrics import metric_key

INTERVAL_METHOD = "percentile bootstrap over items (documents), seeded"
# Above this many distinct item vectors, drawing item indices and counting them is faster
# than a multinomial draw per resample.
_MULTINOMIAL_LIMIT = 3000
_CELLS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class MetricSpace:
    """How items become count vectors, and count sums become metrics.

    Columns of an item's vector: items, correct items (exact label set for multi-label),
    then per class true positives, predictions and gold labels; with a grouped metric, per
    group its items and, per grouped label, true positives, predictions and gold labels.

    Attributes
    ----------
    labels : list of str
        Every class, in the order of the per-class metrics.
    multi_label : bool
        The labels are lists.
    grouped : GroupedMetricConfig or None
        A metric averaged over groups (single-label only).
    group_values : tuple
        The distinct groups, sorted (empty without `grouped`).
    """

    labels: list[str]
    multi_label: bool = False
    grouped: GroupedMetricConfig | None = None
    group_values: tuple = ()

    @classmethod
    def of(
        cls,
        labels: Sequence[str],
        *,
        multi_label: bool = False,
        grouped: GroupedMetricConfig | None = None,
        groups: Sequence | None = None,
    ) -> MetricSpace:
        """The space of one task; the grouped metric only when `groups` are given.

        Parameters
        ----------
        labels : sequence of str
            Every class.
        multi_label : bool, default False
            The labels are lists.
        grouped : GroupedMetricConfig, optional
            The grouped metric (e.g. StanceEval-F1).
        groups : sequence, optional
            Each item's group; their distinct values are the space's groups.

        Returns
        -------
        MetricSpace
            The space.
        """
        if grouped is None or groups is None or multi_label:
            return cls(list(labels), multi_label)
        return cls(list(labels), multi_label, grouped, tuple(sorted(set(groups), key=str)))

    @property
    def headline(self) -> str:
        """The metric a run is judged by: the grouped one, else micro-F1 (multi-label) or
        macro-F1."""
        if self.grouped is not None:
            return self.grouped.name
        return "f1_micro" if self.multi_label else "f1_macro"

    def names(self) -> list[str]:
        """The metrics `metrics` returns.

        Returns
        -------
        list of str
            Overall metrics first (the grouped one after them), then ``f1_<class>``.
        """
        overall = (
            ["f1_micro", "f1_macro", "hamming_loss", "subset_accuracy"]
            if self.multi_label
            else ["accuracy", "f1_macro"]
        )
        grouped = [self.grouped.name] if self.grouped is not None else []
        return overall + grouped + [f"f1_{metric_key(label)}" for label in self.labels]

    def item_counts(self, y_true: Sequence, y_pred: Sequence, groups: Sequence | None = None):
        """Each item's count vector.

        Parameters
        ----------
        y_true, y_pred : sequence
            Gold and predicted labels (lists of labels for multi-label).
        groups : sequence, optional
            Each item's group (needed when the space has groups).

        Returns
        -------
        ndarray of shape (n_items, n_columns), int64
            The vectors; their column sums give the metrics of these predictions.
        """
        k = len(self.labels)
        truth = self._indicators(y_true)
        pred = self._indicators(y_pred)
        if self.multi_label:
            correct = (truth == pred).all(axis=1)
        else:
            correct = np.array([t == p for t, p in zip(y_true, y_pred, strict=True)])
        parts = [np.ones((len(truth), 1)), correct[:, None], truth & pred, pred, truth]
        if self.grouped is not None:
            parts.append(self._group_counts(truth, pred, groups, k))
        return np.hstack(parts).astype(np.int64)

    def _indicators(self, values: Sequence) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels)}
        matrix = np.zeros((len(values), len(self.labels)), dtype=bool)
        for row, value in enumerate(values):
            for label in value if self.multi_label else [value]:
                if label in index:  # a gold label the model never saw counts as missed
                    matrix[row, index[label]] = True
        return matrix

    def _group_counts(self, truth, pred, groups, k: int) -> np.ndarray:
        if groups is None:
            raise ValueError("this metric space needs each item's group")
        # A grouped label that is no class is never predicted nor gold: its F1 is 0 and it
        # still counts in the group's average, as in `grouped_f1`.
        padded = np.hstack([np.ones((len(truth), 1), bool), (truth & pred), pred, truth,
                            np.zeros((len(truth), 1), bool)])  # fmt: skip
        chosen = [
            self.labels.index(label) if label in self.labels else -1
            for label in self.grouped.labels
        ]
        zero = padded.shape[1] - 1
        columns = [1 + k + offset * len(self.labels) if k >= 0 else zero
                   for offset in range(3) for k in chosen]  # fmt: skip
        block = padded[:, [0, *columns]]
        width = block.shape[1]
        out = np.zeros((len(truth), width * len(self.group_values)), dtype=np.int64)
        position = {group: g for g, group in enumerate(self.group_values)}
        for row, group in enumerate(groups):
            g = position[group]
            out[row, g * width : (g + 1) * width] = block[row]
        return out

    def metrics(self, sums: np.ndarray) -> dict[str, np.ndarray]:
        """Metrics of summed count vectors.

        Parameters
        ----------
        sums : ndarray of shape (n_resamples, n_columns) or (n_columns,)
            Column sums of item vectors (one row per resample).

        Returns
        -------
        dict of str to ndarray
            Each metric of `names`, one value per row of `sums` (a 0-d array for one row).
        """
        sums = np.asarray(sums, dtype=np.float64)
        k = len(self.labels)
        n, correct = sums[..., 0], sums[..., 1]
        tp, pred, true = (
            sums[..., 2 : 2 + k],
            sums[..., 2 + k : 2 + 2 * k],
            sums[..., 2 + 2 * k : 2 + 3 * k],
        )
        f1 = _ratio(2 * tp, pred + true)
        out: dict[str, np.ndarray] = {}
        if self.multi_label:
            out["f1_micro"] = _ratio(2 * tp.sum(-1), pred.sum(-1) + true.sum(-1))
            out["f1_macro"] = f1.mean(-1)
            out["hamming_loss"] = _ratio(pred.sum(-1) + true.sum(-1) - 2 * tp.sum(-1), n * k)
            out["subset_accuracy"] = _ratio(correct, n)
        else:
            out["accuracy"] = _ratio(correct, n)
            out["f1_macro"] = f1.mean(-1)
        if self.grouped is not None:
            out[self.grouped.name] = self._grouped(sums[..., 2 + 3 * k :])
        for i, label in enumerate(self.labels):
            out[f"f1_{metric_key(label)}"] = f1[..., i]
        return out

    def _grouped(self, block: np.ndarray) -> np.ndarray:
        groups = len(self.group_values)
        per_group = block.reshape(*block.shape[:-1], groups, -1)
        size = per_group[..., 0]
        m = (per_group.shape[-1] - 1) // 3
        tp, pred, true = (
            per_group[..., 1 : 1 + m],
            per_group[..., 1 + m : 1 + 2 * m],
            per_group[..., 1 + 2 * m :],
        )
        macro = _ratio(2 * tp, pred + true).mean(-1)
        present = size > 0  # a group a resample did not draw has no F1 to average
        return _ratio((macro * present).sum(-1), present.sum(-1))


def _ratio(numerator, denominator) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _distinct(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, multiplicity = np.unique(counts, axis=0, return_counts=True)
    return rows.astype(np.float64), multiplicity


def _bootstrap_draws(
    multiplicity: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """How often each distinct vector is drawn in each resample of n items with
    replacement, in chunks of shape (resamples, distinct vectors)."""
    n, distinct = int(multiplicity.sum()), len(multiplicity)
    multinomial = distinct <= _MULTINOMIAL_LIMIT
    chunk = max(1, _CELLS_PER_CHUNK // (distinct if multinomial else max(n, distinct)))
    owner = None if multinomial else np.repeat(np.arange(distinct), multiplicity)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        if multinomial:
            yield rng.multinomial(n, multiplicity / n, size=size)
        else:
            drawn = owner[rng.integers(0, n, size=(size, n))]
            drawn += np.arange(size)[:, None] * distinct
            yield np.bincount(drawn.ravel(), minlength=size * distinct).reshape(size, distinct)


def bootstrap_intervals(
    space: MetricSpace,
    counts: np.ndarray,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of every metric, resampling items.

    Parameters
    ----------
    space : MetricSpace
        The task's metrics.
    counts : ndarray of shape (n_items, n_columns)
        The items' count vectors (`MetricSpace.item_counts`; summed over CV repeats for
        pooled out-of-fold predictions, so a document is resampled with all its repeats).
    n_resamples : int, default 10000
        Bootstrap resamples.
    confidence : float, default 0.95
        The intervals' coverage.
    seed : int, default 0
        The resampling's seed.

    Returns
    -------
    dict of str to (float, float)
        Each metric's (low, high).
    """
    rows, multiplicity = _distinct(counts)
    rng = np.random.default_rng(seed)
    values: dict[str, list] = {name: [] for name in space.names()}
    for draws in _bootstrap_draws(multiplicity, n_resamples, rng):
        for name, value in space.metrics(draws @ rows).items():
            values[name].append(value)
    tail = (1 - confidence) / 2
    return {
        name: tuple(float(q) for q in np.quantile(np.concatenate(v), [tail, 1 - tail]))
        for name, v in values.items()
    }


@dataclass
class PairedResult:
    """One metric of two systems scored on the same items.

    Attributes
    ----------
    a, b : float
        The metric of A and of B.
    delta : float
        b - a.
    ci_low, ci_high : float
        The paired-bootstrap percentile interval of delta.
    p_value : float
        Two-sided p-value of the paired approximate randomization test.
    """

    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_tests(
    space: MetricSpace,
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    *,
    n_resamples: int = 10_000,
    n_permutations: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, PairedResult]:
    """Paired bootstrap interval of B - A and approximate randomization p-value, per metric.

    Parameters
    ----------
    space : MetricSpace
        The task's metrics.
    counts_a, counts_b : ndarray of shape (n_items, n_columns)
        The two systems' item vectors, row i of each for the same item.
    n_resamples : int, default 10000
        Paired bootstrap resamples (items drawn with replacement, both systems alike).
    n_permutations : int, default 10000
        Random relabelings: each item's two outputs swapped with probability 1/2.
    confidence : float, default 0.95
        The intervals' coverage.
    seed : int, default 0
        The seed of both procedures.

    Returns
    -------
    dict of str to PairedResult
        Per metric of `space.names()`. The p-value is (1 + #{|delta*| >= |delta|}) /
        (1 + n_permutations), so identical systems give 1.
    """
    width = counts_a.shape[1]
    total_a, total_b = counts_a.sum(0), counts_b.sum(0)
    point_a, point_b = space.metrics(total_a), space.metrics(total_b)
    observed = {name: float(point_b[name] - point_a[name]) for name in point_a}
    rows, multiplicity = _distinct(np.hstack([counts_a, counts_b]))
    rng = np.random.default_rng(seed)
    deltas: dict[str, list] = {name: [] for name in observed}
    for draws in _bootstrap_draws(multiplicity, n_resamples, rng):
        sums = draws @ rows
        a, b = space.metrics(sums[:, :width]), space.metrics(sums[:, width:])
        for name in deltas:
            deltas[name].append(b[name] - a[name])
    extreme = _randomization_counts(space, rows, multiplicity, width, observed, n_permutations, rng)
    tail = (1 - confidence) / 2
    results = {}
    for name, delta in observed.items():
        low, high = np.quantile(np.concatenate(deltas[name]), [tail, 1 - tail])
        results[name] = PairedResult(
            float(point_a[name]), float(point_b[name]), delta, float(low), float(high),
            (1 + extreme[name]) / (1 + n_permutations),
        )  # fmt: skip
    return results


def _randomization_counts(space, rows, multiplicity, width, observed, n_permutations, rng):
    """How many random swaps give a |delta| at least the observed one, per metric."""
    difference = rows[:, width:] - rows[:, :width]
    differs = np.any(difference != 0, axis=1)  # swapping identical outputs changes nothing
    difference, swappable = difference[differs], multiplicity[differs]
    total_a = multiplicity @ rows[:, :width]
    total_b = multiplicity @ rows[:, width:]
    extreme = dict.fromkeys(observed, 0)
    chunk = max(1, _CELLS_PER_CHUNK // max(1, len(swappable)))
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        moved = rng.binomial(swappable, 0.5, size=(size, len(swappable))) @ difference
        a, b = space.metrics(total_a + moved), space.metrics(total_b - moved)
        for name, delta in observed.items():
            extreme[name] += int(np.sum(np.abs(b[name] - a[name]) >= abs(delta) - 1e-12))
    return extreme


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> dict[str, float]:
    """McNemar's exact test on per-item correctness.

    Parameters
    ----------
    correct_a, correct_b : sequence of bool
        Whether A (B) got each item right (the whole label set, for multi-label).

    Returns
    -------
    dict
        ``a_only`` (A right, B wrong), ``b_only`` and the exact two-sided ``p_value``
        (binomial test of a_only against a_only + b_only at 1/2; 1 when they never
        disagree).
    """
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    a_only, b_only = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    disagree = a_only + b_only
    p_value = 1.0 if disagree == 0 else binomtest(a_only, disagree, 0.5).pvalue
    return {"a_only": a_only, "b_only": b_only, "p_value": float(p_value)}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    Parameters
    ----------
    p_values : sequence of float
        Raw p-values of a family of tests.

    Returns
    -------
    list of float
        The adjusted p-values (each at most 1).
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p)
    scaled = p[order] * (len(p) - np.arange(len(p)))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted.tolist()
