import json

import pytest

from khabar.data.dataset import (
    check_test_labels,
    find_leakage,
    load_labeled,
    read_table,
    split_train_test,
)
from khabar.errors import KhabarError

from .conftest import NEWS_SMALL


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_bom_keeps_literal_none_and_na_labels(tmp_path):
    path = write(
        tmp_path / "m.csv", "\ufeffID,text,stance\n1,نص أول,None\n2,نص ثان,NA\n3,نص ثالث,null\n"
    )
    data = load_labeled(path, "text", "stance")
    assert data.labels == ["None", "NA", "null"]
    assert list(data.frame.columns)[0] == "ID"  # the byte-order mark is not part of the name


def test_csv_quoted_newlines_and_commas(tmp_path):
    path = write(tmp_path / "q.csv", 'text,label\n"سطر أول\nوسطر ثان، وفاصلة, هنا",a\nنص,b\n')
    data = load_labeled(path, "text", "label")
    assert data.texts[0] == "سطر أول\nوسطر ثان، وفاصلة, هنا"
    assert data.labels == ["a", "b"]


def test_jsonl_broken_line_is_named(tmp_path):
    path = write(tmp_path / "b.jsonl", '{"text": "أ", "label": "x"}\n\n{"text": "ب", "label": \n')
    with pytest.raises(KhabarError, match=r"b.jsonl: line 3: not valid JSON"):
        read_table(path)


def test_parquet_and_txt(tmp_path):
    import pandas as pd

    pd.DataFrame({"text": ["أمن", "هجرة"], "label": ["security", "migration"]}).to_parquet(
        tmp_path / "d.parquet"
    )
    assert load_labeled(tmp_path / "d.parquet", "text", "label").labels == ["security", "migration"]
    frame = read_table(write(tmp_path / "t.txt", "نص أول\nنص ثان\n"))
    assert frame["text"].tolist() == ["نص أول", "نص ثان"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "file is empty"),
        ("text,label\n", "no data rows"),
        ("body,label\nنص,a\n", "missing column 'text'"),
        ("text,label\nنص,a\n,b\n", "row 2: 'text' is missing"),
        ("text,label\nنص,a\n   ,b\n", "row 2: 'text' is empty"),
        ("text,label\nنص,a\nنص آخر,\n", "row 2: label 'label' is empty"),
    ],
)
def test_bad_tables_fail_with_one_line(tmp_path, content, expected):
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(KhabarError, match=expected) as info:
        load_labeled(path, "text", "label")
    assert "\n" not in str(info.value) and "bad.csv" in str(info.value)


def test_windows_1256_is_refused_with_a_hint_and_read_when_declared(tmp_path):
    path = write(tmp_path / "w.csv", "text,label\nوزارة الداخلية,security\n", encoding="cp1256")
    with pytest.raises(KhabarError, match="not valid utf-8 .*cp1256"):
        load_labeled(path, "text", "label")
    data = load_labeled(path, "text", "label", encoding="cp1256")
    assert data.texts == ["وزارة الداخلية"]


def test_multi_label_lists_from_jsonl_and_csv(tmp_path):
    data = load_labeled(NEWS_SMALL, "text", "topics", multi_label=True)
    assert all(isinstance(row, list) for row in data.labels)
    path = write(
        tmp_path / "m.csv",
        'text,topics\nنص,"[""security"", ""diplomacy""]"\nآخر,migration|security\nثالث,\n',
    )
    assert load_labeled(path, "text", "topics", multi_label=True).labels == [
        ["diplomacy", "security"],
        ["migration", "security"],
        [],
    ]


def test_unseen_test_label_and_leakage(tmp_path):
    train = load_labeled(write(tmp_path / "tr.csv", "text,label\nأ,x\nب,y\n"), "text", "label")
    test = load_labeled(write(tmp_path / "te.csv", "text,label\nأ,x\nج,z\n"), "text", "label")
    with pytest.raises(KhabarError, match=r"te.csv: row 2: label 'z' never occurs"):
        check_test_labels(train, test)
    assert find_leakage(train, test) == [0]


def test_leakage_ignores_spacing_only(tmp_path):
    train = load_labeled(
        write(tmp_path / "tr.jsonl", '{"text": "وزير  الداخلية\\nيزور", "label": "x"}\n'),
        "text",
        "label",
    )
    rows = ["وزير الداخلية يزور", "وزير الداخلية يزور غدا", "وزيرالداخلية يزور"]
    test = load_labeled(
        write(
            tmp_path / "te.jsonl",
            "".join(json.dumps({"text": t, "label": "x"}, ensure_ascii=False) + "\n" for t in rows),
        ),
        "text",
        "label",
    )
    assert find_leakage(train, test) == [0]  # same words, other spacing; the rest differ


def test_split_is_stratified_and_seeded():
    data = load_labeled(NEWS_SMALL, "text", "primary")
    train_a, test_a = split_train_test(data, 0.25, seed=3)
    train_b, test_b = split_train_test(data, 0.25, seed=3)
    assert test_a.texts == test_b.texts
    assert sorted(set(test_a.labels)) == sorted(set(data.labels))
    assert len(test_a.texts) == 24 and not set(train_a.texts) & set(test_a.texts)
    assert json.dumps(test_a.label_counts, sort_keys=True) == json.dumps(
        {label: 6 for label in sorted(set(data.labels))}, sort_keys=True
    )


def test_map_labels_renames_single_and_multi_labels_and_names_an_unmapped_row(tmp_path):
    from khabar.data.dataset import map_labels

    path = tmp_path / "tone.jsonl"
    path.write_text(
        '{"text": "a", "tone": "pos", "tags": ["x", "y"]}\n'
        '{"text": "b", "tone": "neg", "tags": ["y"]}\n'
        '{"text": "c", "tone": "meh", "tags": ["z"]}\n',
        encoding="utf-8",
    )
    single = load_labeled(path, "text", "tone")
    assert map_labels(single.subset([0, 1]), {"pos": "Positive", "neg": "Negative"}, "f") == [
        "Positive",
        "Negative",
    ]
    with pytest.raises(KhabarError, match=r"tone.jsonl: line 3: label 'meh' is not in f.labels"):
        map_labels(single, {"pos": "Positive", "neg": "Negative"}, "f")
    multi = load_labeled(path, "text", "tags", multi_label=True)
    assert map_labels(multi, {"x": "X", "y": "Y", "z": "Z"}, "f") == [["X", "Y"], ["Y"], ["Z"]]
