"""The fast paths in normalize.py give exactly what the plain expressions give."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.model import normalize

# The original one-line definitions, kept here as the oracle.
_URL = re.compile(r"(?:https?://|www\.)\S+|\bURL\b", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

# Text that exercises the paths: Arabic, digits of three scripts, URLs, odd whitespace.
_PIECES = st.sampled_from(
    ["وزير", "الخارجية", "٣٤", "۱۲", "42", "http://x.co/a", "HTTPS://Y", "www.z.sa", "URL",
     "url", "urls", "Hu", " ", "  ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "\x1c", "\x85",
     "#وسم", "@user", "ـ", "ً"]
)  # fmt: skip
_TEXTS = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=12).map("".join))


@settings(max_examples=400, deadline=None)
@given(_TEXTS)
def test_fast_paths_equal_the_plain_expressions(text):
    assert normalize.remove_urls(text) == _URL.sub(" ", text)
    assert normalize.arabic_digits_to_ascii(text) == text.translate(_DIGITS)
    assert normalize.collapse_whitespace(text) == _WHITESPACE.sub(" ", text).strip()


def test_split_and_regex_agree_on_every_whitespace_character():
    for code in range(0x110000):
        char = chr(code)
        assert (_WHITESPACE.fullmatch(char) is not None) == char.isspace(), hex(code)
