"""Arabic normalization: tiny pure functions with precompiled patterns, and a transformer
that composes them. Every function maps any str to a str and never raises."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

# Tashkeel (fathatan..sukun), superscript alef, Quranic marks and small high letters.
_DIACRITICS = re.compile(
    "[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed]"
)
_TATWEEL = re.compile("\u0640")
_ALEF_FORMS = re.compile("[\u0622\u0623\u0625\u0671]")  # آ أ إ ٱ
_ALEF_MAQSURA = re.compile("\u0649")
_TEH_MARBUTA = re.compile("\u0629")
_URL = re.compile(r"(?:https?://|www\.)\S+|\bURL\b", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_HASHTAG_SIGN = re.compile(r"#+(?=\w)")
# Pictographs, dingbats, flags, variation selectors and the zero-width joiner used in emoji.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\U000e0020-\U000e007f]"
)
_WHITESPACE = re.compile(r"\s+")
# Arabic-Indic (٠-٩) and Persian/Urdu (۰-۹) digits to ASCII.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# Cheap scans that skip the slow path when it cannot change the text (corpus-scale speed):
# str.translate is slow on non-ASCII text, and _URL needs an h, w or u to match at all.
_ANY_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
_URL_LETTER = re.compile("[hwu]", re.IGNORECASE)


def remove_diacritics(text: str) -> str:
    """Remove tashkeel, the superscript alef, Quranic marks and small high letters.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _DIACRITICS.sub("", text)


def remove_tatweel(text: str) -> str:
    """Remove tatweel, the stretching character (جـــميل -> جميل).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _TATWEEL.sub("", text)


def unify_alef(text: str) -> str:
    """Write every alef form (آ أ إ ٱ) as a bare alef (ا).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _ALEF_FORMS.sub("\u0627", text)


def alef_maqsura_to_ya(text: str) -> str:
    """Write alef maqsura (ى) as ya (ي).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _ALEF_MAQSURA.sub("\u064a", text)


def teh_marbuta_to_heh(text: str) -> str:
    """Write teh marbuta (ة) as heh (ه).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _TEH_MARBUTA.sub("\u0647", text)


def arabic_digits_to_ascii(text: str) -> str:
    """Write Arabic-Indic (٠-٩) and Persian (۰-۹) digits as ASCII digits.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return text.translate(_DIGITS) if _ANY_DIGIT.search(text) else text


def remove_urls(text: str) -> str:
    """Replace each URL (and the placeholder word URL) by a space.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _URL.sub(" ", text) if _URL_LETTER.search(text) else text


def remove_mentions(text: str) -> str:
    """Replace each @mention by a space.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _MENTION.sub(" ", text)


def remove_hashtag_signs(text: str) -> str:
    """Drop the sign of a hashtag and split its words: "#كورونا_لقاح" -> "كورونا لقاح".

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _HASHTAG_SIGN.sub("", text).replace("_", " ") if "#" in text else text


