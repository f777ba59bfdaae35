"""Experiment configs: YAML files validated by pydantic, with dotted --set overrides."""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from khabar.errors import KhabarError

_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    # Unknown keys are errors: a typo in a config must not silently fall back to a default.
    model_config = ConfigDict(extra="forbid")


class ExtraTrainFile(_Strict):
    """A data.extra_train file whose columns or label names differ from data.train's.

    E.g. news items with a `stance` column of positive / negative / neutral, added to tweets
    whose `sentiment` column says Positive / Negative / Neutral. Any other column training
    reads (data.auxiliary_label_column, features.target_column) keeps the config's name and
    values.

    Attributes
    ----------
    path : str
        The labeled file.
    text_column : str or None, default None
        Its texts' column; None: data.text_column.
    label_column : str or None, default None
        Its labels' column; None: data.label_column.
    labels : dict of str to str, default {}
        The file's label -> the config's label. When given, every label in the file must
        be a key. Labels are read as strings, even those YAML reads as numbers.
    """

    # YAML reads `0:` and `1:` as numbers; labels are always read as strings.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    path: str
    text_column: str | None = None  # default: data.text_column
    label_column: str | None = None  # default: data.label_column
    # The file's label -> the config's label. When given, every label in the file must be
    # a key: a label the map forgets is an error, not a silently new class.
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels", mode="before")
    @classmethod
    def _no_boolean_labels(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for item in (*value, *value.values()):
                if isinstance(item, bool):  # and True == 1 would merge keys `yes` and `1`
                    raise ValueError(
                        f"YAML read a yes / no / true / false label as {item}; quote it ('yes')"
                    )
        return value


class DataConfig(_Strict):
    """The config's `data` section: the labeled files and how to read them.

    Attributes
    ----------
    train : str or list of str
        The labeled training file (.csv, .tsv, .jsonl, .json, .parquet), or several read
        alike and joined in order (all scored).
    test : str or None, default None
        The labeled test file; None: a stratified split of `train`.
    text_column : str, default "text"
        The texts' column.
    label_column : str, default "label"
        The labels' column (lists for multi_label tasks).
    id_column : str, default "id"
        The column naming rows, in reports, prediction outputs and lists of dropped rows.
    encoding : str, default "utf-8"
        The files' encoding, e.g. cp1256; checked to be a known codec.
    test_size : float in [0, 1), default 0.2
        The share of `train` held out when `test` is None; 0: no test set, judged by CV.
    drop_leaked : bool, default False
        Drop test rows whose text also occurs in training, or that tell the same story as a
        training row (they are counted either way).
    near_duplicate_threshold : float in (0, 1], default 0.5
        Word TF-IDF cosine (normalized text) above which two rows tell the same story.
    empty_texts : {"refuse", "drop"}, default "refuse"
        A row without text is an error naming it, or is dropped and listed.
    extra_train : list of str or ExtraTrainFile, default []
        More labeled files that join every fit (each CV fold and the final model) and are
        never scored.
    auxiliary_label_column : str or None, default None
        A second label column learned jointly with `label_column`, which alone is
        predicted; read when training, never when predicting (single_label tasks).
    saudinewsnet : str or None, default None
        A local SaudiNewsNet copy from which rows given as `url` + `text_sha256` (labels
        distributed without texts) get their texts back.
    """

    # Several files are read alike and joined in order, e.g. realnews-dev and the labels of
    # later rounds: every row is scored.
    train: str | Annotated[list[str], Field(min_length=1)]
    test: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    # Names rows: kept when reading, in prediction outputs and in lists of dropped rows.
    id_column: str = "id"
    encoding: str = "utf-8"
    # Share of data.train held out when data.test is absent; 0 means no test set at all:
    # train on every row and judge by cross-validation (small corpora such as realnews-dev).
    test_size: float = Field(0.2, ge=0, lt=1)
    drop_leaked: bool = False
    # Same story, different words: word TF-IDF cosine on normalized text above this
    # (docs/results/stories.md shows pairs just above and below 0.5).
    near_duplicate_threshold: float = Field(0.5, gt=0, le=1)
    # A row without text (SaudiNewsNet has articles with neither title nor content): refused
    # with its row named, or dropped and counted (ids in the run's params and summary).
    empty_texts: Literal["refuse", "drop"] = "refuse"
    # More labeled files added to the training data of every fit: each CV fold and the
    # final model. Never scored: CV and test metrics stay on data.train/test. A path (same
    # columns and labels as data.train) or an ExtraTrainFile (its own columns, a label map).
    extra_train: list[
        Annotated[
            Annotated[str, Tag("path")] | Annotated[ExtraTrainFile, Tag("file")],
            # A mistake in a {path, ...} entry is reported as such, not as "not a string".
            Discriminator(lambda value: "path" if isinstance(value, str) else "file"),
        ]
    ] = Field(default_factory=list)
    # A second label column learned jointly with label_column (Mawqif's `sentiment` beside
    # `stance`): the classifier learns their combinations and predicts label_column only
    # (khabar.model.decision.JointLabelClassifier). Read when training, never when predicting.
    auxiliary_label_column: str | None = None
    # SaudiNewsNet's license is unstated, so labels on its articles are kept as URLs and
    # text hashes; this local copy gives the texts back, each checked against its hash.
    saudinewsnet: str | None = None

    def train_files(self) -> list[str]:
        """The training files, in order.

        Returns
        -------
        list of str
            data.train as a list (one file, or several).
        """
        return [self.train] if isinstance(self.train, str) else list(self.train)

    def train_name(self) -> str:
        """data.train for messages and reports.

        Returns
        -------
        str
            The training files joined by " + ".
        """
        return " + ".join(self.train_files())

    def extra_train_files(self) -> list[ExtraTrainFile]:
        """The entries of data.extra_train, each in its full form.

        Returns
        -------
        list of ExtraTrainFile
            One per entry, in order; a bare path becomes an ExtraTrainFile with defaults.
        """
        return [
            ExtraTrainFile(path=entry) if isinstance(entry, str) else entry
            for entry in self.extra_train
        ]

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. utf-8 or cp1256") from None
        return value


class NormalizeConfig(_Strict):
    """The config's `normalize` section: the switches of khabar's Arabic normalizer.

    Attributes
    ----------
    remove_diacritics : bool, default True
        Remove harakat and other diacritics.
    remove_tatweel : bool, default True
        Remove tatweel (U+0640).
    unify_alef : bool, default True
        Write the alef variants (with hamza or madda, wasla) as a bare alef.
    alef_maqsura_to_ya : bool, default True
        Write alef maqsura as ya.
    teh_marbuta_to_heh : bool, default False
        Write teh marbuta as heh.
    arabic_digits_to_ascii : bool, default True
        Write Arabic-Indic and Persian digits as 0-9.
    remove_urls : bool, default True
        Remove URLs.
    remove_mentions : bool, default True
        Remove @mentions.
    remove_hashtag_signs : bool, default True
        Keep a hashtag's word, drop its #.
    remove_emoji : bool, default False
        Remove emoji.
    collapse_whitespace : bool, default True
        Write runs of whitespace as one space.
    """

    remove_diacritics: bool = True
    remove_tatweel: bool = True
    unify_alef: bool = True
    alef_maqsura_to_ya: bool = True
    teh_marbuta_to_heh: bool = False
    arabic_digits_to_ascii: bool = True
    remove_urls: bool = True
    remove_mentions: bool = True
    remove_hashtag_signs: bool = True
    remove_emoji: bool = False
    collapse_whitespace: bool = True


class TfidfConfig(_Strict):
    """A TF-IDF block of n-gram features: `features.char`, or `features.word`.

    The vectorizer's own checks (e.g. min_df: -1, max_features: 0) run when the config is
    read, instead of mid-run.

    Attributes
    ----------
    analyzer : {"char", "char_wb", "word"}, default "char_wb"
        N-grams across words, inside word boundaries, or of words.
    ngram_range : tuple of (int, int), default (2, 5)
        The n-gram lengths, min and max, with 1 <= min <= max.
    min_df : int or float, default 2
        Ignore n-grams in fewer documents (a float: a share of them).
    max_df : float, default 1.0
        Ignore n-grams in more than this share of documents.
    max_features : int or None, default None
        Keep only the most frequent n-grams.
    sublinear_tf : bool, default True
        Use 1 + log(tf).
    dtype : {"float32", "float64"}, default "float32"
        The matrix's precision.
    engine : {"sklearn", "fast"}, default "sklearn"
        "fast": the same matrix from khabar.model.char_ngrams (compiled, threaded);
        character n-grams only.
    n_jobs : int, default -1
        Threads of the "fast" engine (-1: all cores).
    """

    analyzer: Literal["char", "char_wb", "word"] = "char_wb"
    ngram_range: tuple[int, int] = (2, 5)
    min_df: int | float = 2
    max_df: float = 1.0
    max_features: int | None = None
    sublinear_tf: bool = True
    dtype: Literal["float32", "float64"] = "float32"
    # "fast": khabar.model.char_ngrams (same features, compiled, threaded); char n-grams only.
    engine: Literal["sklearn", "fast"] = "sklearn"
    n_jobs: int = -1  # threads for engine "fast" (-1: all cores)

    @field_validator("ngram_range")
    @classmethod
    def _ordered_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if low < 1 or high < low:
            raise ValueError(f"expected [min, max] with 1 <= min <= max, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _valid_vectorizer_values(self) -> TfidfConfig:
        # scikit-learn's own checks (min_df: -1, max_features: 0), now instead of mid-run.
        from sklearn.feature_extraction.text import TfidfVectorizer

        try:
            TfidfVectorizer(
                min_df=self.min_df, max_df=self.max_df, max_features=self.max_features
            )._validate_params()
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        if isinstance(self.min_df, float) and self.min_df > self.max_df:
            raise ValueError(f"min_df {self.min_df} is above max_df {self.max_df}")
        return self


class WordVectorsConfig(_Strict):
    """Word vectors trained on unlabeled text (khabar.model.word_vectors).

    Their mean per text joins the n-gram features.

    Attributes
    ----------
    corpus : str
        A folder of SaudiNewsNet ZIPs, or a table file (.jsonl, .csv, ...) with
        `text_column`.
    text_column : str, default "text"
        The corpus table's text column.
    exclude_titles_of : list of str, default []
        Labeled files drawn from the same corpus: articles whose title opens one of their
        texts are left out, so scored items never shape the vectors.
    exclude_urls : list of str, default []
        Text files of URLs, one per line (e.g. realnews-dev's reserved_urls.txt), or tables
        with a `url` column (e.g. labels without texts): corpus articles (or table rows with
        a `url` column) at those URLs are left out.
    vector_size : int in [2, 1000], default 100
        The vectors' dimensions.
    window : int, default 5
        word2vec's context window.
    min_count : int, default 5
        Ignore rarer words.
    epochs : int, default 5
        Training passes over the corpus.
    seed : int, default 42
        word2vec's seed.
    weight : float, default 1.0
        The scale of the (L2-normalized) mean vector beside the n-gram blocks, each of
        norm 1.
    """

    # A folder of SaudiNewsNet ZIPs, or a table file (.jsonl, .csv, ...) with `text_column`.
    corpus: str
    text_column: str = "text"
    # Labeled files drawn from the same corpus: articles whose first line (title) is the
    # first line of one of their texts are left out, so scored items never shape the vectors.
    exclude_titles_of: list[str] = Field(default_factory=list)
    # Text files of URLs, one per line: articles at those URLs are left out (reserved ones).
    exclude_urls: list[str] = Field(default_factory=list)
    vector_size: int = Field(100, ge=2, le=1000)
    window: int = Field(5, ge=1)
    min_count: int = Field(5, ge=1)
    epochs: int = Field(5, ge=1)
    seed: int = 42
    # Scale of the (L2-normalized) mean vector beside the n-gram blocks, each of norm 1.
    weight: float = Field(1.0, gt=0)


class FeaturesConfig(_Strict):
    """The config's `features` section: the feature blocks a text is turned into.

    Attributes
    ----------
    char : TfidfConfig
        TF-IDF over character n-grams, always on (analyzer "char" or "char_wb").
    word : TfidfConfig or None, default None
        TF-IDF over word n-grams (analyzer "word", engine "sklearn"), joined to the char
        block.
    word_vectors : WordVectorsConfig or None, default None
        Each text's mean word vector, joined to the n-gram blocks.
    target_column : str or None, default None
        An input column naming each row's target (Mawqif's `target`): features are then
        learned both shared and per target, and the saved model reads this column too.
    """

    char: TfidfConfig = TfidfConfig()
    word: TfidfConfig | None = None
    word_vectors: WordVectorsConfig | None = None
    # An input column naming each row's target (Mawqif's `target`): features are then
    # learned both shared and per target, and the saved model reads this column too.
    target_column: str | None = None

    @field_validator("char")
    @classmethod
    def _char_analyzer(cls, value: TfidfConfig) -> TfidfConfig:
        if value.analyzer == "word":
            raise ValueError("features.char needs analyzer 'char' or 'char_wb'")
        return value

    @field_validator("word")
    @classmethod
    def _word_analyzer(cls, value: TfidfConfig | None) -> TfidfConfig | None:
        if value is not None and value.analyzer != "word":
            raise ValueError("features.word needs analyzer 'word'")
        return value

    @field_validator("word")
    @classmethod
    def _word_engine(cls, value: TfidfConfig | None) -> TfidfConfig | None:
        if value is not None and value.engine == "fast":
            raise ValueError("engine 'fast' computes character n-grams; use 'sklearn' for words")
        return value


class ModelConfig(_Strict):
    """The config's `model` section: the classifier.

    The name and parameters are checked against the model layer by
    `khabar.runs.guard.load_config`.

    Attributes
    ----------
    name : str, default "linear_svc"
        The classifier: a name of `khabar.model.classifiers.REGISTRY`.
    params : dict, default {}
        The classifier's parameters (C, class_weight, ...).
    calibrate : bool, default False
        Wrap the classifier in a 3-fold CalibratedClassifierCV: scores become
        probabilities.
    exclude_from_predictions : list of str, default []
        Labels learned but never predicted (single_label tasks only), e.g. Mawqif's
        `None`, which StanceEval's F1 ignores.
    """

    name: str = "linear_svc"
    params: dict[str, Any] = Field(default_factory=dict)
    calibrate: bool = False
    # Labels learned but never predicted (single-label only), e.g. Mawqif's `None`, which
    # StanceEval's F1 ignores: predicting it can only cost recall of Favor and Against.
    exclude_from_predictions: list[str] = Field(default_factory=list)


class GroupedMetricConfig(_Strict):
    """F1 macro over `labels`, computed within each value of `group_column`, then averaged.

    Attributes
    ----------
    name : str, default "f1_grouped"
        The metric's name in MLflow and in reports.
    group_column : str
        The column whose values form the groups (e.g. Mawqif's `target`).
    labels : list of str
        The labels whose F1 is averaged (e.g. Favor and Against); at least one.
    """

    name: str = "f1_grouped"
    group_column: str
    labels: list[str] = Field(min_length=1)


class EvaluationConfig(_Strict):
    """The config's `evaluation` section: how a run is scored and what it writes.

    Attributes
    ----------
    cv_folds : int, default 5
        Folds of the k-fold CV on the training rows (at least 2).
    cv_repeats : int, default 1
        Run the k-fold CV with fold seeds seed, seed + 1, ...; cv_* metrics are over all
        their folds, which makes comparisons on small data steadier.
    cross_validate : bool, default True
        False: score on the test set only (corpus-sized data).
    cache_features : bool, default False
        Reuse featurized folds and test rows (khabar.runs.feature_cache); sweeps turn it on.
    write_report : bool, default True
        Write plots and summary.md under reports/ (a sweep's children do not).
    log_model : bool, default True
        Log the fitted Pipeline to MLflow (a sweep's children do not).
    n_jobs : int, default 1
        CV folds fitted in parallel.
    grouped_metric : GroupedMetricConfig or None, default None
        An extra metric over groups of rows.
    misclassified_examples : int, default 15
        Rows in the report's table of confident mistakes.
    groups : str or None, default None
        Keep groups on one side of every CV fold and of the split khabar makes: "story"
        (near-duplicate clusters) or a column of data.train (e.g. an event id).
    """

    cv_folds: int = Field(5, ge=2)
    # Repeated CV: the k-fold CV is run this many times with fold seeds seed, seed+1, ...
    # and cv_* metrics are over all of their folds. On small data (600 items) one fold
    # assignment moves the mean by ~0.02; repeats make comparisons between configs steadier.
    cv_repeats: int = Field(1, ge=1)
    cross_validate: bool = True  # false: score on the test set only (corpus-sized data)
    cache_features: bool = (
        False  # reuse featurized folds/test via khabar.runs.feature_cache (sweeps)
    )
    write_report: bool = True  # plots + summary.md under reports/ (sweeps turn it off)
    log_model: bool = True  # log the fitted Pipeline to MLflow (sweeps turn it off)
    n_jobs: int = 1
    grouped_metric: GroupedMetricConfig | None = None
    misclassified_examples: int = Field(15, ge=0)
    # "story": connected components of the near-duplicate graph; else a data.train column.
    groups: str | None = None


class ExperimentConfig(_Strict):
    """One experiment: what to train on, how, and how to score it.

    Read from YAML by `read_config` (structure) and `khabar.runs.guard.load_config` (the
    model layer's checks too). Unknown keys are errors: a typo in a config must not
    silently fall back to a default.

    Attributes
    ----------
    name : str
        The run name's prefix and the report folder's name (letters, digits, '_', '-',
        '.'; no '..').
    experiment : str
        The MLflow experiment, and the folder under `reports_dir` (a safe name too).
    task : {"single_label", "multi_label"}, default "single_label"
        One label per text, or a list of labels.
    seed : int, default 42
        The seed of the split, the CV folds and the classifier.
    data : DataConfig
        The labeled data.
    normalize : NormalizeConfig
        Arabic normalization.
    features : FeaturesConfig
        The feature blocks.
    model : ModelConfig
        The classifier.
    evaluation : EvaluationConfig
        Scoring and what a run writes.
    reports_dir : str, default "reports"
        Where report folders go.
    """

    name: str
    experiment: str
    task: Literal["single_label", "multi_label"] = "single_label"
    seed: int = 42
    data: DataConfig
    normalize: NormalizeConfig = NormalizeConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    reports_dir: str = "reports"

    @field_validator("name", "experiment")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # Names become folder names under reports/: no separators, no "..", no absolute paths.
        if not _NAME_PATTERN.match(value) or ".." in value:
            raise ValueError(
                f"{value!r} is not a safe name (letters, digits, '_', '-', '.'; no '..')"
            )
        return value

    @model_validator(mode="after")
    def _known_model(self) -> ExperimentConfig:
        if self.model.exclude_from_predictions and self.task == "multi_label":
            raise ValueError("model.exclude_from_predictions is for single_label tasks only")
        if self.features.word_vectors is not None and self.features.target_column:
            raise ValueError("features.word_vectors cannot be combined with features.target_column")
        if self.features.word_vectors is not None and self.model.name.endswith("_nb"):
            raise ValueError(
                f"features.word_vectors: model.name {self.model.name} needs non-negative "
                "counts; a mean word vector has negative values"
            )
        auxiliary = self.data.auxiliary_label_column
        if auxiliary is not None and self.task == "multi_label":
            raise ValueError("data.auxiliary_label_column is for single_label tasks only")
        if auxiliary in (self.data.label_column, self.data.text_column):
            raise ValueError(
                f"data.auxiliary_label_column {auxiliary!r} must differ from the label and text columns"
            )
        return self


class _Loader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where 1e-5 is a string; researchers write it as a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def read_yaml(text: str) -> Any:
    """The one YAML reader for configs, sweep files and --set values.

    Safe loading, except that a number such as 1e-5 is read as a float (PyYAML follows
    YAML 1.1, where it is a string; researchers write it as a number).

    Parameters
    ----------
    text : str
        YAML text.

    Returns
    -------
    Any
        The parsed document: a dict, list, str, number, bool or None.
    """
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def _parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise KhabarError(f"--set {item!r}: expected KEY=VALUE, e.g. model.params.C=0.3")
    key, raw = item.split("=", 1)
    # YAML parsing turns "0.3" into a float, "[2, 5]" into a list, "true" into a bool.
    return key.strip().split("."), read_yaml(raw) if raw != "" else ""


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set dotted keys in the raw config.

    A key must exist already, except under free maps (model.params) and optional sections
    that default to null (features.word, ...). Values are read as YAML: "0.3" is a float,
    "[2, 5]" a list, "true" a bool.

    Parameters
    ----------
    raw : dict
        The config as read from YAML, before validation; changed in place.
    overrides : list of str
        ``KEY=VALUE`` settings, e.g. ``model.params.C=0.3``.

    Returns
    -------
    dict
        `raw`, with the overrides applied.

    Raises
    ------
    KhabarError
        An override is not ``KEY=VALUE``, names an unknown key, or goes through a value
        that is not a section.
    """
    for item in overrides:
        path, value = _parse_override(item)
        node: Any = raw
        for depth, part in enumerate(path[:-1]):
            if not isinstance(node, dict):
                raise KhabarError(f"--set {item}: {'.'.join(path[:depth])} is not a section")
            if part not in node or node[part] is None:
                if not _may_create(path[: depth + 1]):
                    raise KhabarError(f"--set {item}: no key {'.'.join(path[: depth + 1])!r}")
                node[part] = {}
            node = node[part]
        leaf = path[-1]
        if not isinstance(node, dict):
            raise KhabarError(f"--set {item}: {'.'.join(path[:-1])} is not a section")
        if leaf not in node and not _may_create(path):
            raise KhabarError(f"--set {item}: no key {'.'.join(path)!r} in the config")
        node[leaf] = value
    return raw


def _may_create(path: list[str]) -> bool:
    """Keys a user may add with --set even when the YAML file leaves them out."""
    dotted = ".".join(path)
    if dotted.startswith("model.params."):
        return True
    return _known_field(path)


def _known_field(path: list[str]) -> bool:
    model: Any = ExperimentConfig
    for part in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        annotation = fields[part].annotation
        model = _model_class(annotation)
    return True


def _model_class(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def _first_error(path: Path, error: ValidationError) -> str:
    problem = error.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "unknown key"
    elif problem["type"] == "missing":
        message = "required key is missing"
    got = problem.get("input")
    detail = (
        f" (got {got!r})"
        if problem["type"] not in ("missing",) and not isinstance(got, dict)
        else ""
    )
    quoted = str(list(got)) if isinstance(got, list | tuple) else repr(got)
    if isinstance(got, list | tuple | str) and quoted in message:
        detail = ""  # the message already quotes the value
    # A check on a whole section (e.g. model) names its field in the message itself.
    return f"{path}: {where + ': ' if where else ''}{message}{detail}"


def read_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read, override and validate an experiment config's structure.

    `khabar.runs.guard.load_config` adds the model layer's checks (the classifier's name
    and parameters).

    Parameters
    ----------
    path : str or Path
        The YAML config file.
    overrides : list of str, optional
        ``KEY=VALUE`` settings of dotted keys, as ``--set`` takes them.

    Returns
    -------
    ExperimentConfig
        The validated config.

    Raises
    ------
    KhabarError
        Every problem, in one line naming the file and the key: a missing file, invalid
        YAML, an unknown or missing key, a bad value or override.
    """
    path = Path(path)
    if not path.is_file():
        raise KhabarError(f"config file not found: {path}")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise KhabarError(
            f"{path}:{line} is not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from None
    if not isinstance(raw, dict):
        raise KhabarError(f"{path}: expected a mapping of config keys at the top level")
    raw = apply_overrides(raw, overrides or [])
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        raise KhabarError(_first_error(path, exc)) from None
    except KhabarError as exc:
        raise KhabarError(f"{path}: {exc}") from None
