"""khabar.record.resampling against scikit-learn (point values) and SciPy (resampling).

Every random input comes from a seeded numpy Generator. The Monte-Carlo comparisons use
tolerances derived from the Monte-Carlo error of *both* estimates (see MC_SIGMAS).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from khabar.data.config import GroupedMetricConfig
from khabar.record import resampling
from khabar.record.metrics import compute_metrics
from khabar.record.resampling import (
    MetricSpace,
    bootstrap_intervals,
    holm,
    mcnemar,
    paired_tests,
)

LABELS = ["politics", "sports", "economy", "middle east", "rare"]  # "rare": never used
STANCE = ["Against", "Favor", "None"]
SPEC = GroupedMetricConfig(name="stance_f1", group_column="target", labels=["Favor", "Against"])
TARGETS = ["covid", "women", "vision"]

# Percentile endpoints. For a statistic with bootstrap SD sigma, the 2.5% (97.5%) quantile
# of B resamples has a Monte-Carlo SE of sqrt(0.025 * 0.975 / B) / f(q), with f(q) about
# phi(1.96) / sigma = 0.058 / sigma: 0.027 sigma at B = 10,000. The difference of two
# independent estimates (khabar's and SciPy's) has SE 0.038 sigma, so an endpoint
# tolerance of 0.2 sigma is over 5 SE, while e.g. a 90% interval in place of a 95% one
# moves the endpoints by 0.31 sigma. (sigma is about 0.02-0.03 here: a tolerance of about
# 0.005 in metric units.)
N_RESAMPLES = 10_000
ENDPOINT_TOLERANCE = 0.2  # in units of the bootstrap SD
# p-values: a Monte-Carlo p of R permutations has SE sqrt(p (1 - p) / R); two independent
# ones differ with SE sqrt(2 p (1 - p) / R). We allow 4.5 SE (+ 1/R for the discreteness).
MC_SIGMAS = 4.5


# ---------------------------------------------------------------------------------------
# Simulated predictions
# ---------------------------------------------------------------------------------------


def predictions(rng, truth, classes, accuracy, wrong=None):
    """Right with probability `accuracy` per item, else a uniformly drawn wrong class
    (`wrong`: pre-drawn wrong classes to share between systems)."""
    truth = np.asarray(truth)
    k = len(classes)
    if wrong is None:
        wrong = (truth + rng.integers(1, k, size=len(truth))) % k
    return np.where(rng.random(len(truth)) < accuracy, truth, wrong)


def names(indices, classes):
    return [classes[i] for i in indices]


def f1_from_counts(tp, pred, true):
    denominator = pred + true
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def reference_single(truth, pred, k):
    """Accuracy and macro-F1 of integer labels along the last axis (gold k = unknown)."""
    accuracy = (truth == pred).mean(-1)
    per_class = [
        f1_from_counts(
            ((truth == c) & (pred == c)).sum(-1), (pred == c).sum(-1), (truth == c).sum(-1)
        )
        for c in range(k)
    ]
    return accuracy, np.mean(per_class, axis=0)


def reference_micro_f1(truth, pred):
    """Micro-F1 of boolean (..., n, k) indicator arrays."""
    tp = (truth & pred).sum((-1, -2))
    return f1_from_counts(tp, pred.sum((-1, -2)), truth.sum((-1, -2)))


def reference_grouped(truth, pred, group, n_groups, labels):
    """Per group macro-F1 over `labels`, averaged over the groups present (last axis)."""
    macro, present = [], []
    for g in range(n_groups):
        inside = group == g
        per_label = [
            f1_from_counts(
                (inside & (truth == c) & (pred == c)).sum(-1),
                (inside & (pred == c)).sum(-1),
                (inside & (truth == c)).sum(-1),
            )
            for c in labels
        ]
        macro.append(np.mean(per_label, axis=0))
        present.append(inside.any(-1))
    macro, present = np.array(macro), np.array(present)
    return (macro * present).sum(0) / present.sum(0)


def scipy_interval(data, statistic, seed, *, paired=True):
    result = stats.bootstrap(
        data,
        statistic,
        n_resamples=N_RESAMPLES,
        batch=1000,
        vectorized=True,
        paired=paired,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return result.confidence_interval, result.standard_error


def assert_close_interval(ours, reference, sigma):
    tolerance = ENDPOINT_TOLERANCE * sigma
    assert 0 < tolerance < 0.01
    assert ours[0] == pytest.approx(reference.low, abs=tolerance)
    assert ours[1] == pytest.approx(reference.high, abs=tolerance)


# ---------------------------------------------------------------------------------------
# Point values equal compute_metrics
# ---------------------------------------------------------------------------------------


def check_equal(space, counts, expected):
    got = space.metrics(counts.sum(0))
    assert list(got) == space.names()
    for name, value in got.items():
        assert value.shape == ()
        assert float(value) == pytest.approx(expected[name], abs=1e-12, rel=0), name


@pytest.mark.parametrize("seed", range(6))
def test_single_label_point_values_equal_compute_metrics(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    known = len(LABELS) - 1  # "rare" is never gold nor predicted: F1 0, as scikit-learn
    truth = rng.integers(0, known + 1, size=n)  # index `known` -> a label the model lacks
    pred = rng.integers(0, known, size=n)
    pred = np.where(rng.random(n) < 0.6, np.minimum(truth, known - 1), pred)
    classes = LABELS[:known] + ["unseen"]
    y_true, y_pred = names(truth, classes), names(pred, classes)
    assert "unseen" in y_true
    space = MetricSpace.of(LABELS)
    check_equal(space, space.item_counts(y_true, y_pred), compute_metrics(y_true, y_pred, LABELS))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.filterwarnings("ignore:unknown class")
def test_multi_label_point_values_equal_compute_metrics(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(20, 300)), len(LABELS)
    truth = rng.random((n, k)) < rng.uniform(0.1, 0.5, size=k)
    truth[:, -1] = False  # "rare"
    pred = truth ^ (rng.random((n, k)) < 0.15)
    y_true = [[LABELS[j] for j in np.flatnonzero(row)] for row in truth]
    y_true[0] = [*y_true[0], "unseen"]  # a gold label unknown to the model: ignored by both
    y_pred = [[LABELS[j] for j in np.flatnonzero(row)] for row in pred]
    y_true[1], y_pred[1] = [], []  # empty label sets count as an exact match
    space = MetricSpace.of(LABELS, multi_label=True, grouped=SPEC, groups=["x"] * n)
    assert space.grouped is None  # no grouped metric for multi-label tasks
    expected = compute_metrics(y_true, y_pred, LABELS, multi_label=True)
    check_equal(space, space.item_counts(y_true, y_pred), expected)


@pytest.mark.parametrize("seed", range(6))
def test_grouped_point_values_equal_compute_metrics(seed):
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(30, 400))
    truth = rng.integers(0, 3, size=n)
    pred = predictions(rng, truth, STANCE, 0.6)
    # uneven groups, one of them small (it may lack Favor or Against entirely)
    groups = names(rng.choice(3, size=n, p=[0.6, 0.35, 0.05]), TARGETS)
    y_true, y_pred = names(truth, STANCE), names(pred, STANCE)
    space = MetricSpace.of(STANCE, grouped=SPEC, groups=groups)
    assert space.headline == "stance_f1" and "stance_f1" in space.names()
    expected = compute_metrics(y_true, y_pred, STANCE, groups=groups, grouped=SPEC)
    check_equal(space, space.item_counts(y_true, y_pred, groups), expected)


def test_grouped_label_outside_the_classes_counts_as_zero_like_compute_metrics():
    rng = np.random.default_rng(7)
    n = 200
    truth, pred = rng.integers(0, 3, size=n), rng.integers(0, 3, size=n)
    groups = names(rng.integers(0, 3, size=n), TARGETS)
    spec = GroupedMetricConfig(name="stance_f1", group_column="t", labels=["Favor", "Neutral"])
    y_true, y_pred = names(truth, STANCE), names(pred, STANCE)
    space = MetricSpace.of(STANCE, grouped=spec, groups=groups)
    expected = compute_metrics(y_true, y_pred, STANCE, groups=groups, grouped=spec)
    got = space.metrics(space.item_counts(y_true, y_pred, groups).sum(0))
    assert float(got["stance_f1"]) == pytest.approx(expected["stance_f1"], abs=1e-12)


# ---------------------------------------------------------------------------------------
# Bootstrap intervals against scipy.stats.bootstrap
# ---------------------------------------------------------------------------------------


def single_label_case(seed, n=300, k=4, accuracy=0.7):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    return truth, predictions(rng, truth, LABELS[:k], accuracy)


def test_single_label_intervals_agree_with_scipy_bootstrap():
    k = 4
    truth, pred = single_label_case(11, n=300, k=k)
    space = MetricSpace.of(LABELS[:k])
    counts = space.item_counts(names(truth, LABELS), names(pred, LABELS))
    ours = bootstrap_intervals(space, counts, n_resamples=N_RESAMPLES, seed=1)
    point = compute_metrics(names(truth, LABELS), names(pred, LABELS), LABELS[:k])
    # the reference statistic is independent of khabar; check it on the data first
    accuracy, macro = reference_single(truth, pred, k)
    assert accuracy == pytest.approx(point["accuracy"]) and macro == pytest.approx(
        point["f1_macro"]
    )
    for position, name in enumerate(["accuracy", "f1_macro"]):

        def statistic(t, p, axis=-1, position=position):
            return reference_single(t, p, k)[position]

        reference, sigma = scipy_interval((truth, pred), statistic, seed=2)
        assert_close_interval(ours[name], reference, sigma)
        assert ours[name][0] < point[name] < ours[name][1]


def test_multi_label_micro_f1_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(12)
    n, k = 250, 4
    truth = rng.random((n, k)) < 0.35
    pred = truth ^ (rng.random((n, k)) < 0.2)
    space = MetricSpace.of(LABELS[:k], multi_label=True)
    counts = space.item_counts(
        [[LABELS[j] for j in np.flatnonzero(r)] for r in truth],
        [[LABELS[j] for j in np.flatnonzero(r)] for r in pred],
    )
    ours = bootstrap_intervals(space, counts, n_resamples=N_RESAMPLES, seed=3)

    def statistic(index, axis=-1):
        return reference_micro_f1(truth[index], pred[index])

    reference, sigma = scipy_interval((np.arange(n),), statistic, seed=4)
    assert_close_interval(ours["f1_micro"], reference, sigma)


def test_grouped_metric_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(13)
    n = 300
    truth = rng.integers(0, 3, size=n)
    pred = predictions(rng, truth, STANCE, 0.65)
    group = rng.choice(3, size=n, p=[0.5, 0.4, 0.1])
    space = MetricSpace.of(STANCE, grouped=SPEC, groups=names(group, TARGETS))
    counts = space.item_counts(names(truth, STANCE), names(pred, STANCE), names(group, TARGETS))
    ours = bootstrap_intervals(space, counts, n_resamples=N_RESAMPLES, seed=5)
    chosen = [STANCE.index(label) for label in SPEC.labels]
    point = compute_metrics(
        names(truth, STANCE), names(pred, STANCE), STANCE,
        groups=names(group, TARGETS), grouped=SPEC,
    )  # fmt: skip
    assert reference_grouped(truth, pred, group, 3, chosen) == pytest.approx(point["stance_f1"])

    def statistic(index, axis=-1):
        return reference_grouped(truth[index], pred[index], group[index], 3, chosen)

    reference, sigma = scipy_interval((np.arange(n),), statistic, seed=6)
    assert_close_interval(ours["stance_f1"], reference, sigma)


# ---------------------------------------------------------------------------------------
# Paired tests against scipy.stats.permutation_test and a paired scipy bootstrap
# ---------------------------------------------------------------------------------------


def paired_case(seed, n=300, k=4, accuracy_a=0.70, accuracy_b=0.78):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    return (
        truth,
        predictions(rng, truth, LABELS[:k], accuracy_a),
        predictions(rng, truth, LABELS[:k], accuracy_b),
    )


def test_paired_tests_agree_with_scipy_permutation_test_and_bootstrap():
    k, permutations = 4, 5000
    truth, pred_a, pred_b = paired_case(26, k=k)  # p about 0.1
    space = MetricSpace.of(LABELS[:k])
    y_true = names(truth, LABELS)
    counts_a = space.item_counts(y_true, names(pred_a, LABELS))
    counts_b = space.item_counts(y_true, names(pred_b, LABELS))
    ours = paired_tests(
        space, counts_a, counts_b, n_resamples=N_RESAMPLES, n_permutations=permutations, seed=8
    )
    for position, name in enumerate(["accuracy", "f1_macro"]):
        result = ours[name]
        point_a = reference_single(truth, pred_a, k)[position]
        point_b = reference_single(truth, pred_b, k)[position]
        assert result.a == pytest.approx(point_a, abs=1e-12)
        assert result.b == pytest.approx(point_b, abs=1e-12)
        assert result.delta == pytest.approx(point_b - point_a, abs=1e-12)

        # khabar's p is (1 + #{|delta*| >= |delta|}) / (1 + R) over random per-item swaps:
        # exactly SciPy's one-sided Monte-Carlo p of the statistic |metric(B) - metric(A)|
        # with permutation_type="samples" (each item's two predictions swapped or not).
        def signed_delta(a, b, axis=-1, position=position):
            return reference_single(truth, b, k)[position] - reference_single(truth, a, k)[position]

        def absolute_delta(a, b, axis=-1):
            return np.abs(signed_delta(a, b))

        reference = stats.permutation_test(
            (pred_a, pred_b),
            absolute_delta,
            permutation_type="samples",
            vectorized=True,
            n_resamples=permutations,
            batch=1000,
            alternative="greater",
            rng=np.random.default_rng(9),
        )
        p = reference.pvalue
        assert 0.01 < p < 0.5, "the case should sit where the p-value is informative"
        tolerance = MC_SIGMAS * np.sqrt(2 * p * (1 - p) / permutations) + 1 / permutations
        assert result.p_value == pytest.approx(p, abs=tolerance)

        # The signed statistic's two-sided p (2 x the smaller tail) is close, as the
        # randomization distribution is symmetric about 0.
        signed = stats.permutation_test(
            (pred_a, pred_b),
            signed_delta,
            permutation_type="samples",
            vectorized=True,
            n_resamples=permutations,
            batch=1000,
            rng=np.random.default_rng(10),
        )
        assert result.p_value == pytest.approx(signed.pvalue, abs=2 * tolerance)

        def delta(t, a, b, axis=-1, position=position):
            return reference_single(t, b, k)[position] - reference_single(t, a, k)[position]

        interval, sigma = scipy_interval((truth, pred_a, pred_b), delta, seed=11)
        assert_close_interval((result.ci_low, result.ci_high), interval, sigma)


def test_identical_predictions_give_no_difference_exactly():
    truth, pred, _ = paired_case(22)
    groups = names(np.random.default_rng(1).integers(0, 3, size=len(truth)), TARGETS)
    stance_truth, stance_pred = names(truth % 3, STANCE), names(pred % 3, STANCE)
    space = MetricSpace.of(STANCE, grouped=SPEC, groups=groups)
    counts = space.item_counts(stance_truth, stance_pred, groups)
    results = paired_tests(space, counts, counts.copy(), n_resamples=500, n_permutations=500)
    assert set(results) == set(space.names())
    for result in results.values():
        assert result.a == result.b
        assert (result.delta, result.ci_low, result.ci_high, result.p_value) == (0, 0, 0, 1)
    correct = [t == p for t, p in zip(stance_truth, stance_pred, strict=True)]
    assert mcnemar(correct, correct) == {"a_only": 0, "b_only": 0, "p_value": 1.0}


def ten_percent_better(n=1000, k=5, seed=23):
    """A right on 70% of the items, B on the same ones plus another 10% of them; where
    both are wrong they predict the same wrong class."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, size=n)
    wrong = (truth + rng.integers(1, k, size=n)) % k
    order = rng.permutation(n)
    right_a, right_b = np.zeros(n, bool), np.zeros(n, bool)
    right_a[order[:700]] = True
    right_b[order[:800]] = True
    return truth, np.where(right_a, truth, wrong), np.where(right_b, truth, wrong)


