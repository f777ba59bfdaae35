"""Word vectors from unlabeled text (khabar.model.word_vectors) as a feature block."""

import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from khabar.cli import main
from khabar.data.config import ExperimentConfig, WordVectorsConfig
from khabar.errors import KhabarError
from khabar.model import word_vectors
from khabar.model.nbsvm import NBSVMClassifier
from khabar.model.pipeline import build_pipeline
from khabar.record.model_files import is_trusted_type, load_skops, save_skops
from khabar.runs.feature_cache import FeatureCache

from .conftest import NEWS_SMALL, write_config, write_jsonl

# Two verbs that take the same subjects and objects, and unrelated filler.
_SUBJECTS = ["الوزير", "الحكومة", "البيان", "المجلس", "الرئيس", "الحزب"]
_OBJECTS = ["الهجوم", "التفجير", "الاعتداء", "القصف", "العدوان"]
_FILLER = ["المعرض", "الزراعي", "السنوي", "الشركات", "الساحة", "المهرجان", "الثقافي", "الكتاب"]


def _corpus_rows(n: int = 400) -> list[dict]:
    rng = random.Random(0)
    rows = []
    for i in range(n):
        verb = ("يدين", "يستنكر")[i % 2]
        rows.append({"text": f"{rng.choice(_SUBJECTS)} {verb} {rng.choice(_OBJECTS)} بشدة"})
        rows.append({"text": " ".join(rng.sample(_FILLER, 5))})
    return rows


@pytest.fixture
def vectors_dir(tmp_path, monkeypatch):
    folder = tmp_path / "vectors"
    monkeypatch.setenv("KHABAR_VECTORS_DIR", str(folder))
    return folder


def _settings(corpus, **changes) -> WordVectorsConfig:
    values = {"corpus": str(corpus), "vector_size": 12, "min_count": 2, "epochs": 50, "window": 2}
    return WordVectorsConfig(**{**values, **changes})


def test_words_used_alike_get_close_vectors_and_training_is_repeatable(tmp_path, vectors_dir):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows())
    words, vectors = word_vectors.load_or_train(_settings(corpus), {})
    assert list(words) == sorted(words) and vectors.dtype == np.float32
    table = dict(zip(words, vectors, strict=True))

    def cosine(a, b):
        return float(table[a] @ table[b] / np.linalg.norm(table[a]) / np.linalg.norm(table[b]))

    assert cosine("يدين", "يستنكر") > 0.9 > 0.5 > cosine("يدين", "الزراعي")
    # A fresh cache trains again and gets the very same numbers (one worker, stable hash).
    again_words, again = word_vectors.train_word_vectors(
        [row["text"] for row in _corpus_rows()], _settings(corpus)
    )
    assert list(again_words) == list(words)
    np.testing.assert_array_equal(again, vectors)


def _refuse_training(*args):
    raise AssertionError("trained again")


def test_vectors_are_trained_once_then_read_from_the_cache(tmp_path, vectors_dir, monkeypatch):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(40))
    words, vectors = word_vectors.load_or_train(_settings(corpus), {})
    assert len(list(vectors_dir.iterdir())) == 1
    monkeypatch.setattr(word_vectors, "train_word_vectors", _refuse_training)
    # Another process: nothing loaded yet, so the vectors come back from the disk entry.
    monkeypatch.setattr(word_vectors, "_loaded", {})
    cached_words, cached = word_vectors.load_or_train(_settings(corpus, weight=3.0), {})
    assert cached is not vectors and cached_words is not words  # read back, not the same arrays
    assert list(cached_words) == list(words) and cached.dtype == np.float32
    np.testing.assert_array_equal(cached, vectors)  # weight only scales the features
    # Within the process the loaded arrays are shared (CV folds keep one copy).
    assert word_vectors.load_or_train(_settings(corpus), {})[1] is cached
    # new corpus content, normalization or settings: a different entry
    key = word_vectors.vectors_key(_settings(corpus), {})
    assert word_vectors.vectors_key(_settings(corpus), {"unify_alef": False}) != key
    assert word_vectors.vectors_key(_settings(corpus, window=3), {}) != key
    write_jsonl(corpus, _corpus_rows(42))
    assert word_vectors.vectors_key(_settings(corpus), {}) != key


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    ("part", "damage"),
    [
        ("vectors.npy", lambda path: path.write_bytes(b"damaged")),
        ("words.npy", _truncate),
        ("vectors.npy", Path.unlink),
    ],
    ids=["garbage-vectors", "truncated-words", "missing-vectors"],
)
def test_a_damaged_entry_is_trained_again_and_replaced(
    tmp_path, vectors_dir, monkeypatch, part, damage
):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(40))
    words, vectors = word_vectors.load_or_train(_settings(corpus), {})
    (entry,) = vectors_dir.iterdir()
    damage(entry / part)
    monkeypatch.setattr(word_vectors, "_loaded", {})  # another process
    trained = []
    real_train = word_vectors.train_word_vectors
    monkeypatch.setattr(
        word_vectors, "train_word_vectors", lambda *a: trained.append(1) or real_train(*a)
    )
    again_words, again = word_vectors.load_or_train(_settings(corpus), {})
    assert trained == [1]
    assert list(again_words) == list(words)
    np.testing.assert_array_equal(again, vectors)
    # The entry on disk is whole again: a later process reads it without training.
    assert [p.name for p in vectors_dir.iterdir()] == [entry.name]
    monkeypatch.setattr(word_vectors, "_loaded", {})
    monkeypatch.setattr(word_vectors, "train_word_vectors", _refuse_training)
    read_words, read = word_vectors.load_or_train(_settings(corpus), {})
    assert read is not again
    assert list(read_words) == list(words)
    np.testing.assert_array_equal(read, vectors)


