"""Command line: khabar train | predict | explain | evaluate | compare | select | sweep | ui |
register | export | serve."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from khabar import heap
from khabar.errors import KhabarError


def _train(args: argparse.Namespace) -> int:
    from khabar.runs.guard import sigterm_as_interrupt
    from khabar.runs.train import train

    with sigterm_as_interrupt():
        result = train(args.config, args.overrides, offline=args.offline)
    if "test_f1_macro" in result.metrics:
        print(f"run {result.run_id}: test f1_macro {result.metrics['test_f1_macro']:.4f}")
    else:  # no test set (data.test_size: 0): cross-validation is the score
        print(f"run {result.run_id}: CV f1_macro {result.metrics['cv_f1_macro_mean']:.4f}")
    print(f"model: {result.model_uri}")
    print(f"report: {result.report_dir}/summary.md")
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from khabar.runs.predict import predict

    result = predict(
        args.model,
        args.input,
        args.output,
        text_column=args.text_column,
        encoding=args.encoding,
        id_column=args.id_column,
    )
    if result.empty_rows:
        print(
            f"khabar: warning: {result.empty_rows} of {result.rows} rows have no text: "
            "prediction null, the reason column says why",
            file=sys.stderr,
        )
    print(f"wrote {result.rows} predictions to {args.output}")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from khabar.runs.explain import explain

    result = explain(
        args.model,
        args.input,
        args.output,
        top=args.top,
        labels=args.labels,
        text_column=args.text_column,
        id_column=args.id_column,
        encoding=args.encoding,
        limit=args.limit,
    )
    if result.empty_rows:
        print(
            f"khabar: warning: {result.empty_rows} of {len(result.rows)} rows have no text: "
            "no explanation, the reason field says why",
            file=sys.stderr,
        )
    print(f"wrote {len(result.rows)} explanations to {args.output}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from khabar.runs.evaluate import evaluate

    result = evaluate(
        args.model,
        args.data,
        args.label_column,
        text_column=args.text_column,
        encoding=args.encoding,
        reports_dir=args.reports_dir,
        id_column=args.id_column,
        output=args.output,
    )
    metrics = result.metrics
    for key, value in metrics.items():
        if not key.endswith(("_ci_low", "_ci_high")):
            interval = (metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high"))
            shown = f" [{interval[0]:.4f}, {interval[1]:.4f}]" if interval[0] is not None else ""
            print(f"{key}\t{value:.4f}{shown}")
    print(f"report: {result.report_dir}/summary.md")
    print(f"predictions: {result.predictions_dir}")
    print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _compare(args: argparse.Namespace) -> int:
    from khabar.runs.compare import compare, table_lines

    data = None
    if args.data is not None:
        data = {"data": args.data, "label_column": args.label_column or "label", "text_column": args.text_column,
                "encoding": args.encoding, "id_column": args.id_column}  # fmt: skip
    elif args.label_column is not None:
        raise KhabarError("--label-column needs --data FILE (the labeled file to score both on)")
    result = compare(args.a, args.b, metric=args.metric, split=args.split, data=data,
                     seed=args.seed, reports_dir=args.reports_dir)  # fmt: skip
    print(f"A: {args.a}\nB: {args.b}\n{result.n_items} items ({result.split})\n")
    print("\n".join(table_lines(result)))
    m = result.mcnemar
    print(f"\nMcNemar (per-item correctness): A only {m['a_only']}, B only {m['b_only']}, "
          f"p = {m['p_value']:.4f}")  # fmt: skip
    print(f"verdict: {result.verdict}")
    print(f"report: {result.report_dir}/compare.md")
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _select(args: argparse.Namespace) -> int:
    from khabar.runs.select import select

    result = select(
        args.model,
        args.pool,
        args.n,
        args.output,
        strategy=args.strategy,
        exclude=args.exclude,
        seed=args.seed,
        config=args.config,
        text_column=args.text_column,
        id_column=args.id_column,
        pre_annotate=not args.blind,
    )
    print(
        f"selected {result.selected} of {result.pool} pool items ({result.strategy}); "
        f"excluded {result.excluded} already labeled or listed and {result.same_story} telling "
        "the same story as a labeled item, passed over "
        f"{result.near_duplicates} near-duplicates, {result.skipped_without_text} without text"
    )
    print(f"wrote {result.output}" + (f" and {result.label_config}" if result.label_config else ""))
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from khabar.runs.ingest import ingest

    result = ingest(
        args.export,
        args.output,
        merge=args.merge,
        config=args.config,
        label_config=args.label_config,
        label_column=args.label_column,
        text_column=args.text_column,
        id_column=args.id_column,
    )
    print(
        f"{result.export_format} export: {result.new} new labeled items, "
        f"{result.already_present} already present, {result.skipped} skipped, "
        f"{result.cancelled} cancelled, {result.conflicting} conflicting; "
        f"wrote {result.written} rows to {result.output}"
    )
    for line in [*result.skipped_tasks, *result.cancelled_tasks, *result.conflicts]:
        print(f"  {line}")
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from khabar.runs.guard import sigterm_as_interrupt
    from khabar.runs.simulate import simulate, summary_table

    with sigterm_as_interrupt():
        result = simulate(
            args.config,
            strategies=[s.strip() for s in args.strategies.split(",") if s.strip()],
            initial=args.initial,
            batch=args.batch,
            budget=args.budget,
            repeats=args.repeats,
            overrides=args.overrides,
            reports_dir=args.reports_dir,
            features_from=args.features_from,
            offline=args.offline,
        )
    print(summary_table(result))
    print(f"run {result.run_id}; report: {result.report_dir}/summary.md")
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from khabar.runs.sweep import run_sweep

    result = run_sweep(args.experiment, args.overrides, args.backend, args.scheduler)
    best = result.variants[0]
    print(
        f"sweep {result.parent_run_id}: {len(result.variants)} variants; best v{best['index']:02d} "
        f"{best['settings']} {result.metric} {best['metrics'][result.metric]:.4f}"
    )
    print(f"report: {result.report_dir}/ranking.md")
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    return 0


def _ui(args: argparse.Namespace) -> int:
    from khabar.runs.ui import ui

    return ui(args.host, args.port, args.open)


def _register(args: argparse.Namespace) -> int:
    from khabar.runs.registry import register

    registered = register(args.run_id, args.name, args.alias)
    print(f"registered run {registered.run_id} as {registered.name} version {registered.version}")
    print(f"model: {registered.uri}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from khabar.runs.export import export_model

    folder = export_model(args.model, args.output)
    print(f"exported {args.model} to {folder}/ (model.skops, metadata.json)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from khabar.runs.serve import serve

    serve(args.model, args.host, args.port)
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # khabar's own warnings are for users: one line, without a source location.
    from khabar.record.model_info import KhabarVersionWarning

    if issubclass(category, KhabarVersionWarning):
        print(f"khabar: warning: {message}", file=sys.stderr)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


def _add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help=help_text,
    )  # fmt: skip


def _add_run_commands(commands) -> None:
    train = commands.add_parser("train", help="train and evaluate one experiment config")
    train.add_argument("config")
    _add_set_option(train, "override a config key, e.g. model.params.C=0.3")
    train.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    train.add_argument(
        "--offline",
        action="store_true",
        help="record in the local store mlflow.db even if MLFLOW_TRACKING_URI names a server",
    )
    train.set_defaults(handler=_train)

    predict = commands.add_parser("predict", help="predict labels for a file of texts")
    predict.add_argument("--model", required=True, help="runs:/…, models:/name@alias or a folder")
    predict.add_argument("--input", required=True)
    predict.add_argument("--output", required=True, help=".csv, .jsonl or .parquet")
    predict.add_argument("--text-column", default=None)
    predict.add_argument("--encoding", default="utf-8")
    predict.add_argument("--id-column", default="id", help="the column naming rows (default id)")
    predict.set_defaults(handler=_predict)

    evaluate = commands.add_parser("evaluate", help="score a trained model on labeled data")
    evaluate.add_argument("--model", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--label-column", default="label")
    evaluate.add_argument("--text-column", default=None)
    evaluate.add_argument("--encoding", default="utf-8")
    evaluate.add_argument("--id-column", default="id", help="the column naming rows (default id)")
    evaluate.add_argument("--reports-dir", default="reports")
    evaluate.add_argument(
        "--output", default=None, help="folder for the per-item predictions (default: the report's)"
    )
    evaluate.set_defaults(handler=_evaluate)

    sweep = commands.add_parser("sweep", help="run the variants of an experiment (grid or list)")
    sweep.add_argument(
        "experiment", help="a sweep YAML, e.g. experiments/sweep_topic_classifiers.yaml"
    )
    _add_set_option(sweep, "override a key of the base config for every variant")
    sweep.add_argument("--backend", choices=["local", "dask"], default="local")
    sweep.add_argument("--scheduler", help="Dask scheduler address for --backend dask")
    sweep.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    sweep.set_defaults(handler=_sweep)


def _add_explain_command(commands) -> None:
    explain = commands.add_parser(
        "explain", help="why the model chose a label: exact n-gram contributions, on the text"
    )
    explain.add_argument("--model", required=True, help="runs:/…, models:/name@alias or a folder")
    explain.add_argument("--input", required=True)
    explain.add_argument("--output", required=True, help=".jsonl (one row per input) or .html")
    explain.add_argument("--top", type=int, default=10, help="features per label (0: all)")
    explain.add_argument("--label", dest="labels", action="append", default=[], metavar="L",
                         help="also explain this label (repeatable)")  # fmt: skip
    explain.add_argument("--text-column", default=None)
    explain.add_argument("--id-column", default="id", help="the column naming rows (default id)")
    explain.add_argument("--encoding", default="utf-8")
    explain.add_argument("--limit", type=int, default=None, help="explain the first N rows only")
    explain.set_defaults(handler=_explain)


def _add_compare_command(commands) -> None:
    compare = commands.add_parser(
        "compare", help="is B better than A? paired tests on the same items, with intervals"
    )
    compare.add_argument(
        "a", metavar="A", help="a run id, a predictions folder, or with --data a model"
    )
    compare.add_argument("b", metavar="B", help="the same for B")
    compare.add_argument("--data", default=None, help="a labeled file to score two models on")
    compare.add_argument("--label-column", default=None, help="with --data (default label)")
    compare.add_argument("--text-column", default=None)
    compare.add_argument("--encoding", default="utf-8")
    compare.add_argument("--id-column", default="id", help="the column naming rows (default id)")
    compare.add_argument(
        "--metric", default=None, help="the headline metric (default: the runs' own)"
    )
    compare.add_argument("--split", choices=["test", "oof"], default=None,
                         help="test or out-of-fold predictions (default: test when both have it)")  # fmt: skip
    compare.add_argument("--seed", type=int, default=0, help="seeds the resampling (default 0)")
    compare.add_argument("--reports-dir", default="reports")
    compare.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    compare.set_defaults(handler=_compare)


def _add_labeling_commands(commands) -> None:
    select = commands.add_parser("select", help="pick the pool items most worth labeling next")
    source = select.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a trained model (MLflow URI or folder)")
    source.add_argument("--config", help="without a model: a cold start for this config's labels")
    select.add_argument("--pool", required=True, help="a table, or a folder of SaudiNewsNet ZIPs")
    select.add_argument("--n", type=int, required=True, help="how many items to select")
    select.add_argument("--output", required=True, help="a new .jsonl, or .json for Label Studio")
    select.add_argument("--strategy", default="breaking_ties",
                        help="random, least_confidence, entropy, breaking_ties or diverse")  # fmt: skip
    select.add_argument("--exclude", nargs="+", default=[], metavar="FILE",
                        help="labeled files, or .txt lists of ids/URLs, never selected")  # fmt: skip
    select.add_argument("--seed", type=int, default=0)
    select.add_argument("--blind", action="store_true",
                        help="Label Studio tasks without the model's choice (readers do not see it)")  # fmt: skip
    select.add_argument("--text-column", default="text")
    select.add_argument("--id-column", default="id")
    select.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    select.set_defaults(handler=_select)

    ingest = commands.add_parser("ingest", help="a Label Studio export into a labeled JSONL file")
    ingest.add_argument(
        "export", metavar="EXPORT", help="Label Studio's JSON, JSON-MIN or CSV export"
    )
    ingest.add_argument("--output", required=True, help="the labeled .jsonl to write")
    ingest.add_argument(
        "--merge", default=None, help="an existing labeled file to add to (kept as is)"
    )
    labels = ingest.add_mutually_exclusive_group()
    labels.add_argument("--config", default=None, help="check labels against this config's")
    labels.add_argument("--label-config", default=None, help="or against this label_config.xml")
    ingest.add_argument("--label-column", default=None, help="default: the config's, else label")
    ingest.add_argument("--text-column", default=None, help="default: the config's, else text")
    ingest.add_argument("--id-column", default=None, help="default: the config's, else id")
    ingest.add_argument("--json", action="store_true", help="print a JSON result as the last line")
    ingest.set_defaults(handler=_ingest)

    simulate = commands.add_parser(
        "simulate", help="replay active learning on labeled data: labels each strategy needs"
    )
    simulate.add_argument("config", metavar="CONFIG")
    simulate.add_argument("--strategies", default="random,breaking_ties,diverse",
                          help="comma-separated; random is the reference")  # fmt: skip
    simulate.add_argument("--initial", type=int, default=50, help="random labels to start with")
    simulate.add_argument("--batch", type=int, default=50, help="labels added per step")
    simulate.add_argument("--budget", type=int, default=600, help="labels at the end")
    simulate.add_argument("--repeats", type=int, default=3, help="seeds config.seed, +1, …")
    simulate.add_argument("--features-from", choices=["labeled", "pool"], default="labeled",
                          help="fit features on the labeled rows per step, or once on the pool")  # fmt: skip
    _add_set_option(simulate, "override a config key")
    simulate.add_argument("--reports-dir", default=None, help="default: the config's reports_dir")
    simulate.add_argument("--offline", action="store_true", help="record in the local store")
    simulate.add_argument(
        "--json", action="store_true", help="print a JSON result as the last line"
    )
    simulate.set_defaults(handler=_simulate)


def _add_reuse_commands(commands) -> None:
    ui = commands.add_parser("ui", help="the MLflow UI on khabar's tracking store")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    ui.add_argument("--open", action="store_true", help="open the runs table in your browser")
    ui.set_defaults(handler=_ui)

    register = commands.add_parser(
        "register", help="register a run's model in the MLflow Model Registry, with an alias"
    )
    register.add_argument("run_id", metavar="RUN_ID")
    register.add_argument("--name", required=True, help="registered model name, e.g. khabar-topic")
    register.add_argument("--alias", default=None, help="e.g. champion: then models:/NAME@champion")
    register.set_defaults(handler=_register)

    export = commands.add_parser(
        "export", help="write a self-contained model folder: model.skops + metadata.json"
    )
    export.add_argument("model", metavar="MODEL", help="runs:/…, models:/name@alias or a folder")
    export.add_argument("--output", required=True, help="a new (or empty) folder")
    export.set_defaults(handler=_export)

    serve = commands.add_parser("serve", help="serve a model over HTTP: POST /invocations")
    serve.add_argument("--model", required=True, help="runs:/…, models:/name@alias or a folder")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback only)")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=_serve)


def build_parser() -> argparse.ArgumentParser:
    """The command line of khabar: one sub-command per public function of the runs layer.

    Returns
    -------
    argparse.ArgumentParser
        The parser; each sub-command sets `handler`, the function that runs it.
    """
    parser = argparse.ArgumentParser(prog="khabar", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run_commands(commands)
    _add_explain_command(commands)
    _add_compare_command(commands)
    _add_labeling_commands(commands)
    _add_reuse_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one khabar command, as the `khabar` script does.

    A KhabarError is printed on one line (``khabar: error: ...``), not as a traceback.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; None: the process's (``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a user error, 130 when interrupted; `ui`
        returns the MLflow UI's own.
    """
    args = build_parser().parse_args(argv)
    warnings.showwarning = _show_warning
    heap.use_fixed_mmap_threshold()  # corpus-sized arrays go back to the system when freed
    try:
        return args.handler(args)
    except KhabarError as exc:
        # One line, always: a message quoting a library may carry line breaks.
        print(f"khabar: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("khabar: interrupted; earlier runs and reports are untouched", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
