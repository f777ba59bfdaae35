"""Config mistakes through `khabar train` (in-process): one line naming the config file, the
field and what was expected; exit code 2; nothing started."""

from __future__ import annotations

import pytest

from ..conftest import write_config
from .conftest import one_error_line, only_line, run_main, tree_digest

# (case, config sections, fragments the one error line must hold)
BAD_CONFIGS = [
    ("unknown top-level key", {"colour": "red"}, ["colour: unknown key"]),
    (
        "unknown nested key",
        {"features": {"char": {"ngrams": [2, 4]}}},
        ["features.char.ngrams: unknown key"],
    ),
    ("wrong type: seed", {"seed": "abc"}, ["seed:", "'abc'"]),
    ("wrong type: cv_folds", {"evaluation": {"cv_folds": "many"}}, ["evaluation.cv_folds"]),
    ("cv_folds below 2", {"evaluation": {"cv_folds": 1}}, ["evaluation.cv_folds", "2"]),
    ("wrong type: drop_leaked", {"data": {"drop_leaked": "maybe"}}, ["data.drop_leaked"]),
    ("test_size outside (0, 1)", {"data": {"test_size": 1.5}}, ["data.test_size"]),
    ("unknown task", {"task": "multi"}, ["task:", "'multi'"]),
    (
        "unknown classifier",
        {"model": {"name": "magic_forest"}},
        ["model.name", "unknown classifier 'magic_forest'", "linear_svc"],
    ),
    (
        "unknown classifier parameter",
        {"model": {"name": "linear_svc", "params": {"gamma": 1}}},
        ["model.params.gamma", "no parameter 'gamma'"],
    ),
    (
        "classifier parameter of the wrong type",
        {"model": {"name": "linear_svc", "params": {"C": "abc"}}},
        ["model.params", "'C'", "must be a float", "'abc'"],
    ),
    (
        "classifier parameter out of range",
        {"model": {"name": "logistic_regression", "params": {"C": -1}}},
        ["model.params", "'C'", "-1"],
    ),
    (
        "n-gram range reversed",
        {"features": {"char": {"ngram_range": [5, 2]}}},
        ["features.char.ngram_range", "1 <= min <= max", "[5, 2]"],
    ),
    (
        "n-gram range from 0",
        {"features": {"char": {"ngram_range": [0, 3]}}},
        ["features.char.ngram_range", "[0, 3]"],
    ),
    (
        "n-gram range of three numbers",
        {"features": {"char": {"ngram_range": [1, 2, 3]}}},
        ["features.char.ngram_range", "at most 2 items"],
    ),
    (
        "n-gram range not a list",
        {"features": {"char": {"ngram_range": "2-5"}}},
        ["features.char.ngram_range", "'2-5'"],
    ),
    (
        "char features with the word analyzer",
        {"features": {"char": {"analyzer": "word"}}},
        ["features.char", "'char' or 'char_wb'"],
    ),
    ("min_df negative", {"features": {"char": {"min_df": -1}}}, ["features.char", "min_df"]),
    (
        "max_features zero",
        {"features": {"char": {"max_features": 0}}},
        ["features.char", "max_features"],
    ),
    (
        "min_df above max_df",
        {"features": {"char": {"min_df": 0.9, "max_df": 0.5}}},
        ["features.char", "min_df 0.9 is above max_df 0.5"],
    ),
    ("unknown encoding", {"data": {"encoding": "klingon"}}, ["data.encoding", "'klingon'"]),
    (
        "data.train does not exist",
        {"data": {"train": "no/such/train.jsonl"}},
        ["data.train", "file not found", "no/such/train.jsonl"],
    ),
    (
        "data.test does not exist",
        {"data": {"test": "missing-test.csv"}},
        ["data.test", "file not found", "missing-test.csv"],
    ),
]


@pytest.mark.parametrize(
    ("name", "sections", "fragments"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_is_one_line_naming_the_field(workdir, ledger, name, sections, fragments):
    with ledger.case("configs", name, "exit 2, one line naming the field") as case:
        config = write_config(workdir, **sections)
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        for fragment in fragments:
            assert fragment in message, (fragment, message)
        assert not (workdir / "mlflow.db").exists()
        assert tree_digest(workdir / "reports") == {}


BAD_OVERRIDES = [
    ("--set on a key that does not exist", "data.trian=x.jsonl", ["no key 'data.trian'"]),
    ("--set on an unknown section", "optimizer.lr=0.1", ["no key 'optimizer'"]),
    ("--set below a value", "seed.low=1", ["seed is not a section"]),
    ("--set without =", "model.params", ["expected KEY=VALUE"]),
    ("--set of the wrong type", "evaluation.cv_folds=abc", ["evaluation.cv_folds", "'abc'"]),
    ("--set of a bad n-gram range", "features.char.ngram_range=[3,1]", ["ngram_range", "[3, 1]"]),
    ("--set of an unknown classifier", "model.name=bert", ["model.name", "'bert'"]),
]


@pytest.mark.parametrize(
    ("name", "override", "fragments"), BAD_OVERRIDES, ids=[c[0] for c in BAD_OVERRIDES]
)
def test_bad_override_is_one_line(workdir, ledger, name, override, fragments):
    with ledger.case("configs", name, "exit 2, one line naming the key") as case:
        config = write_config(workdir)
        result = run_main("train", config, "--set", override)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        for fragment in fragments:
            assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("config file that does not exist", None, "config file not found"),
        ("config that is not valid YAML", "name: [unclosed\n", "not valid YAML"),
        ("config that is a list", "- a\n- b\n", "expected a mapping"),
        ("empty config file", "", "expected a mapping"),
        ("config missing required keys", "name: x\n", "required key is missing"),
    ],
)
def test_broken_config_files(workdir, ledger, name, text, fragment):
    with ledger.case("configs", name, "exit 2, one line naming the file") as case:
        path = workdir / "exp.yaml"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        result = run_main("train", path)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "exp.yaml" in message and fragment in message


def test_unknown_command_line_option(workdir, ledger):
    with ledger.case("configs", "unknown command-line option", "usage message, exit 2") as case:
        result = run_main("train", write_config(workdir), "--sett", "seed=1")
        case.crashed = result.crashed
        case.saw(f"exit {result.code}: {result.err.strip().splitlines()[-1]}")
        assert result.code == 2 and "unrecognized arguments: --sett" in result.err
        assert "Traceback" not in result.err


@pytest.mark.slow
def test_parameters_that_fail_only_when_fitting(workdir, ledger):
    """Valid values that scikit-learn rejects together, at fit time (penalty l1 with the
    lbfgs solver): one line naming the model settings; the run is marked FAILED."""
    import mlflow

    with ledger.case(
        "configs",
        "classifier parameters incompatible at fit time (penalty l1 with lbfgs)",
        "exit 2, one line naming model.name and model.params; run FAILED",
    ) as case:
        config = write_config(
            workdir, model={"name": "logistic_regression", "params": {"penalty": "l1"}}
        )
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = one_error_line(result)
        assert "model.name=logistic_regression model.params={'penalty': 'l1'}" in message
        assert "fitting failed" in message and "lbfgs" in message
        (run,) = mlflow.search_runs(experiment_names=["fixture"], output_format="list")
        assert run.info.status == "FAILED"
