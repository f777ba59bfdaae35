"""Same-story leakage: planted near-duplicates are found, unrelated items are not, and story
groups keep each story on one side of every CV fold."""

import numpy as np
import pandas as pd

from khabar.data.dataset import LabeledData, find_leakage
from khabar.model.stories import best_match, near_duplicate_pairs, normalized, story_ids
from khabar.runs.cross_validation import cv_splits

STORY = (
    "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في مدينة جدة بسعة خمسمائة سرير. "
    "وقال الوزير إن المستشفى سيخدم سكان المحافظات الجنوبية ويضم مركزا لعلاج القلب."
)
ONE_WORD = STORY.replace("جديد", "حديث")
REORDERED = (
    "وقال الوزير إن المستشفى سيخدم سكان المحافظات الجنوبية ويضم مركزا لعلاج القلب. "
    "أعلنت وزارة الصحة اليوم افتتاح مستشفى جديد في مدينة جدة بسعة خمسمائة سرير."
)
PREFIXED = "جدة - واس: " + STORY
# The same topic (health), another event.
SAME_TOPIC = (
    "حذرت وزارة الصحة من انتشار الإنفلونزا الموسمية في فصل الشتاء ودعت المواطنين "
    "إلى أخذ اللقاح في المراكز الصحية القريبة قبل نهاية الشهر."
)
OTHER = [
    "فاز فريق الهلال على النصر بهدفين مقابل هدف في مباراة الدوري السعودي مساء أمس.",
    "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار أوبك خفض الإنتاج للربع القادم.",
    "افتتح أمير المنطقة معرض الكتاب الدولي بمشاركة أكثر من ثلاثمائة دار نشر عربية.",
]


def _labeled(texts: list[str]) -> LabeledData:
    return LabeledData("mem", pd.DataFrame({"text": texts}), texts, ["x"] * len(texts))


def test_planted_near_duplicates_are_found_and_exact_matching_misses_them():
    planted = [ONE_WORD, REORDERED, PREFIXED]
    train = _labeled([STORY, *OTHER])
    assert find_leakage(train, _labeled(planted)) == []
    closest, cosine = best_match(normalized(planted), normalized(train.texts))
    assert (cosine > 0.5).all()
    assert (closest == 0).all()


def test_unrelated_items_on_the_same_topic_are_not_flagged():
    _, cosine = best_match(normalized([SAME_TOPIC, *OTHER]), normalized([STORY]))
    assert (cosine <= 0.5).all()
    pairs = near_duplicate_pairs(normalized([STORY, SAME_TOPIC, *OTHER]))
    assert len(pairs) == 0


def test_blocked_pairs_equal_the_dense_products():
    texts = normalized([STORY, ONE_WORD, SAME_TOPIC, *OTHER, REORDERED, PREFIXED])
    whole = {tuple(p) for p in near_duplicate_pairs(texts, block=10_000)}
    blocked = {tuple(p) for p in near_duplicate_pairs(texts, block=2)}
    assert blocked == whole == {(0, 1), (0, 6), (0, 7), (1, 6), (1, 7), (6, 7)}


def test_stories_are_connected_components():
    ids = story_ids(normalized([STORY, SAME_TOPIC, ONE_WORD, *OTHER, PREFIXED]))
    assert ids[0] == ids[2] == ids[-1]
    assert len(set(ids)) == len(ids) - 2


def _story_corpus(stories: int = 12, copies: int = 3) -> tuple[list[str], list[str]]:
    """Stories of unrelated made-up words, each told `copies` times with one word changed."""
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for s in range(stories):
        words = [f"w{s}x{k}" for k in range(20)]
        for c in range(copies):
            told = list(words)
            told[int(rng.integers(20))] = f"v{s}y{c}"
            texts.append(" ".join(told))
            labels.append("ab"[s % 2])
    return texts, labels


def test_no_story_straddles_a_fold_with_story_groups():
    texts, labels = _story_corpus()
    groups = story_ids(texts)
    assert len(set(groups)) == 12
    for train_idx, test_idx in cv_splits(
        texts, labels, folds=3, seed=0, multi_label=False, split_groups=groups
    ):
        assert not set(groups[train_idx]) & set(groups[test_idx])
    # Without groups the copies of a story land on both sides.
    straddles = [
        bool(set(groups[tr]) & set(groups[te]))
        for tr, te in cv_splits(texts, labels, folds=3, seed=0, multi_label=False)
    ]
    assert any(straddles)


def test_extra_rows_of_a_scored_story_are_left_out_of_that_fit():
    texts, labels = _story_corpus(stories=6, copies=2)
    extra = texts[0:1] + ["z1 z2 z3 z4"]  # a copy of story 0, and an unrelated row
    groups = story_ids([*texts, *extra])
    assert groups[-2] == groups[0]
    for train_idx, test_idx in cv_splits(
        [*texts, *extra], [*labels, "a", "b"], folds=3, seed=0, multi_label=False,
        always_train=2, split_groups=groups,
    ):  # fmt: skip
        assert (len(texts) + 1) in train_idx
        assert (len(texts) in train_idx) == (0 not in test_idx)


def _config(drop: bool):
    from khabar.data.config import ExperimentConfig

    return ExperimentConfig.model_validate(
        {"name": "t", "experiment": "t", "task": "single_label", "data": {"train": "t.jsonl", "drop_leaked": drop}}
    )


