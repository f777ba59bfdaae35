"""The fit set: what a model is fit on, assembled once for training, the benchmarks and the
experiments. The config's training rows come first, then data.extra_train's rows (another
dataset's file in data.train's terms); extra rows join every fit and are never scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from khabar.data.config import ExperimentConfig
from khabar.data.dataset import (
    LabeledData,
    check_test_labels,
    clean_labels,
    clean_texts,
    find_leakage,
    join_labeled,
    load_labeled,
    map_labels,
    row_location,
    split_train_test,
)
from khabar.errors import KhabarError

# Joins a row's main and auxiliary labels into one class name (data.auxiliary_label_column).
# The unit separator never occurs in a real label; labels holding it are refused.
JOINT_SEPARATOR = "\x1f"


def joint_labels(main: list[str], auxiliary: list[str]) -> list[str]:
    """`main` and `auxiliary` labels as joint class names ("Favor" + "Positive").

    Parameters
    ----------
    main : list of str
        The main label of each row.
    auxiliary : list of str
        The auxiliary label of each row, as many as `main`.

    Returns
    -------
    list of str
        One class name per row: the two labels joined by `JOINT_SEPARATOR`.

    Raises
    ------
    ValueError
        A label holds the separator character U+001F.
    """
    for label in (*main, *auxiliary):
        if JOINT_SEPARATOR in label:
            raise ValueError(f"label {label!r} holds the character U+001F")
    return [f"{m}{JOINT_SEPARATOR}{a}" for m, a in zip(main, auxiliary, strict=True)]


def main_label(label: str) -> str:
    """The main label of a joint class name (the label itself when it is not joint).

    Parameters
    ----------
    label : str
        A class name, joint or not.

    Returns
    -------
    str
        The part before `JOINT_SEPARATOR`.
    """
    return str(label).split(JOINT_SEPARATOR, 1)[0]


def input_columns(config: ExperimentConfig) -> list[str]:
    """Every column the Pipeline reads.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.

    Returns
    -------
    list of str
        The text column, then any extra input column (features.target_column).
    """
    target = config.features.target_column
    return [config.data.text_column] + ([target] if target else [])


def model_inputs(data: LabeledData, config: ExperimentConfig) -> pd.DataFrame:
    """The columns of `data` the Pipeline reads, with a fresh 0..n-1 index.

    Parameters
    ----------
    data : LabeledData
        Labeled rows.
    config : ExperimentConfig
        Names the input columns (see `input_columns`).

    Returns
    -------
    DataFrame
        The input columns of every row of `data`.
    """
    return data.frame[input_columns(config)].reset_index(drop=True)


def fit_labels(data: LabeledData, config: ExperimentConfig) -> list:
    """The labels a model is fit on.

    Parameters
    ----------
    data : LabeledData
        Labeled rows; the auxiliary label is read from its frame.
    config : ExperimentConfig
        Names data.auxiliary_label_column.

    Returns
    -------
    list
        `data.labels`, or with data.auxiliary_label_column each row's joint label (main +
        auxiliary, see `joint_labels`).

    Raises
    ------
    KhabarError
        An auxiliary label is blank or holds the joint separator; names the file and row.
    """
    auxiliary = config.data.auxiliary_label_column
    if auxiliary is None:
        return data.labels
    try:
        return joint_labels(data.labels, clean_labels(data.frame, auxiliary, data.path, False))
    except ValueError as exc:
        raise KhabarError(f"{data.path}: {exc}") from None


def load_extra_train(
    config: ExperimentConfig, train: LabeledData | None = None
) -> list[LabeledData]:
    """Read data.extra_train's files in data.train's terms.

    The text is under the config's text column, labels are renamed by each entry's label
    map, and every column training reads is checked.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment whose data.extra_train is read.
    train : LabeledData, optional
        The training data; when given, an extra label it never uses is refused (it would be
        a class nobody scores).

    Returns
    -------
    list of LabeledData
        One per data.extra_train entry, in order.

    Raises
    ------
    KhabarError
        A file cannot be read, lacks a column training reads, or has a label the map or
        the training data does not know; names the entry and the row.
    """
    data = config.data
    auxiliary = (data.auxiliary_label_column,) if data.auxiliary_label_column else ()
    inputs = input_columns(config)[1:]
    seen = set(train.label_counts) if train is not None else None
    parts = []
    for i, entry in enumerate(data.extra_train_files()):
        text_column = entry.text_column or data.text_column
        part = load_labeled(
            entry.path,
            text_column,
            entry.label_column or data.label_column,
            multi_label=config.task == "multi_label",
            encoding=data.encoding,
            extra_columns=(*inputs, *auxiliary),
            needed_columns_only=True,
            empty_texts=data.empty_texts,
            id_column=data.id_column,
            saudinewsnet=data.saudinewsnet,
        )
        field = f"data.extra_train[{i}]"
        mapped = map_labels(part, entry.labels, field) if entry.labels else part.labels
        if seen is not None:
            _check_known_labels(part, mapped, seen, field, bool(entry.labels), train.path)
        part.labels = mapped
        _note_dropped(part, None if train is None else train.notes)
        for column in inputs:  # a model's extra input may not be blank
            clean_texts(part.frame, column, part.path)
        fit_labels(part, config)  # a blank auxiliary label fails here, before any run starts
        if text_column != data.text_column:  # the Pipeline reads the config's text column
            frame = part.frame.drop(columns=[data.text_column], errors="ignore")
            part.frame = frame.rename(columns={text_column: data.text_column})
        parts.append(part)
    return parts


def _check_known_labels(
    part: LabeledData, mapped: list, seen: set, field: str, renamed: bool, train_path: str
) -> None:
    for position, (label, original) in enumerate(zip(mapped, part.labels, strict=True)):
        values = label if isinstance(label, list) else [label]
        if not seen.issuperset(values):
            how = f" (mapped from {original!r} by {field}.labels)" if renamed else ""
            raise KhabarError(
                f"{part.path}: {row_location(part.frame, position)}: label "
                f"{sorted(set(values) - seen)[0]!r}{how} never occurs in training data "
                f"{train_path} (labels: {sorted(seen)})"
            )


@dataclass
class FitSet:
    """Training rows followed by extra rows, in the terms a model is fit on.

    Attributes
    ----------
    inputs : DataFrame
        The Pipeline's input columns, training rows first, then the extra rows.
    labels : list
        The scored labels of every row (label lists for multi-label tasks).
    fit_labels : list
        What the models are fit on, row by row: `labels`, or joint labels.
    extra_rows : int
        How many rows at the end are extra: in every fit, never scored.
    """

    inputs: pd.DataFrame
    labels: list
    fit_labels: list
    extra_rows: int

    @classmethod
    def plain(cls, inputs: pd.DataFrame, labels: list) -> FitSet:
        """A fit set without extra rows, fit on its own labels.

        Parameters
        ----------
        inputs : DataFrame
            The Pipeline's input rows.
        labels : list
            Their labels.

        Returns
        -------
        FitSet
        """
        return cls(inputs, list(labels), list(labels), 0)

    def release_inputs(self) -> None:
        """Let go of the input texts (labels stay).

        Training calls this once the features are computed, so the classifier's fit does
        not hold the corpus too.
        """
        self.inputs = self.inputs.iloc[:0]

    @property
    def classes(self) -> list[str]:
        """Every label of the fit set, sorted."""
        flat = (x for row in self.labels for x in (row if isinstance(row, list) else [row]))
        return sorted(set(flat))


def build_fit_set(
    config: ExperimentConfig, train: LabeledData, extra: list[LabeledData] | None = None
) -> FitSet:
    """The fit set of `train` and data.extra_train.

    Parameters
    ----------
    config : ExperimentConfig
        Names the input columns, the auxiliary label and the extra files.
    train : LabeledData
        The training rows (scored in cross-validation).
    extra : list of LabeledData, optional
        The data.extra_train files already loaded (as `load_extra_train` returns them);
        read from the config when omitted.

    Returns
    -------
    FitSet
        The rows of `train`, then those of `extra`.
    """
    extra = load_extra_train(config, train) if extra is None else extra
    parts = [train, *extra]
    return FitSet(
        inputs=pd.concat([model_inputs(part, config) for part in parts], ignore_index=True),
        labels=[label for part in parts for label in part.labels],
        fit_labels=[label for part in parts for label in fit_labels(part, config)],
        extra_rows=sum(len(part.labels) for part in extra),
    )


def load_train_and_test(
    config: ExperimentConfig, same_story: Callable | None = None, stories: Callable | None = None
) -> tuple[LabeledData, LabeledData | None]:
    """Read data.train and data.test (or split data.train), checked before any run opens.

    Every check training needs: columns, labels, model inputs, unseen test labels, test
    texts also in training or of its stories (noted, or dropped with data.drop_leaked).

    Parameters
    ----------
    config : ExperimentConfig
        The experiment whose data section is read.
    same_story : callable, optional
        (test texts, train texts) -> closest train row, cosine; None: exact copies only.
    stories : callable, optional
        texts -> each text's story, for the split khabar makes with evaluation.groups:
        story; None: such a split refuses.

    Returns
    -------
    tuple of LabeledData and LabeledData or None
        Training and test data (None when data.test_size is 0); report notes in `notes`.
    """
    data, extra_columns = config.data, _extra_columns(config)

    def load(path: str) -> LabeledData:
        return load_labeled(
            path,
            data.text_column,
            data.label_column,
            multi_label=config.task == "multi_label",
            encoding=data.encoding,
            extra_columns=extra_columns,
            needed_columns_only=True,  # corpus-sized files: only what training reads
            empty_texts=data.empty_texts,
            id_column=data.id_column,
            saudinewsnet=data.saudinewsnet,
        )

    train = join_labeled([load(path) for path in data.train_files()])
    fit_labels(train, config)  # a blank auxiliary label fails now, before any run starts
    _note_dropped(train)
    if data.test is None and data.test_size == 0:
        _check_inputs(config, train)
        train.notes.append(
            "no test set (data.test_size: 0): trained on every row; judged by cross-validation, "
            "the report shows out-of-fold predictions"
        )
        return train, None
    if data.test is None:
        train, test = _split(config, train, stories)
    else:
        test = load(data.test)
        _note_dropped(test, train.notes)
    _check_inputs(config, train, test)
    check_test_labels(train, test)
    return train, _without_leaked(config, train, test, same_story)


def _split(config: ExperimentConfig, whole: LabeledData, stories) -> tuple[LabeledData, ...]:
    """The split khabar makes of data.train (by group under evaluation.groups), noted."""
    groups = split_groups_of(config, whole, stories)
    train, test = split_train_test(whole, config.data.test_size, config.seed, groups)
    by = "" if groups is None else f" by {config.evaluation.groups} (each on one side)"
    test.notes.append(
        f"test set: stratified {len(test.texts) / len(whole.texts):.0%} split of "
        f"{config.data.train_name()}{by} (seed {config.seed})"
    )
    train.notes = [*whole.notes, *test.notes]
    train.dropped_empty = whole.dropped_empty  # the file's, counted once
    return train, test


def split_groups_of(config: ExperimentConfig, data: LabeledData, stories=None) -> list | None:
    """Each row's group under evaluation.groups: its story or its value in the column.

    Parameters
    ----------
    config : ExperimentConfig
        Names evaluation.groups.
    data : LabeledData
        The rows.
    stories : callable, optional
        texts -> each text's story (needed for "story").

    Returns
    -------
    list or None
        None without evaluation.groups (a group column is read with the data, and a file
        without it is refused there).

    Raises
    ------
    KhabarError
        "story" without a story detection.
    """
    groups = config.evaluation.groups
    if groups is None:
        return None
    if groups == "story":
        if stories is None:
            raise KhabarError("evaluation.groups: story needs the story detection (khabar train)")
        return list(stories(data.texts))
    return data.frame[groups].tolist()


def _extra_columns(config: ExperimentConfig) -> tuple[str, ...]:
    """Columns read besides text and label: group columns, auxiliary label, model inputs."""
    grouped = config.evaluation.grouped_metric
    groups = config.evaluation.groups
    return (
        tuple(
            c for c in (grouped and grouped.group_column, config.data.auxiliary_label_column) if c
        )
        + tuple(input_columns(config)[1:])
        + (() if groups in (None, "story") else (groups,))
    )


def _note_dropped(data: LabeledData, notes: list[str] | None = None) -> None:
    """Say which rows without text were dropped (data.empty_texts: drop), in the report's
    notes: nothing is dropped silently."""
    if data.dropped_empty:
        shown = ", ".join(data.dropped_empty[:20]) + (" …" if len(data.dropped_empty) > 20 else "")
        (data.notes if notes is None else notes).append(
            f"empty texts: {len(data.dropped_empty)} rows of {data.path} without text dropped "
            f"(data.empty_texts: drop): {shown}"
        )


def _check_inputs(config: ExperimentConfig, *parts: LabeledData) -> None:
    for column in input_columns(config)[1:]:  # a model's extra input may not be blank
        for part in parts:
            clean_texts(part.frame, column, part.path)


def _without_leaked(
    config: ExperimentConfig, train: LabeledData, test: LabeledData, same_story=None
) -> LabeledData:
    """`test`, noting (in train.notes) the rows whose text also occurs in training or that
    tell the same story, and without them when data.drop_leaked is set."""
    leaked = find_leakage(train, test)
    train.leaked_test_rows = len(leaked)
    near = _near_duplicates(config, train, test, same_story, set(leaked))
    train.near_duplicate_test_rows = len(near)
    drop = config.data.drop_leaked
    action = "dropped from the test set" if drop else "kept (set data.drop_leaked=true to drop)"
    if leaked:
        examples = "; ".join(repr(test.texts[i][:60]) for i in leaked[:3])
        train.notes.append(
            f"leakage: {len(leaked)} test texts also occur in the training data, {action}: "
            f"{examples}"
        )
    if near:
        examples = "; ".join(f"{test.texts[i][:50]!r} ~ {text[:50]!r}" for i, text in near[:3])
        train.notes.append(
            f"leakage: {len(near)} test rows tell the same story as a training row (cosine > "
            f"{config.data.near_duplicate_threshold}), {action}: {examples}"
        )
    if not drop or not (leaked or near):
        return test
    keep = sorted(set(range(len(test.texts))) - set(leaked) - {i for i, _ in near})
    if not keep:
        raise KhabarError(
            f"{config.data.test or config.data.train_name()}: every test text also occurs in the "
            "training data; with data.drop_leaked=true no test rows are left"
        )
    return test.subset(keep)


def _near_duplicates(config, train, test, same_story, exact: set[int]) -> list[tuple[int, str]]:
    """Test rows (not exact copies) over the story threshold, each with its training match."""
    if same_story is None:
        return []
    closest, cosine = same_story(test.texts, train.texts)
    threshold = config.data.near_duplicate_threshold
    return [
        (i, train.texts[closest[i]])
        for i in range(len(test.texts))
        if cosine[i] > threshold and i not in exact
    ]
