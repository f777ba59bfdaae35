"""`khabar explain`'s HTML page: the user's own Arabic text, each word coloured by how much it
pushed the label, a tooltip per word with its n-grams, and each text's top features.

The page is self-contained (no script, font, image or style sheet from elsewhere) and
right to left. Colours are summed per word, so a colour never changes inside a word and
Arabic letters stay joined: each n-gram's contribution is shared evenly among its
occurrences, and within an occurrence among its characters, each going to the word it
belongs to.
"""

from __future__ import annotations

import re
from html import escape

import numpy as np

from khabar.record.explain import REST, Explainer, LabelExplanation, TextExplanation
from khabar.record.explain_spans import TextPlaces

TOOLTIP_NGRAMS = 8  # n-grams listed per word; the rest are counted
_WORD = re.compile(r"\S+")
POSITIVE = (37, 99, 235)  # blue: towards the label
NEGATIVE = (234, 88, 12)  # orange: away from it

_STYLE = """
body { font-family: "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif;
       margin: 1.5em auto; max-width: 60em; padding: 0 1em; color: #1f2328; line-height: 1.5; }
header, h2, h3, .note { font-family: "DejaVu Sans", sans-serif; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; } h3 { font-size: 1em; }
.legend .swatch { display: inline-block; width: 1.2em; height: 0.9em; vertical-align: middle;
                  border-radius: 3px; margin: 0 0.3em; }
.text { font-size: 1.35em; line-height: 2.1; white-space: pre-wrap; border: 1px solid #d0d7de;
        border-radius: 6px; padding: 0.6em 0.9em; }
.w { position: relative; border-radius: 4px; padding: 0.1em 0; }
.w .tip { display: none; position: absolute; top: 100%; right: 0; z-index: 10; direction: rtl;
          background: #fff; border: 1px solid #8c959f; border-radius: 4px; padding: 0.3em 0.6em;
          font-size: 0.62em; line-height: 1.5; white-space: pre; box-shadow: 0 2px 6px #0003; }
.w:hover .tip { display: block; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.95em; }
th, td { border-bottom: 1px solid #d0d7de; padding: 0.2em 0.7em; text-align: start; }
td.num { font-family: "DejaVu Sans Mono", monospace; direction: ltr; text-align: left; }
code.gram { font-family: inherit; white-space: pre; background: #f6f8fa; padding: 0 0.2em;
            border-radius: 3px; }
.note { color: #57606a; font-size: 0.9em; }
"""


def _colour(value: float, scale: float) -> str:
    if value == 0 or scale == 0:
        return "transparent"
    red, green, blue = POSITIVE if value > 0 else NEGATIVE
    return f"rgba({red}, {green}, {blue}, {0.75 * min(1.0, abs(value) / scale):.3f})"


def _shown(gram: str, block: str = "char") -> str:
    """An n-gram as shown: a character n-gram's spaces (word boundaries) made visible."""
    return gram if block.startswith("word") else gram.replace(" ", "\u2423")


def word_pushes(
    explainer: Explainer, one: LabelExplanation, places: TextPlaces
) -> tuple[list[tuple[int, int]], np.ndarray, list[dict[str, float]]]:
    """Each word's summed push for one label: the n-grams' contributions, shared out.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    one : LabelExplanation
        The label's contributions for the text.
    places : TextPlaces
        Where the text's n-grams occur.

    Returns
    -------
    words : list of (int, int)
        The words (runs of non-whitespace) of the input text, as spans.
    pushes : ndarray of shape (n_words,)
        Each word's share of the n-gram contributions (dense blocks and the intercept
        belong to no word).
    ngrams : list of dict of str to float
        Per word, each n-gram's share in it, keyed "n-gram (block)" as shown.
    """
    text = places.text
    words = [m.span() for m in _WORD.finditer(text)]
    word_of = [-1] * len(text)
    for k, (a, b) in enumerate(words):
        word_of[a:b] = [k] * (b - a)
    pushes = [0.0] * len(words)
    ngrams: list[dict[str, float]] = [{} for _ in words]
    for position in np.flatnonzero((one.contributions != 0) & ~explainer.dense[one.columns]):
        column = int(one.columns[position])
        block = explainer.block_of(column)
        if block.step is None:
            continue  # the target one-hot: no place in the text
        gram = str(block.names[column - block.start])
        shown = f"{_shown(gram, block.name)} ({block.name})"
        found = places.occurrences(block.step, gram)
        for characters in found:
            share = float(one.contributions[position]) / len(found) / len(characters)
            for start in characters:
                owner = word_of[start]
                if owner < 0:
                    continue  # (a character from whitespace: none is, but never the last word)
                pushes[owner] += share
                ngrams[owner][shown] = ngrams[owner].get(shown, 0.0) + share
    return words, np.asarray(pushes), ngrams


def _tooltip(grams: dict[str, float]) -> str:
    ranked = sorted(grams.items(), key=lambda item: -abs(item[1]))
    # The number isolated left to right, or the bidi algorithm moves its sign to the end.
    lines = [f'{escape(g)}  <bdi dir="ltr">{v:+.4f}</bdi>' for g, v in ranked[:TOOLTIP_NGRAMS]]
    if len(ranked) > TOOLTIP_NGRAMS:
        lines.append(f'<bdi dir="ltr">… {len(ranked) - TOOLTIP_NGRAMS} more</bdi>')
    return "\n".join(lines)


