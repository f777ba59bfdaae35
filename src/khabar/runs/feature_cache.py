"""Feature cache: the fitted normalize + features steps and the matrices they produce,
stored under .khabar-cache/features/ and keyed by content, so that CV folds, the final fit
and every variant of a sweep featurize each piece of data once.

The key is a hash of: the exact texts fitted on and transformed (not a file name), every
parameter of the unfitted feature steps (normalization switches, n-gram settings, ...),
and the source code of the modules that compute features, plus scikit-learn's version.
Anything that can change the features changes the key, so an entry is never stale; and
entries are written atomically (temporary file, then rename), so the folder can be deleted
at any time. Nothing in it is pickled: an entry is a folder holding the fitted steps as a
skops file, loaded under khabar's trust policy like any model, and the two sparse matrices
as .npz files, which are read without pickle.

Within one process (a local sweep runs its variants one after another in the same
process) the most recent entries are also kept in memory, up to KHABAR_CACHE_MEMORY_MB
(default 2048; 0 turns it off), so later variants skip reading them back from disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import joblib
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.pipeline import Pipeline

import khabar.model
from khabar.errors import KhabarError
from khabar.model.normalize import as_text_list
from khabar.model.word_vectors import vectors_key, word_vector_step
from khabar.record import model_files

DEFAULT_FOLDER = Path(".khabar-cache") / "features"
# Every estimator of a Pipeline lives in the model layer: its source shapes the features.
MODEL_LAYER = Path(khabar.model.__file__).parent


def _memory_budget() -> int:
    """Bytes of feature matrices kept in memory (KHABAR_CACHE_MEMORY_MB, default 2048)."""
    value = os.environ.get("KHABAR_CACHE_MEMORY_MB", "2048")
    try:
        return max(0, int(float(value) * 2**20))
    except ValueError:
        raise KhabarError(
            f"KHABAR_CACHE_MEMORY_MB={value!r}: expected a number of megabytes"
        ) from None


@dataclass
class FeatureSet:
    """Fitted feature steps and the two matrices they produced.

    Attributes
    ----------
    steps : Pipeline
        The fitted normalize + features steps.
    fit_matrix : sparse matrix
        The features of the texts the steps were fitted on.
    eval_matrix : sparse matrix
        The features of the texts to evaluate on (a CV fold's held-out part, or the test set).
    """

    steps: Pipeline
    fit_matrix: object
    eval_matrix: object

    @property
    def nbytes(self) -> int:
        """Bytes held: both matrices and any word-vector table."""
        matrices = sum(
            part.nbytes
            for matrix in (self.fit_matrix, self.eval_matrix)
            for part in (matrix.data, matrix.indices, matrix.indptr)
        )
        # a fitted word-vector step holds its table (~40 MB for SaudiNewsNet's vectors)
        step = word_vector_step(self.steps.steps[-1][1])
        table = step.words_.nbytes + step.vectors_.nbytes if step is not None else 0
        return matrices + table


# Entries used most recently in this process, by key (oldest first).
_in_memory: OrderedDict[str, FeatureSet] = OrderedDict()


def _remember(key: str, found: FeatureSet, budget: int) -> FeatureSet:
    _in_memory.pop(key, None)
    if found.nbytes <= budget:
        _in_memory[key] = found
    while sum(entry.nbytes for entry in _in_memory.values()) > budget:
        _in_memory.popitem(last=False)
    return found


def texts_digest(texts: Sequence[str]) -> str:
    """A SHA-256 of texts, in order, each length-prefixed (so no two lists collide by
    concatenation).

    Parameters
    ----------
    texts : sequence of str

    Returns
    -------
    str
        The hex digest.
    """
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def code_fingerprint(folder: Path) -> str:
    """A hash of every Python source file under `folder` (names and contents, in a fixed
    order), of this module (how entries are stored) and of scikit-learn's version.

    Parameters
    ----------
    folder : Path
        A package folder; the cache uses the model layer's.

    Returns
    -------
    str
        A hex digest that changes when any of those files changes.
    """
    digest = hashlib.sha256(sklearn.__version__.encode())
    for path in [*sorted(Path(folder).rglob("*.py")), Path(__file__)]:
        digest.update(path.relative_to(path.parents[1]).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _code_digest() -> str:
    return code_fingerprint(MODEL_LAYER)


def _word_vector_keys(steps: Pipeline) -> list[str]:
    step = word_vector_step(steps.steps[-1][1])
    return [] if step is None else [vectors_key(step.config(), step.normalize or {})]


class FeatureCache:
    """A folder of feature sets, keyed by content (see the module's docstring).

    Parameters
    ----------
    folder : str or Path, optional
        Where entries live; $KHABAR_CACHE_DIR or .khabar-cache/features by default.

    Attributes
    ----------
    hits, misses : int
        Entries found (on disk or in memory) and computed, by this object.
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder or os.environ.get("KHABAR_CACHE_DIR") or DEFAULT_FOLDER)
        self.memory_budget = _memory_budget()  # a bad value fails here, before any work
        self.hits = 0
        self.misses = 0

    def key(self, steps: Pipeline, fit_texts: list[str], eval_texts: list[str]) -> str:
        """The entry's name: a hash of the code, the steps' parameters, both texts and any
        word vectors' source.

        Parameters
        ----------
        steps : Pipeline
            The unfitted normalize + features steps.
        fit_texts, eval_texts : list of str
            The texts fitted on and transformed.

        Returns
        -------
        str
        """
        parts = [
            _code_digest(),
            joblib.hash(clone(steps)),  # every parameter of the unfitted steps
            texts_digest(fit_texts),
            texts_digest(eval_texts),
            *_word_vector_keys(steps),  # their corpus's content, not only its path
        ]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()

    def featurize(self, steps: Pipeline, X_fit, X_eval, text_column: str) -> FeatureSet:
        """Fit `steps` on X_fit and transform X_eval, or load an identical earlier result.

        Parameters
        ----------
        steps : Pipeline
            The unfitted normalize + features steps.
        X_fit, X_eval : DataFrame or list of str
            The rows to fit on and to transform.
        text_column : str
            The texts' column in X_fit and X_eval.

        Returns
        -------
        FeatureSet
        """
        key = self.key(steps, as_text_list(X_fit, text_column), as_text_list(X_eval, text_column))
        entry = self.folder / key
        if key in _in_memory and entry.is_dir():  # deleting the folder empties the cache
            self.hits += 1
            _in_memory.move_to_end(key)
            return _in_memory[key]
        if entry.is_dir():
            try:
                found = FeatureSet(
                    model_files.load_skops(entry / "steps.skops"),
                    sp.load_npz(entry / "fit.npz"),
                    sp.load_npz(entry / "eval.npz"),
                )
                self.hits += 1
                return _remember(key, found, self.memory_budget)
            # A damaged entry (a cut-off .npz is a BadZipFile): recompute it.
            except (KhabarError, OSError, ValueError, zipfile.BadZipFile):
                shutil.rmtree(entry, ignore_errors=True)
        self.misses += 1
        fitted = clone(steps)
        fit_matrix = sp.csr_matrix(fitted.fit_transform(X_fit))
        eval_matrix = sp.csr_matrix(fitted.transform(X_eval))
        # Written into a private folder, then renamed: readers never see half an entry.
        temporary = self.folder / f".{key}.{os.getpid()}.tmp"
        temporary.mkdir(parents=True, exist_ok=True)
        try:
            model_files.save_skops(fitted, temporary / "steps.skops")
            sp.save_npz(temporary / "fit.npz", fit_matrix, compressed=False)
            sp.save_npz(temporary / "eval.npz", eval_matrix, compressed=False)
            os.replace(temporary, entry)
        except OSError:
            shutil.rmtree(
                temporary, ignore_errors=True
            )  # another process won the race, or disk full
        return _remember(key, FeatureSet(fitted, fit_matrix, eval_matrix), self.memory_budget)
