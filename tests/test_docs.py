"""The README is a reference that stays true: its config table names every key of the config
models (and no key that is gone), with the right defaults; it names the two make commands
the Makefile has; it shows every sub-command with its own flags; and the links of the
README, the guide and the architecture page resolve."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Discriminator, Field, Tag
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from khabar.cli import build_parser
from khabar.data.config import DataConfig, ExperimentConfig, read_yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIG_SECTION = "## Config reference"
TABLE_HEADER = ["key", "type", "default", "meaning"]
LIST_MARK = "[]"  # data.extra_train[].labels: a key of each entry of a list


# --- the keys of the config models -------------------------------------------------------


def _nested_models(annotation: Any, through_list: bool = False) -> list[tuple[type, bool]]:
    """The pydantic models inside an annotation (Optional, Union, list, Annotated, ...), each
    with whether it is reached through a list (its keys are then `key[].sub`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(annotation, through_list)]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        args = args[:1]  # the rest is metadata (Tag, Discriminator, Field, ...)
    elif origin is Literal:
        return []
    listed = through_list or origin in (list, tuple, set, frozenset)
    if origin is dict:
        args = args[1:]  # a map's values; its keys are free
    found: list[tuple[type, bool]] = []
    for arg in args:
        for model, via_list in _nested_models(arg, listed):
            if (model, via_list) not in found:
                found.append((model, via_list))
    return found