def coloured_text(explainer: Explainer, one: LabelExplanation, places: TextPlaces) -> str:
    """The input text as HTML, each word one span coloured by its push, with a tooltip.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    one : LabelExplanation
        The label's contributions for the text.
    places : TextPlaces
        Where the text's n-grams occur.

    Returns
    -------
    str
        A ``<p class="text">``: whitespace between words kept as it is, each word a
        ``<span class="w">`` whose background is blue (towards the label) or orange.
    """
    words, pushes, ngrams = word_pushes(explainer, one, places)
    scale = float(np.abs(pushes).max()) if len(pushes) else 0.0
    text, pieces, position = places.text, [], 0
    for (a, b), push, grams in zip(words, pushes, ngrams, strict=True):
        pieces.append(escape(text[position:a]))
        tip = f'<span class="tip">{_tooltip(grams)}</span>' if grams else ""
        pieces.append(
            f'<span class="w" data-push="{push:.6g}" style="background: {_colour(push, scale)}">'
            f"{escape(text[a:b])}{tip}</span>"
        )
        position = b
    pieces.append(escape(text[position:]))
    return f'<p class="text" dir="rtl">{"".join(pieces)}</p>'


def _number(value) -> str:
    return "" if value is None else f"{value:+.4f}" if isinstance(value, float) else str(value)


def _table(record: dict) -> str:
    rows = [
        "<tr><th>n-gram</th><th>block</th><th>value</th><th>weight</th><th>contribution</th></tr>"
    ]
    for feature in record["features"]:
        name = feature["feature"]
        block = feature["block"] or ""
        shown = name if name == REST else _shown(name, block)
        shown = escape(shown) if name == REST else f'<code class="gram">{escape(shown)}</code>'
        value = "" if feature["value"] is None else f"{feature['value']:.4f}"
        rows.append(
            f"<tr><td>{shown}</td><td>{escape(block)}</td>"
            f'<td class="num">{value}</td><td class="num">{_number(feature["weight"])}</td>'
            f'<td class="num">{_number(feature["contribution"])}</td></tr>'
        )
    rows.append(
        f'<tr><td>intercept</td><td></td><td></td><td></td><td class="num">{_number(record["intercept"])}</td></tr>'
    )
    rows.append(
        f'<tr><th>score</th><td></td><td></td><td></td><td class="num">{_number(record["score"])}</td></tr>'
    )
    return f'<table class="top">{"".join(rows)}</table>'


def _label_section(explainer, one: LabelExplanation, record: dict, places) -> str:
    title = f"{escape(one.label)}: score {record['score']:+.4f}"
    if "sub_class" in record:
        title += f" (through the sub-class {escape(record['sub_class'])})"
    if record.get("probability") is not None:
        title += f"; khabar predict's probability {record['probability']:.4f}"
    return (
        f'<section class="label"><h3 dir="ltr" lang="en">{title}</h3>'
        f"{coloured_text(explainer, one, places)}{_table(record)}</section>"
    )


def _item(explainer: Explainer, row: dict, explained) -> str:
    prediction = row["prediction"]
    shown = ", ".join(prediction) if isinstance(prediction, list) else prediction
    head = f'<h2 dir="ltr" lang="en">{escape(str(row["id"]))}: predicted {escape(str(shown))}</h2>'
    if not isinstance(explained, TextExplanation):
        return f'<article class="item">{head}<p class="note">no text ({escape(row["reason"])})</p></article>'
    sections = [
        _label_section(explainer, one, record, explained.places)
        for one, record in zip(explained.labels, row["explanations"], strict=True)
    ]
    return f'<article class="item">{head}{"".join(sections)}</article>'


def render_page(explainer: Explainer, rows: list[dict], explained: list, source: str) -> str:
    """One self-contained, right-to-left HTML page for explained rows.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    rows : list of dict
        The JSONL rows (their tables list the top features).
    explained : list
        Per row, its TextExplanation or, for a row without text, the reason.
    source : str
        The model, as the user named it.

    Returns
    -------
    str
        The page: ``<html dir="rtl" lang="ar">``, a legend, then per row and label the
        coloured text and a table of its top features, "(rest)", intercept and score.
    """
    kind = (
        "khabar predict writes probabilities for this model; the page explains the score "
        "behind them, "
        if explainer.score_kind == "probability"
        else "the score is khabar predict's score, "
    )
    header = (
        '<header dir="ltr" lang="en"><h1>khabar explain</h1>'
        f"<p>Model: <code>{escape(source)}</code>. Each label's score is exact: {kind}"
        f"the {escape(explainer.form.explained)}, equal to the intercept plus the listed "
        "contributions (value × weight) and the rest.</p>"
        '<p class="legend"><span class="swatch" style="background: rgba(37, 99, 235, 0.6)">'
        "</span>pushes towards the label "
        '<span class="swatch" style="background: rgba(234, 88, 12, 0.6)"></span>pushes away '
        "from it; the stronger the colour, the larger the push. A word's colour sums the "
        "n-grams in it (each n-gram's contribution shared among its characters); hover a word "
        "for its n-grams. The intercept and word-vector blocks belong to no word: see the "
        "tables.</p></header>"
    )
    items = "".join(_item(explainer, row, item) for row, item in zip(rows, explained, strict=True))
    return (
        '<!DOCTYPE html>\n<html dir="rtl" lang="ar"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>khabar explain</title><style>{_STYLE}</style></head>"
        f"<body>{header}<main>{items}</main></body></html>\n"
    )
