"""Feature cache (keys, reuse, safe deletion), khabar sweep on both backends, the
SaudiNewsNet reader."""

import json
import shutil
import zipfile
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from khabar.cli import main
from khabar.data.config import read_yaml
from khabar.data.corpora import read_saudinewsnet, write_articles_jsonl
from khabar.errors import KhabarError
from khabar.model.pipeline import build_pipeline
from khabar.runs.feature_cache import FeatureCache
from khabar.runs.guard import load_config
from khabar.runs.sweep import load_sweep

from .conftest import NEWS_SMALL, PROJECT, write_config

ROWS = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
FRAME = pd.DataFrame({"text": [r["text"] for r in ROWS]})


def feature_steps(tmp_path, *overrides):
    return build_pipeline(load_config(write_config(tmp_path), list(overrides)))[:-1]


@pytest.fixture
def disk_only(monkeypatch):
    """No in-memory tier: every hit is read back from disk, not the object computed before."""
    import khabar.runs.feature_cache as cache_module

    monkeypatch.setenv("KHABAR_CACHE_MEMORY_MB", "0")
    monkeypatch.setattr(cache_module, "_in_memory", cache_module.OrderedDict())


def assert_same_features(found, expected, held_out):
    for name in ("fit_matrix", "eval_matrix"):
        got, want = getattr(found, name), getattr(expected, name)
        assert got is not want, f"{name}: the object computed before, not a copy read back"
        assert got.shape == want.shape and (got != want).nnz == 0, name
    # the fitted steps read back transform as the ones that were saved
    again = found.steps.transform(held_out)
    assert found.steps is not expected.steps
    assert again.shape == expected.eval_matrix.shape
    assert (again != expected.eval_matrix).nnz == 0


def test_cache_reuses_features_and_never_serves_stale_ones(tmp_path, disk_only):
    cache = FeatureCache(tmp_path / "cache")
    fit, held_out = FRAME.iloc[:70], FRAME.iloc[70:]
    first = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    again = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    assert (cache.misses, cache.hits) == (1, 1)
    assert (first.fit_matrix.shape[0], first.eval_matrix.shape[0]) == (70, len(FRAME) - 70)
    assert_same_features(again, first, held_out)  # read back from disk
    # Anything that changes the features is a different entry:
    cache.featurize(feature_steps(tmp_path, "normalize.unify_alef=false"), fit, held_out, "text")
    cache.featurize(feature_steps(tmp_path, "features.char.min_df=2"), fit, held_out, "text")
    edited = fit.copy()
    edited.iloc[0, 0] = edited.iloc[0, 0] + " خبر"
    cache.featurize(feature_steps(tmp_path), edited, held_out, "text")
    assert (cache.misses, cache.hits) == (4, 1)
    assert len(list((tmp_path / "cache").iterdir())) == 4
    # Deleting the folder is safe: the features are computed again.
    shutil.rmtree(tmp_path / "cache")
    rebuilt = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    assert (cache.misses, cache.hits) == (5, 1)
    assert_same_features(rebuilt, first, held_out)


def _garbage(path):
    path.write_bytes(b"damaged")


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        pytest.param("steps.skops", _garbage, id="garbage-steps"),
        pytest.param("fit.npz", _garbage, id="garbage-fit"),
        pytest.param("eval.npz", Path.unlink, id="missing-eval"),
        pytest.param("fit.npz", _truncated, id="truncated-fit"),
    ],
)
def test_a_damaged_entry_is_recomputed_and_replaced(tmp_path, disk_only, part, damage):
    fit, held_out = FRAME.iloc[:70], FRAME.iloc[70:]
    first = FeatureCache(tmp_path / "cache").featurize(
        feature_steps(tmp_path), fit, held_out, "text"
    )
    (entry,) = (tmp_path / "cache").iterdir()
    damage(entry / part)
    cache = FeatureCache(tmp_path / "cache")
    recomputed = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    assert (cache.misses, cache.hits) == (1, 0)  # not served from the damaged entry
    assert_same_features(recomputed, first, held_out)
    # The damaged entry was replaced by a whole one: the next process reads it back.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [entry.name]
    cache = FeatureCache(tmp_path / "cache")
    read_back = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    assert (cache.misses, cache.hits) == (0, 1)
    assert_same_features(read_back, first, held_out)


