"""Features: TF-IDF over character n-grams, optionally joined by word n-grams."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from khabar.data.config import FeaturesConfig, TfidfConfig
from khabar.model.char_ngrams import ENGINE_SETTING, CharNgramTfidf
from khabar.model.compiled import require_numba
from khabar.model.word_vectors import WordVectorFeatures


def build_vectorizer(settings: TfidfConfig) -> TfidfVectorizer | CharNgramTfidf:
    """The TF-IDF step of one n-gram block.

    Parameters
    ----------
    settings : TfidfConfig
        The block's settings (``features.char`` or ``features.word``).

    Returns
    -------
    TfidfVectorizer or CharNgramTfidf
        scikit-learn's vectorizer, or khabar's compiled one for ``engine: fast``.
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
    return TfidfVectorizer(
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
