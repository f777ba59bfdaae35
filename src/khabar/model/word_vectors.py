"""Word vectors learned from unlabeled text, and a feature step that adds each text's mean
word vector to its n-gram features.

A few hundred labeled news items show a model only a few thousand words; a word2vec
skip-gram model (gensim) trained on tens of thousands of unlabeled articles places words
used alike near each other (يدين, يستنكر, يندد: condemn), so a text whose tone words never
occur in the labeled data still gets a useful representation. The vectors are trained once
per corpus and settings, and kept under .khabar-cache/word_vectors/ (or
$KHABAR_VECTORS_DIR), keyed by the corpus files' content, the normalization and the
settings; every CV fold and later run loads them from there. They are stored as two .npy
files (no pickle). A fitted feature step holds its own copy of the vectors, so a saved
model predicts without the corpus or the cache.

Training uses one worker thread and a fixed hash function, so the same corpus and settings
give the same vectors in every process (gensim's default hash is Python's salted one), and
so on any machine with the same gensim version and CPU architecture.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import sys
import time
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from khabar.data.config import NormalizeConfig, WordVectorsConfig
from khabar.data.dataset import clean_texts, content_hash, read_table
from khabar.errors import KhabarError
from khabar.model.normalize import ArabicNormalizer, as_text_list
from khabar.model.packed_strings import pack_strings, unpack_strings

DEFAULT_FOLDER = Path(".khabar-cache") / "word_vectors"
# The word tokens that get a vector: what scikit-learn's word analyzer counts.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def require_gensim() -> ModuleType:
    """The gensim package, or an error that says how to install it.

    Returns
    -------
    module
        ``gensim`` (with ``gensim.models`` imported).

    Raises
    ------
    KhabarError
        When gensim is not installed (the "vectors" extra).
    """
    try:
        import gensim.models
    except ImportError:
        raise KhabarError(
            "features.word_vectors needs gensim: pip install 'khabar[vectors]'"
        ) from None
    return gensim


def vectors_folder() -> Path:
    """The folder of cached vectors: $KHABAR_VECTORS_DIR, else .khabar-cache/word_vectors.

    Returns
    -------
    Path
        The folder (it may not exist yet).
    """
    return Path(os.environ.get("KHABAR_VECTORS_DIR") or DEFAULT_FOLDER)


def _stable_hash(text: str) -> int:
    # gensim seeds each word's starting vector from hash(word + seed); Python's str hash
    # changes between processes, so the vectors would too.
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def _title(text: str) -> str:
    return text.strip().split("\n", 1)[0].strip()


def _corpus_files(corpus: Path) -> list[Path]:
    if corpus.is_dir():
        files = sorted(corpus.glob("*.zip"))
        if not files:
            raise KhabarError(
                f"features.word_vectors.corpus: no SaudiNewsNet .zip files in {corpus}"
            )
        return files
    if not corpus.is_file():
        raise KhabarError(f"features.word_vectors.corpus: not found: {corpus}")
    return [corpus]


def check_sources(settings: WordVectorsConfig) -> None:
    """Check that the corpus and exclusion files exist, before any work.

    Parameters
    ----------
    settings : WordVectorsConfig
        The word-vector settings.

    Raises
    ------
    KhabarError
        Naming the config field of a missing file (or of a folder without .zip files).
    """
    _corpus_files(Path(settings.corpus))
    for field in ("exclude_titles_of", "exclude_urls"):
        for i, path in enumerate(getattr(settings, field)):
            if not Path(path).is_file():
                raise KhabarError(f"features.word_vectors.{field}[{i}]: not found: {path}")


def vectors_key(settings: WordVectorsConfig, normalize: dict) -> str:
    """The cache key of the vectors: a hash of everything they depend on.

    That is the corpus and exclusion file contents, the normalization, the training
    settings (not `weight`, which only scales the features) and gensim's version.

    Parameters
    ----------
    settings : WordVectorsConfig
        The word-vector settings.
    normalize : dict
        The normalization settings (`ArabicNormalizer` parameters) of the corpus.

    Returns
    -------
    str
        32 hex digits.
    """
    gensim = require_gensim()
    check_sources(settings)
    described = settings.model_dump(
        exclude={"weight", "corpus", "exclude_titles_of", "exclude_urls"}
    )
    parts = [
        json.dumps(described, sort_keys=True),
        # {} and the spelled-out defaults are the same normalization: the same key
        json.dumps(NormalizeConfig(**normalize).model_dump(), sort_keys=True),
        gensim.__version__,
        *(content_hash(path) for path in _corpus_files(Path(settings.corpus))),
        "exclude",
        *(content_hash(path) for path in settings.exclude_titles_of),
        # Added later: without URL lists the key stays what it was, so caches stay valid.
        *(
            ["urls", *(content_hash(path) for path in settings.exclude_urls)]
            if settings.exclude_urls
            else []
        ),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _excluded_urls(settings: WordVectorsConfig) -> set[str]:
    """URLs from .txt lists (one per line) and from the `url` column of tables (e.g. labels
    distributed without texts)."""
    urls: set[str] = set()
    for k, path in enumerate(settings.exclude_urls):
        if Path(path).suffix.lower() == ".txt":
            lines = Path(path).read_text(encoding="utf-8").splitlines()
            urls.update(line.strip() for line in lines if line.strip())
            continue
        frame = read_table(path)
        if "url" not in frame:
            raise KhabarError(
                f"features.word_vectors.exclude_urls[{k}]: {path} has no url column "
                f"(columns are {list(map(str, frame.columns))})"
            )
        urls.update(str(url).strip() for url in frame["url"].dropna())
    return urls


def _corpus_texts(settings: WordVectorsConfig) -> list[str]:
    from khabar.data.corpora import read_saudinewsnet

    corpus = Path(settings.corpus)
    urls = _excluded_urls(settings)
    if corpus.is_dir():
        texts = [a["text"] for a in read_saudinewsnet(corpus) if a["url"] not in urls]
    else:
        frame = read_table(corpus)
        if urls and "url" in frame:
            frame = frame[~frame["url"].astype(str).isin(urls)].reset_index(drop=True)
        texts = clean_texts(frame, settings.text_column, corpus)
    # Leave out the articles the labeled files were drawn from, so that the items a model is
    # scored on never shaped its vectors (realnews-dev items are SaudiNewsNet articles).
    excluded = set()
    for path in settings.exclude_titles_of:
        frame = read_table(path)
        excluded.update(_title(text) for text in clean_texts(frame, settings.text_column, path))
    return [text for text in texts if _title(text) not in excluded]


def train_word_vectors(
    texts: list[str], settings: WordVectorsConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Train skip-gram word2vec on normalized texts.

    Parameters
    ----------
    texts : list of str
        The normalized corpus.
    settings : WordVectorsConfig
        vector_size, window, min_count, epochs and seed are used.

    Returns
    -------
    words : ndarray of str
        The words with a vector, sorted.
    vectors : ndarray of float32 of shape (n_words, vector_size)
        Their vectors, in the same order.
    """
    gensim = require_gensim()
    from gensim.models.callbacks import CallbackAny2Vec

    class EpochProgress(CallbackAny2Vec):  # SaudiNewsNet takes minutes: show it moving
        def on_epoch_end(self, model) -> None:
            bar.update(1)

    sentences = [_TOKEN.findall(text) for text in texts]
    model = gensim.models.Word2Vec(
        vector_size=settings.vector_size,
        window=settings.window,
        min_count=settings.min_count,
        sg=1,
        negative=10,
        seed=settings.seed,
        workers=1,
        hashfxn=_stable_hash,
    )
    model.build_vocab(sentences)
    if len(model.wv) == 0:
        raise KhabarError(
            f"features.word_vectors.min_count: no word occurs {settings.min_count}+ times in "
            f"{settings.corpus}"
        )
    with tqdm(total=settings.epochs, desc="word vectors", unit="epoch") as bar:
        model.train(
            sentences,
            total_examples=model.corpus_count,
            epochs=settings.epochs,
            callbacks=[EpochProgress()],
        )
    words = np.asarray(model.wv.index_to_key, dtype=str)
    order = np.argsort(words)
    return words[order], model.wv.vectors[order].astype(np.float32)