def test_recent_entries_are_served_from_memory_within_budget(tmp_path, monkeypatch):
    import khabar.runs.feature_cache as cache_module

    monkeypatch.setattr(cache_module, "_in_memory", cache_module.OrderedDict())
    fit, held_out = FRAME.iloc[:70], FRAME.iloc[70:]
    cache = FeatureCache(tmp_path / "cache")
    first = cache.featurize(feature_steps(tmp_path), fit, held_out, "text")

    def no_disk(*args, **kwargs):
        raise AssertionError("read from disk")

    monkeypatch.setattr(cache_module.sp, "load_npz", no_disk)
    again = FeatureCache(tmp_path / "cache").featurize(
        feature_steps(tmp_path), fit, held_out, "text"
    )
    assert again.fit_matrix is first.fit_matrix  # the same process: no disk read
    # A budget smaller than the entry keeps nothing in memory: the disk is read again.
    monkeypatch.setenv("KHABAR_CACHE_MEMORY_MB", str(first.nbytes / 2**20 / 2))
    cache_module._in_memory.clear()
    cache = FeatureCache(tmp_path / "cache")
    cache.featurize(feature_steps(tmp_path, "features.char.min_df=2"), fit, held_out, "text")
    assert not cache_module._in_memory
    with pytest.raises(AssertionError, match="read from disk"):
        cache.featurize(feature_steps(tmp_path), fit, held_out, "text")
    monkeypatch.setenv("KHABAR_CACHE_MEMORY_MB", "lots")
    with pytest.raises(KhabarError, match="KHABAR_CACHE_MEMORY_MB='lots'"):
        FeatureCache(tmp_path / "cache")


def run_json(capsys, *argv) -> dict:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out.strip().splitlines()[-1])


def test_train_with_feature_cache_gives_the_same_numbers(workdir, capsys, monkeypatch):
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(workdir / "cache"))
    config = write_config(workdir)
    plain = run_json(capsys, "train", str(config), "--json")
    cached = [
        run_json(capsys, "train", str(config), "--set", "evaluation.cache_features=true", "--json")
        for _ in range(2)
    ]
    for result in cached:
        for name, value in plain["metrics"].items():
            if not name.endswith("_seconds"):
                assert result["metrics"][name] == pytest.approx(value), name
    assert len(list((workdir / "cache").glob("[!.]*"))) == 4  # 3 folds + train/test


def write_sweep(folder, config, **extra):
    spec = {
        "name": "fixture-sweep",
        "base": config.name,
        "grid": {"model.params.C": [0.1, 1.0]},
        "variants": [{"model.name": "complement_nb", "model.params": {}}],
        **extra,
    }
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_sweep_runs_children_under_a_parent_and_ranks_them(workdir, capsys, monkeypatch):
    import khabar.runs.train

    monkeypatch.setenv("KHABAR_CACHE_DIR", str(workdir / "cache"))
    reads = []
    real_load = khabar.runs.train.load_train_and_test
    monkeypatch.setattr(
        khabar.runs.train, "load_train_and_test", lambda c, *rest: reads.append(1) or real_load(c, *rest)
    )
    sweep = write_sweep(workdir, write_config(workdir))
    result = run_json(capsys, "sweep", str(sweep), "--json")
    assert len(reads) == 1  # the variants share one read and split of the data
    assert khabar.runs.train._loaded is None  # and nothing is held after the sweep
    variants = result["variants"]
    assert len(variants) == 3 and result["metric"] == "cv_f1_macro_mean"
    scores = [v["metrics"]["cv_f1_macro_mean"] for v in variants]
    assert scores == sorted(scores, reverse=True)
    for variant in variants:
        run = mlflow.get_run(variant["run_id"])
        assert run.data.tags["mlflow.parentRunId"] == result["parent_run_id"]
    report = workdir / result["report_dir"]
    assert "| rank |" in (report / "ranking.md").read_text(encoding="utf-8")
    assert (report / "model.params.C.png").stat().st_size > 0
    assert mlflow.get_run(result["parent_run_id"]).info.status == "FINISHED"
    # Three variants, one feature set: 3 folds + the train/test split were featurized once.
    assert len(list((workdir / "cache").glob("[!.]*"))) == 4


