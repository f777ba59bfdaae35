"""Sweeps: run variants of one experiment config (a grid or a list of --set overrides),
each as a child MLflow run under one parent run, and write a comparison report.

    # experiments/sweep_*.yaml
    name: topic-classifiers
    base: ../configs/topic.yaml          # relative to this file
    metric: cv_f1_macro_mean              # ranks the variants (higher is better)
    grid:                                 # every combination ...
      model.params.C: [0.1, 0.5, 2.0]
    variants:                             # ... and/or these, each a set of overrides
      - {model.name: logistic_regression, model.params: {}}
    cache_features: true                  # the default
    child_reports: false                  # the default: one comparison report, not 1 per run
    child_models: false                   # the default: children log params and metrics

Features are cached (khabar.runs.feature_cache), so variants that differ only in the classifier
featurize once. Backends: "local" (one after the other, in this process) or "dask"
(joblib's Dask backend on a dask.distributed cluster, one variant per task).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import yaml
from joblib import Parallel, delayed, parallel_config
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm.auto import tqdm

from khabar.data.config import read_yaml
from khabar.errors import KhabarError
from khabar.model.word_vectors import load_or_train, vectors_folder
from khabar.record.report import safe_name, timestamped_name
from khabar.record.resampling import paired_tests
from khabar.record.tracking import connect, tracking_uri
from khabar.runs.guard import load_config


class SweepSpec(BaseModel):
    """A sweep file, validated: unknown keys are errors.

    Attributes
    ----------
    name : str
        The sweep's name: the parent run's and the report folder's (letters, digits, '_',
        '-', '.').
    base : str
        The experiment config every variant starts from, relative to the sweep file.
    metric : str or None, default None
        The metric that ranks the variants (higher is better); None: cv_f1_macro_mean, or
        test_f1_macro without CV.
    grid : dict of str to list, default {}
        Dotted key -> values: every combination is a variant.
    variants : list of dict, default []
        More variants, each a set of overrides (dotted key -> value).
    cache_features : bool, default True
        Cache features, so variants that differ only in the classifier featurize once.
    child_reports : bool, default False
        Each variant writes its own plots (the sweep report compares them).
    child_models : bool, default False
        Each variant logs its model (else retrain the best with khabar train).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    base: str
    metric: str | None = None
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    cache_features: bool = True
    child_reports: bool = False  # each variant's own plots (the sweep report compares them)
    child_models: bool = False  # log each variant's model (retrain the best with khabar train)


@dataclass
class Variant:
    """One variant of a sweep.

    Attributes
    ----------
    index : int
        Its number, from 0, in the sweep's order (grid first, then the variants list).
    settings : dict
        Dotted key -> value, as swept.
    """

    index: int
    settings: dict[str, Any]  # dotted key -> value, as swept

    def overrides(self) -> list[str]:
        """The settings as ``--set`` overrides.

        Returns
        -------
        list of str
            ``KEY=VALUE`` with each value written as JSON, which YAML reads back as is.
        """
        return [
            f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in self.settings.items()
        ]


