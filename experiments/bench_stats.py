"""Statistics benchmark: khabar's vectorized paired tests against a scikit-learn loop.

On 31,030 synthetic items with 14 classes (seeded; two systems A and B, each right on
about 80% of the items, independently), measures in one run:
- `paired_tests(space, counts_a, counts_b, n_resamples=10_000, n_permutations=10_000)`,
  the whole call: the paired bootstrap interval of B - A and the approximate-randomization
  p-value for every metric (accuracy, macro-F1, the 14 per-class F1s);
- `bootstrap_intervals(space, counts_a, n_resamples=10_000)`, every metric of one system;
- the reference: a Python loop over paired bootstrap resamples (item indices drawn with
  replacement) calling `sklearn.metrics.f1_score(average="macro")` for A and for B on each
  resample. It runs only `--reference-resamples` resamples (200 by default) and its time
  is scaled linearly to 10,000 (every resample costs the same).
Prints the times, the ratio reference / khabar and the verdict on the target (macro-F1
with 10,000 paired resamples on 31,030 items and 14 classes in under 10 s), and writes the
results page docs/results/stats.md.

    .venv/bin/python experiments/bench_stats.py [--repeats 3] [--reference-resamples 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from khabar.record import resampling
from khabar.record.resampling import MetricSpace, bootstrap_intervals, paired_tests

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

ITEMS, CLASSES, RESAMPLES, SEED = 31_030, 14, 10_000, 0
ACCURACY_A, ACCURACY_B = 0.80, 0.81
TARGET_SECONDS = 10.0


def synthetic(items: int, classes: int, seed: int):
    """Gold labels with uneven class shares, and two systems' predictions: right with
    probability ACCURACY_A (ACCURACY_B) per item, else a uniformly drawn wrong class."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(classes, 2.0))
    truth = rng.choice(classes, size=items, p=shares)

    def system(accuracy: float) -> np.ndarray:
        wrong = (truth + rng.integers(1, classes, size=items)) % classes
        return np.where(rng.random(items) < accuracy, truth, wrong)

    return truth, system(ACCURACY_A), system(ACCURACY_B)


