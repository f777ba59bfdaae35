from pathlib import Path

import pytest

from khabar.errors import KhabarError
from khabar.runs.guard import load_config

from .conftest import PROJECT, write_config


@pytest.mark.parametrize("path", sorted((PROJECT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    config = load_config(path)
    assert config.name and config.experiment


def test_set_overrides_nested_values(tmp_path):
    path = write_config(tmp_path)
    config = load_config(
        path,
        [
            "model.params.C=0.3",
            "features.char.ngram_range=[1, 3]",
            "data.train=other.jsonl",
            "evaluation.cv_folds=4",
        ],
    )
    assert config.model.params["C"] == 0.3
    assert config.features.char.ngram_range == (1, 3)
    assert config.data.train == "other.jsonl"
    assert config.evaluation.cv_folds == 4


def test_set_can_enable_an_optional_section(tmp_path):
    config = load_config(write_config(tmp_path), ["features.word.analyzer=word"])
    assert config.features.word is not None and config.features.word.analyzer == "word"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.trian=x.csv", "no key 'data.trian'"),
        ("nothing=1", "no key 'nothing'"),
        ("model.params", "expected KEY=VALUE"),
    ],
)
def test_set_on_unknown_key_is_one_clear_error(tmp_path, override, expected):
    with pytest.raises(KhabarError, match=expected):
        load_config(write_config(tmp_path), [override])


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        ({"colour": "red"}, "colour: unknown key"),
        ({"model": {"name": "magic_forest"}}, "unknown classifier 'magic_forest'"),
        ({"model": {"name": "linear_svc", "params": {"gamma": 1}}}, "no parameter 'gamma'"),
        ({"features": {"char": {"ngram_range": [5, 2]}}}, "features.char.ngram_range"),
        ({"evaluation": {"cv_folds": "many"}}, "evaluation.cv_folds"),
        ({"name": "../escape"}, "not a safe name"),
        ({"experiment": "/abs/path"}, "not a safe name"),
    ],
)
def test_invalid_configs_name_the_field(tmp_path, sections, expected):
    path = write_config(tmp_path, **sections)
    with pytest.raises(KhabarError, match=expected) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(KhabarError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = Path(tmp_path / "broken.yaml")
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(KhabarError, match="not valid YAML"):
        load_config(broken)


def test_scientific_notation_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-5 as a string; khabar reads it as the number researchers mean.
    path = write_config(tmp_path, model={"name": "sgd", "params": {}})
    config = load_config(path, ["model.params.alpha=1e-5"])
    assert config.model.params["alpha"] == 1e-5


def test_extra_train_takes_paths_and_files_with_their_own_columns(tmp_path):
    config = load_config(
        write_config(tmp_path),
        [
            "data.extra_train=[more.jsonl, {path: tone.csv, label_column: tone, "
            "labels: {pos: Positive}}]"
        ],
    )
    plain, mapped = config.data.extra_train_files()
    assert (plain.path, plain.text_column, plain.labels) == ("more.jsonl", None, {})
    assert (mapped.path, mapped.label_column, mapped.labels) == (
        "tone.csv",
        "tone",
        {"pos": "Positive"},
    )
    with pytest.raises(KhabarError, match=r"extra_train.0.file.label: unknown key"):
        load_config(write_config(tmp_path), ["data.extra_train=[{path: a.csv, label: x}]"])
    numbers = load_config(
        write_config(tmp_path), ["data.extra_train=[{path: a.csv, labels: {0: neg, 1: pos}}]"]
    )
    assert numbers.data.extra_train_files()[0].labels == {"0": "neg", "1": "pos"}
    with pytest.raises(KhabarError, match=r"yes / no / true / false label as True; quote it"):
        load_config(write_config(tmp_path), ["data.extra_train=[{path: a.csv, labels: {yes: Y}}]"])
