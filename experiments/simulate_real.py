"""Simulated active learning on real data: how many labels each `khabar select` strategy
saves against random picking.

    python experiments/simulate_real.py [--repeats 3] [--budget 600] [--only NAME,...]
                                        [--features-from labeled|pool]

Runs `khabar.runs.simulate.simulate` (the loop of `khabar simulate`) on
configs/realnews_topic.yaml and configs/realnews_stance.yaml (realnews-dev, 600 items,
judged on held-out folds; khabar's own corpus, data.extra_train, joins every fit) and
configs/mawqif_stance.yaml (Mawqif Train is the pool, scored on Mawqif Test). Strategies
random, breaking_ties and diverse; initial batch 50 (random, the same for every strategy),
batch 50, budget 600. Each config's run is logged to MLflow and writes
reports/simulate/<name>-<time>/. Writes docs/results/simulate.md. Skips with a message
without ../shared/data.

Features: by default the realnews configs fit their feature steps once per pool (its texts
and khabar's corpus, no labels; `--features-from pool`): their 3,625 extra rows dominate
the vocabulary anyway, and refitting TF-IDF and word vectors at every step would take about
five seconds a fit. Mawqif refits the whole Pipeline at every step (`labeled`), as
`khabar train` would. `--features-from` sets one mode for all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

from khabar.runs.simulate import simulate, summary_table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # results_page.py, beside this file
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
SHARED = PROJECT.parent / "shared" / "data"
CONFIGS = {  # name -> (config file, default features mode)
    "realnews_topic": ("configs/realnews_topic.yaml", "pool"),
    "realnews_stance": ("configs/realnews_stance.yaml", "pool"),
    "mawqif_stance": ("configs/mawqif_stance.yaml", "labeled"),
}
STRATEGIES = ("random", "breaking_ties", "diverse")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--initial", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--only", default=",".join(CONFIGS), help="comma-separated config names")
    parser.add_argument("--features-from", choices=("labeled", "pool"), default=None)
    return parser.parse_args(argv)


def curve_table(result) -> str:
    header = ["labels", *(f"{name} (mean ± std)" for name in result.curves)]
    rows = [
        (step, *(f"{c['mean'][i]:.3f} ± {c['std'][i]:.3f}" for c in result.curves.values()))
        for i, step in enumerate(result.steps)
    ]
    return markdown_table(header, rows)


def section(name: str, config: str, features: str, result, seconds: float) -> str:
    plot = Path(result.report_dir) / "learning_curve.png"
    return "\n".join(
        [
            f"`{config}`; metric `{result.metric}` on {result.evaluated_on}; features from "
            f"`{features}`; {len(result.curves['random']['repeats'])} repeats; "
            f"wall time {seconds / 60:.1f} min; MLflow run `{result.run_id}`.",
            "",
            f"Labels needed to reach random's `{result.metric}` with the whole budget "
            f"({result.target:.3f} at {result.steps[-1]} labels), first step of the mean curve:",
            "",
            summary_table(result),
            "",
            "Learning curves:",
            "",
            curve_table(result),
            "",
            f"Plot: `{shown(plot.resolve())}` (mean line, min–max band over repeats).",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not SHARED.exists():
        print(f"simulation skipped: no reference data at {SHARED}")
        return 0
    names = [n for n in args.only.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        print(f"--only: unknown {unknown[0]!r}; one of {', '.join(CONFIGS)}")
        return 2
    started = start()
    os.chdir(PROJECT)  # the configs' data.extra_train paths are relative to the project
    sections = []
    for name in names:
        config, default_mode = CONFIGS[name]
        features = args.features_from or default_mode
        print(f"{name}: simulating ({features} features) …", flush=True)
        began = time.perf_counter()
        result = simulate(
            config, strategies=STRATEGIES, initial=args.initial, batch=args.batch,
            budget=args.budget, repeats=args.repeats, features_from=features,
        )  # fmt: skip
        seconds = time.perf_counter() - began
        print(summary_table(result), flush=True)
        sections.append((name, section(name, config, features, result, seconds)))
    page = write_results_page(
        "simulate",
        "Simulated active learning: labels saved against random picking",
        command_line(__file__, argv),
        sections,
        started,
        measures=(
            "The active-learning loop replayed on already-labeled data: labels revealed batch "
            "by batch as each `khabar select` strategy picks them, and the labels each needs "
            "to reach the score random picking reaches with the whole budget."
        ),
        partial=None if len(names) == len(CONFIGS) else f"only {', '.join(names)}",
        notes=[
            f"Settings: strategies {', '.join(STRATEGIES)}; initial {args.initial} (random, "
            f"shared by the strategies), batch {args.batch}, budget {args.budget}, "
            f"{args.repeats} repeats (seeds 42..{41 + args.repeats})",
            "Saving: 1 − labels needed / random's labels needed; 'not reached': the mean "
            "curve never reaches random's score within the budget",
        ],
    )
    print(f"wrote {shown(page)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
