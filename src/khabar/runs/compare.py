"""`khabar compare A B`: is B really better than A? Paired tests on the same items.

A and B are each a run (its logged per-item predictions), a folder of predictions
(`khabar evaluate` writes one), or a model scored on a labeled file (`--data`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from khabar.errors import KhabarError, first_line
from khabar.record.metrics import metric_key
from khabar.record.predictions import (
    MANIFEST,
    PREDICTIONS_DIR,
    Manifest,
    ScoredItems,
    read_predictions,
)
from khabar.record.report import safe_name, write_new_folder
from khabar.record.resampling import INTERVAL_METHOD, holm, mcnemar, paired_tests
from khabar.record.tracking import RESOLVED_CONFIG_ARTIFACT, use_store

ALPHA = 0.05
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Side:
    """One side of a comparison: where it comes from and its scored items.

    Attributes
    ----------
    name : str
        As the user gave it (run id, folder, model URI).
    manifest : Manifest
        The task, labels and items.
    scored : ScoredItems
        The per-item predictions.
    """

    name: str
    manifest: Manifest
    scored: ScoredItems


@dataclass
class CompareResult:
    """What `compare` returns and `khabar compare --json` prints.

    Attributes
    ----------
    metric : str
        The headline metric.
    a, b : float
        Its value for A and for B.
    delta, ci_low, ci_high, p_value : float
        B - A, its 95% paired-bootstrap interval, the approximate randomization p-value.
    n_items : int
        Items both were scored on.
    per_class : dict
        Per class (``f1_<class>``): a, b, delta, ci_low, ci_high, p_value, p_holm.
    metrics : dict
        The other overall metrics, as for the headline one.
    mcnemar : dict
        McNemar's exact test on per-item correctness: a_only, b_only, p_value.
    verdict : str
        One line at alpha = 0.05.
    split : str
        "test" or "oof".
    sources : dict
        "a" and "b" as given.
    report_dir : str
        The folder of compare.md and forest.png.
    """

    metric: str
    a: float
    b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    n_items: int
    per_class: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    mcnemar: dict = field(default_factory=dict)
    verdict: str = ""
    split: str = ""
    sources: dict = field(default_factory=dict)
    report_dir: str = ""

    def as_dict(self) -> dict:
        """The result as a JSON-ready dict.

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)


def _run_predictions(run_id: str, split: str | None) -> tuple[Manifest, ScoredItems, list[str]]:
    import mlflow

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # a clean table

    try:
        mlflow.get_run(run_id)
    except mlflow.exceptions.MlflowException:
        raise KhabarError(f"run {run_id}: no such run in the tracking store") from None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=PREDICTIONS_DIR, dst_path=tmp
            )
        except Exception:  # MLflow raises several types for a missing artifact
            raise KhabarError(
                f"run {run_id}: no logged predictions (it predates them); re-create them by "
                f"training its config again: khabar train <config> (the run's config is its "
                f"artifact {RESOLVED_CONFIG_ARTIFACT})"
            ) from None
        splits = sorted(_manifest_splits(folder))
        chosen = split or ("test" if "test" in splits else splits[0])
        if chosen not in splits:
            raise KhabarError(f"run {run_id}: no {chosen!r} predictions (it has {splits})")
        return (*read_predictions(Path(folder), chosen), splits)


def _manifest_splits(folder: str | Path) -> list[str]:
    return list(json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))["splits"])


def _predictions_folder(path: Path) -> Path | None:
    for folder in (path, path / PREDICTIONS_DIR):
        if (folder / MANIFEST).is_file():
            return folder
    return None


def load_side(name: str, split: str | None, data: dict | None) -> tuple[Side, list[str]]:
    """One side's predictions: a run's, a folder's, or a model's on `data`.

    Parameters
    ----------
    name : str
        A run id, a predictions folder, or a model (URI or folder).
    split : str or None
        "test" or "oof"; None: test when there is one.
    data : dict or None
        With `--data`: score_file's arguments (path, label_column, …); then a run id
        means the run's logged model.

    Returns
    -------
    side : Side
    splits : list of str
        The splits this source has.

    Raises
    ------
    KhabarError
        No such run, no predictions, or a model without `--data` or unable to score it.
    """
    folder = _predictions_folder(Path(name))
    if folder is not None:
        splits = _manifest_splits(folder)
        chosen = split or ("test" if "test" in splits else splits[0])
        return Side(name, *read_predictions(folder, chosen)), splits
    if _RUN_ID.match(name) and data is None:
        use_store()
        manifest, scored, splits = _run_predictions(name, split)
        return Side(name, manifest, scored), splits
    if data is None:
        raise KhabarError(
            f"{name}: not a run id or a predictions folder; to score a model give "
            "--data FILE --label-column L"
        )
    return _scored_model(name, data), ["test"]