def test_articles_of_the_labeled_files_are_left_out(tmp_path):
    corpus = write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"text": "عنوان أول\nنص المقال الأول كاملا"}, {"text": "عنوان ثان\nنص المقال الثاني"}],
    )
    labeled = write_jsonl(tmp_path / "labeled.jsonl", [{"text": "عنوان أول\nالفقرة الأولى فقط"}])
    texts = word_vectors._corpus_texts(_settings(corpus, exclude_titles_of=[str(labeled)]))
    assert texts == ["عنوان ثان\nنص المقال الثاني"]


def test_feature_step_gives_unit_mean_vectors_and_survives_skops(tmp_path, vectors_dir):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(60))
    step = word_vectors.WordVectorFeatures(**_settings(corpus, weight=2.0).model_dump())
    step.fit(["الوزير يدين الهجوم", "المعرض الزراعي"])
    X = step.transform(["الحكومة تستنكر", "يستنكر القصف", "كلمات لا متجه لها"])
    assert sp.issparse(X) and X.shape == (3, 12)
    norms = np.linalg.norm(X.toarray(), axis=1)
    np.testing.assert_allclose(norms, [2.0, 2.0, 0.0], atol=1e-5)  # the last has no known word
    # IDF from the fit texts; a word they never had weighs 1, less than any they had
    unseen = step.idf_[np.searchsorted(step.words_, "القصف")]
    assert unseen == 1.0 < step.idf_[np.searchsorted(step.words_, "يدين")]
    assert list(step.get_feature_names_out()[:2]) == ["word_vector_0", "word_vector_1"]
    assert is_trusted_type("khabar.model.word_vectors.WordVectorFeatures")  # khabar's own policy


def test_nbsvm_leaves_the_dense_columns_unscaled():
    rng = np.random.default_rng(0)
    counts = sp.csr_matrix(rng.integers(0, 2, size=(40, 6)).astype(float))
    dense = sp.csr_matrix(rng.normal(size=(40, 3)))
    X = sp.hstack([counts, dense]).tocsr()
    y = np.array(["a"] * 10 + ["b"] * 30)  # unbalanced: dense columns would shift the sums
    model = NBSVMClassifier(unscaled_columns=3)
    ratio = model._ratio(X, y == "b")
    np.testing.assert_array_equal(ratio[-3:], 1.0)
    # the n-grams' ratios are those of the counts alone
    np.testing.assert_allclose(ratio[:6], NBSVMClassifier()._ratio(counts, y == "b"))
    assert not np.allclose(ratio[:6], 1.0)
    model.fit(X, y)
    assert model.coef_.shape == (1, 9)
    with pytest.raises(ValueError, match="unscaled_columns=10"):
        NBSVMClassifier(unscaled_columns=10).fit(X, y)


def _config(tmp_path, corpus, **features) -> ExperimentConfig:
    return ExperimentConfig(
        name="wv",
        experiment="wv",
        data={"train": str(NEWS_SMALL), "label_column": "primary"},
        features={
            "word": {"analyzer": "word", "ngram_range": [1, 1], "min_df": 1},
            "word_vectors": {"corpus": str(corpus), "vector_size": 8, "min_count": 2},
            **features,
        },
        model={"name": "nbsvm", "params": {"C": 0.5}},
    )


def test_pipeline_puts_the_vectors_last_and_tells_nbsvm(tmp_path):
    config = _config(tmp_path, NEWS_SMALL)
    pipeline = build_pipeline(config)
    assert [name for name, _ in pipeline.named_steps["features"].transformer_list] == [
        "char",
        "word",
        "word_vectors",
    ]
    assert pipeline[-1].unscaled_columns == 8
    with pytest.raises(ValueError, match="cannot be combined with features.target_column"):
        _config(tmp_path, NEWS_SMALL, target_column="target")


