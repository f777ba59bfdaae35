"""Feature cache: the fitted normalize + features steps and the matrices they produce,
stored under .khabar-cache/features/ and keyed by content, so that CV folds, the final fit
and every variant of a sweep featurize each piece of data once.

The key is a hash of: the exact texts fitted on and transformed (not a file name), every
parameter of the unfitted feature steps (normalization switches, n-gram settings, ...),
and the source code of the modules that compute features, plus scikit-learn's version.
Anything that can change the features changes the key, so an entry is never stale; and
entries are written atomically (temporary file, then rename), so the folder can be deleted
at any time. Entries are joblib files: a private working folder like .venv, written and
read by khabar only (exported models never use it; they are skops files).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import joblib
import pandas as pd
import sklearn
from sklearn.base import clone
from sklearn.pipeline import Pipeline

DEFAULT_FOLDER = Path(".khabar-cache") / "features"
_FEATURE_MODULES = ("normalize.py", "features.py", "char_ngrams.py", "cache.py")


@dataclass
class FeatureSet:
    """Fitted feature steps, the matrix of the texts they were fitted on, and the matrix of
    the texts to evaluate on (a CV fold's held-out part, or the test set)."""

    steps: Pipeline
    fit_matrix: object
    eval_matrix: object


def texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


@cache
def _code_digest() -> str:
    folder = Path(__file__).parent
    digest = hashlib.sha256(sklearn.__version__.encode())
    for name in _FEATURE_MODULES:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def _texts(X, text_column: str) -> list[str]:  # noqa: N803
    if isinstance(X, pd.DataFrame):
        return X[text_column].astype(str).tolist()
    return [str(text) for text in X]


class FeatureCache:
    """Folder of feature sets. `folder` defaults to $KHABAR_CACHE_DIR or
    .khabar-cache/features in the working directory."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or os.environ.get("KHABAR_CACHE_DIR") or DEFAULT_FOLDER)
        self.hits = 0
        self.misses = 0

    def key(self, steps: Pipeline, fit_texts: list[str], eval_texts: list[str]) -> str:
        parts = [
            _code_digest(),
            joblib.hash(clone(steps)),  # every parameter of the unfitted steps
            texts_digest(fit_texts),
            texts_digest(eval_texts),
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def featurize(self, steps: Pipeline, X_fit, X_eval, text_column: str) -> FeatureSet:  # noqa: N803
        """Fit `steps` (unfitted normalize + features) on X_fit and transform X_eval, or
        load the result of an identical earlier call."""
        key = self.key(steps, _texts(X_fit, text_column), _texts(X_eval, text_column))
        path = self.folder / f"{key}.joblib"
        if path.is_file():
            try:
                fitted, fit_matrix, eval_matrix = joblib.load(path)
                self.hits += 1
                return FeatureSet(fitted, fit_matrix, eval_matrix)
            except Exception:  # a damaged entry (disk full, killed writer): recompute it
                path.unlink(missing_ok=True)
        self.misses += 1
        fitted = clone(steps)
        fit_matrix = fitted.fit_transform(X_fit)
        eval_matrix = fitted.transform(X_eval)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        joblib.dump((fitted, fit_matrix, eval_matrix), temporary)
        os.replace(temporary, path)
        return FeatureSet(fitted, fit_matrix, eval_matrix)
