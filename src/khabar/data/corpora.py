"""Readers for public corpora that khabar benchmarks on (never shipped with khabar).

SaudiNewsNet: one ZIP per day, each holding one JSON array of articles with fields
`source, url, date_extracted, title, author, content`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pandas as pd

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


SAUDINEWSNET_SOURCE = "https://github.com/parallelfold/SaudiNewsNet"


def text_sha256(text: str) -> str:
    """The SHA-256 of a text's UTF-8 bytes: how a labels file without texts names each text.

    Parameters
    ----------
    text : str
        The text as it was labeled.

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=2)
def _leads_by_url(folder: str, stamp: float) -> dict[str, str]:
    """The `news_lead` of every article in a SaudiNewsNet folder, by URL (cached per folder
    and modification time: several loads in one run read the ZIPs once)."""
    return {item["url"]: item["text"] for item in read_saudinewsnet_leads(folder)[0]}


def rebuild_texts(
    frame: pd.DataFrame, path: str | Path, folder: str | Path | None, text_column: str
) -> pd.DataFrame:
    """A labels file's texts rebuilt from a local SaudiNewsNet copy, each checked by hash.

    Labels are distributed as URLs and the SHA-256 of each text as labeled (SaudiNewsNet's
    license is unstated, so its texts stay out of khabar); each row's text is the article's
    `news_lead` again.

    Parameters
    ----------
    frame : DataFrame
        The labels, with `url` and `text_sha256` columns.
    path : str or Path
        The labels file, for messages.
    folder : str, Path or None
        The SaudiNewsNet copy (data.saudinewsnet).
    text_column : str
        The column the texts go into; an `id` column (the URL) is added when absent.

    Returns
    -------
    DataFrame
        `frame` with the texts.

    Raises
    ------
    KhabarError
        No copy given or found, an article missing from it, or a text whose hash differs
        from the one labeled: one line naming the file, the row and the URL.
    """
    require = "set data.saudinewsnet to a local copy of SaudiNewsNet's daily ZIPs"
    if folder is None:
        raise KhabarError(
            f"{path}: rows carry url and text_sha256 but no {text_column!r}: {require} "
            f"({SAUDINEWSNET_SOURCE}) to rebuild the texts"
        )
    if not Path(folder).is_dir():
        raise KhabarError(
            f"{path}: texts are rebuilt from SaudiNewsNet, but {folder} is not a folder: "
            f"get the daily ZIPs from {SAUDINEWSNET_SOURCE} and {require}"
        )
    leads = _leads_by_url(str(Path(folder).resolve()), Path(folder).stat().st_mtime)
    texts = []
    for row, (url, digest) in enumerate(zip(frame["url"], frame["text_sha256"], strict=True), 1):
        text = leads.get(url)
        if text is None:
            raise KhabarError(f"{path}: row {row}: {url} is not in the SaudiNewsNet copy {folder}")
        if text_sha256(text) != digest:
            raise KhabarError(
                f"{path}: row {row}: the text rebuilt for {url} from {folder} is not the one "
                "labeled (its SHA-256 differs): is the copy SaudiNewsNet's original?"
            )
        texts.append(text)
    frame = frame.copy()
    frame[text_column] = texts
    if "id" not in frame:
        frame["id"] = frame["url"]
    return frame