def test_feature_cache_key_follows_the_corpus_content(tmp_path, vectors_dir):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(40))
    steps = build_pipeline(_config(tmp_path, corpus))[:-1]
    cache = FeatureCache(tmp_path / "features")
    key = cache.key(steps, ["a"], ["b"])
    write_jsonl(corpus, _corpus_rows(44))
    assert cache.key(steps, ["a"], ["b"]) != key


def test_train_and_predict_with_word_vectors(workdir, vectors_dir, capsys):
    corpus = write_jsonl(workdir / "corpus.jsonl", _corpus_rows(40))
    config = write_config(
        workdir,
        name="fixture-vectors",
        features={
            "char": {"analyzer": "char_wb", "ngram_range": [2, 4], "min_df": 1},
            "word_vectors": {"corpus": str(corpus), "vector_size": 8, "min_count": 1},
        },
        model={"name": "nbsvm", "params": {"C": 0.5}},
    )
    assert main(["train", str(config), "--json"]) == 0
    captured = capsys.readouterr()
    assert "training word vectors on 80 texts" in captured.err
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["metrics"]["cv_f1_macro_mean"] > 0.5
    model = mlflow.sklearn.load_model(result["model_uri"])
    step = model.named_steps["features"].named_transformers["word_vectors"]
    assert step.vectors_.shape[1] == 8
    # the saved model carries its vectors: it predicts with the corpus and cache gone
    corpus.unlink()
    for entry in vectors_dir.iterdir():
        for part in entry.iterdir():
            part.unlink()
        entry.rmdir()
    new = write_jsonl(workdir / "new.jsonl", [{"id": "n1", "text": "الوزير يدين الهجوم"}])
    out = workdir / "pred.jsonl"
    code = main(
        ["predict", "--model", result["model_uri"], "--input", str(new), "--output", str(out)]
    )
    assert code == 0 and json.loads(out.read_text("utf-8"))["prediction"]
    save_skops(model, workdir / "model.skops")
    assert load_skops(workdir / "model.skops").predict(["الوزير يدين الهجوم"]).shape == (1,)


def test_missing_corpus_is_a_one_line_error_before_any_run(workdir, capsys):
    config = write_config(
        workdir,
        name="fixture-no-corpus",
        features={"word_vectors": {"corpus": "nowhere/articles.jsonl"}},
    )
    assert main(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "features.word_vectors.corpus: not found: nowhere/articles.jsonl" in err
    assert not (workdir / "mlflow.db").exists()


def test_corpus_without_the_text_column_names_the_file(tmp_path, vectors_dir):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"body": "نص"}])
    with pytest.raises(KhabarError, match=r"corpus.jsonl: missing column 'text'"):
        word_vectors.load_or_train(_settings(corpus), {})


def test_without_gensim_the_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "gensim.models", None)  # import fails as if not installed
    with pytest.raises(KhabarError, match=r"needs gensim: pip install 'khabar\[vectors\]'"):
        word_vectors.vectors_key(_settings(NEWS_SMALL), {})


def test_top_ngrams_leave_out_the_vector_dimensions(tmp_path, vectors_dir):
    from khabar.model.pipeline import top_weighted_features

    config = _config(tmp_path, NEWS_SMALL)
    frame = pd.read_json(NEWS_SMALL, lines=True)
    model = build_pipeline(config).fit(frame[["text"]], frame["primary"])
    # with a large weight the vector dimensions would top every class
    model[-1].coef_[:, -8:] = 100.0
    top = top_weighted_features(model, k=5)
    assert len(top) == 4
    assert all(len(best) == 5 for best in top.values())
    assert not any(name.startswith("word_vector_") for best in top.values() for name, _ in best)


def test_vectors_do_not_depend_on_the_process_hash_seed(tmp_path):
    # Python salts str hashes per process; gensim seeds vectors from a hash of each word.
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(40))
    script = (
        "import sys; from khabar.data.config import WordVectorsConfig; "
        "from khabar.model.word_vectors import load_or_train; "
        f"w, v = load_or_train(WordVectorsConfig(corpus={str(corpus)!r}, vector_size=8, "
        "min_count=2, epochs=2), {}); sys.stdout.write(repr(v.tolist()))"
    )
    outputs = []
    for seed in ("1", "2"):
        env = {
            **os.environ,
            "PYTHONHASHSEED": seed,
            "KHABAR_VECTORS_DIR": str(tmp_path / f"vectors-{seed}"),
        }
        done = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(outputs[0]) > 100