def _scored_model(name: str, data: dict) -> Side:
    from khabar.runs.evaluate import score_file
    from khabar.runs.predict import load_model

    uri = f"runs:/{name}/model" if _RUN_ID.match(name) else name
    if uri.startswith(("runs:/", "models:/")):
        use_store()
    pipeline = load_model(uri)
    try:
        found = score_file(pipeline, source={"model": name}, **data)
    except KhabarError as exc:
        raise KhabarError(f"{name} cannot score {data['data']}: {exc}") from None
    except Exception as exc:  # a model whose steps fail on this file's columns
        raise KhabarError(f"{name} cannot score {data['data']}: {first_line(exc)}") from None
    return Side(name, found.manifest, found.scored)


def check_comparable(a: Side, b: Side) -> None:
    """Refuse two sides that were not scored on the same items, task and labels.

    Parameters
    ----------
    a, b : Side
        The two sides.

    Raises
    ------
    KhabarError
        Different tasks, label sets, grouped metrics, items (how many differ) or CV repeats.
    """
    ma, mb = a.manifest, b.manifest
    if ma.task != mb.task:
        raise KhabarError(f"A and B are different tasks: {ma.task} vs {mb.task}")
    if sorted(ma.labels) != sorted(mb.labels):
        raise KhabarError(f"A and B have different label sets: {ma.labels} vs {mb.labels}")
    if ma.grouped_metric != mb.grouped_metric:
        raise KhabarError(
            f"A and B have different grouped metrics: {ma.grouped_metric} vs {mb.grouped_metric}"
        )
    items_a = a.scored.items["item_sha256"].tolist()
    items_b = b.scored.items["item_sha256"].tolist()
    if items_a != items_b:
        differ = sum(x != y for x, y in zip(items_a, items_b, strict=False))
        differ += abs(len(items_a) - len(items_b))
        raise KhabarError(
            f"A and B scored different items: {differ} of {max(len(items_a), len(items_b))} "
            "items differ (id, text or gold label, in order); compare runs scored on the "
            "same data, or score both models on one file with --data"
        )
    if a.scored.repeats != b.scored.repeats:
        raise KhabarError(
            f"A and B have different CV repeats ({a.scored.repeats} vs {b.scored.repeats}); "
            "out-of-fold predictions are compared document by document over equal repeats"
        )


def _correct(scored: ScoredItems) -> np.ndarray:
    items = scored.items
    return np.array(
        [
            sorted(g) == sorted(p) if isinstance(g, list) else g == p
            for g, p in zip(items["gold"], items["prediction"], strict=True)
        ]
    )


def compare(
    a: str,
    b: str,
    *,
    metric: str | None = None,
    split: str | None = None,
    data: dict | None = None,
    seed: int = 0,
    reports_dir: str | Path = "reports",
) -> CompareResult:
    """Compare two systems on the same items, with paired tests; write a report.

    Parameters
    ----------
    a, b : str
        Each a run id, a predictions folder, or (with `data`) a model URI or folder.
    metric : str, optional
        The headline metric; default: the runs' own (StanceEval-F1 for Mawqif, micro-F1
        for multi-label, else macro-F1).
    split : str, optional
        "test" or "oof" (out-of-fold); default: test when both have it.
    data : dict, optional
        score_file's arguments (data, label_column, text_column, encoding, id_column) to
        score models on one labeled file.
    seed : int, default 0
        Seeds the bootstrap and the randomization.
    reports_dir : str or Path, default "reports"
        compare.md and forest.png go to ``REPORTS_DIR/compare/<a>-vs-<b>/``.

    Returns
    -------
    CompareResult

    Raises
    ------
    KhabarError
        A side cannot be loaded, or the two are not comparable (see `check_comparable`),
        or `metric` is not one of the task's.
    """
    side_a, splits_a = load_side(a, split, data)
    if split is None and data is None:  # test only when both have it
        split = "test" if "test" in splits_a else "oof"
    side_b, _ = load_side(b, split, data)
    if side_a.scored.split != side_b.scored.split:
        split = "oof"
        side_a, _ = load_side(a, split, data)
        side_b, _ = load_side(b, split, data)
    check_comparable(side_a, side_b)
    result = _tests(side_a, side_b, metric, seed)
    result.report_dir = str(_write_report(result, Path(reports_dir)))
    return result


def _tests(side_a: Side, side_b: Side, metric: str | None, seed: int) -> CompareResult:
    items = side_a.scored.items
    groups = items["group"].tolist() if "group" in items else None
    space = side_a.manifest.space(groups)
    metric = metric or side_a.manifest.headline_metric
    if metric not in space.names():
        raise KhabarError(f"--metric {metric!r}: not a metric of this task; one of {space.names()}")
    found = paired_tests(space, side_a.scored.counts(space), side_b.scored.counts(space), seed=seed)
    per_class = {
        f"f1_{metric_key(label)}": found[f"f1_{metric_key(label)}"] for label in space.labels
    }
    adjusted = holm([r.p_value for r in per_class.values()])
    head = found[metric]
    return CompareResult(
        metric, head.a, head.b, head.delta, head.ci_low, head.ci_high, head.p_value, len(items),
        per_class={n: {**dataclasses.asdict(r), "p_holm": p}
                   for (n, r), p in zip(per_class.items(), adjusted, strict=True)},
        metrics={n: dataclasses.asdict(r) for n, r in found.items() if n not in per_class},
        mcnemar=mcnemar(_correct(side_a.scored), _correct(side_b.scored)),
        verdict=verdict(metric, head.delta, head.ci_low, head.ci_high, head.p_value),
        split=side_a.scored.split,
        sources={"a": side_a.name, "b": side_b.name},
    )  # fmt: skip


