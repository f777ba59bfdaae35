"""Where n-grams occur in the user's own text: each character of the text an analyzer reads
(normalized, lowercased, whitespace collapsed) keeps the span of input characters it came
from, so an n-gram found there is a span of the input, diacritics, tatweel and all."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

from khabar.model.char_ngrams import CharNgramTfidf
from khabar.model.normalize import edit_with_offsets, normalize_with_offsets

_WHITE_SPACES = re.compile(r"\s\s+")  # what scikit-learn's char analyzer collapses
_ANY_SPACE = re.compile(r"\s")  # the fast engine reads every whitespace character as a space


@dataclass
class _Analysis:
    """One text as an analyzer reads it, each character's input span beside it."""

    text: str
    starts: list[int]
    ends: list[int]
    # Parallel lists, not one tuple per word: a long batch would otherwise make millions of
    # small objects, and Python's garbage collector would keep scanning the loaded model.
    padded: str = ""  # char_wb: each word as " word ", side by side
    padded_starts: list[int] = field(default_factory=list)  # char_wb: each " word " in padded
    word_starts: list[int] = field(default_factory=list)  # char_wb: each word in text
    word_ends: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)  # word: the tokens, their places in text
    token_starts: list[int] = field(default_factory=list)
    token_ends: list[int] = field(default_factory=list)


def _lower_with_offsets(text: str, starts: np.ndarray, ends: np.ndarray):
    lowered = text.lower()
    if len(lowered) == len(text):  # every character lowered to one: the spans stay
        return lowered, starts, ends
    chars = [c.lower() for c in text]  # a rare character lowers to two (İ -> i̇)
    repeat = np.asarray([len(c) for c in chars])
    return "".join(chars), np.repeat(starts, repeat), np.repeat(ends, repeat)


def _in_word(analysis: _Analysis, position: int, n: int) -> list[int]:
    """The text positions of the characters of a char_wb n-gram found at `position` of the
    padded text: within one padded word, its padding left out."""
    k = bisect_right(analysis.padded_starts, position) - 1
    start, stop = analysis.word_starts[k], analysis.word_ends[k]
    offset = position - analysis.padded_starts[k]  # 0: the padding before the word
    return [start + o - 1 for o in range(offset, offset + n) if 1 <= o <= stop - start]


def _places(text: str, words: list[str]) -> tuple[list[int], list[int]]:
    """Where each of `words` (`text.split()`) starts and ends in `text`."""
    starts, ends, position = [], [], 0
    for word in words:
        position = text.find(word, position)  # only whitespace lies between two words
        starts.append(position)
        position += len(word)
        ends.append(position)
    return starts, ends


def _index(items: list[str], item: str, start: int) -> int:
    try:
        return items.index(item, start)
    except ValueError:
        return -1


def _find_all(haystack: str, needle: str) -> list[int]:
    found, position = [], haystack.find(needle)
    while position >= 0:
        found.append(position)
        position = haystack.find(needle, position + 1)
    return found


