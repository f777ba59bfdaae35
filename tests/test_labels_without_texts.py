"""Labels distributed without texts: URLs + text hashes, texts rebuilt from SaudiNewsNet;
data.train as several files; select leaving out same-story copies of labeled items."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from khabar.cli import main
from khabar.data.corpora import news_lead, text_sha256
from khabar.data.fit_set import load_train_and_test
from khabar.errors import KhabarError
from khabar.model.normalize import ArabicNormalizer
from khabar.runs.guard import load_config
from khabar.runs.select import same_story_rows

from .conftest import NEWS_SMALL, PROJECT, write_config, write_jsonl

ROWS = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
SHARED = PROJECT.parent / "shared" / "data"


def _article(i: int, row: dict) -> dict:
    title, _, body = row["text"].partition("\n")
    return {"source": "x", "url": f"http://x/{i}", "date_extracted": "", "title": title,
            "author": "", "content": body or title}  # fmt: skip


def _saudinewsnet(folder: Path, articles: list[dict]) -> Path:
    folder.mkdir()
    with zipfile.ZipFile(folder / "2015-07-21.zip", "w") as archive:
        archive.writestr("2015-07-21.json", json.dumps(articles, ensure_ascii=False))
    return folder


def _labels(path: Path, articles: list[dict], rows: list[dict]) -> Path:
    """A labels file as the labeling round writes it: no text, the URL and its text's hash."""
    records = [
        {"url": a["url"], "primary": r["primary"], "stance": r["stance"],
         "text_sha256": text_sha256(news_lead(a["title"], a["content"]))}
        for a, r in zip(articles, rows, strict=True)
    ]  # fmt: skip
    return write_jsonl(path, records)


@pytest.fixture
def labeled(workdir):
    """The fixture's first 60 rows as a file with texts, the other 36 as labels without
    texts whose articles are in a small SaudiNewsNet copy."""
    articles = [_article(i, row) for i, row in enumerate(ROWS[60:])]
    folder = _saudinewsnet(workdir / "snn", articles)
    first = write_jsonl(workdir / "first.jsonl", ROWS[:60])
    later = _labels(workdir / "labels.jsonl", articles, ROWS[60:])
    return folder, first, later, articles


def _config(workdir: Path, **data):
    return load_config(write_config(workdir, data={"test_size": 0, **data}))


def test_train_files_are_joined_and_texts_rebuilt(labeled, workdir):
    folder, first, later, articles = labeled
    config = _config(workdir, train=[str(first), str(later)], saudinewsnet=str(folder))
    train, test = load_train_and_test(config)
    assert test is None and len(train.labels) == 96
    assert train.labels == [row["primary"] for row in ROWS]
    assert train.texts[:60] == [row["text"] for row in ROWS[:60]]
    assert train.texts[60:] == [news_lead(a["title"], a["content"]) for a in articles]
    # The rebuilt rows are named by their URL.
    assert train.frame["id"].tolist()[60:] == [a["url"] for a in articles]
    assert train.path == f"{first} + {later}"