def test_leakage_counts_near_duplicates_and_drop_leaked_drops_them():
    from khabar.data.fit_set import _without_leaked
    from khabar.runs.train import same_story

    test_rows = [STORY, ONE_WORD, PREFIXED, SAME_TOPIC]
    train = _labeled([STORY, *OTHER])
    kept = _without_leaked(_config(False), train, _labeled(test_rows), same_story)
    assert (train.leaked_test_rows, train.near_duplicate_test_rows) == (1, 2)
    assert kept.texts == test_rows
    train = _labeled([STORY, *OTHER])
    dropped = _without_leaked(_config(True), train, _labeled(test_rows), same_story)
    assert dropped.texts == [SAME_TOPIC]
    assert any("same story" in note for note in train.notes)


def _write_jsonl(path, texts, labels):
    import json

    path.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in zip(texts, labels, strict=True)),
        encoding="utf-8",
    )


def test_the_split_khabar_makes_keeps_stories_on_one_side(tmp_path, monkeypatch):
    from khabar.data.config import ExperimentConfig
    from khabar.model.stories import raw_story_ids as stories
    from khabar.runs.train import load_training_data

    texts, labels = _story_corpus(stories=16, copies=3)
    _write_jsonl(tmp_path / "train.jsonl", texts, labels)
    # Extra rows: a fourth telling of story 0, and a row of no story.
    _write_jsonl(tmp_path / "extra.jsonl", [texts[0] + " q1", "z1 z2 z3 z4 z5"], ["a", "b"])
    monkeypatch.chdir(tmp_path)
    config = {
        "name": "t", "experiment": "t", "task": "single_label",
        "data": {"train": "train.jsonl", "test_size": 0.25, "extra_train": ["extra.jsonl"]},
        "evaluation": {"groups": "story", "cv_folds": 3},
    }  # fmt: skip
    data = load_training_data(ExperimentConfig.model_validate(config))
    story = {text: s for text, s in zip(texts, stories(texts), strict=True)}
    train_stories = {story[t] for t in data.train.texts}
    test_stories = {story[t] for t in data.test.texts}
    assert len(train_stories) + len(test_stories) == 16
    assert not train_stories & test_stories
    assert data.train.near_duplicate_test_rows == 0
    assert data.extra_rows_left_out == (story[texts[0]] in train_stories)
    assert any("CV folds by story" in note for note in data.notes)
    # Without groups the plain split puts tellings of one story on both sides.
    config["evaluation"] = {"cv_folds": 3}
    plain = load_training_data(ExperimentConfig.model_validate(config))
    assert {story[t] for t in plain.train.texts} & {story[t] for t in plain.test.texts}
    assert plain.train.near_duplicate_test_rows > 0


def test_group_column_split_and_its_missing_column(tmp_path, monkeypatch):
    import json

    import pytest

    from khabar.data.config import ExperimentConfig
    from khabar.errors import KhabarError
    from khabar.runs.train import load_training_data

    rows = [{"text": f"نص رقم {i} عن حدث {i % 10}", "label": "ab"[i % 2], "event": i % 10}
            for i in range(40)]  # fmt: skip
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    monkeypatch.chdir(tmp_path)
    config = {
        "name": "t", "experiment": "t", "task": "single_label",
        "data": {"train": "t.jsonl", "test_size": 0.2}, "evaluation": {"groups": "event"},
    }  # fmt: skip
    data = load_training_data(ExperimentConfig.model_validate(config))
    events = lambda part: set(part.frame["event"])  # noqa: E731
    assert not events(data.train) & events(data.test)
    assert data.split_groups == data.train.frame["event"].tolist()
    config["evaluation"] = {"groups": "day"}
    with pytest.raises(KhabarError, match="day"):
        load_training_data(ExperimentConfig.model_validate(config))


def test_grouped_split_shares_follow_test_size():
    from khabar.data.dataset import group_split

    groups = [i // 2 for i in range(400)]
    strata = ["ab"[g % 2] for g in groups]
    for test_size, low, high in [(0.2, 0.17, 0.23), (0.3, 0.30, 0.37), (0.4, 0.30, 0.37),
                                 (0.5, 0.45, 0.55), (0.7, 0.63, 0.70)]:  # fmt: skip
        train, test = group_split(strata, groups, test_size, 0)
        assert low <= len(test) / 400 <= high, test_size
        assert not {groups[i] for i in train} & {groups[i] for i in test}


def test_a_label_told_in_one_story_stays_in_training():
    from khabar.data.dataset import split_train_test

    texts = [f"row {i}" for i in range(40)]
    labels = ["ab"[i % 2] for i in range(38)] + ["rare", "rare"]
    groups = list(range(38)) + [99, 99]  # both rare rows tell one story
    for seed in range(20):
        data = LabeledData("mem", pd.DataFrame({"text": texts}), texts, labels)
        train, test = split_train_test(data, 0.25, seed, groups)
        assert "rare" in train.labels and "rare" not in test.labels
        if any("moved to training" in note for note in data.notes):
            break
    else:
        raise AssertionError("no seed put the rare story in the test part to begin with")


def test_a_sweep_reloads_when_evaluation_groups_change(tmp_path, monkeypatch):
    from khabar.data.config import ExperimentConfig
    from khabar.runs.train import load_training_data, reuse_loaded_data

    texts, labels = _story_corpus(stories=16, copies=3)
    _write_jsonl(tmp_path / "train.jsonl", texts, labels)
    monkeypatch.chdir(tmp_path)
    config = {
        "name": "t", "experiment": "t", "task": "single_label",
        "data": {"train": "train.jsonl", "test_size": 0.25}, "evaluation": {"cv_folds": 3},
    }  # fmt: skip
    with reuse_loaded_data():
        plain = load_training_data(ExperimentConfig.model_validate(config))
        config["evaluation"]["groups"] = "story"
        grouped = load_training_data(ExperimentConfig.model_validate(config))
    assert plain.train.near_duplicate_test_rows > 0
    assert grouped.train.near_duplicate_test_rows == 0