def remove_emoji(text: str) -> str:
    """Replace pictographs, dingbats, flags and emoji joiners by a space.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    return _EMOJI.sub(" ", text)


def collapse_whitespace(text: str) -> str:
    """Collapse runs of whitespace to one space and strip both ends.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with this one change made.
    """
    # Same as _WHITESPACE.sub(" ", text).strip(): str.split and regex \s share one
    # definition of whitespace (tests/test_normalize_fast.py checks it), and this is faster.
    return " ".join(text.split())


# Order matters for idempotence: marks go first (they can sit between "#" and a word),
# hashtags before mentions and URLs (which "#" can hide), whitespace is collapsed last.
STEPS: dict[str, Callable[[str], str]] = {
    "remove_diacritics": remove_diacritics,
    "remove_tatweel": remove_tatweel,
    "remove_hashtag_signs": remove_hashtag_signs,
    "remove_mentions": remove_mentions,
    "remove_urls": remove_urls,
    "remove_emoji": remove_emoji,
    "unify_alef": unify_alef,
    "alef_maqsura_to_ya": alef_maqsura_to_ya,
    "teh_marbuta_to_heh": teh_marbuta_to_heh,
    "arabic_digits_to_ascii": arabic_digits_to_ascii,
    "collapse_whitespace": collapse_whitespace,
}


def normalize_text(text: str, steps: Iterable[str]) -> str:
    """Apply normalization steps to one text, in the order given.

    Parameters
    ----------
    text : str
        Any text.
    steps : iterable of str
        Names of steps in `STEPS`.

    Returns
    -------
    str
        The normalized text.
    """
    for name in steps:
        text = STEPS[name](text)
    return text


# The same steps as edits that keep each character's place in the input, so that spans
# found in normalized text point at the user's own characters (khabar explain). A step that
# maps each character to one character runs as it is; any other is a list of (pattern,
# replacement, attach); `attach`: a removed character (a mark, a tatweel) belongs to the
# character before it. Tested to give normalize_text's output.
_LEADING_SPACE = re.compile(r"\A\s+")
_TRAILING_SPACE = re.compile(r"\s+\Z")
_SPACE_RUNS = re.compile(r"\s{2,}|[^\S ]")  # as _WHITESPACE -> " ", skipping lone spaces
_UNDERSCORE = re.compile("_")
_ONE_FOR_ONE = {"unify_alef", "alef_maqsura_to_ya", "teh_marbuta_to_heh", "arabic_digits_to_ascii"}
_OFFSET_EDITS: dict[str, tuple[tuple[re.Pattern, str | Callable, bool], ...]] = {
    "remove_diacritics": ((_DIACRITICS, "", True),),
    "remove_tatweel": ((_TATWEEL, "", True),),
    "remove_hashtag_signs": ((_HASHTAG_SIGN, "", False), (_UNDERSCORE, " ", False)),
    "remove_mentions": ((_MENTION, " ", False),),
    "remove_urls": ((_URL, " ", False),),
    "remove_emoji": ((_EMOJI, " ", False),),
    "collapse_whitespace": (
        (_LEADING_SPACE, "", False),
        (_TRAILING_SPACE, "", False),
        (_SPACE_RUNS, " ", False),
    ),
}


def edit_with_offsets(
    text: str,
    starts: np.ndarray,
    ends: np.ndarray,
    pattern: re.Pattern,
    replacement: str | Callable[[re.Match], str],
    attach: bool = False,
) -> tuple[str, np.ndarray, np.ndarray]:
    """``pattern.sub(replacement, text)``, carrying each character's span in the input.

    Parameters
    ----------
    text : str
        The text so far.
    starts, ends : ndarray of int of shape (len(text),)
        Character i of `text` came from ``input[starts[i]:ends[i]]``.
    pattern : re.Pattern
        What to replace (no empty matches).
    replacement : str or callable
        The replacement, or a function of the match that returns it.
    attach : bool, default=False
        A match replaced by nothing joins the span of the character before it.

    Returns
    -------
    text : str
        The edited text.
    starts, ends : ndarray of int
        The spans of its characters: a replacement as long as its match keeps the match's
        spans one by one; any other covers the whole match.
    """
    pieces, start_parts, end_parts, attached = [], [], [], []
    position = length = 0
    resized = False
    for match in pattern.finditer(text):
        a, b = match.span()
        new = replacement if isinstance(replacement, str) else replacement(match)
        pieces += [text[position:a], new]
        length += a - position
        if len(new) == b - a:  # one for one: each character keeps its own span
            start_parts += [starts[position:b]]
            end_parts += [ends[position:b]]
        else:
            resized = True
            start_parts += [starts[position:a], np.full(len(new), starts[a])]
            end_parts += [ends[position:a], np.full(len(new), ends[b - 1])]
            if not new and attach and length:
                attached.append((length - 1, ends[b - 1]))
        length += len(new)
        position = b
    if not pieces:
        return text, starts, ends
    pieces.append(text[position:])
    if not resized:
        return "".join(pieces), starts, ends
    new_starts = np.concatenate([*start_parts, starts[position:]])
    new_ends = np.concatenate([*end_parts, ends[position:]])
    for index, end in attached:
        new_ends[index] = max(new_ends[index], end)
    return "".join(pieces), new_starts, new_ends


def normalize_with_offsets(text: str, steps: Iterable[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """`normalize_text`, and where each character of the result came from in `text`.

    Parameters
    ----------
    text : str
        Any text.
    steps : iterable of str
        Names of steps in `STEPS`.

    Returns
    -------
    normalized : str
        Exactly ``normalize_text(text, steps)``.
    starts, ends : ndarray of int64 of shape (len(normalized),)
        Character i of `normalized` came from ``text[starts[i]:ends[i]]``: a letter from
        itself (with the marks and tatweel removed after it), a space that replaced a URL,
        mention, emoji or run of whitespace from all of it.
    """
    starts = np.arange(len(text), dtype=np.int64)
    ends = starts + 1
    for name in steps:
        if name in _ONE_FOR_ONE:  # each character becomes one: the spans stay
            text = STEPS[name](text)
            continue
        if name == "remove_hashtag_signs" and "#" not in text:
            continue  # the step splits words at "_" only in a text with a hashtag
        for pattern, replacement, attach in _OFFSET_EDITS[name]:
            text, starts, ends = edit_with_offsets(text, starts, ends, pattern, replacement, attach)
    return text, starts, ends


def as_text_list(X, column: str | None = None) -> list[str]:
    """The texts of `X` as a list of str: what every text step of khabar reads.

    Parameters
    ----------
    X : sequence of str, pandas Series, 1-D array, or one-column table
        The texts. A DataFrame is read at `column`, or at its only column when it has one
        (e.g. MLflow serving a one-column frame under another name); a 2-D array must have
        exactly one column.
    column : str, default=None
        The column of a DataFrame that holds the texts.

    Returns
    -------
    list of str
        One text per row; None becomes "" and any other value its ``str``. A list that
        holds only str is returned as it is, without a copy: do not modify it.

    Raises
    ------
    TypeError
        If `X` is a single string or a sparse matrix.
    ValueError
        If `X` is a table without one text column.
    """
    if isinstance(X, pd.DataFrame):
        if column is not None and column in X.columns:
            X = X[column]
        elif X.shape[1] == 1:
            X = X.iloc[:, 0]
        elif column is not None:
            raise ValueError(f"input has no text column {column!r}: {list(X.columns)}")
        else:
            raise ValueError(f"expected one text column, got columns {list(X.columns)}")
    if isinstance(X, str):
        raise TypeError("expected a sequence of texts, got a single string; wrap it in a list")
    if sp.issparse(X):
        raise TypeError("expected a sequence of texts, got a sparse matrix")
    if getattr(X, "ndim", 1) == 2:
        X = np.asarray(X)
        if X.shape[1] != 1:
            raise ValueError(
                f"expected a sequence of texts or a one-column table, got an array of shape "
                f"{X.shape}"
            )
        X = X[:, 0]
    if isinstance(X, list) and all(type(v) is str for v in X):
        return X
    return ["" if v is None else str(v) for v in X]


class ArabicNormalizer(TransformerMixin, BaseEstimator):
    """Normalizes Arabic text; the first step of every khabar Pipeline.

    Accepts a sequence of strings, a pandas Series, or a DataFrame (reading `text_column`),
    and returns a list of normalized strings. `text_column` lets a saved model take the same
    files a researcher trains on. With `keep_columns` it returns a DataFrame instead: the
    normalized text plus those input columns, for steps that read them. It learns nothing:
    it transforms without being fitted, and `fit` only returns it.

    Parameters
    ----------
    remove_diacritics, remove_tatweel, unify_alef, alef_maqsura_to_ya, teh_marbuta_to_heh, \