def test_a_folder_of_saudinewsnet_zips_is_a_corpus(tmp_path, vectors_dir):
    folder = tmp_path / "saudinewsnet"
    folder.mkdir()
    articles = [
        {"title": f"عنوان {i}", "content": row["text"], "source": "s", "url": "", "author": ""}
        for i, row in enumerate(_corpus_rows(40))
    ]
    with zipfile.ZipFile(folder / "2015-07-21.zip", "w") as archive:
        archive.writestr("2015-07-21.json", json.dumps(articles, ensure_ascii=False))
    labeled = write_jsonl(tmp_path / "labeled.jsonl", [{"text": "عنوان 3\nفقرة"}])
    settings = _settings(folder, exclude_titles_of=[str(labeled)])
    texts = word_vectors._corpus_texts(settings)
    assert len(texts) == 79 and not any(t.startswith("عنوان 3\n") for t in texts)
    words, _ = word_vectors.load_or_train(settings, {})
    assert "يستنكر" in set(words)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KhabarError, match="no SaudiNewsNet .zip files in"):
        word_vectors.check_sources(_settings(empty))


def test_min_count_no_word_reaches_is_a_one_line_error(tmp_path, vectors_dir):
    corpus = write_jsonl(tmp_path / "corpus.jsonl", _corpus_rows(10))
    with pytest.raises(KhabarError, match=r"features.word_vectors.min_count: no word occurs 999"):
        word_vectors.load_or_train(_settings(corpus, min_count=999), {})


def test_naive_bayes_models_are_refused_with_word_vectors(tmp_path):
    with pytest.raises(ValueError, match="needs non-negative counts"):
        ExperimentConfig(
            name="wv",
            experiment="wv",
            data={"train": str(NEWS_SMALL), "label_column": "primary"},
            features={"word_vectors": {"corpus": str(NEWS_SMALL)}},
            model={"name": "multinomial_nb"},
        )


def test_sweep_workers_get_absolute_vector_paths(tmp_path):
    from khabar.runs.sweep import _absolute

    config = write_config(
        tmp_path,
        features={"word_vectors": {"corpus": "corpus.jsonl", "exclude_titles_of": ["a.jsonl"]}},
    )
    fixed = _absolute(config, [])
    corpus = next(f for f in fixed if f.startswith("features.word_vectors.corpus="))
    assert corpus.split("=", 1)[1] == str(Path("corpus.jsonl").resolve())
    excluded = next(f for f in fixed if f.startswith("features.word_vectors.exclude_titles_of="))
    assert json.loads(excluded.split("=", 1)[1]) == [str(Path("a.jsonl").resolve())]


def test_articles_at_excluded_urls_are_left_out(tmp_path):
    folder = tmp_path / "saudinewsnet"
    folder.mkdir()
    articles = [
        {"title": f"عنوان {i}", "content": "نص المقال", "source": "s", "url": f"http://x/{i}"}
        for i in range(5)
    ]
    with zipfile.ZipFile(folder / "2015-07-21.zip", "w") as archive:
        archive.writestr("2015-07-21.json", json.dumps(articles, ensure_ascii=False))
    reserved = tmp_path / "reserved_urls.txt"
    reserved.write_text("http://x/1\n\nhttp://x/3\n", encoding="utf-8")
    texts = word_vectors._corpus_texts(_settings(folder, exclude_urls=[str(reserved)]))
    assert [t.split("\n")[0] for t in texts] == ["عنوان 0", "عنوان 2", "عنوان 4"]
    table = write_jsonl(
        tmp_path / "corpus.jsonl",
        [{"text": f"نص {i}", "url": f"http://x/{i}"} for i in range(4)],
    )
    assert word_vectors._corpus_texts(_settings(table, exclude_urls=[str(reserved)])) == [
        "نص 0",
        "نص 2",
    ]
    # A URL list is part of the cache key; without one the key is what it was before.
    plain = word_vectors.vectors_key(_settings(table), {})
    assert word_vectors.vectors_key(_settings(table, exclude_urls=[str(reserved)]), {}) != plain
    # A labeled table's url column excludes too (labels distributed without texts).
    labels = write_jsonl(tmp_path / "labels.jsonl", [{"url": "http://x/0", "primary": "other"}])
    assert word_vectors._corpus_texts(
        _settings(table, exclude_urls=[str(reserved), str(labels)])
    ) == ["نص 2"]
    no_url = write_jsonl(tmp_path / "no_url.jsonl", [{"id": 1}])
    with pytest.raises(KhabarError, match=r"exclude_urls\[0\]: .*no url column"):
        word_vectors._corpus_texts(_settings(table, exclude_urls=[str(no_url)]))
    missing = _settings(table, exclude_urls=[str(tmp_path / "none.txt")])
    with pytest.raises(KhabarError, match=r"features.word_vectors.exclude_urls\[0\]: not found"):
        word_vectors.check_sources(missing)