def timed(function, repeats: int) -> tuple[list[float], object]:
    """Wall times of `repeats` calls and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return times, result


def reference_loop(truth, pred_a, pred_b, classes: int, resamples: int, seed: int):
    """The straightforward paired bootstrap: per resample, draw item indices and score A
    and B with scikit-learn. Returns the deltas of macro-F1."""
    rng = np.random.default_rng(seed)
    labels = list(range(classes))
    deltas = []
    for _ in range(resamples):
        index = rng.integers(0, len(truth), size=len(truth))
        a = f1_score(truth[index], pred_a[index], labels=labels, average="macro", zero_division=0)
        b = f1_score(truth[index], pred_b[index], labels=labels, average="macro", zero_division=0)
        deltas.append(b - a)
    return np.array(deltas)


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each khabar step")
    parser.add_argument("--reference-resamples", type=int, default=200)
    args = parser.parse_args(argv)
    started = start()

    truth, pred_a, pred_b = synthetic(ITEMS, CLASSES, SEED)
    labels = [f"class_{c:02d}" for c in range(CLASSES)]
    space = MetricSpace.of(labels)
    y_true = [labels[c] for c in truth]
    count_times, (counts_a, counts_b) = timed(
        lambda: (
            space.item_counts(y_true, [labels[c] for c in pred_a]),
            space.item_counts(y_true, [labels[c] for c in pred_b]),
        ),
        1,
    )
    distinct = len(np.unique(np.hstack([counts_a, counts_b]), axis=0))
    print(f"{ITEMS} items, {CLASSES} classes, {distinct} distinct paired item vectors")

    paired_times, paired = timed(
        lambda: paired_tests(
            space, counts_a, counts_b, n_resamples=RESAMPLES, n_permutations=RESAMPLES, seed=SEED
        ),
        args.repeats,
    )
    # the same call when items have more distinct vectors than a multinomial draw suits
    # (e.g. out-of-fold predictions pooled over CV repeats): item indices drawn and counted
    limit = resampling._MULTINOMIAL_LIMIT
    resampling._MULTINOMIAL_LIMIT = 0
    try:
        index_times, _ = timed(
            lambda: paired_tests(
                space, counts_a, counts_b, n_resamples=RESAMPLES, n_permutations=RESAMPLES
            ),
            args.repeats,
        )
    finally:
        resampling._MULTINOMIAL_LIMIT = limit
    boot_times, intervals = timed(
        lambda: bootstrap_intervals(space, counts_a, n_resamples=RESAMPLES, seed=SEED),
        args.repeats,
    )
    macro = paired["f1_macro"]
    labels_index = list(range(CLASSES))
    for value, pred in ((macro.a, pred_a), (macro.b, pred_b)):  # same point values as sklearn
        expected = f1_score(truth, pred, labels=labels_index, average="macro", zero_division=0)
        assert abs(value - expected) < 1e-12, (value, expected)

    reference_started = time.perf_counter()
    deltas = reference_loop(truth, pred_a, pred_b, CLASSES, args.reference_resamples, SEED)
    reference_measured = time.perf_counter() - reference_started
    reference = reference_measured * RESAMPLES / args.reference_resamples
    reference_ci = np.quantile(deltas, [0.025, 0.975])

    khabar = min(paired_times)
    ratio = reference / khabar
    met = khabar <= TARGET_SECONDS
    verdict = "met" if met else "NOT met"
    print(f"item vectors (both systems, once): {count_times[0]:.2f} s")
    print(
        f"khabar paired_tests, {RESAMPLES:,} resamples + {RESAMPLES:,} permutations, all "
        f"{len(space.names())} metrics: best {khabar:.2f} s of {args.repeats} "
        f"(median {statistics.median(paired_times):.2f} s)"
    )
    print(
        f"khabar paired_tests, the same with item indices drawn (more than "
        f"{limit:,} distinct vectors): best {min(index_times):.2f} s"
    )
    print(
        f"khabar bootstrap_intervals, {RESAMPLES:,} resamples, all metrics: best "
        f"{min(boot_times):.2f} s of {args.repeats}"
    )
    print(
        f"reference sklearn loop: {reference_measured:.2f} s for {args.reference_resamples} "
        f"paired resamples, scaled linearly to {RESAMPLES:,}: {reference:.1f} s"
    )
    print(f"ratio reference / khabar paired_tests: {ratio:.0f}x")
    print(
        f"target: macro-F1 with {RESAMPLES:,} paired resamples in <= {TARGET_SECONDS:g} s: {verdict}"
    )
    print(
        f"macro-F1 delta B - A {macro.delta:+.4f}: khabar 95% CI [{macro.ci_low:+.4f}, "
        f"{macro.ci_high:+.4f}], p = {macro.p_value:.4f}; reference CI from "
        f"{args.reference_resamples} resamples [{reference_ci[0]:+.4f}, {reference_ci[1]:+.4f}]"
    )

    rows = [
        (
            f"khabar `paired_tests` ({RESAMPLES:,} paired bootstrap resamples + {RESAMPLES:,} "
            f"random swaps, all {len(space.names())} metrics)",
            f"**{seconds(khabar)}**",
            f"**{ratio:.0f}x**",
        ),
        (
            "the same `paired_tests` call drawing item indices (the path taken above "
            f"{limit:,} distinct item vectors, forced here)",
            seconds(min(index_times)),
            f"{reference / min(index_times):.0f}x",
        ),
        (
            f"khabar `bootstrap_intervals` ({RESAMPLES:,} resamples, one system, all metrics)",
            seconds(min(boot_times)),
            "(one system: not comparable)",
        ),
        (
            f'reference: Python loop, `f1_score(average="macro")` for A and B per resample '
            f"({args.reference_resamples} resamples timed: {seconds(reference_measured)}, "
            f"scaled linearly to {RESAMPLES:,})",
            seconds(reference),
            "1x",
        ),
    ]
    checks = markdown_table(
        ["", "macro-F1 of A", "macro-F1 of B", "delta B - A", "95% interval of delta", "p"],
        [
            (
                "khabar",
                f"{macro.a:.4f}",
                f"{macro.b:.4f}",
                f"{macro.delta:+.4f}",
                f"[{macro.ci_low:+.4f}, {macro.ci_high:+.4f}]",
                f"{macro.p_value:.4f}",
            ),
            (
                f"reference ({args.reference_resamples} resamples)",
                "",
                "",
                "",
                f"[{reference_ci[0]:+.4f}, {reference_ci[1]:+.4f}]",
                "",
            ),
        ],
    )
    low, high = intervals["f1_macro"]
    page = write_results_page(
        "stats",
        "Statistics benchmark: vectorized paired tests against a scikit-learn loop",
        command_line(__file__, argv),
        [
            (
                "Measured",
                markdown_table(["what", "wall time", "reference / this"], rows)
                + f"\n\nkhabar's times are the best of {args.repeats} calls (median of "
                f"`paired_tests`: {seconds(statistics.median(paired_times))}); building the "
                f"item vectors of both systems once took {seconds(count_times[0])} more. "
                "The reference does less than khabar's call: only the bootstrap of macro-F1, "
                "no randomization test and no other metric.",
            ),
            (
                "Target",
                f"Macro-F1 with {RESAMPLES:,} paired resamples on {ITEMS:,} items and "
                f"{CLASSES} classes in at most {TARGET_SECONDS:g} s: **{verdict}** "
                f"({seconds(khabar)} for the whole `paired_tests` call).",
            ),
            (
                "Values",
                checks + "\n\nThe point values equal scikit-learn's `f1_score` (checked to 1e-12). "
                f"A's macro-F1 interval from `bootstrap_intervals`: [{low:.4f}, {high:.4f}].",
            ),
        ],
        started,
        measures=(
            "The time of khabar's paired significance tests (`khabar.record.resampling`: "
            "paired bootstrap interval and approximate-randomization p-value of B - A for every "
            "metric) against a straightforward Python loop of scikit-learn's `f1_score` over "
            "paired bootstrap resamples, on the same synthetic items in the same run."
        ),
        notes=[
            f"Data: {ITEMS:,} synthetic items, {CLASSES} classes (Dirichlet(2) shares), seed "
            f"{SEED}; A and B right with probability {ACCURACY_A:g} and {ACCURACY_B:g} per "
            f"item, independently ({distinct:,} distinct paired item vectors)"
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
