"""Model files keep their large fitted state as numpy arrays (skops `.npy` members), load
back into estimators that predict exactly as before saving, and models saved in the earlier
layout (vocabularies as JSON) keep loading."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

import khabar
from khabar.data.dataset import load_labeled
from khabar.errors import KhabarError
from khabar.model.char_ngrams import CharNgramTfidf
from khabar.model.classifiers import REGISTRY
from khabar.model.features import CompactTfidfVectorizer
from khabar.model.packed_strings import pack_strings, unpack_strings
from khabar.model.pipeline import build_pipeline, class_scores, predict_labels
from khabar.model.word_vectors import WordVectorFeatures
from khabar.record.model_files import SKOPS_FILE, load_skops, save_skops
from khabar.runs.guard import load_config
from khabar.runs.predict import predict_frame

from .conftest import FIXTURES, NEWS_SMALL, PROJECT, write_config

BEFORE_ARRAYS = FIXTURES / "before_array_state"
SETTINGS = {
    "char_wb": dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True),
    "char": dict(analyzer="char", ngram_range=(1, 3), max_df=0.9, dtype=np.float64),
    "word": dict(analyzer="word", ngram_range=(1, 2), max_features=2500, sublinear_tf=True),
}


@pytest.fixture(scope="module")
def news():
    return load_labeled(NEWS_SMALL, "text", "primary")


@pytest.fixture(scope="module", autouse=True)
def vectors_dir(tmp_path_factory):
    """Word vectors trained here stay out of the working directory's cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KHABAR_VECTORS_DIR", str(tmp_path_factory.mktemp("vectors")))
        yield


def _round_trip(estimator):
    data = sio.dumps(estimator)
    return sio.loads(data, trusted=sio.get_untrusted_types(data=data)), data