@dataclass
class SweepResult:
    """What `run_sweep` returns and `khabar sweep --json` prints.

    Attributes
    ----------
    parent_run_id : str
        The MLflow run whose children the variants' runs are.
    metric : str
        The metric that ranked the variants.
    report_dir : str
        The comparison report's folder (ranking.md, ranking.json, plots).
    variants : list of dict
        Ranked, best first: each with its index, settings, run_id, metrics and
        report_dir.
    """

    parent_run_id: str
    metric: str
    report_dir: str
    variants: list[dict] = field(default_factory=list)  # ranked, best first

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict, as `khabar sweep --json` prints it.

        Returns
        -------
        dict
            The fields by name.
        """
        return {
            "parent_run_id": self.parent_run_id,
            "metric": self.metric,
            "report_dir": self.report_dir,
            "variants": self.variants,
        }


def load_sweep(path: str | Path) -> tuple[SweepSpec, Path, list[Variant]]:
    """Read and validate a sweep file, and list its variants.

    Parameters
    ----------
    path : str or Path
        The sweep YAML file.

    Returns
    -------
    spec : SweepSpec
        The validated file.
    base : Path
        The base config, resolved against the sweep file's folder.
    variants : list of Variant
        Every combination of the grid, then the listed variants.

    Raises
    ------
    KhabarError
        The file is missing, not valid YAML, has an unknown or invalid key, or gives no
        variants.
    """
    path = Path(path)
    if not path.is_file():
        raise KhabarError(f"sweep file not found: {path}")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
        spec = SweepSpec.model_validate(raw)
    except yaml.YAMLError as exc:
        raise KhabarError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "(top level)"
        raise KhabarError(f"{path}: {where}: {problem['msg']}") from None
    base = (path.parent / spec.base).resolve()
    keys = list(spec.grid)
    settings = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*spec.grid.values())
    ]
    settings = [s for s in settings if s] + [dict(v) for v in spec.variants]
    if not settings:
        raise KhabarError(f"{path}: no variants: give a grid, a list of variants, or both")
    return spec, base, [Variant(i, s) for i, s in enumerate(settings)]


def _absolute(config_path: Path, overrides: list[str]) -> list[str]:
    """Overrides that make every path absolute, so a worker anywhere finds the same files."""
    config = load_config(config_path, overrides)
    fixed = [f"data.train={_path_list(config.data.train_files())}"]
    if config.data.test:
        fixed.append(f"data.test={Path(config.data.test).resolve()}")
    if config.data.extra_train:
        extra = [
            str(Path(entry).resolve())
            if isinstance(entry, str)
            else entry.model_copy(update={"path": str(Path(entry.path).resolve())}).model_dump()
            for entry in config.data.extra_train
        ]
        fixed.append(f"data.extra_train={json.dumps(extra)}")
    if config.data.saudinewsnet:
        fixed.append(f"data.saudinewsnet={Path(config.data.saudinewsnet).resolve()}")
    vectors = config.features.word_vectors
    if vectors is not None:
        fixed.append(f"features.word_vectors.corpus={Path(vectors.corpus).resolve()}")
        for field in ("exclude_titles_of", "exclude_urls"):
            fixed.append(f"features.word_vectors.{field}={_path_list(getattr(vectors, field))}")
    fixed.append(f"reports_dir={Path(config.reports_dir).resolve()}")
    return fixed


def _path_list(paths: list[str]) -> str:
    # JSON is YAML: an --set value that survives any character in a path.
    return json.dumps([str(Path(p).resolve()) for p in paths])


def run_variant(
    base: str,
    overrides: list[str],
    parent_run_id: str,
    store: str,
    cache_dir: str,
    vectors_dir: str | None = None,
) -> dict:
    """One variant: a `khabar train` run, child of the sweep's parent run.

    Runs in a worker process or thread, so everything it needs comes in as plain values;
    it sets the environment variables of the store and the caches for its process.

    Parameters
    ----------
    base : str
        The base config file.
    overrides : list of str
        The variant's ``KEY=VALUE`` overrides, after the sweep's common ones.
    parent_run_id : str
        The sweep's parent run.
    store : str
        The tracking URI (MLFLOW_TRACKING_URI), absolute.
    cache_dir : str
        The feature cache's folder (KHABAR_CACHE_DIR).
    vectors_dir : str, optional
        The word vectors' folder (KHABAR_VECTORS_DIR).

    Returns
    -------
    dict
        The child run's run_id, metrics and report_dir.
    """
    from khabar.runs.train import train

    os.environ["MLFLOW_TRACKING_URI"] = store
    os.environ["KHABAR_CACHE_DIR"] = cache_dir
    if vectors_dir:
        os.environ["KHABAR_VECTORS_DIR"] = vectors_dir
    config = load_config(base, overrides)
    result = train(config, config_path=base, parent_run_id=parent_run_id)
    return {"run_id": result.run_id, "metrics": result.metrics, "report_dir": result.report_dir}


def _store_uri() -> str:
    """The tracking store as workers elsewhere must see it: a SQLite path made absolute."""
    uri = tracking_uri()
    match = re.match(r"sqlite:///(?!/)(.+)", uri)
    return f"sqlite:///{Path(match.group(1)).resolve()}" if match else uri


def run_sweep(
    path: str | Path,
    overrides: list[str] | None = None,
    backend: str = "local",
    scheduler: str | None = None,
) -> SweepResult:
    """Run a sweep's variants (each checked first) as children of one run, and rank them.

    Parameters
    ----------
    path : str or Path
        The sweep YAML file.
    overrides : list of str, optional
        ``KEY=VALUE`` overrides of the base config, for every variant.
    backend : {"local", "dask"}, default "local"
        One variant after another in this process, or one per task on a Dask cluster.
    scheduler : str, optional
        The Dask scheduler's address (tcp://host:8786), for the "dask" backend.

    Returns
    -------
    SweepResult
        The parent run, the ranking metric, the report folder (under the base config's
        reports_dir, in sweeps/) and the ranked variants.

    Raises
    ------
    KhabarError
        A bad sweep file, config, override or scheduler, or an unlogged ranking metric.
    """
    spec, base, variants = load_sweep(path)
    common = _common_overrides(spec, overrides)
    base_config = load_config(base, common)
    common += _absolute(base, common)
    _check_variants(base, common, variants)
    connect(base_config.experiment)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(base_config.experiment)
    name = timestamped_name(spec.name)
    parent_id = client.create_run(
        experiment.experiment_id,
        run_name=f"sweep-{name}",
        tags={"khabar.sweep": spec.name, "khabar.backend": backend},
    ).info.run_id
    client.log_artifact(parent_id, str(path), artifact_path="sweep")
    jobs = _variant_jobs(base, base_config.name, common, variants, parent_id)
    try:
        outputs = _run_jobs(jobs, backend, scheduler)
    except BaseException:
        client.set_terminated(parent_id, status="FAILED")
        raise
    results = [
        {"index": v.index, "settings": v.settings, **out}
        for v, out in zip(variants, outputs, strict=True)
    ]
    return _finish(client, parent_id, spec, base_config, name, results, path)


def _variant_jobs(
    base: Path, base_name: str, common: list[str], variants: list[Variant], parent_id: str
) -> list:
    """One joblib task per variant. Workers elsewhere see the same tracking store, feature
    cache and word vectors by absolute paths."""
    places = (
        _store_uri(),
        str(Path(os.environ.get("KHABAR_CACHE_DIR") or ".khabar-cache/features").resolve()),
        str(vectors_folder().resolve()),
    )
    return [
        delayed(run_variant)(
            str(base),
            [*common, f"name={base_name}-v{v.index:02d}", *v.overrides()],
            parent_id,
            *places,
        )
        for v in variants
    ]


def _common_overrides(spec: SweepSpec, overrides: list[str] | None) -> list[str]:
    """The overrides every variant gets: the user's, then the sweep's switches (cached
    features; no child reports or models unless the sweep file asks for them)."""
    common = list(overrides or [])
    if spec.cache_features:
        common.append("evaluation.cache_features=true")
    if not spec.child_reports:
        common.append("evaluation.write_report=false")
    if not spec.child_models:
        common.append("evaluation.log_model=false")
    return common


def _check_variants(base: Path, common: list[str], variants: list[Variant]) -> None:
    """Fail on a bad key or value before any run starts; train word vectors here once, not
    in every worker at the same time."""
    for variant in variants:
        config = load_config(base, [*common, *variant.overrides()])
        if config.features.word_vectors is not None:
            load_or_train(config.features.word_vectors, config.normalize.model_dump())


def _finish(
    client,
    parent_id: str,
    spec: SweepSpec,
    base_config,
    name: str,
    results: list[dict],
    path: str | Path,
) -> SweepResult:
    """Rank the variants by the sweep's metric, write and log the comparison report, mark
    the best; a metric some variant did not log fails the parent run."""
    metric = spec.metric or _default_metric(results)
    missing = [r["index"] for r in results if metric not in r["metrics"]]
    if missing:
        client.set_terminated(parent_id, status="FAILED")
        raise KhabarError(f"{path}: metric {metric!r} is not logged by variant(s) {missing}")
    ranked = sorted(results, key=lambda r: -r["metrics"][metric])
    mark_ties(ranked, metric)
    report_dir = Path(base_config.reports_dir).resolve() / "sweeps" / name
    swept = list(dict.fromkeys([*spec.grid, *_keys(ranked)]))  # every key any variant sets
    files = write_sweep_report(report_dir, spec.name, metric, ranked, swept)
    for file in files:
        client.log_artifact(parent_id, str(file), artifact_path="report")
    best = ranked[0]
    client.log_metric(parent_id, f"best_{metric}", best["metrics"][metric])
    client.set_tag(parent_id, "khabar.best_run_id", best["run_id"])
    client.set_terminated(parent_id)
    return SweepResult(parent_id, metric, str(report_dir), ranked)


def _run_jobs(jobs: list, backend: str, scheduler: str | None) -> list[dict]:
    progress = tqdm(total=len(jobs), desc="sweep", unit="variant")

    def collect(runner) -> list[dict]:
        outputs = []
        for output in runner(jobs):
            outputs.append(output)
            progress.update(1)
        return outputs

    try:
        if backend == "local":  # one variant after another, in this process
            from khabar.runs.train import reuse_loaded_data

            with reuse_loaded_data():
                return collect(Parallel(n_jobs=1, return_as="generator"))
        if backend != "dask":
            raise KhabarError(f"unknown backend {backend!r}; expected 'local' or 'dask'")
        try:
            from dask.distributed import Client
        except ImportError:
            raise KhabarError(
                "backend 'dask' needs dask.distributed: pip install 'khabar[dask]'"
            ) from None
        if not scheduler:
            raise KhabarError("backend 'dask' needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as exc:
            raise KhabarError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        with client, parallel_config(backend="dask"):
            return collect(Parallel(n_jobs=-1, return_as="generator"))
    finally:
        progress.close()


def _default_metric(results: list[dict]) -> str:
    metrics = results[0]["metrics"]
    return "cv_f1_macro_mean" if "cv_f1_macro_mean" in metrics else "test_f1_macro"


def _resampled(metric: str) -> tuple[str, str] | None:
    """The split and metric of the logged predictions behind a ranking metric, if any."""
    for prefix, suffix, split in (
        ("cv_", "_mean", "oof"),
        ("test_", "", "test"),
        ("oof_", "", "oof"),
    ):
        if metric.startswith(prefix) and metric.endswith(suffix):
            return split, metric[len(prefix) : len(metric) - len(suffix)]
    return None


def mark_ties(ranked: list[dict], metric: str, seed: int = 0) -> None:
    """Test every variant against the best on their logged predictions (paired).

    Each variant gets ``comparison``: the metric's pooled value and 95% interval, and
    against the best Δ, its interval, the approximate randomization p-value and ``tie``
    (p >= 0.05: not significantly different from the best; unadjusted p, so ties are
    declared generously). Nothing is added when the ranking metric has no per-item form
    (e.g. fit_seconds).

    Parameters
    ----------
    ranked : list of dict
        The variants' results, best first; updated in place.
    metric : str
        The ranking metric (``cv_<m>_mean``, ``test_<m>`` or ``oof_<m>``).
    seed : int, default 0
        Seeds the resampling.
    """
    from khabar.runs.compare import ALPHA, load_side

    found = _resampled(metric)
    if found is None:
        return
    split, name = found
    sides = [load_side(r["run_id"], split, None)[0] for r in ranked]
    items = sides[0].scored.items
    space = sides[0].manifest.space(items["group"].tolist() if "group" in items else None)
    if name not in space.names():
        return
    best = sides[0].scored.counts(space)
    logged = {"cv_": "cv", "test_": "test", "oof_": "oof"}[metric[: metric.index("_") + 1]]
    for result, side in zip(ranked, sides, strict=True):
        paired = paired_tests(space, best, side.scored.counts(space), seed=seed, n_resamples=2000)
        # The interval each run logged with its predictions (cv_: the pooled folds').
        low, high = (result["metrics"][f"{logged}_{name}_ci_{end}"] for end in ("low", "high"))
        result["comparison"] = {
            "metric": f"{split} {name}", "value": paired[name].b, "ci_low": low,
            "ci_high": high, "delta_vs_best": paired[name].delta,
            "p_vs_best": paired[name].p_value, "tie": paired[name].p_value >= ALPHA,
        }  # fmt: skip


def _keys(results: list[dict]) -> list[str]:
    return list(dict.fromkeys(key for r in results for key in r["settings"]))


def _setting(settings: dict, key: str) -> str:
    return json.dumps(settings[key], ensure_ascii=False) if key in settings else "(base)"


def _comparison_cells(c: dict, best: bool) -> list[str]:
    if best:
        return [f"{c['value']:.4f} [{c['ci_low']:.4f}, {c['ci_high']:.4f}]", "—", "—", "best"]
    return [
        f"{c['value']:.4f} [{c['ci_low']:.4f}, {c['ci_high']:.4f}]",
        f"{c['delta_vs_best']:+.4f}",
        f"{c['p_vs_best']:.4f}",
        "tie" if c["tie"] else "",
    ]


def _ties_note(ranked: list[dict]) -> str:
    tied = [f"v{r['index']:02d}" for r in ranked[1:] if r["comparison"]["tie"]]
    metric = ranked[0]["comparison"]["metric"]
    return (
        f"Pooled: {metric} of the per-item predictions with its 95% percentile bootstrap "
        "interval. p vs best: paired approximate randomization test against the best variant "
        f"on the same items (10,000 swaps). {len(tied)} variant(s) are not significantly "
        f"different from the best at α = 0.05 (a tie): {', '.join(tied) or 'none'}."
    )


def write_sweep_report(
    folder: Path, name: str, metric: str, ranked: list[dict], swept: list[str]
) -> list[Path]:
    """Write ranking.md (table, best first), ranking.json, and one plot per swept key.

    Parameters
    ----------
    folder : Path
        The report folder; created when missing.
    name : str
        The sweep's name, in the heading.
    metric : str
        The ranking metric.
    ranked : list of dict
        The variants' results, best first (as in `SweepResult.variants`).
    swept : list of str
        The dotted keys any variant sets: one column and one plot each; "(base)" where a
        variant keeps the base config's value.

    Returns
    -------
    list of Path
        The files written.
    """
    from khabar.record.plots import plot_metric_against  # matplotlib only when reporting

    folder.mkdir(parents=True, exist_ok=True)
    others = [m for m in ("test_f1_macro", "cv_f1_macro_mean", "fit_seconds") if m != metric]
    tested = "comparison" in ranked[0]
    header = ["rank", "variant", *swept, metric, *others]
    header += ["pooled [95% CI]", "Δ vs best", "p vs best", "tie"] if tested else []
    lines = [f"# Sweep {name}: ranked by {metric}", "", "| " + " | ".join(header + ["run"]) + " |"]
    lines.append("|" + "---|" * (len(header) + 1))
    for rank, r in enumerate(ranked, start=1):
        cells = [str(rank), f"v{r['index']:02d}"]
        cells += [_setting(r["settings"], key) for key in swept]
        cells += [f"{r['metrics'].get(m, math.nan):.4f}" for m in (metric, *others)]
        cells += _comparison_cells(r["comparison"], rank == 1) if tested else []
        lines.append("| " + " | ".join([*cells, r["run_id"]]) + " |")
    if tested:
        lines += ["", _ties_note(ranked)]
    files = [folder / "ranking.md", folder / "ranking.json"]
    files[0].write_text("\n".join(lines) + "\n", encoding="utf-8")
    files[1].write_text(json.dumps(ranked, indent=2, ensure_ascii=False), encoding="utf-8")
    for key in swept:
        points = [
            (r["settings"][key], r["metrics"][metric]) for r in ranked if key in r["settings"]
        ]
        if points:
            files.append(plot_metric_against(points, key, metric, folder / f"{safe_name(key)}.png"))
    return files
