"""`khabar explain`'s HTML page, read as text: self-contained and right to left, one span per
word of the user's own text (so a colour never changes inside a word), word colours that
add up to the n-grams' contributions, a tooltip per word and a table per text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import khabar
from khabar.record.explain import Explainer
from khabar.record.explain_page import word_pushes

from .test_explain import SPECIAL, fit_case, make_data_files

HOSTILE = "تقرير <script>alert('x')</script> & «اقتباس» عن الهجرة"


class _Words(HTMLParser):
    """The text of each word span (tooltips left out), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.words: list[str] = []
        self.pushes: list[float] = []
        self._depth = 0  # inside a span.w: 1; inside its tooltip: 2
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        classes = dict(attrs).get("class", "")
        if tag == "span" and classes == "w":
            self._depth = 1
            self.words.append("")
            self.pushes.append(float(dict(attrs)["data-push"]))
        elif tag == "span" and classes == "tip" and self._depth == 1:
            self._depth = 2

    def handle_endtag(self, tag):
        if tag == "span" and self._depth:
            self._depth -= 1

    def handle_data(self, data):
        if self._depth == 1:
            self.words[-1] += data


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, str]:
    return make_data_files(tmp_path_factory.mktemp("explain-page-data"))


@pytest.fixture(scope="module")
def page(data_files, tmp_path_factory):
    pipeline, frame = fit_case("char_analyzer", data_files)
    frame = pd.concat([frame.head(3), pd.DataFrame({"id": ["hostile"], "text": [HOSTILE]})])
    out = tmp_path_factory.mktemp("page") / "why.html"
    result = khabar.explain(pipeline, frame, out, labels=["security"])
    return out.read_text("utf-8"), result.rows, pipeline, frame


def test_the_page_is_self_contained_and_right_to_left(page):
    html = page[0]
    assert re.search(r'<html dir="rtl" lang="ar">', html)
    for outside in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "href="):
        assert outside not in html.lower(), outside
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html  # the text, escaped
    assert html.count('class="swatch"') == 2  # the legend's two colours


def test_each_word_of_the_input_is_one_span(page):
    html, rows = page[0], page[1]
    parser = _Words()
    parser.feed(html)
    expected = [word for row in rows for _ in row["explanations"] for word in row["text"].split()]
    assert parser.words == expected
    assert any(p > 0 for p in parser.pushes) and any(p < 0 for p in parser.pushes)


def test_each_text_has_a_table_ending_in_rest_intercept_and_score(page):
    html, rows = page[0], page[1]
    tables = re.findall(r'<table class="top">(.*?)</table>', html, flags=re.S)
    assert len(tables) == sum(len(row["explanations"]) for row in rows)
    for table, explanation in zip(
        tables, [e for r in rows for e in r["explanations"]], strict=True
    ):
        cells = re.findall(r"<tr>(.*?)</tr>", table)
        assert len(cells) == 1 + len(explanation["features"]) + 2
        assert "(rest)" in cells[-3] and "intercept" in cells[-2] and "score" in cells[-1]
        assert f"{explanation['score']:+.4f}" in cells[-1]


@pytest.mark.parametrize("case", ["linear_svc", "char_analyzer", "target_aware", "multi_nbsvm"])
def test_word_colours_add_up_to_the_ngram_contributions(case, data_files):
    """Every n-gram is found in the text and its whole contribution lands on its words."""
    pipeline, frame = fit_case(case, data_files)
    explainer = Explainer(pipeline)
    texts = [*frame["text"][:5], *SPECIAL]
    inputs = pd.concat([frame.head(5), pd.DataFrame({"text": SPECIAL, "target": "A"})])
    for explained in explainer.explain(inputs.drop(columns="id"), texts):
        for one in explained.labels:
            words, pushes, ngrams = word_pushes(explainer, one, explained.places)
            located = ~explainer.dense[one.columns]
            located &= [explainer.block_of(c).step is not None for c in one.columns]
            assert pushes.sum() == pytest.approx(one.contributions[located].sum(), abs=1e-9)
            assert len(words) == len(explained.places.text.split())
            for grams, push in zip(ngrams, pushes, strict=True):
                assert sum(grams.values()) == pytest.approx(push, abs=1e-9)


def test_a_tooltip_names_the_ngrams_of_its_word(page):
    html = page[0]
    tips = re.findall(r'<span class="tip">(.*?)</span></span>', html, flags=re.S)
    assert tips
    for tip in tips:
        for line in tip.splitlines():
            assert re.search(
                r'\((char|word)[^)]*\)  <bdi dir="ltr">[+-]\d\.\d{4}</bdi>$', line
            ) or (line == f'<bdi dir="ltr">… {line.split()[2]} more</bdi>')
    assert np.mean([tip.count("\n") + 1 for tip in tips]) > 1