def test_b_right_on_ten_percent_more_items_is_significant():
    k = 5
    truth, pred_a, pred_b = ten_percent_better(k=k)
    space = MetricSpace.of(LABELS[:k])
    y_true = names(truth, LABELS)
    results = paired_tests(
        space,
        space.item_counts(y_true, names(pred_a, LABELS)),
        space.item_counts(y_true, names(pred_b, LABELS)),
        n_resamples=2000,
        n_permutations=2000,
        seed=3,
    )
    assert results["accuracy"].delta == pytest.approx(0.1, abs=1e-12)
    for name in ("accuracy", "f1_macro"):
        assert results[name].p_value < 0.01
        assert results[name].p_value == 1 / 2001  # no random swap reaches the observed delta
        assert 0 < results[name].ci_low < results[name].delta < results[name].ci_high
    test = mcnemar(pred_a == truth, pred_b == truth)
    assert (test["a_only"], test["b_only"]) == (0, 100)
    assert test["p_value"] == pytest.approx(2 * 0.5**100, rel=1e-9)


# ---------------------------------------------------------------------------------------
# McNemar and Holm by hand
# ---------------------------------------------------------------------------------------


def test_mcnemar_by_hand():
    # 3 items only A gets right, 10 only B, 20 both, 7 neither
    correct_a = [True] * 3 + [False] * 10 + [True] * 20 + [False] * 7
    correct_b = [False] * 3 + [True] * 10 + [True] * 20 + [False] * 7
    test = mcnemar(correct_a, correct_b)
    assert (test["a_only"], test["b_only"]) == (3, 10)
    # exact two-sided: 2 * P(X <= 3), X ~ Binomial(13, 1/2) = 2 * (1 + 13 + 78 + 286) / 2^13
    assert test["p_value"] == pytest.approx(2 * 378 / 8192, rel=1e-12)
    assert test["p_value"] == pytest.approx(stats.binomtest(3, 13, 0.5).pvalue, rel=1e-12)
    swapped = mcnemar(correct_b, correct_a)
    assert (swapped["a_only"], swapped["b_only"]) == (10, 3)
    assert swapped["p_value"] == pytest.approx(test["p_value"], rel=1e-12)
    # balanced disagreement: p = 1 (capped)
    assert mcnemar([True, False] * 4, [False, True] * 4)["p_value"] == pytest.approx(1.0)
    # both wrong on every item: no disagreement
    assert mcnemar([False] * 5, [False] * 5)["p_value"] == 1.0