def test_dask_backend_gives_the_local_results(workdir, capsys, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setenv("KHABAR_CACHE_DIR", str(workdir / "cache"))
    sweep = write_sweep(workdir, write_config(workdir), variants=[])
    local = run_json(capsys, "sweep", str(sweep), "--json")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = run_json(
            capsys, "sweep", str(sweep), "--backend", "dask",
            "--scheduler", cluster.scheduler_address, "--json",
        )  # fmt: skip
    assert mlflow.get_run(remote["parent_run_id"]).data.tags["khabar.backend"] == "dask"

    def numbers(result):
        return {
            json.dumps(v["settings"]): {k: x for k, x in v["metrics"].items() if "seconds" not in k}
            for v in result["variants"]
        }

    assert numbers(remote) == numbers(local)


def test_sweep_errors_are_one_line(workdir, capsys):
    config = write_config(workdir)
    bad = write_sweep(workdir, config, grid={"model.params.nope": [1]}, variants=[])
    assert main(["sweep", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err
    assert main(["sweep", "missing.yaml"]) == 2
    assert "sweep file not found" in capsys.readouterr().err
    assert main(["sweep", str(bad), "--backend", "dask"]) == 2


def test_saudinewsnet_reader_and_export(tmp_path):
    articles = [
        {
            "source": "okaz",
            "url": "u1",
            "date_extracted": "d",
            "title": "عنوان",
            "author": "",
            "content": "نص",
        },
        {
            "source": "sabq",
            "url": "u2",
            "date_extracted": "d",
            "title": "",
            "author": None,
            "content": "",
        },
    ]
    with zipfile.ZipFile(tmp_path / "2015-07-21.zip", "w") as archive:
        archive.writestr("2015-07-21.json", json.dumps(articles, ensure_ascii=False))
    read = read_saudinewsnet(tmp_path)
    assert [a["id"] for a in read] == ["2015-07-21-0", "2015-07-21-1"]
    assert read[0]["text"] == "عنوان\nنص"
    assert write_articles_jsonl(read, tmp_path / "out" / "a.jsonl") == 1  # no empty text
    row = json.loads((tmp_path / "out" / "a.jsonl").read_text(encoding="utf-8"))
    assert set(row) == {"id", "title", "content", "text", "source"}
    (tmp_path / "2015-07-22.zip").write_bytes(b"not a zip")
    with pytest.raises(KhabarError, match="2015-07-22.zip"):
        read_saudinewsnet(tmp_path)
    with pytest.raises(KhabarError, match="no SaudiNewsNet"):
        read_saudinewsnet(tmp_path / "out")


@pytest.mark.parametrize(
    "path", sorted((PROJECT / "experiments").glob("sweep_*.yaml")), ids=lambda p: p.name
)
def test_shipped_sweeps_validate(path):
    spec, base, variants = load_sweep(path)
    assert base.is_file() and len(variants) >= 2
    for variant in variants:
        load_config(base, variant.overrides())
        for override, value in zip(variant.overrides(), variant.settings.values(), strict=True):
            assert read_yaml(override.split("=", 1)[1]) == value, override


def test_training_reads_only_the_columns_it_needs(tmp_path):
    from khabar.data.dataset import load_labeled

    path = tmp_path / "rows.jsonl"
    rows = [{"id": i, "text": f"نص {i}", "label": "a" if i % 2 else "b", "content": "x" * 50}
            for i in range(6)]  # fmt: skip
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    data = load_labeled(path, "text", "label", needed_columns_only=True)
    assert list(data.frame.columns) == ["id", "text", "label"]
    assert list(load_labeled(path, "text", "label").frame.columns) == [
        "id",
        "text",
        "label",
        "content",
    ]
    with pytest.raises(
        KhabarError,
        match=r"missing column 'topic'; columns are \['id', 'text', 'label', 'content'\]",
    ):
        load_labeled(path, "text", "topic", needed_columns_only=True)


def test_sweep_workers_get_absolute_extra_train_paths_and_keep_label_maps(tmp_path):
    from khabar.runs.sweep import _absolute

    entry = {"path": "tone.jsonl", "label_column": "tone", "labels": {"pos": "Positive"}}
    config = write_config(tmp_path, data={"extra_train": ["more.jsonl", entry]})
    fixed = _absolute(config, [])
    extra = json.loads(next(f for f in fixed if f.startswith("data.extra_train=")).split("=", 1)[1])
    assert extra[0] == str(Path("more.jsonl").resolve())
    assert extra[1]["path"] == str(Path("tone.jsonl").resolve())
    assert extra[1]["labels"] == {"pos": "Positive"} and extra[1]["label_column"] == "tone"
    # What a worker gets back through --set is the same entry with an absolute path.
    files = load_config(config, fixed).data.extra_train_files()
    assert files[1].path == extra[1]["path"] and files[1].labels == {"pos": "Positive"}


def test_code_fingerprint_covers_every_model_module_without_a_list(tmp_path):
    """Editing any module of the model layer (here target_aware.py, which a hand-kept list
    once missed) or adding one changes the cache's code fingerprint."""
    from khabar.runs.feature_cache import MODEL_LAYER, code_fingerprint

    copy = tmp_path / "model"
    shutil.copytree(MODEL_LAYER, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = code_fingerprint(copy)
    assert code_fingerprint(MODEL_LAYER) == before  # a faithful copy hashes the same
    edited = copy / "target_aware.py"
    edited.write_text(edited.read_text("utf-8") + "\n# an edit\n", "utf-8")
    after_edit = code_fingerprint(copy)
    assert after_edit != before
    (copy / "new_block.py").write_text("X = 1\n", "utf-8")
    assert code_fingerprint(copy) not in (before, after_edit)
