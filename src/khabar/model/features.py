"""Features: TF-IDF over character n-grams, optionally joined by word n-grams."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from khabar.data.config import FeaturesConfig, TfidfConfig
from khabar.model.char_ngrams import ENGINE_SETTING, CharNgramTfidf
from khabar.model.compiled import require_numba
from khabar.model.packed_strings import pack_strings, unpack_strings
from khabar.model.word_vectors import WordVectorFeatures


class CompactTfidfVectorizer(TfidfVectorizer):
    """scikit-learn's TfidfVectorizer, saved compactly: the same estimator, the same
    parameters and the same matrix, but its fitted vocabulary is saved as arrays.

    skops writes the `vocabulary_` dict as one JSON node per n-gram: hundreds of thousands
    of them made a model file of ~90 MB that took seconds to load. Saved (by skops, pickle
    or copy), the vocabulary is the n-grams in column order, packed into a UTF-8 byte
    array and their ends (`khabar.model.packed_strings`); the dict is rebuilt on load, so
    `vocabulary_` and `get_feature_names_out` work as before. State that prediction never
    reads (scikit-learn's `stop_words_`, the `_stop_words_id` cache) is not saved.

    Parameters
    ----------
    **params
        Those of `sklearn.feature_extraction.text.TfidfVectorizer`.

    Attributes
    ----------
    vocabulary_ : dict of str to int
        The n-gram of each column, as TfidfVectorizer's.
    idf_ : ndarray of shape (n_features,)
        As TfidfVectorizer's.

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : What it is, in all but its state.
    """

    def __getstate__(self) -> dict:
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        for name in ("stop_words_", "_stop_words_id"):  # never read after fit
            state.pop(name, None)
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            terms, columns = list(vocabulary), np.fromiter(vocabulary.values(), np.int64)
            order = np.argsort(columns)
            if not np.array_equal(columns[order], np.arange(len(columns))):
                raise ValueError("vocabulary_ must map its n-grams to the columns 0..n-1")
            packed = pack_strings([terms[i] for i in order.tolist()])
            state["vocabulary_bytes_"], state["vocabulary_ends_"] = packed
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "vocabulary_bytes_" in state:
            terms = unpack_strings(state.pop("vocabulary_bytes_"), state.pop("vocabulary_ends_"))
            state["vocabulary_"] = dict(zip(terms, range(len(terms)), strict=True))
        super().__setstate__(state)


def build_vectorizer(settings: TfidfConfig) -> CompactTfidfVectorizer | CharNgramTfidf:
    """The TF-IDF step of one n-gram block.

    Parameters
    ----------
    settings : TfidfConfig
        The block's settings (``features.char`` or ``features.word``).

    Returns
    -------
    CompactTfidfVectorizer or CharNgramTfidf
        scikit-learn's vectorizer (saved compactly), or khabar's compiled one for
        ``engine: fast``.
    """
    shared = {
        "analyzer": settings.analyzer,
        "ngram_range": tuple(settings.ngram_range),
        "min_df": settings.min_df,
        "max_df": settings.max_df,
        "max_features": settings.max_features,
        "sublinear_tf": settings.sublinear_tf,
    }
    if settings.engine == "fast":
        require_numba(ENGINE_SETTING)
        return CharNgramTfidf(**shared, dtype=settings.dtype, n_jobs=settings.n_jobs)
    return CompactTfidfVectorizer(
        **shared,
        dtype=np.float32 if settings.dtype == "float32" else np.float64,
        # Texts arrive normalized; lowercasing only touches Latin script.
        lowercase=True,
    )


class SparseUnion(FeatureUnion):
    """A FeatureUnion that passes a single CSR block through as it is.

    scikit-learn's FeatureUnion stacks even one block into a new matrix, which doubles
    peak memory at corpus scale. Everything else is FeatureUnion's.

    Parameters
    ----------
    transformer_list : list of (str, transformer) tuples
        The blocks, as for `sklearn.pipeline.FeatureUnion` (whose other parameters it
        takes too).

    Attributes
    ----------
    named_transformers : Bunch
        The blocks by name (fitted in place, as FeatureUnion does).
    """

    def _hstack(self, Xs):
        if len(Xs) == 1 and sp.issparse(Xs[0]) and Xs[0].format == "csr":
            return Xs[0]
        return super()._hstack(Xs)


def build_features(settings: FeaturesConfig, normalize: dict | None = None) -> FeatureUnion:
    """The feature step: its blocks in this order: char n-grams, word n-grams, mean word
    vector (last, so a classifier can tell its dense columns apart).

    Parameters
    ----------
    settings : FeaturesConfig
        The ``features`` section of a config.
    normalize : dict, default=None
        The normalization settings the word vectors' corpus is normalized with: the same
        as the model's inputs'.

    Returns
    -------
    SparseUnion
        The blocks, named "char", "word" and "word_vectors".
    """
    parts = [("char", build_vectorizer(settings.char))]
    if settings.word is not None:
        parts.append(("word", build_vectorizer(settings.word)))
    if settings.word_vectors is not None:
        vectors = settings.word_vectors.model_dump()
        vectors["exclude_titles_of"] = tuple(vectors["exclude_titles_of"])
        vectors["exclude_urls"] = tuple(vectors["exclude_urls"])
        parts.append(("word_vectors", WordVectorFeatures(**vectors, normalize=normalize or {})))
    return SparseUnion(parts)
