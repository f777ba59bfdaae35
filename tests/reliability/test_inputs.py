"""Bad input through `khabar train` (in-process, the real CLI code path): each case ends in
one line naming the file and the row, line, field or value, exit code 2, and no work
done (no MLflow store, no report)."""

from __future__ import annotations

import json

import mlflow
import pytest

from khabar.model.normalize import ArabicNormalizer
from khabar.runs.guard import load_config
from khabar.runs.train import load_training_data

from ..conftest import NEWS_SMALL, write_config
from .conftest import SMALL_FEATURES, one_error_line, only_line, run_main, tree_digest

ARABIC = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]


def jsonl(*records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def good_rows(n: int = 8) -> list[dict]:
    """n fixture rows, the four topics taking turns (so every class has n/4 rows)."""
    by_label: dict[str, list[dict]] = {}
    for r in ARABIC:
        by_label.setdefault(r["primary"], []).append({"text": r["text"], "primary": r["primary"]})
    turns = [row for group in zip(*by_label.values(), strict=False) for row in group]
    return turns[:n]


# (case, file name, content, data settings, fragments the one error line must hold)
BAD_TABLES = [
    ("empty CSV file", "empty.csv", "", {}, ["empty.csv", "file is empty"]),
    ("empty JSONL file", "empty.jsonl", "", {}, ["empty.jsonl", "file is empty"]),
    ("file of blank lines", "blank.jsonl", "\n \n\n", {}, ["blank.jsonl", "file is empty"]),
    ("CSV header only", "header.csv", "text,primary\n", {}, ["header.csv", "no data rows"]),
    (
        "missing text column",
        "notext.csv",
        "body,primary\nنص,security\n",
        {},
        ["notext.csv", "missing column 'text'", "'body'"],
    ),
    (
        "missing label column",
        "nolabel.csv",
        "text,label\nنص,security\n",
        {},
        ["nolabel.csv", "missing column 'primary'"],
    ),
    (
        "empty text cell (CSV)",
        "t.csv",
        "text,primary\nنص,security\n,other\n",
        {},
        ["t.csv", "row 2", "'text' is missing"],
    ),
    (
        "whitespace-only text (CSV)",
        "t.csv",
        "text,primary\nنص,security\n   ,other\n",
        {},
        ["t.csv", "row 2", "'text' is empty"],
    ),
    (
        "NaN text (JSONL)",
        "nan.jsonl",
        '{"text": "نص", "primary": "security"}\n{"text": NaN, "primary": "other"}\n',
        {},
        ["nan.jsonl", "line 2", "'text' is missing"],
    ),
    (
        "null text (JSONL)",
        "null.jsonl",
        jsonl({"text": "نص", "primary": "a"}, {"text": None, "primary": "b"}),
        {},
        ["null.jsonl", "line 2", "'text' is missing"],
    ),
    (
        "whitespace text (JSONL)",
        "ws.jsonl",
        jsonl({"text": "نص", "primary": "a"}, {"text": " \t\n ", "primary": "b"}),
        {},
        ["ws.jsonl", "line 2", "'text' is empty"],
    ),
    (
        "text that is a list (JSONL)",
        "list.jsonl",
        jsonl({"text": "نص", "primary": "a"}, {"text": ["نص"], "primary": "b"}),
        {},
        ["list.jsonl", "line 2", "'text' is not a text"],
    ),
    (
        "empty label (CSV)",
        "l.csv",
        "text,primary\nنص,security\nنص آخر,\n",
        {},
        ["l.csv", "row 2", "label 'primary' is empty"],
    ),
    (
        "label key absent on one line (JSONL)",
        "l.jsonl",
        '{"text": "نص", "primary": "a"}\n\n{"text": "نص آخر"}\n',
        {},
        ["l.jsonl", "line 3", "label 'primary' is empty"],
    ),
    (
        "list label in a single-label task",
        "ll.jsonl",
        jsonl({"text": "نص", "primary": "a"}, {"text": "نص آخر", "primary": ["a", "b"]}),
        {},
        ["ll.jsonl", "line 2", "not one label", "multi_label"],
    ),
    (
        "JSONL with one broken line",
        "broken.jsonl",
        '{"text": "نص", "primary": "a"}\n{"text": "نص", "primary": "b"}\n{"text": "نص", "primary": \n',
        {},
        ["broken.jsonl", "line 3", "not valid JSON"],
    ),
    (
        "CSV with an unclosed quote",
        "quote.csv",
        'text,primary\n"نص بلا نهاية,security\nنص,other\n',
        {},
        ["quote.csv", "malformed CSV"],
    ),
    (
        "CSV row with too many fields",
        "fields.csv",
        "text,primary\nنص,security\nنص,other,extra\n",
        {},
        ["fields.csv", "malformed CSV", "line 3"],
    ),
    (
        "Windows-1256 CSV read as UTF-8",
        "win.csv",
        "text,primary\nوزارة الداخلية,security\n".encode("cp1256"),
        {},
        ["win.csv", "not valid utf-8", "cp1256"],
    ),
    (
        "UTF-8 file declared as cp1256",
        "utf8.csv",
        "text,primary\nوزارة الداخلية,security\n",
        {"encoding": "cp1256"},
        ["utf8.csv", "'cp1256'", "valid UTF-8"],
    ),
    (
        "UTF-16 CSV",
        "u16.csv",
        "text,primary\nنص,a\n".encode("utf-16"),
        {},
        ["u16.csv", "UTF-16", "byte-order mark"],
    ),
    ("damaged Parquet file", "bad.parquet", b"PAR1 not really", {}, ["bad.parquet", "Parquet"]),
    ("unsupported file type", "data.xlsx", b"PK\x03\x04", {}, ["data.xlsx", "unsupported"]),
]


@pytest.mark.parametrize(
    ("name", "filename", "content", "data", "fragments"), BAD_TABLES, ids=[c[0] for c in BAD_TABLES]
)
def test_bad_table_is_one_clear_line(workdir, ledger, name, filename, content, data, fragments):
    with ledger.case("inputs", name, "exit 2, one line naming file and row/line/value") as case:
        path = workdir / filename
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        config = write_config(workdir, data={"train": str(path), **data})
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        for fragment in fragments:
            assert fragment in message, (fragment, message)
        # Nothing was started: no tracking store, no report.
        assert not (workdir / "mlflow.db").exists()
        assert tree_digest(workdir / "reports") == {}


def _labeled(workdir, name: str, rows: list[dict]) -> str:
    path = workdir / name
    path.write_text(jsonl(*rows), encoding="utf-8")
    return str(path)


def test_test_label_unseen_in_training(workdir, ledger):
    with ledger.case(
        "inputs", "test label never seen in training", "exit 2 naming the test row and label"
    ) as case:
        train = _labeled(workdir, "train.jsonl", good_rows(16))
        test = _labeled(
            workdir, "test.jsonl", [*good_rows(2), {"text": "نص جديد", "primary": "sport"}]
        )
        result = run_main("train", write_config(workdir, data={"train": train, "test": test}))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "test.jsonl: line 3: label 'sport' never occurs" in message


def test_single_class_training_set(workdir, ledger):
    with ledger.case("inputs", "single-class training set", "exit 2 naming the class") as case:
        rows = [{"text": r["text"], "primary": "security"} for r in ARABIC[:12]]
        train = _labeled(workdir, "one.jsonl", rows)
        result = run_main("train", write_config(workdir, data={"train": train}))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "one.jsonl" in message and "single class ('security')" in message


def test_class_with_one_example(workdir, ledger):
    with ledger.case(
        "inputs", "class with 1 example (fewer than 2 per fold)", "exit 2 naming the class"
    ) as case:
        rows = good_rows(16) + [{"text": "نص فريد عن الرياضة", "primary": "sport"}]
        test = _labeled(workdir, "test.jsonl", good_rows(4))
        train = _labeled(workdir, "rare.jsonl", rows)
        config = write_config(workdir, data={"train": train, "test": test})
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "rare.jsonl" in message and "class 'sport' has only 1 training example" in message


@pytest.mark.parametrize(
    ("name", "topics", "expected"),
    [
        ("multi-label: every label list empty", [[]] * 12, "every row's label list is empty"),
        ("multi-label: every row the same labels", [["security"]] * 12, "the same labels"),
    ],
)
def test_multi_label_without_anything_to_learn(workdir, ledger, name, topics, expected):
    with ledger.case("inputs", name, "exit 2 naming the file") as case:
        rows = [{"text": r["text"], "topics": t} for r, t in zip(ARABIC, topics, strict=False)]
        train = _labeled(workdir, "multi.jsonl", rows)
        config = write_config(
            workdir, task="multi_label", data={"train": train, "label_column": "topics"}
        )
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "multi.jsonl" in message and expected in message


@pytest.mark.slow
def test_multi_label_with_a_single_label_trains(workdir, ledger):
    """One label that some rows have and others lack: a valid multi-label problem."""
    with ledger.case(
        "inputs",
        "multi-label with a single label (present or absent)",
        "trains; every row used",
    ) as case:
        rows = [
            {"text": r["text"], "topics": ["security"] if r["primary"] == "security" else []}
            for r in ARABIC[:48]
        ]
        train = _labeled(workdir, "single.jsonl", rows)
        config = write_config(
            workdir,
            task="multi_label",
            data={"train": train, "label_column": "topics"},
            features=SMALL_FEATURES,
        )
        result = run_main("train", config, "--json")
        case.crashed = result.crashed
        case.saw(result.summary())
        assert result.code == 0, result.err
        run = mlflow.get_run(json.loads(result.out.splitlines()[-1])["run_id"])
        rows_used = int(run.data.params["data.train_rows"]) + int(run.data.params["data.test_rows"])
        case.lost = len(rows) - rows_used
        assert case.lost == 0
        case.saw(f"exit 0; test f1_macro {run.data.metrics['test_f1_macro']:.3f}; {rows_used} rows")


@pytest.mark.slow
def test_texts_empty_after_normalization_fail_clearly(workdir, ledger):
    """Texts that are only URLs and mentions leave no n-gram: scikit-learn's 'empty
    vocabulary' becomes one line naming the file, and the MLflow run is marked FAILED."""
    with ledger.case(
        "inputs",
        "every text only URLs/mentions (empty after normalization)",
        "exit 2 naming the file; run FAILED with the reason",
    ) as case:
        rows = [
            {"text": f"https://example.com/{i} @user{i}", "primary": "a" if i % 2 else "b"}
            for i in range(12)
        ]
        train = _labeled(workdir, "urls.jsonl", rows)
        result = run_main("train", write_config(workdir, data={"train": train}))
        case.crashed = result.crashed
        case.saw(result.summary())
        message = one_error_line(result)
        assert "urls.jsonl" in message and "cannot build features" in message
        runs = mlflow.search_runs(experiment_names=["fixture"], output_format="list")
        assert [r.info.status for r in runs] == ["FAILED"]
        assert "cannot build features" in runs[0].data.tags["khabar.error"]


def test_leakage_is_reported_and_kept_by_default(workdir, ledger, capsys):
    with ledger.case(
        "inputs",
        "same texts in train and test (default)",
        "reported with count and examples; rows kept",
    ) as case:
        train_rows = good_rows(24)
        test_rows = [
            *train_rows[:3],
            *[{"text": r["text"], "primary": r["primary"]} for r in ARABIC[40:50]],
        ]
        # Whitespace differences do not hide a copy.
        test_rows[0] = {**test_rows[0], "text": "  " + test_rows[0]["text"].replace(" ", "  ")}
        train = _labeled(workdir, "train.jsonl", train_rows)
        test = _labeled(workdir, "test.jsonl", test_rows)
        config = load_config(write_config(workdir, data={"train": train, "test": test}))
        loaded = load_training_data(config)  # the runs layer prints what the data layer noted
        train_data, test_data = loaded.train, loaded.test
        out = capsys.readouterr().out
        case.saw(out.strip())
        assert "leakage: 3 test texts also occur in the training data" in out
        assert train_rows[1]["text"][:30] in out  # an example is shown
        assert train_data.leaked_test_rows == 3
        assert any("leakage: 3" in note for note in train_data.notes)
        case.lost = len(test_rows) - len(test_data.texts)
        assert case.lost == 0


def test_leakage_dropped_on_request_and_all_leaked(workdir, ledger, capsys):
    with ledger.case(
        "inputs",
        "every test text also in training, data.drop_leaked=true",
        "exit 2: no test rows would be left",
    ) as case:
        train = _labeled(workdir, "train.jsonl", good_rows(16))
        test = _labeled(workdir, "test.jsonl", good_rows(4))
        config = write_config(workdir, data={"train": train, "test": test, "drop_leaked": True})
        result = run_main("train", config)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "test.jsonl" in message and "no test rows are left" in message


def test_french_and_english_survive_normalization(ledger):
    with ledger.case(
        "inputs",
        "French/English/mixed text through normalization",
        "Latin letters and accents kept; Arabic normalized",
    ) as case:
        texts = [
            "Élysée : accord signé à Genève",
            "Security talks in Oslo",
            "قمة Paris للمناخ أُعلنت",
        ]
        normalized = ArabicNormalizer().transform(texts)
        case.saw(" / ".join(normalized))
        assert normalized[:2] == texts[:2]
        assert normalized[2] == "قمة Paris للمناخ اعلنت"
