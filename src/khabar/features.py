"""Features: TF-IDF over character n-grams, optionally joined by word n-grams."""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from khabar.char_ngrams import CharNgramTfidf, require_numba
from khabar.config import FeaturesConfig, TfidfConfig


def build_vectorizer(settings: TfidfConfig) -> TfidfVectorizer | CharNgramTfidf:
    if settings.engine == "fast":
        require_numba()
        return CharNgramTfidf(
            analyzer=settings.analyzer,
            ngram_range=tuple(settings.ngram_range),
            min_df=settings.min_df,
            max_df=settings.max_df,
            max_features=settings.max_features,
            sublinear_tf=settings.sublinear_tf,
            dtype=settings.dtype,
            n_jobs=settings.n_jobs,
        )
    return TfidfVectorizer(
        analyzer=settings.analyzer,
        ngram_range=tuple(settings.ngram_range),
        min_df=settings.min_df,
        max_df=settings.max_df,
        max_features=settings.max_features,
        sublinear_tf=settings.sublinear_tf,
        dtype=np.float32 if settings.dtype == "float32" else np.float64,
        # Texts arrive normalized; lowercasing only touches Latin script.
        lowercase=True,
    )


def build_features(settings: FeaturesConfig) -> FeatureUnion:
    parts = [("char", build_vectorizer(settings.char))]
    if settings.word is not None:
        parts.append(("word", build_vectorizer(settings.word)))
    return FeatureUnion(parts)