def verdict(metric: str, delta: float, low: float, high: float, p_value: float) -> str:
    """One line: which side is better on `metric` at alpha = 0.05, or that the data cannot
    tell them apart.

    Parameters
    ----------
    metric : str
        The headline metric.
    delta, low, high, p_value : float
        B - A, its interval and the randomization p-value.

    Returns
    -------
    str
    """
    shown = f"Δ = {delta:+.4f} [{low:+.4f}, {high:+.4f}], p = {p_value:.4f}"
    if p_value < ALPHA:
        better = "B" if delta > 0 else "A"
        return f"{better} is better on {metric} ({shown}): significant at α = {ALPHA}"
    return (
        f"no significant difference on {metric} at α = {ALPHA} ({shown}): these items cannot "
        "tell A and B apart, which does not show they are equal"
    )


def _row(name: str, r: dict, holm_p: float | None = None) -> str:
    adjusted = "" if holm_p is None else f" | {holm_p:.4f}"
    return (
        f"| {name} | {r['a']:.4f} | {r['b']:.4f} | {r['delta']:+.4f} | "
        f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | {r['p_value']:.4f}{adjusted} |"
    )


def table_lines(result: CompareResult) -> list[str]:
    """The comparison as Markdown tables: overall metrics, then per class.

    Parameters
    ----------
    result : CompareResult
        A comparison.

    Returns
    -------
    list of str
    """
    head = "| metric | A | B | Δ = B − A | 95% CI of Δ | p |"
    lines = [head, "|---|---|---|---|---|---|"]
    ordered = [result.metric] + [n for n in result.metrics if n != result.metric]
    lines += [_row(f"**{n}**" if n == result.metric else n, result.metrics[n]) for n in ordered]
    lines += ["", "| class metric | A | B | Δ = B − A | 95% CI of Δ | p | p (Holm) |",
              "|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [_row(n, r, r["p_holm"]) for n, r in result.per_class.items()]
    return lines


def _markdown(result: CompareResult) -> str:
    m = result.mcnemar
    lines = [
        f"# Compare: A = {result.sources['a']}, B = {result.sources['b']}",
        "",
        f"- **items**: {result.n_items} ({result.split} predictions, the same items on both sides)",
        f"- **headline metric**: {result.metric}",
        f"- **verdict**: {result.verdict}",
        "",
        *table_lines(result),
        "",
        f"McNemar's exact test on per-item correctness: A right and B wrong on {m['a_only']}, "
        f"B right and A wrong on {m['b_only']}, p = {m['p_value']:.4f}.",
        "",
        "## Method",
        "",
        f"- Δ's interval: 95% paired {INTERVAL_METHOD}, 10,000 resamples (items drawn with "
        "replacement, the same items for A and B; out of fold, documents with all repeats).",
        "- p: two-sided paired approximate randomization test, 10,000 random swaps of A's "
        "and B's output per item, (1 + #{|Δ*| ≥ |Δ|}) / (1 + 10,000).",
        "- Per-class p-values are Holm-adjusted over the classes.",
        f"- The verdict is at α = {ALPHA} on the headline metric. A significant Δ says the "
        "difference is unlikely on these items by chance; it says nothing of other data. "
        "No significance says these items cannot tell A and B apart, not that they are equal.",
        "",
        "![forest plot](forest.png)",
    ]
    return "\n".join(lines) + "\n"


def _write_report(result: CompareResult, reports_dir: Path) -> Path:
    from khabar.record.plots import plot_forest  # matplotlib only when reporting

    names = [safe_name(Path(result.sources[s]).name or result.sources[s]) for s in ("a", "b")]
    ordered = [(n, r) for n, r in result.metrics.items()] + list(result.per_class.items())
    rows = [(n, r["delta"], r["ci_low"], r["ci_high"], r.get("p_holm", r["p_value"]) < ALPHA)
            for n, r in ordered]  # fmt: skip

    def fill(folder: Path) -> None:
        (folder / "compare.md").write_text(_markdown(result), encoding="utf-8")
        plot_forest(rows, f"B − A: {names[1]} − {names[0]}", folder / "forest.png")

    return write_new_folder(reports_dir / "compare" / f"{names[0]}-vs-{names[1]}", fill)
