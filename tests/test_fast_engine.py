"""The fast engine computes scikit-learn's features and solves LinearSVC's problem."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from khabar.model.char_ngrams import CharNgramTfidf
from khabar.model.linear_svm import FastLinearSVC

from .conftest import NEWS_SMALL

ROWS = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
TEXTS = [r["text"] for r in ROWS] + [
    "a",
    "",
    "  x  y\n\tZ ",
    "ab cd",
    "İstanbul ok",
    "\u00a0و\u2003",
]


def same_matrix(texts, fit_texts=None, **params):
    """Fit both on fit_texts, transform texts, compare after matching columns by n-gram."""
    fit_texts = texts if fit_texts is None else fit_texts
    reference = TfidfVectorizer(**params, dtype=np.float32).fit(fit_texts)
    fast = CharNgramTfidf(**params, n_jobs=2, chunk_chars=500).fit(fit_texts)
    names = list(fast.get_feature_names_out())
    assert sorted(names) == sorted(reference.get_feature_names_out())
    column = {name: i for i, name in enumerate(reference.get_feature_names_out())}
    expected = reference.transform(texts)[:, [column[n] for n in names]].toarray()
    np.testing.assert_allclose(fast.transform(texts).toarray(), expected, atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [
        {"analyzer": "char_wb", "ngram_range": (2, 5), "min_df": 2, "sublinear_tf": True},
        {"analyzer": "char_wb", "ngram_range": (1, 3)},
        {"analyzer": "char_wb", "ngram_range": (4, 6)},  # words shorter than n: kept whole
        {"analyzer": "char", "ngram_range": (2, 4), "min_df": 2, "max_df": 0.9},
        {"analyzer": "char", "ngram_range": (1, 1), "sublinear_tf": True},
    ],
    ids=str,
)
def test_same_features_as_tfidf_vectorizer(params):
    same_matrix(TEXTS, **params)
    same_matrix(TEXTS[:7], fit_texts=TEXTS[7:], **params)  # unseen characters and n-grams


def test_a_short_capacity_guess_grows_to_the_same_matrix():
    """The row sink's guess of the non-zeros can fall short (e.g. a few long articles): it
    grows, and the grown arrays are still shrunk in place to the exact size."""
    fast = CharNgramTfidf(analyzer="char_wb", ngram_range=(2, 5), n_jobs=2, chunk_chars=500)
    fast.fit(TEXTS)
    expected = fast.transform(TEXTS)
    for capacity in (1, expected.nnz - 1, expected.nnz):
        grown = fast._transform(TEXTS, capacity=capacity)
        assert grown.nnz == expected.nnz == len(grown.indices)
        assert (grown != expected).nnz == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="اأبة ى\n\tabA٣ـ", max_size=30), min_size=1, max_size=8))
def test_same_features_on_any_text(texts):
    try:
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)).fit(texts)
    except ValueError:  # no n-gram at all: both must refuse
        with pytest.raises(ValueError, match="no terms remain"):
            CharNgramTfidf(analyzer="char_wb", ngram_range=(2, 4)).fit(texts)
        return
    same_matrix(texts, analyzer="char_wb", ngram_range=(2, 4))


def test_max_features_keeps_the_most_frequent():
    fast = CharNgramTfidf(ngram_range=(2, 3), max_features=300).fit(TEXTS)
    counts = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3), use_idf=False, norm=None)
    totals = dict(
        zip(
            counts.fit(TEXTS).get_feature_names_out(),
            counts.transform(TEXTS).sum(axis=0).A1,
            strict=True,
        )
    )
    kept = set(fast.get_feature_names_out())
    assert len(kept) == 300
    assert min(totals[n] for n in kept) >= max(v for n, v in totals.items() if n not in kept)


def _features():
    vectorizer = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True
    )
    return vectorizer.fit_transform(TEXTS[: len(ROWS)]).astype(np.float32)


@pytest.mark.parametrize("class_weight", [None, "balanced"])
@pytest.mark.parametrize("label", ["primary", "binary"])
def test_fast_linear_svc_solves_linear_svc_problem(label, class_weight):
    X = _features()
    y = np.array([r["primary"] for r in ROWS])
    if label == "binary":
        y = np.where(y == "security", "security", "rest")
    reference = LinearSVC(C=0.5, class_weight=class_weight, tol=1e-6, max_iter=10000).fit(X, y)
    fast = FastLinearSVC(C=0.5, class_weight=class_weight, tol=1e-6, random_state=3).fit(X, y)
    assert list(fast.classes_) == list(reference.classes_)
    np.testing.assert_allclose(fast.coef_, reference.coef_, atol=1e-3)
    np.testing.assert_allclose(fast.intercept_, reference.intercept_, atol=1e-3)
    np.testing.assert_allclose(fast.decision_function(X), reference.decision_function(X), atol=1e-3)
    assert (fast.predict(X) == reference.predict(X)).all()
    again = FastLinearSVC(C=0.5, class_weight=class_weight, tol=1e-6, random_state=3).fit(X, y)
    assert np.array_equal(again.coef_, fast.coef_)  # the seed fixes the result


def test_fast_pipeline_round_trips_through_skops(tmp_path):
    from khabar.model.pipeline import build_pipeline, top_weighted_features
    from khabar.record.model_files import load_skops, save_skops
    from khabar.runs.guard import load_config

    from .conftest import write_config

    config = load_config(
        write_config(tmp_path),
        ["features.char.engine=fast", "model.name=fast_linear_svc"],
    )
    import pandas as pd

    frame = pd.DataFrame({"text": [r["text"] for r in ROWS]})
    model = build_pipeline(config).fit(frame, [r["primary"] for r in ROWS])
    save_skops(model, tmp_path / "model.skops")
    loaded = load_skops(tmp_path / "model.skops")
    assert list(loaded.predict(frame)) == list(model.predict(frame))
    assert set(top_weighted_features(loaded)) == {"diplomacy", "migration", "other", "security"}