def test_a_run_trains_on_rebuilt_texts(labeled, workdir, capsys):
    folder, first, later, _ = labeled
    config = write_config(workdir, data={"test_size": 0, "train": [str(first), str(later)],
                                         "saudinewsnet": str(folder)})  # fmt: skip
    assert main(["train", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["metrics"]["cv_f1_macro_mean"] > 0.5


def test_without_a_saudinewsnet_copy_the_loader_says_where_to_get_it(labeled, workdir):
    _, first, later, _ = labeled
    with pytest.raises(KhabarError) as error:
        load_train_and_test(_config(workdir, train=[str(first), str(later)]))
    message = str(error.value)
    assert "\n" not in message and str(later) in message
    assert "data.saudinewsnet" in message and "github.com/parallelfold/SaudiNewsNet" in message
    gone = _config(workdir, train=str(later), saudinewsnet=str(workdir / "no-such-folder"))
    with pytest.raises(KhabarError, match="no-such-folder is not a folder: get the daily ZIPs"):
        load_train_and_test(gone)


def test_a_changed_or_missing_article_is_named(labeled, workdir):
    _, _, later, articles = labeled
    edited = [dict(a) for a in articles]
    edited[4]["title"] += " (محدث)"
    changed = _saudinewsnet(workdir / "snn-edited", edited)
    config = _config(workdir, train=str(later), saudinewsnet=str(changed))
    with pytest.raises(KhabarError, match=r"row 5: the text rebuilt for http://x/4 .* SHA-256 differs"):
        load_train_and_test(config)
    short = _saudinewsnet(workdir / "snn-short", articles[:-1])
    config = _config(workdir, train=str(later), saudinewsnet=str(short))
    with pytest.raises(KhabarError, match=r"row 36: http://x/35 is not in the SaudiNewsNet copy"):
        load_train_and_test(config)


def test_a_file_of_several_train_files_names_the_missing_one(workdir, capsys):
    config = write_config(workdir, data={"train": [str(NEWS_SMALL), "missing.jsonl"]})
    assert main(["train", str(config)]) == 2
    assert "data.train[1]: data file not found: missing.jsonl" in capsys.readouterr().err


def test_same_story_rows_finds_copies_not_neighbours():
    normalize = ArabicNormalizer()
    story = ROWS[0]["text"]
    title, _, lead = story.partition("\n")
    sentences = lead.split("، ")
    copies = [
        story.replace(story.split()[3], "كذلك", 1),  # one word changed
        f"{title}\n" + "، ".join(reversed(sentences)),  # sentences reordered
        "الرياض - واس: " + story,  # another prefix
    ]
    same_topic = [row["text"] for row in ROWS[1:] if row["primary"] == ROWS[0]["primary"]][:10]
    texts = normalize.transform([*copies, *same_topic])
    found = same_story_rows(texts, normalize.transform([story]))
    assert found[:3].all() and not found[3:].any()
    # Exact matching alone would miss every copy.
    assert not set(texts[:3]) & set(normalize.transform([story]))


def test_select_leaves_out_copies_of_labeled_stories(shared_store, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
    labeled = write_jsonl(tmp_path / "labeled.jsonl", ROWS[:20])
    copies = [dict(row, id=row["id"] + "-copy", text="عاجل: " + row["text"]) for row in ROWS[:20]]
    pool = write_jsonl(tmp_path / "pool.jsonl", [*ROWS, *copies])
    out = tmp_path / "batch.jsonl"
    assert main(["select", "--model", shared_store.runs["svc"].model_uri, "--pool", str(pool),
                 "--n", "96", "--output", str(out), "--exclude", str(labeled), "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    chosen = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert result["excluded"] == 20 and result["same_story"] >= 20
    assert not chosen & {row["id"] + "-copy" for row in ROWS[:20]}


REALNEWS_LABELS = PROJECT / "data" / "realnews" / "labels.jsonl"


def test_committed_labels_hold_no_text_and_no_reserved_article():
    labels = pd.read_json(REALNEWS_LABELS, lines=True)
    assert "text" not in labels and labels["url"].is_unique
    assert labels["text_sha256"].str.fullmatch("[0-9a-f]{64}").all()
    reserved = SHARED / "realnews-dev" / "reserved_urls.txt"
    if not reserved.is_file():
        pytest.skip(f"{reserved} is absent: the reserved-URL check needs the shared data")
    assert not set(labels["url"]) & set(reserved.read_text(encoding="utf-8").split())


def test_committed_labels_rebuild_from_the_local_saudinewsnet(workdir):
    folder = SHARED / "saudinewsnet"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: rebuilding the committed labels needs SaudiNewsNet")
    config = _config(workdir, train=str(REALNEWS_LABELS), saudinewsnet=str(folder))
    train, _ = load_train_and_test(config)  # every text's hash is checked on the way
    assert len(train.texts) == sum(1 for _ in REALNEWS_LABELS.open(encoding="utf-8"))