# The vectors loaded in this process, by key: CV folds share one copy instead of ~40 MB each.
_loaded: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _read_entry(entry: Path) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        return (
            np.load(entry / "words.npy", allow_pickle=False),
            np.load(entry / "vectors.npy", allow_pickle=False),
        )
    except (OSError, ValueError):  # missing or damaged: train again and replace it
        return None


def _write_entry(entry: Path, words: np.ndarray, vectors: np.ndarray) -> None:
    # Written beside the entry, then renamed: a crash never leaves a half-written entry.
    partial = entry.parent / f".{entry.name}.{os.getpid()}.tmp"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "words.npy", words, allow_pickle=False)
    np.save(partial / "vectors.npy", vectors, allow_pickle=False)
    shutil.rmtree(entry, ignore_errors=True)  # a damaged entry
    try:
        partial.rename(entry)
    except OSError:  # another process finished the same entry first
        shutil.rmtree(partial, ignore_errors=True)


def load_or_train(settings: WordVectorsConfig, normalize: dict) -> tuple[np.ndarray, np.ndarray]:
    """The vectors for these settings: from this process, the cache, or trained now and cached.

    Parameters
    ----------
    settings : WordVectorsConfig
        The word-vector settings.
    normalize : dict
        The normalization settings the corpus is normalized with.

    Returns
    -------
    words : ndarray of str
        The words with a vector, sorted.
    vectors : ndarray of float32 of shape (n_words, vector_size)
        Their vectors.
    """
    key = vectors_key(settings, normalize)
    entry = vectors_folder() / key
    found = (_loaded.get(key) or _read_entry(entry)) if entry.is_dir() else None
    if found is not None:
        _loaded.clear()  # one corpus at a time is the usual case; keep memory flat
        _loaded[key] = found
        return found
    started = time.perf_counter()
    texts = ArabicNormalizer(**normalize).transform(_corpus_texts(settings))
    if not texts:
        raise KhabarError(f"features.word_vectors.corpus: no texts left in {settings.corpus}")
    print(
        f"training word vectors on {len(texts):,} texts from {settings.corpus} "
        f"(once; kept in {entry.parent})",
        file=sys.stderr,
        flush=True,
    )
    words, vectors = train_word_vectors(texts, settings)
    _write_entry(entry, words, vectors)
    print(
        f"word vectors: {len(words):,} words x {vectors.shape[1]} in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    _loaded.clear()
    _loaded[key] = (words, vectors)
    return words, vectors


class WordVectorFeatures(TransformerMixin, BaseEstimator):
    """Each text as the IDF-weighted mean of its words' vectors.

    The vectors are trained once per corpus and settings by word2vec (see `load_or_train`)
    and cached. The mean is L2-normalized and scaled by `weight`: `vector_size` dense
    columns beside the n-gram blocks. IDF comes from the texts the step is fitted on; a
    word they lack weighs 1. Words without a vector are skipped; a text with none gets
    zeros. The parameters are the fields of `khabar.data.config.WordVectorsConfig` (with
    its defaults) and the corpus's normalization.

    Parameters
    ----------
    corpus : str, default=None
        A folder of SaudiNewsNet .zip files, or a table file (.jsonl, .csv, ...) of
        unlabeled texts; required to fit.
    text_column : str, default="text"
        The text column of a table corpus.
    exclude_titles_of : tuple of str, default=()
        Labeled files drawn from the corpus: articles whose title (first line) starts one
        of their texts are left out of training.
    exclude_urls : tuple of str, default=()
        Text files of URLs, one per line: articles at those URLs are left out of training.
    vector_size : int, default=100
        Dimensions of a word vector (2 to 1000).
    window : int, default=5
        word2vec's context window.
    min_count : int, default=5
        Words seen fewer times in the corpus get no vector.
    epochs : int, default=5
        Training passes over the corpus.
    seed : int, default=42
        Training seed.
    weight : float, default=1.0
        Scale of the L2-normalized mean vector (the n-gram blocks have norm 1).
    normalize : dict, default=None
        `ArabicNormalizer` parameters the corpus is normalized with: those of the model's
        own inputs (None: the defaults).

    Attributes
    ----------
    words_ : ndarray of str
        The words with a vector, sorted.
    vectors_ : ndarray of float32 of shape (n_words, vector_size)
        Their vectors: the fitted step carries them, so a saved model needs no corpus.
    idf_ : ndarray of float32 of shape (n_words,)
        Each word's IDF over the fit texts (1 for words they lack).
    weight_ : float
        The `weight` fitted with.
    """

    def __init__(
        self,
        corpus: str | None = None,
        text_column: str = "text",
        exclude_titles_of: tuple[str, ...] = (),
        exclude_urls: tuple[str, ...] = (),
        vector_size: int = 100,
        window: int = 5,
        min_count: int = 5,
        epochs: int = 5,
        seed: int = 42,
        weight: float = 1.0,
        normalize: dict | None = None,
    ) -> None:
        self.corpus = corpus
        self.text_column = text_column
        self.exclude_titles_of = exclude_titles_of
        self.exclude_urls = exclude_urls
        self.vector_size = vector_size
        self.window = window
        self.min_count = min_count
        self.epochs = epochs
        self.seed = seed
        self.weight = weight
        self.normalize = normalize

    def __getstate__(self) -> dict:
        # The words are saved packed (UTF-8 bytes and ends): as a fixed-width str array
        # each word took 4 bytes per character of the longest word.
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        words = state.pop("words_", None)
        if words is not None:
            state["words_bytes_"], state["words_ends_"] = pack_strings(words.tolist())
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "words_bytes_" in state:
            words = unpack_strings(state.pop("words_bytes_"), state.pop("words_ends_"))
            state["words_"] = np.asarray(words, dtype=str)
        # Steps saved before the parameters were explicit hold them in one `settings` dict.
        if "settings" in state:
            settings = state.pop("settings") or {}
            for name, value in self._param_defaults().items():
                state.setdefault(name, settings.get(name, value))
            state["exclude_titles_of"] = tuple(state["exclude_titles_of"])
        state.setdefault("exclude_urls", ())  # saved before the parameter existed
        super().__setstate__(state)

    @classmethod
    def _param_defaults(cls) -> dict:
        defaults = inspect.signature(cls.__init__).parameters
        return {name: defaults[name].default for name in cls._get_param_names()}

    def __sklearn_tags__(self):
        """scikit-learn's tags: a 1-D sequence of texts in."""
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True  # a sequence of texts
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in, float32 out
        return tags

    def config(self) -> WordVectorsConfig:
        """The word-vector settings of these parameters (they are validated here).

        Returns
        -------
        WordVectorsConfig
            The settings `load_or_train` and `vectors_key` take.
        """
        if self.corpus is None:
            raise ValueError("WordVectorFeatures needs a corpus (features.word_vectors.corpus)")
        return WordVectorsConfig(
            corpus=self.corpus,
            text_column=self.text_column,
            exclude_titles_of=list(self.exclude_titles_of),
            exclude_urls=list(self.exclude_urls),
            vector_size=self.vector_size,
            window=self.window,
            min_count=self.min_count,
            epochs=self.epochs,
            seed=self.seed,
            weight=self.weight,
        )

    def fit(self, X, y=None):
        """Load (or train) the vectors and learn each word's IDF from texts.

        Parameters
        ----------
        X : sequence of str, pandas Series, or one-column table
            The (normalized) texts.
        y : None
            Ignored.

        Returns
        -------
        self : WordVectorFeatures
            This fitted transformer.
        """
        config = self.config()
        texts = as_text_list(X)
        self.words_, self.vectors_ = load_or_train(config, self.normalize or {})
        document_frequency = np.zeros(len(self.words_), dtype=np.float64)
        for text in texts:
            found = self._indices(set(_TOKEN.findall(text)))
            document_frequency[found] += 1
        # scikit-learn's smoothed IDF. A word the fit texts lack (mostly names and rare
        # forms, whose vectors are the least reliable) weighs 1, like the commonest word:
        # realnews stance CV 0.703 vs 0.700 with the rarest word's weight (docs/NOTES.md).
        idf = np.log((1 + len(texts)) / (1 + document_frequency)) + 1
        self.idf_ = np.where(document_frequency > 0, idf, 1.0).astype(np.float32)
        self.weight_ = float(config.weight)
        return self

    def _indices(self, tokens) -> np.ndarray:
        tokens = np.asarray(list(tokens), dtype=str)
        if tokens.size == 0 or self.words_.size == 0:
            return np.zeros(0, dtype=np.int64)
        positions = np.searchsorted(self.words_, tokens).clip(0, self.words_.size - 1)
        return positions[self.words_[positions] == tokens]

    def transform(self, X) -> sp.csr_matrix:
        """Each text's weighted mean word vector.

        Parameters
        ----------
        X : sequence of str, pandas Series, or one-column table
            The (normalized) texts.

        Returns
        -------
        scipy.sparse.csr_matrix of float32 of shape (n_texts, vector_size)
            Rows of norm `weight_`, or zeros for a text without a known word.
        """
        check_is_fitted(self, "vectors_")
        texts = as_text_list(X)
        out = np.zeros((len(texts), self.vectors_.shape[1]), dtype=np.float32)
        for row, text in enumerate(texts):
            found = self._indices(_TOKEN.findall(text))
            if found.size:
                weights = self.idf_[found]
                out[row] = weights @ self.vectors_[found] / weights.sum()
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0) * self.weight_
        return sp.csr_matrix(out)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names: "word_vector_0", "word_vector_1", ...

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        ndarray of str objects of shape (vector_size,)
            One name per dimension.
        """
        check_is_fitted(self, "vectors_")
        return np.asarray([f"word_vector_{k}" for k in range(self.vectors_.shape[1])], dtype=object)


def word_vector_step(features) -> WordVectorFeatures | None:
    """The word-vector block of a feature union (build_features puts it last).

    Parameters
    ----------
    features : transformer
        A model's feature step.

    Returns
    -------
    WordVectorFeatures or None
        Its "word_vectors" block, or None when it has none.
    """
    blocks = dict(getattr(features, "transformer_list", []))
    step = blocks.get("word_vectors")
    return step if isinstance(step, WordVectorFeatures) else None
