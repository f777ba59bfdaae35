"""Offsets through normalization: `normalize_with_offsets` gives exactly what `normalize_text`
gives, and each character of the result points at the input characters it came from, so a
span found in normalized text covers the user's own characters."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.model.normalize import (
    STEPS,
    ArabicNormalizer,
    edit_with_offsets,
    normalize_text,
    normalize_with_offsets,
)

ALL_STEPS = list(STEPS)
# Steps whose effect on a piece of text does not depend on what surrounds it: normalizing a
# span on its own gives the normalized characters the span maps to.
CONTEXT_FREE = [
    "remove_diacritics", "remove_tatweel", "unify_alef", "alef_maqsura_to_ya",
    "teh_marbuta_to_heh", "arabic_digits_to_ascii", "remove_emoji",
]  # fmt: skip

_PIECES = st.sampled_from(
    ["وزير", "الخارجية", "أَعْلَنَ", "مـــدينة", "إلى", "آذار", "مدرسة", "٣٤", "۱۲", "42",
     "https://x.co/a?b=1", "www.z.sa", "URL", "@وزارة_الصحة", "#لقاح_كورونا", "##وسم", "😀",
     "🇸🇦", "👍🏽", "NATO", "İstanbul", "_", "#", "@", " ", "  ", "\n", "\t", "\u00a0", "ـ",
     "ً", "ٰ", "ّ"]
)  # fmt: skip
TEXTS = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=14).map("".join))
FLAGS = st.fixed_dictionaries({name: st.booleans() for name in ALL_STEPS})


@settings(max_examples=600, deadline=None)
@given(text=TEXTS, options=FLAGS)
def test_the_same_text_as_the_normalizer_with_spans_inside_the_input(text, options):
    steps = [name for name in ALL_STEPS if options[name]]
    normalized, starts, ends = normalize_with_offsets(text, steps)
    assert normalized == normalize_text(text, steps)
    assert len(starts) == len(ends) == len(normalized)
    assert ((starts >= 0) & (starts < ends) & (ends <= len(text))).all()
    assert (np.diff(starts) >= 0).all()  # characters keep their order


@settings(max_examples=600, deadline=None)
@given(text=TEXTS, options=st.fixed_dictionaries({name: st.booleans() for name in CONTEXT_FREE}))
def test_each_character_normalizes_from_its_own_span(text, options):
    steps = [name for name in ALL_STEPS if options.get(name)]
    normalized, starts, ends = normalize_with_offsets(text, steps)
    for i, char in enumerate(normalized):
        assert normalize_text(text[starts[i] : ends[i]], steps) == char


def _span(text: str, steps: list[str], needle: str) -> str:
    """The input characters behind the first occurrence of `needle` in the normalized text."""
    normalized, starts, ends = normalize_with_offsets(text, steps)
    at = normalized.index(needle)
    return text[starts[at] : ends[at + len(needle) - 1]]


def test_spans_cover_diacritics_tatweel_and_alef_forms():
    steps = ArabicNormalizer().enabled_steps()
    text = "أَعْلَنَتِ الشُّرْطَةُ في مـــدينة الإسكندرية"
    assert _span(text, steps, "اعلنت") == "أَعْلَنَتِ"  # the final kasra joins the last letter
    assert _span(text, steps, "الشرطة") == "الشُّرْطَةُ"
    assert _span(text, steps, "مدينة") == "مـــدينة"
    assert _span(text, steps, "الاسكندرية") == "الإسكندرية"


def test_urls_mentions_emoji_and_latin_words_keep_their_places():
    steps = ArabicNormalizer(remove_emoji=True).enabled_steps()
    text = "@وزارة_الداخلية يستقبل 😀 وفد NATO https://x.org/a?b=1 في ٣ أيام #قمة_الرياض"
    normalized, starts, ends = normalize_with_offsets(text, steps)
    # With a hashtag in the text "_" splits words, so the mention keeps its second word.
    assert normalized == "الداخلية يستقبل وفد NATO في 3 ايام قمة الرياض"
    assert _span(text, steps, "الداخلية") == "الداخلية"
    assert _span(text, steps, "NATO") == "NATO"
    assert _span(text, steps, "وفد NATO في") == "وفد NATO https://x.org/a?b=1 في"
    assert _span(text, steps, "3") == "٣"
    assert _span(text, steps, "قمة الرياض") == "قمة_الرياض"  # the hashtag sign left out
    # The space that replaced the URL stands for the whole run it replaced.
    space = normalized.index("NATO") + 4
    assert text[starts[space] : ends[space]] == " https://x.org/a?b=1 "


def test_an_edit_longer_or_shorter_than_its_match_covers_the_whole_match():
    text = "ab--cd"
    starts = np.arange(len(text))
    new, s, e = edit_with_offsets(text, starts, starts + 1, re.compile("-+"), "=")
    assert new == "ab=cd" and (s[2], e[2]) == (2, 4)
    new, s, e = edit_with_offsets(text, starts, starts + 1, re.compile("-+"), "", attach=True)
    assert new == "abcd" and (s[1], e[1]) == (1, 4)  # the removed run joins the "b"
    new, s, e = edit_with_offsets(text, starts, starts + 1, re.compile("c"), "C")
    assert new == "ab--Cd" and list(s) == list(range(6))
