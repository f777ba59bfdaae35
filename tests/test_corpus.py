"""Checks of the project's own corpus (data/khabar_news_*.jsonl), as its data card promises."""

import json
from collections import Counter

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from .conftest import PROJECT

SPLITS = {name: PROJECT / "data" / f"khabar_news_{name}.jsonl" for name in ("train", "test")}
TOPICS = {"security", "migration", "diplomacy"}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict]]:
    return {
        name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for name, path in SPLITS.items()
    }


@pytest.fixture(scope="module")
def items(corpus) -> list[dict]:
    return corpus["train"] + corpus["test"]


def test_schema_and_label_validity(items):
    ids = set()
    for item in items:
        assert set(item) == {"id", "text", "primary", "topics", "stance"}, item["id"]
        assert item["id"] not in ids
        ids.add(item["id"])
        assert item["text"].strip() == item["text"] and item["text"]
        assert item["primary"] in TOPICS | {"other"}
        assert item["stance"] in {"positive", "negative", "neutral"}
        assert set(item["topics"]) <= TOPICS and len(set(item["topics"])) == len(item["topics"])
        if item["primary"] == "other":
            assert item["topics"] == [], item["id"]
        else:
            assert item["primary"] in item["topics"], item["id"]


def test_size_and_balance(items):
    assert len(items) >= 2000
    primary = Counter(item["primary"] for item in items)
    for topic in TOPICS:
        assert primary[topic] >= 400, topic
    assert primary["other"] >= 300
    cells = Counter((item["primary"], item["stance"]) for item in items)
    for topic in TOPICS | {"other"}:
        for stance in ("positive", "negative", "neutral"):
            assert cells[(topic, stance)] >= 60, (topic, stance)
    multi = sum(len(item["topics"]) >= 2 for item in items)
    assert multi / len(items) >= 0.15


def test_no_exact_or_near_duplicates(items):
    texts = [item["text"] for item in items]
    assert len(set(texts)) == len(texts)
    matrix = TfidfVectorizer(analyzer="word").fit_transform(texts)
    similarity = (matrix @ matrix.T).tocoo()
    pairs = [
        (items[i]["id"], items[j]["id"], round(float(v), 3))
        for i, j, v in zip(similarity.row, similarity.col, similarity.data, strict=True)
        if i < j and v > 0.8
    ]
    assert pairs == []


def test_openings_are_varied(items):
    openings = Counter(" ".join(item["text"].split()[:4]) for item in items)
    opening, count = openings.most_common(1)[0]
    assert count <= 0.01 * len(items), (opening, count)


def test_split_is_fixed_stratified_and_disjoint(corpus):
    train, test = corpus["train"], corpus["test"]
    assert not {i["text"] for i in train} & {i["text"] for i in test}
    share = len(test) / (len(train) + len(test))
    assert 0.18 <= share <= 0.22
    train_counts = Counter(i["primary"] for i in train)
    test_counts = Counter(i["primary"] for i in test)
    for label, count in train_counts.items():
        expected = count * share / (1 - share)
        assert abs(test_counts[label] - expected) <= 0.1 * expected + 2, label
