"""Sweep benchmark: 12 classifier settings over one feature set against one run.

Measures, in the same run and on the same data (SaudiNewsNet, a quarter of the training
part by default, the fixed test part, 3-fold CV):
- one `khabar train` of the sweep's base config, without the feature cache;
- `khabar sweep experiments/sweep_newspaper_classifiers.yaml` (12 variants) starting
  from an empty feature cache;
and prints the ratio (target: the sweep costs at most 2x the one run). Both commands run
with every engine setting of the config; add `--sklearn-engine` to featurize with
scikit-learn's TfidfVectorizer instead (slower features, so caching matters more).
Writes the results page docs/results/sweep.md (one page: the last run's engine and
settings, named in its header) and reports/benchmarks/sweep_<engine>.json.

    python experiments/bench_sweep.py [--size 0.25] [--sklearn-engine]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import CONFIG, DATA, PROJECT, REPORTS, WORK, measure, prepare  # noqa: E402
from results_page import command_line, markdown_table, shown, start, write_results_page  # noqa: E402

SWEEP = PROJECT / "experiments" / "sweep_newspaper_classifiers.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=0.25)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--sklearn-engine", action="store_true")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: SaudiNewsNet not found at {DATA} (../shared/data is absent)")
        return 0
    started = start()
    files = prepare([args.size])["files"]
    cache = WORK / "sweep-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{WORK / 'mlflow.db'}",
        "KHABAR_CACHE_DIR": str(cache),
        "PYTHONWARNINGS": "ignore",
    }
    settings = [
        f"data.train={files[args.size]}",
        f"data.test={files['test']}",
        "evaluation.cross_validate=true",
        f"evaluation.cv_folds={args.folds}",
    ]
    if args.sklearn_engine:
        settings.append("features.char.engine=sklearn")
    overrides = [part for item in settings for part in ("--set", item)]
    khabar = str(Path(sys.executable).with_name("khabar"))

    one = measure(
        [khabar, "train", str(CONFIG), *overrides, "--set", "evaluation.cache_features=false"],
        WORK / "sweep_one_run.log",
        env,
    )
    print(f"one run: {one['wall_seconds']:.1f} s (CPU {one['cpu_seconds']:.1f} s)", flush=True)
    log = WORK / "sweep_12.log"
    sweep = measure([khabar, "sweep", str(SWEEP), *overrides, "--json"], log, env)
    result = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
    ratio = sweep["wall_seconds"] / one["wall_seconds"]
    summary = {
        "size": args.size,
        "folds": args.folds,
        "engine": "sklearn" if args.sklearn_engine else "fast",
        "one_run_seconds": one["wall_seconds"],
        "sweep_seconds": sweep["wall_seconds"],
        "variants": len(result["variants"]),
        "ratio": ratio,
        "target_met": ratio <= 2.0,
        "cache_entries": len([p for p in cache.glob("[!.]*") if p.is_dir()]),
        "best": result["variants"][0]["settings"],
        "report": result["report_dir"],
        "load_average_at_end": os.getloadavg(),
    }
    print(f"sweep of {summary['variants']}: {sweep['wall_seconds']:.1f} s -> {ratio:.2f}x one run")
    print(json.dumps(summary, indent=2))
    REPORTS.mkdir(parents=True, exist_ok=True)
    name = f"sweep_{summary['engine']}.json"
    (REPORTS / name).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    page = write_page(summary, one, sweep, started, argv, name)
    print(f"wrote {shown(page)} and {shown(REPORTS / name)}")
    return 0


def write_page(summary: dict, one: dict, sweep: dict, started, argv, json_name: str) -> Path:
    engine = (
        "scikit-learn's TfidfVectorizer (`--sklearn-engine`)"
        if summary["engine"] == "sklearn"
        else "the config's fast engine"
    )
    measured = markdown_table(
        ["command", "wall s", "CPU s", "peak RSS MB"],
        [
            ("one `khabar train` (feature cache off)", f"{one['wall_seconds']:.1f}",
             f"{one['cpu_seconds']:.1f}", f"{one['peak_rss_mb']:.0f}"),
            (f"`khabar sweep`, {summary['variants']} variants (empty feature cache)",
             f"{sweep['wall_seconds']:.1f}", f"{sweep['cpu_seconds']:.1f}",
             f"{sweep['peak_rss_mb']:.0f}"),
        ],
    )  # fmt: skip
    verdict = "met" if summary["target_met"] else "**not met**"
    ratio = (
        f"Sweep / one run: **{summary['ratio']:.2f}x** (target ≤ 2x: {verdict}). "
        f"Feature-cache entries after the sweep: {summary['cache_entries']}. "
        f"Best variant: `{json.dumps(summary['best'], ensure_ascii=False)}`."
    )
    return write_results_page(
        "sweep",
        f"Sweep benchmark ({summary['engine']} engine)",
        command_line(__file__, argv),
        [
            ("Measured", measured),
            ("Ratio against one run", ratio),
            (
                None,
                f"Every figure (`{json_name}`) is written beside it in reports/benchmarks/ "
                "(generated, not committed); the sweep's own ranking in "
                f"`{shown(Path(summary['report']))}`.",
            ),
        ],
        started,
        measures=(
            f"The wall time of `khabar sweep {shown(SWEEP)}` (12 classifier settings over one "
            "feature set, from an empty feature cache) against one `khabar train` of its base "
            "config, on the same data in the same run."
        ),
        notes=[
            f"Settings: features by {engine}; {summary['size']:g} of SaudiNewsNet's training "
            f"part, the fixed test part; {summary['folds']}-fold CV; load average at the end "
            f"of the measurements {summary['load_average_at_end']}"
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