def test_holm_by_hand():
    # sorted: 0.005 * 5 = 0.025, 0.01 * 4 = 0.04, 0.03 * 3 = 0.09, 0.04 * 2 = 0.08 -> 0.09
    # (monotone: never below an earlier step), 0.5 * 1 = 0.5
    assert holm([0.01, 0.04, 0.03, 0.005, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.5])
    # 0.1 * 3 = 0.3, 0.6 * 2 = 1.2 -> 1 (cap), 0.7 * 1 = 0.7 -> 1.2 -> 1 (monotone, cap)
    assert holm([0.6, 0.7, 0.1]) == pytest.approx([1.0, 1.0, 0.3])
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])  # ties
    assert holm([0.3]) == pytest.approx([0.3])
    assert holm([]) == []


def test_holm_is_monotone_capped_and_never_below_raw():
    rng = np.random.default_rng(31)
    for _ in range(20):
        raw = rng.random(int(rng.integers(1, 12))) ** 3
        adjusted = np.array(holm(raw))
        order = np.argsort(raw, kind="stable")
        assert np.all(np.diff(adjusted[order]) >= 0)
        assert np.all(adjusted >= raw) and np.all(adjusted <= 1)
        # the textbook form: max over j <= i of min(1, (m - j) p_(j))
        m = len(raw)
        steps = np.minimum(1, (m - np.arange(m)) * raw[order])
        assert adjusted[order] == pytest.approx(np.maximum.accumulate(steps))