arabic_digits_to_ascii, remove_urls, remove_mentions, remove_hashtag_signs, remove_emoji, \
collapse_whitespace : bool
        Whether to apply the step of that name (see `STEPS`). All are on by default except
        `teh_marbuta_to_heh` and `remove_emoji`.
    text_column : str, default="text"
        The column of a DataFrame input that holds the texts.
    keep_columns : tuple of str, default=()
        Input columns to return beside the normalized text (as a DataFrame).

    See Also
    --------
    as_text_list : How the input texts are read.
    """

    def __init__(
        self,
        remove_diacritics: bool = True,
        remove_tatweel: bool = True,
        unify_alef: bool = True,
        alef_maqsura_to_ya: bool = True,
        teh_marbuta_to_heh: bool = False,
        arabic_digits_to_ascii: bool = True,
        remove_urls: bool = True,
        remove_mentions: bool = True,
        remove_hashtag_signs: bool = True,
        remove_emoji: bool = False,
        collapse_whitespace: bool = True,
        text_column: str = "text",
        keep_columns: tuple[str, ...] = (),
    ) -> None:
        self.remove_diacritics = remove_diacritics
        self.remove_tatweel = remove_tatweel
        self.unify_alef = unify_alef
        self.alef_maqsura_to_ya = alef_maqsura_to_ya
        self.teh_marbuta_to_heh = teh_marbuta_to_heh
        self.arabic_digits_to_ascii = arabic_digits_to_ascii
        self.remove_urls = remove_urls
        self.remove_mentions = remove_mentions
        self.remove_hashtag_signs = remove_hashtag_signs
        self.remove_emoji = remove_emoji
        self.collapse_whitespace = collapse_whitespace
        self.text_column = text_column
        self.keep_columns = keep_columns

    def enabled_steps(self) -> list[str]:
        """The names of the steps this normalizer applies, in their order.

        Returns
        -------
        list of str
            Keys of `STEPS` whose switch is on.
        """
        return [name for name in STEPS if getattr(self, name)]

    def fit(self, X, y=None):
        """Check that X holds texts; normalization learns nothing from data.

        Parameters
        ----------
        X : sequence of str, pandas Series, or DataFrame
            The texts, read as `transform` reads them.
        y : None
            Ignored.

        Returns
        -------
        self : ArabicNormalizer
            This normalizer.
        """
        as_text_list(X, self.text_column)
        return self

    def transform(self, X) -> list[str] | pd.DataFrame:
        """Normalize each text.

        Parameters
        ----------
        X : sequence of str, pandas Series, or DataFrame
            The texts, read by `as_text_list` (a DataFrame at `text_column`).

        Returns
        -------
        list of str or DataFrame
            The normalized texts; with `keep_columns`, a DataFrame of them (under
            `text_column`) and those input columns.
        """
        steps = self.enabled_steps()
        texts = [normalize_text(text, steps) for text in as_text_list(X, self.text_column)]
        if not self.keep_columns:
            return texts
        # Later steps that read other input columns (e.g. Mawqif's `target`) get them here.
        missing = [c for c in self.keep_columns if not isinstance(X, pd.DataFrame) or c not in X]
        if missing:
            raise ValueError(f"input has no column {missing[0]!r}, which this model reads")
        kept = {c: X[c].tolist() for c in self.keep_columns}
        return pd.DataFrame({self.text_column: texts, **kept})

    def __sklearn_tags__(self):
        """scikit-learn's tags: stateless, texts in and out."""
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # stateless: nothing to learn
        tags.input_tags.one_d_array = True  # a sequence of texts
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in, texts out
        return tags
