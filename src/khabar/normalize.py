"""Arabic normalization: tiny pure functions with precompiled patterns, and a transformer
that composes them. Every function maps any str to a str and never raises."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
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
    return _DIACRITICS.sub("", text)


def remove_tatweel(text: str) -> str:
    return _TATWEEL.sub("", text)


def unify_alef(text: str) -> str:
    return _ALEF_FORMS.sub("\u0627", text)


def alef_maqsura_to_ya(text: str) -> str:
    return _ALEF_MAQSURA.sub("\u064a", text)


def teh_marbuta_to_heh(text: str) -> str:
    return _TEH_MARBUTA.sub("\u0647", text)


def arabic_digits_to_ascii(text: str) -> str:
    return text.translate(_DIGITS) if _ANY_DIGIT.search(text) else text


def remove_urls(text: str) -> str:
    return _URL.sub(" ", text) if _URL_LETTER.search(text) else text


def remove_mentions(text: str) -> str:
    return _MENTION.sub(" ", text)


def remove_hashtag_signs(text: str) -> str:
    # "#كورونا_لقاح" -> "كورونا لقاح": the sign goes, the words stay.
    return _HASHTAG_SIGN.sub("", text).replace("_", " ") if "#" in text else text


def remove_emoji(text: str) -> str:
    return _EMOJI.sub(" ", text)


def collapse_whitespace(text: str) -> str:
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
    for name in steps:
        text = STEPS[name](text)
    return text


class ArabicNormalizer(TransformerMixin, BaseEstimator):
    """Normalizes Arabic text; the first step of every khabar Pipeline.

    Accepts a sequence of strings, a pandas Series, or a DataFrame (reading `text_column`),
    and returns a list of normalized strings. `text_column` lets a saved model take the same
    files a researcher trains on. With `keep_columns` it returns a DataFrame instead: the
    normalized text plus those input columns, for steps that read them.
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
        return [name for name in STEPS if getattr(self, name)]

    def fit(self, X, y=None):  # noqa: N803 - scikit-learn's signature
        return self

    def transform(self, X) -> list[str] | pd.DataFrame:  # noqa: N803
        steps = self.enabled_steps()
        texts = [normalize_text(text, steps) for text in _texts(X, self.text_column)]
        if not self.keep_columns:
            return texts
        # Later steps that read other input columns (e.g. Mawqif's `target`) get them here.
        missing = [c for c in self.keep_columns if not isinstance(X, pd.DataFrame) or c not in X]
        if missing:
            raise ValueError(f"input has no column {missing[0]!r}, which this model reads")
        kept = {c: X[c].tolist() for c in self.keep_columns}
        return pd.DataFrame({self.text_column: texts, **kept})


def _texts(X, text_column: str) -> list[str]:  # noqa: N803
    if isinstance(X, pd.DataFrame):
        if text_column not in X.columns:
            if X.shape[1] == 1:  # e.g. MLflow serving a one-column frame with another name
                return [str(v) for v in X.iloc[:, 0]]
            raise ValueError(f"input has no text column {text_column!r}: {list(X.columns)}")
        X = X[text_column]  # noqa: N806
    if isinstance(X, str):
        raise TypeError("expected a sequence of texts, got a single string; wrap it in a list")
    if isinstance(X, np.ndarray) and X.ndim == 2:
        X = X[:, 0]  # noqa: N806
    return ["" if v is None else str(v) for v in X]