# ---------------------------------------------------------------------------------------
# Calibration under no true difference
# ---------------------------------------------------------------------------------------


def test_randomization_test_is_calibrated_under_no_difference():
    """200 pairs where A and B come from the same error process, independently per item.

    Under the null each p < 0.05 with probability at most 0.05 (the randomization test is
    exact up to Monte-Carlo error, and conservative with ties), so the count of p < 0.05 is
    at most Binomial(200, 0.05)'s 0.999 quantile, 21. The count is also at least 1: 0 would
    need a test far more conservative than this one (Binomial(200, 0.05) gives 0 with
    probability 3.5e-5; the ties of accuracy at n = 150 lower the level only a little).
    """
    bound = int(stats.binom.ppf(0.999, 200, 0.05))
    assert bound == 21
    rng = np.random.default_rng(41)
    k = 3
    space = MetricSpace.of(LABELS[:k])
    significant = {"accuracy": 0, "f1_macro": 0}
    for seed in range(200):
        truth = rng.integers(0, k, size=150)
        pred_a = predictions(rng, truth, LABELS[:k], 0.7)
        pred_b = predictions(rng, truth, LABELS[:k], 0.7)
        y_true = names(truth, LABELS)
        results = paired_tests(
            space,
            space.item_counts(y_true, names(pred_a, LABELS)),
            space.item_counts(y_true, names(pred_b, LABELS)),
            n_resamples=20,
            n_permutations=2000,
            seed=seed,
        )
        for name in significant:
            significant[name] += results[name].p_value < 0.05
    for count in significant.values():
        assert 1 <= count <= bound, significant