def _schema_bytes(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.getinfo("schema.json").file_size


def _vectorizers() -> dict:
    return {
        **{f"compact_{k}": CompactTfidfVectorizer(**v) for k, v in SETTINGS.items()},
        "fast_char_wb": CharNgramTfidf(ngram_range=(2, 5), min_df=2, n_jobs=2),
        "fast_char": CharNgramTfidf(analyzer="char", ngram_range=(1, 3), n_jobs=1),
    }


# --- packed strings -----------------------------------------------------------------------


def test_packed_strings_round_trip_any_text():
    strings = ["", "خبر", " a b ", "😀\u200f", "\ud800 lone surrogate", "", "x" * 300, "\x00"]
    data, ends = pack_strings(strings)
    assert data.dtype == np.uint8 and ends.dtype == np.int64 and len(ends) == len(strings)
    assert unpack_strings(data, ends) == strings
    assert unpack_strings(*pack_strings([])) == []


@pytest.mark.parametrize(
    "ends", [[1, 2], [3, 2, 4], [[2, 4]], [-1, 4]], ids=["short", "decreasing", "2-D", "negative"]
)
def test_packed_strings_refuse_ends_that_do_not_fit_the_text(ends):
    data, _ = pack_strings(["ab", "cd"])
    with pytest.raises(ValueError, match="do not match"):
        unpack_strings(data, np.asarray(ends))


# --- each vectorizer: arrays in the file, the same estimator after loading ------------------


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_compact_vectorizer_is_scikit_learns(news, name):
    ours = CompactTfidfVectorizer(**SETTINGS[name]).fit(news.texts)
    reference = TfidfVectorizer(**SETTINGS[name]).fit(news.texts)
    assert ours.get_params() == reference.get_params()
    assert ours.vocabulary_ == reference.vocabulary_
    difference = ours.transform(news.texts) - reference.transform(news.texts)
    assert difference.nnz == 0 or np.abs(difference.data).max() == 0
    assert isinstance(clone(ours), CompactTfidfVectorizer)


@pytest.mark.parametrize("name", sorted(_vectorizers()))
def test_vectorizer_state_is_arrays_and_loads_the_same(news, name):
    fitted = _vectorizers()[name].fit(news.texts)
    vocabulary = dict(fitted.vocabulary_)
    before = set(vars(fitted))
    loaded, data = _round_trip(fitted)
    # Saving leaves the estimator as it was (its state is a copy, not its __dict__).
    assert set(vars(fitted)) == before and fitted.vocabulary_ == vocabulary
    # The n-grams are in .npy members: the JSON schema stays small however many there are.
    assert len(vocabulary) > 2000 and _schema_bytes(data) < 20_000
    assert list(loaded.get_feature_names_out()) == list(fitted.get_feature_names_out())
    assert loaded.vocabulary_ == vocabulary
    names = loaded.get_feature_names_out()
    assert all(loaded.vocabulary_[str(names[k])] == k for k in range(0, len(names), 97))
    expected = fitted.transform(news.texts[:20]).toarray()
    np.testing.assert_array_equal(loaded.transform(news.texts[:20]).toarray(), expected)
    # pickle goes through the same state
    unpickled = pickle.loads(pickle.dumps(fitted))
    assert unpickled.vocabulary_ == vocabulary


def test_fast_engine_vocabulary_points_at_the_columns_an_ngram_fills(news):
    fitted = CharNgramTfidf(ngram_range=(3, 3), n_jobs=1).fit(news.texts)
    for gram in ["من ", "الح", " وز"]:
        column = fitted.vocabulary_[gram]
        row = fitted.transform([gram.strip()]).toarray()[0]
        assert row[column] > 0, gram
    assert not hasattr(CharNgramTfidf(), "vocabulary_")  # unfitted: NotFittedError


def test_word_vectors_save_their_words_packed(news):
    step = WordVectorFeatures(corpus=str(NEWS_SMALL), vector_size=4, min_count=1, epochs=1)
    fitted = step.fit(news.texts)
    loaded, data = _round_trip(fitted)
    assert "words_" in vars(fitted) and _schema_bytes(data) < 20_000
    assert loaded.words_.dtype == fitted.words_.dtype
    np.testing.assert_array_equal(loaded.words_, fitted.words_)
    np.testing.assert_array_equal(
        loaded.transform(news.texts).toarray(), fitted.transform(news.texts).toarray()
    )


# --- whole Pipelines ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("calibrate", [False, True])
def test_every_classifier_predicts_identically_after_loading(tmp_path, news, name, calibrate):
    config = load_config(
        write_config(
            tmp_path,
            features={
                "char": {"analyzer": "char_wb", "ngram_range": [2, 4], "min_df": 1},
                "word": {"analyzer": "word", "ngram_range": [1, 2], "min_df": 1},
            },
        ),
        [f"model.name={name}", "model.params={}", f"model.calibrate={str(calibrate).lower()}"],
    )
    inputs = news.frame[["text"]]
    model = build_pipeline(config).fit(inputs, news.labels)
    save_skops(model, tmp_path / SKOPS_FILE)
    loaded = load_skops(tmp_path / SKOPS_FILE)
    assert predict_labels(loaded, inputs) == predict_labels(model, inputs)
    np.testing.assert_array_equal(class_scores(loaded, inputs)[0], class_scores(model, inputs)[0])
    # `khabar predict` scores once and may take the labels from the scores: still the same
    output = predict_frame(loaded, news.frame, NEWS_SMALL)
    assert output["prediction"].tolist() == predict_labels(model, inputs)


@pytest.mark.parametrize("name", ["fast_linear_svc", "nbsvm", "linear_svc"])
def test_binary_predictions_from_scores_match_predict(tmp_path, news, name):
    config = load_config(write_config(tmp_path), [f"model.name={name}", "model.params={}"])
    inputs = news.frame[["text"]]
    labels = ["security" if label == "security" else "rest" for label in news.labels]
    model = build_pipeline(config).fit(inputs, labels)
    output = predict_frame(model, news.frame, NEWS_SMALL)
    assert output["prediction"].tolist() == [str(p) for p in model.predict(inputs)]
    assert set(output["prediction"]) == {"rest", "security"}


@pytest.mark.parametrize("name", ["fast_linear_svc", "logistic_regression"])
def test_predictions_in_batches_equal_one_batch(tmp_path, news, name, monkeypatch):
    """khabar predict featurizes a corpus in batches of rows: the same labels and scores as
    all at once, rows without text kept in place."""
    from khabar.runs import predict

    config = load_config(write_config(tmp_path), [f"model.name={name}", "model.params={}"])
    model = build_pipeline(config).fit(news.frame[["text"]], news.labels)
    frame = news.frame[["text"]].copy()
    frame.loc[[3, 10, 11], "text"] = ["", None, "  "]
    whole = predict_frame(model, frame, NEWS_SMALL)
    monkeypatch.setattr(predict, "PREDICT_BATCH_ROWS", 7)
    batched = predict_frame(model, frame, NEWS_SMALL)
    pd.testing.assert_frame_equal(batched, whole)
    assert whole["prediction"].isna().sum() == 3


@pytest.mark.parametrize("engine", ["sklearn", "fast"])
def test_model_file_is_about_the_size_of_the_pickle(tmp_path, news, engine):
    config = load_config(
        write_config(
            tmp_path,
            features={
                "char": {"analyzer": "char_wb", "ngram_range": [2, 5], "engine": engine},
                "word": {"analyzer": "word", "ngram_range": [1, 2]},
            },
        )
    )
    model = build_pipeline(config).fit(news.frame[["text"]], news.labels)
    save_skops(model, tmp_path / SKOPS_FILE)
    pickled = len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    size = (tmp_path / SKOPS_FILE).stat().st_size
    assert size <= 1.2 * pickled, (size, pickled)


def test_damaged_packed_state_is_one_line_error(tmp_path, news):
    fitted = CompactTfidfVectorizer(**SETTINGS["word"]).fit(news.texts)
    model = build_pipeline(load_config(write_config(tmp_path)))
    model.steps[1] = ("features", fitted)
    save_skops(model, tmp_path / SKOPS_FILE)
    with zipfile.ZipFile(tmp_path / SKOPS_FILE) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    schema = json.loads(members["schema.json"])
    state = schema["content"]["content"]["steps"]["content"][1]["content"][1]["content"]
    ends_file = state["content"]["vocabulary_ends_"]["file"]
    members[ends_file] = _npy(np.asarray([5, 3], dtype=np.int64))
    with zipfile.ZipFile(tmp_path / "damaged.skops", "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    with pytest.raises(KhabarError, match=r"damaged\.skops: cannot load the model: packed"):
        load_skops(tmp_path / "damaged.skops")


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


# --- models saved before the arrays --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["topic_sklearn_svc", "multi_vectors_nbsvm", "target_aware_logreg"]
)
def test_models_saved_before_the_arrays_load_and_predict_the_same(name):
    folder = BEFORE_ARRAYS / name
    with zipfile.ZipFile(folder / SKOPS_FILE) as archive:
        schema = archive.read("schema.json").decode("utf-8")
    # The fixture really is in the earlier layout: a vocabulary as a JSON dict.
    assert '"vocabulary_"' in schema and "vocabulary_bytes_" not in schema
    model = khabar.load_model(str(folder))
    texts = pd.read_json(NEWS_SMALL, lines=True)
    expected = pd.read_json(folder / "expected_predictions.jsonl", lines=True)
    output = predict_frame(model, texts, NEWS_SMALL)
    assert output["prediction"].tolist() == expected["prediction"].tolist()
    scores = [c for c in expected.columns if c.startswith("score_")]
    assert list(output.columns[2:]) == scores
    np.testing.assert_allclose(output[scores].to_numpy(), expected[scores].to_numpy(), atol=2e-6)


@pytest.mark.parametrize(
    "name", ["topic_sklearn_svc", "multi_vectors_nbsvm", "target_aware_logreg"]
)
def test_models_saved_before_the_arrays_save_again(tmp_path, name):
    model = khabar.load_model(str(BEFORE_ARRAYS / name))
    save_skops(model, tmp_path / SKOPS_FILE)
    again = load_skops(tmp_path / SKOPS_FILE)
    texts = pd.read_json(NEWS_SMALL, lines=True)
    first, second = predict_frame(model, texts, "x"), predict_frame(again, texts, "x")
    pd.testing.assert_frame_equal(first, second)


# --- what `khabar predict` imports ---------------------------------------------------------


def test_predict_from_a_folder_imports_neither_mlflow_nor_matplotlib(tmp_path):
    texts = tmp_path / "two.txt"
    texts.write_text("وزير الخارجية يستقبل السفير\nمركز جديد لإيواء المهاجرين\n", "utf-8")
    script = (
        "import sys\n"
        "from khabar.cli import main\n"
        f"code = main(['predict', '--model', {str(BEFORE_ARRAYS / 'topic_sklearn_svc')!r}, "
        f"'--input', {str(texts)!r}, '--output', {str(tmp_path / 'out.jsonl')!r}])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'mlflow', 'matplotlib'})\n"
        "print(code, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []"
    assert len(Path(tmp_path / "out.jsonl").read_text("utf-8").splitlines()) == 2


def test_predict_reads_a_one_field_jsonl_whatever_its_name(tmp_path):
    path = tmp_path / "bodies.jsonl"
    rows = [{"body": "وزير الخارجية يستقبل السفير"}, {"body": "مركز جديد لإيواء المهاجرين"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    result = khabar.predict(str(BEFORE_ARRAYS / "topic_sklearn_svc"), str(path))
    assert result.rows == 2 and result.predictions["prediction"].notna().all()
