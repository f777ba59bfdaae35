"""`khabar select`: strategies, exclusions, near-duplicates, Label Studio files, pools."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from khabar.cli import main
from khabar.data.corpora import news_lead
from khabar.runs.select import comparable_scores, uncertainty

from .conftest import NEWS_SMALL, write_jsonl

ROWS = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]


def _select(capsys, *args) -> dict:
    assert main(["select", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def svc(shared_store, tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
    return shared_store.runs["svc"].model_uri


@pytest.mark.parametrize("strategy", ["least_confidence", "entropy", "breaking_ties"])
def test_uncertainty_strategies_take_the_most_uncertain_first(svc, tmp_path, capsys, strategy):
    out = tmp_path / "batch.jsonl"
    result = _select(capsys, "--model", svc, "--pool", str(NEWS_SMALL), "--n", "10",
                     "--output", str(out), "--strategy", strategy)  # fmt: skip
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert result["selected"] == len(rows) == 10 and result["pool"] == 96
    assert [r["rank"] for r in rows] == list(range(1, 11))
    values = [r["uncertainty"] for r in rows]
    assert values == sorted(values, reverse=True)
    assert {"prediction", "score_security", "strategy", "id", "text"} <= set(rows[0])
    # The batch is the most uncertain of the pool (up to near-duplicates passed over).
    everything = tmp_path / "all.jsonl"
    _select(capsys, "--model", svc, "--pool", str(NEWS_SMALL), "--n", "96",
            "--output", str(everything), "--strategy", strategy)  # fmt: skip
    ranked = [json.loads(line) for line in everything.read_text(encoding="utf-8").splitlines()]
    assert (
        values[-1]
        >= sorted((r["uncertainty"] for r in ranked), reverse=True)[10 + result["near_duplicates"]]
    )


def test_excluded_items_are_never_selected(svc, tmp_path, capsys):
    labeled = write_jsonl(tmp_path / "labeled.jsonl", ROWS[:40])
    # The same text with diacritics and tatweel is the same item after normalization.
    marked = dict(
        ROWS[40], id="other-id", text=ROWS[40]["text"].replace("ا", "اَ", 1).replace("ة", "ـة", 1)
    )
    relabeled = write_jsonl(tmp_path / "relabeled.jsonl", [marked])
    listed = tmp_path / "reserved.txt"
    listed.write_text(f"{ROWS[41]['id']}\n{ROWS[42]['id']}\n", encoding="utf-8")
    out = tmp_path / "batch.jsonl"
    result = _select(capsys, "--model", svc, "--pool", str(NEWS_SMALL), "--n", "96", "--output", str(out),
                     "--exclude", str(labeled), str(relabeled), str(listed))  # fmt: skip
    chosen = {json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()}
    assert result["excluded"] == 43
    assert not chosen & {r["id"] for r in ROWS[:43]}


def test_near_duplicates_never_share_a_batch(svc, tmp_path, capsys):
    twins = []
    for row in ROWS[:30]:
        twins += [row, dict(row, id=row["id"] + "-copy", text=row["text"] + " وأضاف المصدر")]
    pool = write_jsonl(tmp_path / "pool.jsonl", twins)
    out = tmp_path / "batch.jsonl"
    result = _select(capsys, "--model", svc, "--pool", str(pool), "--n", "20", "--output", str(out))
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == 20 and result["near_duplicates"] > 0
    assert len({i.removesuffix("-copy") for i in ids}) == 20


def test_random_and_diverse_are_seeded(svc, tmp_path, capsys):
    for strategy in ("random", "diverse"):
        batches = []
        for k, seed in enumerate(("3", "3", "4")):
            out = tmp_path / f"{strategy}-{k}.jsonl"
            _select(capsys, "--model", svc, "--pool", str(NEWS_SMALL), "--n", "8",
                    "--output", str(out), "--strategy", strategy, "--seed", seed)  # fmt: skip
            batches.append([json.loads(line)["id"] for line in out.read_text().splitlines()])
        assert batches[0] == batches[1] and len(set(batches[0])) == 8
        assert batches[0] != batches[2]


def test_label_studio_import_file_and_interface(svc, tmp_path, capsys):
    out = tmp_path / "tasks.json"
    result = _select(capsys, "--model", svc, "--pool", str(NEWS_SMALL), "--n", "5",
                     "--output", str(out), "--strategy", "diverse")  # fmt: skip
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 5 and result["label_config"] == str(tmp_path / "label_config.xml")
    first = tasks[0]
    assert first["data"]["text"] and first["data"]["khabar_id"].startswith("fx-")
    prediction = first["predictions"][0]
    assert (
        prediction["model_version"] == svc and prediction["score"] == first["meta"]["uncertainty"]
    )
    choice = prediction["result"][0]
    assert (
        choice["from_name"] == "label"
        and choice["to_name"] == "text"
        and choice["type"] == "choices"
    )
    assert choice["value"]["choices"][0] in {"security", "migration", "diplomacy", "other"}
    xml = (tmp_path / "label_config.xml").read_text(encoding="utf-8")
    assert "direction: rtl" in xml and 'choice="single-radio"' in xml
    assert xml.count("<Choice ") == 4


def test_cold_start_without_a_model(workdir, capsys):
    from .conftest import write_config

    config = write_config(workdir, task="multi_label", data={"label_column": "topics"})
    out = workdir / "first.json"
    result = _select(capsys, "--config", str(config), "--pool", str(NEWS_SMALL), "--n", "6",
                     "--output", str(out))  # fmt: skip
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert result["strategy"] == "cold_start" and len(tasks) == 6
    assert "predictions" not in tasks[0]
    assert 'choice="multiple"' in (workdir / "label_config.xml").read_text(encoding="utf-8")


def test_refusals_are_one_line(svc, tmp_path, capsys):
    out = tmp_path / "batch.jsonl"
    cases = [
        (["--model", svc, "--strategy", "margin"], "--strategy 'margin'"),
        (["--model", svc, "--n", "0"], "--n 0"),
        (["--model", svc, "--output", str(tmp_path / "batch.csv")], "write .jsonl"),
        (["--model", svc, "--exclude", str(tmp_path / "missing.txt")], "no such exclude file"),
    ]
    for extra, message in cases:
        args = ["select", "--pool", str(NEWS_SMALL), "--n", "3", "--output", str(out), *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    out.write_text("earlier\n", encoding="utf-8")
    assert (
        main(
            ["select", "--model", svc, "--pool", str(NEWS_SMALL), "--n", "3", "--output", str(out)]
        )
        == 2
    )
    assert "already exists" in capsys.readouterr().err and out.read_text() == "earlier\n"


def test_a_folder_of_saudinewsnet_zips_is_a_pool_of_leads(svc, tmp_path, capsys):
    folder = tmp_path / "snn"
    folder.mkdir()
    articles = [
        {"source": "x", "url": f"http://x/{i}", "date_extracted": "", "title": row["text"].split("\n")[0],
         "author": "", "content": row["text"]}
        for i, row in enumerate(ROWS[:12])
    ] + [{"source": "x", "url": "http://x/empty", "title": "", "content": ""}]  # fmt: skip
    with zipfile.ZipFile(folder / "2015-07-21.zip", "w") as archive:
        archive.writestr("2015-07-21.json", json.dumps(articles, ensure_ascii=False))
    out = tmp_path / "batch.jsonl"
    result = _select(
        capsys, "--model", svc, "--pool", str(folder), "--n", "4", "--output", str(out)
    )
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert result["pool"] == 12 and result["skipped_without_text"] == 1
    assert all(r["id"].startswith("http://x/") for r in rows)


def test_news_lead_cuts_like_realnews_dev():
    lines = ["  first line " + "ا" * 200, "", "second " + "ب" * 300, "third " + "ج" * 700]
    text = news_lead(" عنوان ", "\n".join(lines))
    title, lead = text.split("\n")
    assert title == "عنوان"
    first, second = lines[0].strip(), lines[2]
    assert lead == f"{first} {second}"  # 512 characters: the third line is not needed
    long = news_lead("t", "\n".join(["ا" * 1000]))
    assert long == "t\n" + "ا" * 900


def test_comparable_scores_and_uncertainty():
    decision = np.array([[2.0, 0.0, -1.0], [0.1, 0.0, 0.05]])
    p = comparable_scores(decision, probabilities=False, multi_label=False)
    assert np.allclose(p.sum(axis=1), 1) and np.all(np.argmax(p, 1) == np.argmax(decision, 1))
    ties = uncertainty(p, "breaking_ties", multi_label=False)
    assert ties[1] > ties[0]  # the second row's top two are nearly tied
    assert uncertainty(np.array([[1 / 3] * 3]), "entropy", False)[0] == pytest.approx(1)
    per_label = comparable_scores(np.array([[3.0, 0.0], [-3.0, 2.0]]), False, multi_label=True)
    assert per_label[0, 1] == pytest.approx(0.5)
    # Multi-label: an item is as uncertain as its most uncertain label.
    u = uncertainty(per_label, "least_confidence", multi_label=True)
    assert u[0] == pytest.approx(1) and u[1] < 1


def test_blind_tasks_carry_no_prediction(svc, tmp_path, capsys):
    out = tmp_path / "blind.json"
    _select(
        capsys,
        "--model",
        svc,
        "--pool",
        str(NEWS_SMALL),
        "--n",
        "3",
        "--output",
        str(out),
        "--blind",
    )
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert all("predictions" not in task for task in tasks)
    assert all(task["meta"]["uncertainty"] > 0 for task in tasks)