# ---------------------------------------------------------------------------------------
# The index-draw path, chunking and seeding
# ---------------------------------------------------------------------------------------


def test_index_draws_agree_with_multinomial_draws(monkeypatch):
    k = 4
    truth, pred = single_label_case(51, n=300, k=k)
    space = MetricSpace.of(LABELS[:k])
    counts = space.item_counts(names(truth, LABELS), names(pred, LABELS))
    multinomial = bootstrap_intervals(space, counts, n_resamples=N_RESAMPLES, seed=1)
    _, pred_b = single_label_case(52, n=300, k=k)
    counts_b = space.item_counts(names(truth, LABELS), names(pred_b, LABELS))
    paired_multinomial = paired_tests(space, counts, counts_b, n_resamples=N_RESAMPLES, seed=1)

    monkeypatch.setattr(resampling, "_MULTINOMIAL_LIMIT", 0)
    monkeypatch.setattr(resampling, "_CELLS_PER_CHUNK", 300 * 700)  # 700 resamples a chunk
    drawn = bootstrap_intervals(space, counts, n_resamples=N_RESAMPLES, seed=2)
    paired_drawn = paired_tests(space, counts, counts_b, n_resamples=N_RESAMPLES, seed=2)
    for name in space.names():
        # sigma estimated from the 95% interval's width (3.92 sigma for a normal), tolerance
        # 0.2 sigma as for SciPy above (both sides here are Monte-Carlo estimates alike)
        low, high = multinomial[name]
        sigma = (high - low) / 3.92
        assert drawn[name] == pytest.approx((low, high), abs=ENDPOINT_TOLERANCE * sigma), name
        low, high = paired_multinomial[name].ci_low, paired_multinomial[name].ci_high
        sigma = (high - low) / 3.92
        got = (paired_drawn[name].ci_low, paired_drawn[name].ci_high)
        assert got == pytest.approx((low, high), abs=ENDPOINT_TOLERANCE * sigma), name


