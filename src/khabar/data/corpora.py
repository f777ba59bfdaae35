"""Readers for public corpora that khabar benchmarks on (never shipped with khabar).

SaudiNewsNet: one ZIP per day, each holding one JSON array of articles with fields
`source, url, date_extracted, title, author, content`.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from khabar.errors import KhabarError

SAUDINEWSNET_FIELDS = ("source", "url", "date_extracted", "title", "author", "content")


def read_saudinewsnet(folder: str | Path) -> list[dict]:
    """All articles of the SaudiNewsNet ZIPs in `folder`, in file order.

    Parameters
    ----------
    folder : str or Path
        A folder of SaudiNewsNet's daily ZIP files.

    Returns
    -------
    list of dict
        One dict of str per article: SaudiNewsNet's fields (a missing one is ""), an `id`
        (``<zip stem>-<position>``) and `text` (title, a newline, then content).

    Raises
    ------
    KhabarError
        The folder holds no .zip files, or a ZIP is not one of JSON arrays of objects.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("*.zip"))
    if not paths:
        raise KhabarError(f"{folder}: no SaudiNewsNet .zip files")
    articles = []
    for path in paths:
        try:
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist() if m.endswith(".json")]
                records = [r for m in members for r in json.loads(archive.read(m))]
        except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise KhabarError(f"{path}: not a SaudiNewsNet ZIP of JSON arrays: {exc}") from None
        for position, record in enumerate(records):
            if not isinstance(record, dict):
                raise KhabarError(f"{path}: item {position + 1} is not a JSON object")
            article = {name: str(record.get(name) or "") for name in SAUDINEWSNET_FIELDS}
            article["id"] = f"{path.stem}-{position}"
            article["text"] = f"{article['title']}\n{article['content']}"
            articles.append(article)
    return articles


def write_articles_jsonl(articles: list[dict], path: str | Path) -> int:
    """Write the export khabar trains on, atomically: one JSON object per line.

    Parameters
    ----------
    articles : list of dict
        Articles as `read_saudinewsnet` returns them.
    path : str or Path
        The .jsonl file; its folder is created when missing.

    Returns
    -------
    int
        The count of articles written: those with any text, each with `id, title,
        content, text, source`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    count = 0
    with open(temporary, "w", encoding="utf-8") as handle:
        for article in articles:
            if not article["text"].strip():
                continue
            record = {key: article[key] for key in ("id", "title", "content", "text", "source")}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    os.replace(temporary, path)
    return count


def news_lead(title: str, content: str, *, least: int = 450, most: int = 900) -> str:
    """An article as realnews-dev's texts are cut: title, a newline, then its lead.

    The lead is the content's non-empty lines, stripped, joined by single spaces, whole
    lines added until it reaches `least` characters, then cut at `most`.

    Parameters
    ----------
    title : str
        The article's title (stripped).
    content : str
        The article's body.
    least, most : int
        The lead's length bounds, in characters.

    Returns
    -------
    str
        The text (a cut lead may end in a space, as realnews-dev's do).
    """
    lead = ""
    for line in (line.strip() for line in content.splitlines()):
        if not line:
            continue
        lead = f"{lead} {line}" if lead else line
        if len(lead) >= least:
            break
    return f"{title.strip()}\n{lead[:most]}"


def read_saudinewsnet_leads(folder: str | Path) -> tuple[list[dict], int]:
    """SaudiNewsNet's articles as title + lead items, named by their URL.

    Parameters
    ----------
    folder : str or Path
        A folder of SaudiNewsNet's daily ZIP files.

    Returns
    -------
    items : list of dict
        Per article with any text: `id` (its URL, else ``<zip stem>-<position>``), `url`,
        `source`, `date_extracted`, `text` (`news_lead`).
    skipped : int
        Articles with neither title nor content.

    Raises
    ------
    KhabarError
        As `read_saudinewsnet`.
    """
    items, skipped = [], 0
    for article in read_saudinewsnet(folder):
        if not (article["title"].strip() or article["content"].strip()):
            skipped += 1
            continue
        items.append({
            "id": article["url"] or article["id"],
            "url": article["url"],
            "source": article["source"],
            "date_extracted": article["date_extracted"],
            "text": news_lead(article["title"], article["content"]),
        })  # fmt: skip
    return items, skipped