class TextPlaces:
    """Where n-grams occur in one input text, as offsets into that text itself.

    Parameters
    ----------
    text : str
        The input text, as the user gave it.
    steps : sequence of str
        The model's normalization steps (`ArabicNormalizer.enabled_steps`).
    """

    def __init__(self, text: str, steps: Sequence[str]) -> None:
        self.text = text
        self.normalized, self.starts, self.ends = normalize_with_offsets(text, steps)
        self._analyses: dict[int, _Analysis] = {}

    def _analysis(self, vectorizer) -> _Analysis:
        key = id(vectorizer)  # the model outlives these places; a target's copies share one
        if key not in self._analyses:
            self._analyses[key] = self._analyze(vectorizer)
        return self._analyses[key]

    def _analyze(self, vectorizer) -> _Analysis:
        text, starts, ends = self.normalized, self.starts, self.ends
        if getattr(vectorizer, "lowercase", True):
            text, starts, ends = _lower_with_offsets(text, starts, ends)
        analysis = _Analysis(text, starts.tolist(), ends.tolist())
        if vectorizer.analyzer == "char_wb":
            words = text.split()
            analysis.padded = "".join(f" {word} " for word in words)
            analysis.padded_starts = list(accumulate((len(w) + 2 for w in words), initial=0))
            analysis.word_starts, analysis.word_ends = _places(text, words)
        elif vectorizer.analyzer == "char":
            text, starts, ends = edit_with_offsets(text, starts, ends, _WHITE_SPACES, " ")
            if isinstance(vectorizer, CharNgramTfidf):
                text = _ANY_SPACE.sub(" ", text)  # one for one: the spans stay
            analysis = _Analysis(text, starts.tolist(), ends.tolist())
        elif vectorizer.analyzer == "word" and getattr(vectorizer, "token_pattern", None):
            for match in re.compile(vectorizer.token_pattern).finditer(text):
                analysis.tokens.append(match.group())
                analysis.token_starts.append(match.start())
                analysis.token_ends.append(match.end())
        return analysis

    def _indices(self, vectorizer, gram: str, every: bool) -> tuple[_Analysis, list[list[int]]]:
        """Per occurrence of `gram`, the positions of its characters in the analyzed text
        (padding and whitespace left out): all of them, or only the first and the last."""
        analysis = self._analysis(vectorizer)
        n = len(gram)
        if vectorizer.analyzer == "char_wb":
            found = [_in_word(analysis, p, n) for p in _find_all(analysis.padded, gram)]
        elif vectorizer.analyzer == "char":
            text = analysis.text
            found = [
                [j for j in range(p, p + n) if not text[j].isspace()] for p in _find_all(text, gram)
            ]
        else:
            found = self._token_occurrences(analysis, gram, every)
        if every:
            return analysis, [i for i in found if i]
        return analysis, [[i[0], i[-1]] for i in found if i]

    def occurrences(self, vectorizer, gram: str) -> list[list[int]]:
        """Each place `gram` occurs: where each of its characters begins in the input.

        Parameters
        ----------
        vectorizer : TfidfVectorizer or CharNgramTfidf
            The block's vectorizer (its analyzer, n-gram range and lowercasing).
        gram : str
            One of its feature names.

        Returns
        -------
        list of list of int
            Per occurrence, the input offset each of its characters came from (word-boundary
            padding and whitespace left out), in order.
        """
        if not isinstance(getattr(vectorizer, "analyzer", None), str):
            return []  # a callable analyzer: nothing to search (khabar builds none)
        analysis, found = self._indices(vectorizer, gram, every=True)
        starts = analysis.starts
        return [[starts[j] for j in indices] for indices in found]

    @staticmethod
    def _token_occurrences(analysis: _Analysis, gram: str, every: bool) -> list[list[int]]:
        parts = gram.split(" ")
        tokens, n, found = analysis.tokens, len(parts), []
        starts, ends = analysis.token_starts, analysis.token_ends
        k = _index(tokens, parts[0], 0)
        while k >= 0:
            if tokens[k : k + n] == parts:
                if every:
                    found.append([j for t in range(k, k + n) for j in range(starts[t], ends[t])])
                else:
                    found.append([starts[k], ends[k + n - 1] - 1])
            k = _index(tokens, parts[0], k + 1)
        return found

    def spans(self, vectorizer, gram: str) -> list[list[int]]:
        """Each place `gram` occurs, as a ``[start, end)`` span of the input text.

        Parameters
        ----------
        vectorizer : TfidfVectorizer or CharNgramTfidf
            The block's vectorizer.
        gram : str
            One of its feature names.

        Returns
        -------
        list of [int, int]
            Sorted; each covers the input characters the n-gram was made of (a word n-gram:
            from its first word's start to its last word's end).
        """
        if not isinstance(getattr(vectorizer, "analyzer", None), str):
            return []
        analysis, found = self._indices(vectorizer, gram, every=False)
        spans = {(analysis.starts[i[0]], analysis.ends[i[-1]]) for i in found}
        return [list(span) for span in sorted(spans)]