def test_index_draws_resample_n_items_per_draw(monkeypatch):
    # every resample has exactly n items, whichever path draws it
    rng = np.random.default_rng(5)
    multiplicity = rng.integers(1, 20, size=40)
    for limit in (0, 3000):
        monkeypatch.setattr(resampling, "_MULTINOMIAL_LIMIT", limit)
        monkeypatch.setattr(resampling, "_CELLS_PER_CHUNK", 4000)  # several chunks
        chunks = list(resampling._bootstrap_draws(multiplicity, 250, np.random.default_rng(0)))
        draws = np.vstack(chunks)
        assert draws.shape == (250, 40) and len(chunks) > 1
        assert np.all(draws.sum(1) == multiplicity.sum())
        # mean draw of each distinct vector is its multiplicity m: SE below sqrt(m / 250),
        # so 5 SE is under 0.32 sqrt(m)
        assert np.all(np.abs(draws.mean(0) - multiplicity) <= 0.32 * np.sqrt(multiplicity))


def test_same_seed_same_result():
    k = 4
    truth, pred_a, pred_b = paired_case(61, k=k)
    space = MetricSpace.of(LABELS[:k])
    y_true = names(truth, LABELS)
    counts_a = space.item_counts(y_true, names(pred_a, LABELS))
    counts_b = space.item_counts(y_true, names(pred_b, LABELS))
    once = bootstrap_intervals(space, counts_a, n_resamples=1000, seed=9)
    assert bootstrap_intervals(space, counts_a, n_resamples=1000, seed=9) == once
    assert bootstrap_intervals(space, counts_a, n_resamples=1000, seed=10) != once
    settings = {"n_resamples": 1000, "n_permutations": 1000}
    first = paired_tests(space, counts_a, counts_b, seed=9, **settings)
    assert paired_tests(space, counts_a, counts_b, seed=9, **settings) == first
    assert paired_tests(space, counts_a, counts_b, seed=10, **settings) != first


def test_warnings_free_on_zero_denominators():
    # a resample may draw no gold nor prediction of a class: F1 0 without a warning
    space = MetricSpace.of(["a", "b", "c"])
    counts = space.item_counts(["a", "a", "b"], ["a", "b", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intervals = bootstrap_intervals(space, counts, n_resamples=200, seed=0)
    assert intervals["f1_c"] == (0.0, 0.0)