def config_keys(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """Every dotted key of a pydantic config model, sections included (`data`,
    `features.word`), recursing into nested models wherever the annotation holds them."""
    keys: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys[key] = field
        for nested, via_list in _nested_models(field.annotation):
            keys.update(config_keys(nested, f"{key}{LIST_MARK if via_list else ''}."))
    return keys


def default_value(field: FieldInfo) -> Any:
    """The default as it reads in YAML (tuples as lists), or PydanticUndefined if required."""
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return list(value) if isinstance(value, tuple) else value


# --- the README's table ------------------------------------------------------------------


def readme_section(text: str, heading: str) -> str:
    start = text.find(f"\n{heading}\n")
    assert start >= 0, f"README.md has no section {heading!r}"
    end = text.find("\n## ", start + len(heading) + 2)
    return text[start : end if end >= 0 else len(text)]


def _cells(line: str) -> list[str]:
    """A table row's cells, split as GitHub splits them: on every `|` not escaped as `\\|`
    (inside code spans too), an escaped one reading as `|`."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def table_rows(section: str) -> dict[str, list[str]]:
    """The config table: dotted key -> its cells [key, type, default, meaning]."""
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines, "no table in the config reference section"
    assert [c.lower() for c in _cells(lines[0])] == TABLE_HEADER, lines[0]
    rows: dict[str, list[str]] = {}
    for line in lines[2:]:
        cells = _cells(line)
        match = re.fullmatch(r"`([A-Za-z0-9_.\[\]]+)`", cells[0])
        assert match, f"config table row without a `dotted.key` first: {line}"
        assert len(cells) == len(TABLE_HEADER), f"expected {len(TABLE_HEADER)} cells: {line}"
        assert all(cells), f"empty cell in: {line}"
        assert match.group(1) not in rows, f"key listed twice: {match.group(1)}"
        rows[match.group(1)] = cells
    return rows


def compare(keys: dict[str, FieldInfo], rows: dict[str, list[str]]) -> list[str]:
    """Problems, one line each: undocumented keys, documented keys that do not exist."""
    problems = [f"config key not in README's table: {key}" for key in keys if key not in rows]
    problems += [
        f"README's table lists a key that does not exist: {key}" for key in rows if key not in keys
    ]
    return problems


def default_problems(keys: dict[str, FieldInfo], rows: dict[str, list[str]]) -> list[str]:
    """A required key's default says "required" (perhaps "required in the section"); any
    other key's default is the first code span of its cell, read as YAML."""
    problems = []
    for key, field in keys.items():
        if key not in rows:
            continue
        cell = rows[key][2]
        if field.is_required():
            if not cell.startswith("required"):
                problems.append(f"{key}: required, but the README's default is {cell!r}")
            continue
        if cell.startswith("required"):
            problems.append(
                f"{key}: the README says required; its default is {default_value(field)!r}"
            )
            continue
        if isinstance(field.default, BaseModel):
            continue  # a section that is always there: its keys' rows give the defaults
        code = re.search(r"`([^`]*)`", cell)
        written = read_yaml(code.group(1)) if code else PydanticUndefined
        if written != default_value(field):
            problems.append(f"{key}: default is {default_value(field)!r}, README says {cell!r}")
    return problems


# --- tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text("utf-8")


@pytest.fixture(scope="module")
def rows(readme) -> dict[str, list[str]]:
    return table_rows(readme_section(readme, CONFIG_SECTION))


def test_every_config_key_is_in_the_readme_table_and_no_other(rows):
    assert compare(config_keys(ExperimentConfig), rows) == []


def test_the_readme_table_gives_each_key_its_real_default(rows):
    assert default_problems(config_keys(ExperimentConfig), rows) == []


class _Inner(BaseModel):
    a: int = 1


class _Entry(BaseModel):
    path: str
    labels: dict[str, str] = Field(default_factory=dict)


class _Tiny(BaseModel):
    plain: str
    inner: _Inner = _Inner()
    maybe: _Inner | None = None
    entries: list[str | _Entry] = Field(default_factory=list)
    tagged: list[
        Annotated[
            Annotated[str, Tag("path")] | Annotated[_Entry, Tag("file")],
            Discriminator(lambda value: "path" if isinstance(value, str) else "file"),
        ]
    ] = Field(default_factory=list)
    by_name: dict[str, _Inner] = Field(default_factory=dict)
    mode: Literal["a", "b"] = "a"


def test_the_key_walker_finds_keys_inside_optional_list_union_and_annotated():
    assert list(config_keys(_Tiny)) == [
        "plain",
        "inner",
        "inner.a",
        "maybe",
        "maybe.a",
        "entries",
        "entries[].path",
        "entries[].labels",
        "tagged",
        "tagged[].path",
        "tagged[].labels",
        "by_name",
        "by_name.a",
        "mode",
    ]


def test_the_walker_sees_the_nested_config_models():
    keys = config_keys(ExperimentConfig)
    for key in (
        "data.train",
        "data.extra_train[].labels",
        "features.char.ngram_range",
        "features.word.analyzer",
        "features.word_vectors.vector_size",
        "evaluation.grouped_metric.group_column",
        "model.params",
    ):
        assert key in keys


def test_a_new_config_key_without_a_row_fails(rows):
    """A field added to the config (at the top or inside a section) and not to the README
    is named; so is a row whose key the config no longer has."""

    class NewData(DataConfig):
        brand_new_column: str | None = None

    class NewConfig(ExperimentConfig):
        data: NewData
        brand_new_key: int = 0

    assert compare(config_keys(NewConfig), rows) == [
        "config key not in README's table: data.brand_new_column",
        "config key not in README's table: brand_new_key",
    ]
    assert compare(config_keys(_Tiny), {"plain": [], "gone": []})[-1] == (
        "README's table lists a key that does not exist: gone"
    )


def test_a_wrong_default_in_the_table_fails(rows):
    wrong = {key: list(cells) for key, cells in rows.items()}
    wrong["seed"][2] = "`7`"
    wrong["data.train"][2] = "`train.jsonl`"
    assert default_problems(config_keys(ExperimentConfig), wrong) == [
        "seed: default is 42, README says '`7`'",
        "data.train: required, but the README's default is '`train.jsonl`'",
    ]


def test_the_table_parser_splits_cells_as_github_does():
    header = ["| key | type | default | meaning |", "|---|---|---|---|"]
    escaped = "| `task` | `a` \\| `b` | `a` | one or the other |"
    assert table_rows("\n".join([*header, escaped])) == {
        "task": ["`task`", "`a` | `b`", "`a`", "one or the other"]
    }
    # GitHub splits on a bare `|` even inside a code span: the row has a cell too many.
    with pytest.raises(AssertionError, match="expected 4 cells"):
        table_rows("\n".join([*header, "| `data.test` | `str | null` | `null` | rows |"]))


def _makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text("utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def test_the_readme_names_exactly_the_two_make_commands(readme):
    named = set(re.findall(r"\bmake\s+([A-Za-z][\w-]*)", readme))
    assert named == {"run", "test"}
    assert {"run", "test"} <= _makefile_targets()


def test_the_readme_says_which_debian_packages_the_integration_tests_need(readme):
    for word in ("postgresql", "chromium", "chromium-driver", ".ci/run"):
        assert word in readme


def _commands() -> dict[str, list[str]]:
    """Each sub-command of `khabar` and its long flags."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and a.dest == "command")
    return {
        name: [o for action in sub._actions for o in action.option_strings if o.startswith("--")]
        for name, sub in subparsers.choices.items()
    }


def command_blocks(section: str) -> dict[str, str]:
    """The Commands section cut at each "**`khabar NAME": NAME -> its text."""
    parts = re.split(r"^\*\*`khabar ([a-z]+)\b", section, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_readme_shows_every_command_with_its_own_flags(readme):
    """Each sub-command has its block, with an example and every flag of its parser."""
    blocks = command_blocks(readme_section(readme, "## Commands"))
    missing = []
    for name, flags in _commands().items():
        block = blocks.get(name)
        if block is None:
            missing.append(f"khabar {name}: no block")
            continue
        if f"\nkhabar {name}" not in block:
            missing.append(f"khabar {name}: no example")
        missing += [
            f"khabar {name} {flag}" for flag in flags if flag != "--help" and flag not in block
        ]
    assert missing == []
    assert set(blocks) == set(_commands()), "a block for a command that does not exist"


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", text)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text("utf-8")
    return {_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("doc", ["README.md", "docs/GUIDE.md", "docs/ARCHITECTURE.md"])
def test_links_point_at_files_and_headings_that_exist(doc):
    """Relative links resolve, and so do their #anchors; docs/results/ pages are generated
    by the benchmark scripts, so only their names are taken on trust."""
    source = ROOT / doc
    broken = []
    for link in _links(source.read_text("utf-8")):
        if re.match(r"[a-z]+:", link):
            continue  # http(s), mailto
        target, _, anchor = link.partition("#")
        path = (source.parent / target).resolve() if target else source
        if "docs/results/" in path.as_posix():
            continue
        if not path.exists() or (anchor and anchor not in _anchors(path)):
            broken.append(link)
    assert broken == []


def test_the_anchor_rule_matches_github():
    assert _anchor("A lab's tracking server with PostgreSQL") == (
        "a-labs-tracking-server-with-postgresql"
    )
    assert _anchor("Tracking: what a run logs") == "tracking-what-a-run-logs"
