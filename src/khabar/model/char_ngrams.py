"""Character n-gram TF-IDF at corpus scale.

`CharNgramTfidf` computes the same matrix as scikit-learn's
`TfidfVectorizer(analyzer="char_wb" | "char", lowercase=True, norm="l2", smooth_idf=True)`
(up to the order of the columns), but counts n-grams in compiled loops over code points
instead of Python string slices, in parallel threads over chunks of documents.

How: characters seen in training get small ids; an n-gram is its ids packed into one
int64 (`bits` per character, so n-grams are exact, not hashed); per-document counts and the
vocabulary are open-addressing hash tables. The fitted state is a few numpy arrays
(alphabet, vocabulary keys, idf), which skops saves without pickle.
"""

from __future__ import annotations

import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from khabar.heap import release_free_heap
from khabar.model.compiled import njit, require_numba, thread_count
from khabar.model.normalize import as_text_list

ENGINE_SETTING = "features.char.engine=fast (or set features.char.engine=sklearn)"
SPACE_ID = 1  # every whitespace character, and the padding around char_wb words
FIRST_CHAR_ID = 2
_EMPTY = 0  # hash-table slot marker; no n-gram packs to 0 because ids start at 1
_MAX_CODEPOINT = 0x110000
_WHITE_SPACES = re.compile(r"\s\s+")  # what scikit-learn's char analyzers collapse


@cache
def _whitespace_codepoints() -> np.ndarray:
    return np.array([c for c in range(_MAX_CODEPOINT) if chr(c).isspace()], dtype=np.int64)


# --- compiled kernels ------------------------------------------------------------------
# Defined only when numba is present; each releases the GIL so threads run them in parallel.

if njit is not None:

    @njit(nogil=True, cache=True, inline="always")
    def _slot(key, mask):
        # Fibonacci hashing: multiply by 2^64/phi, keep the high bits.
        return ((np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(29)) & mask

    @njit(nogil=True, cache=True)
    def _doc_grams(ids, start, end, min_n, max_n, bits, word_bounded, out):
        """Packed n-grams of ids[start:end] into out; returns how many."""
        m = 0
        if word_bounded:
            i = start
            while i < end:
                if ids[i] == SPACE_ID:
                    i += 1
                    continue
                j = i
                while j < end and ids[j] != SPACE_ID:
                    j += 1
                length = j - i + 2  # the word padded with one space on each side
                if length < min_n:  # scikit-learn keeps a short word once, whole
                    key = np.int64(0)
                    for k in range(length):
                        c = SPACE_ID if k == 0 or k == length - 1 else ids[i + k - 1]
                        key = (key << bits) | c
                    out[m] = key
                    m += 1
                else:
                    for s in range(length):
                        key = np.int64(0)
                        for n in range(1, max_n + 1):
                            k = s + n - 1
                            if k >= length:
                                break
                            c = SPACE_ID if k == 0 or k == length - 1 else ids[i + k - 1]
                            key = (key << bits) | c
                            if n >= min_n:
                                out[m] = key
                                m += 1
                i = j
        else:
            for s in range(start, end):
                key = np.int64(0)
                for n in range(1, max_n + 1):
                    k = s + n - 1
                    if k >= end:
                        break
                    key = (key << bits) | ids[k]
                    if n >= min_n:
                        out[m] = key
                        m += 1
        return m

    @njit(nogil=True, cache=True)
    def _doc_counts(grams, m, table_keys, table_counts, slots, uniq_keys, uniq_counts):
        """Distinct n-grams of one document and their counts; the table is left empty."""
        size = 1
        while size < 2 * m:
            size *= 2
        mask = np.uint64(size - 1)
        u = 0
        for t in range(m):
            key = grams[t]
            h = _slot(key, mask)
            while True:
                k = table_keys[h]
                if k == key:
                    table_counts[h] += 1
                    break
                if k == _EMPTY:
                    table_keys[h] = key
                    table_counts[h] = 1
                    slots[u] = h
                    u += 1
                    break
                h = (h + np.uint64(1)) & mask
        for q in range(u):
            h = slots[q]
            uniq_keys[q] = table_keys[h]
            uniq_counts[q] = table_counts[h]
            table_keys[h] = _EMPTY
        return u

    @njit(nogil=True, cache=True)
    def _scratch(ids, offsets, min_n, max_n):
        longest = 0
        for d in range(len(offsets) - 1):
            longest = max(longest, offsets[d + 1] - offsets[d])
        bound = (2 * longest + 2) * (max_n - min_n + 1) + 1
        size = 1
        while size < 2 * bound:
            size *= 2
        return (
            np.empty(bound, np.int64),
            np.zeros(size, np.int64),
            np.zeros(size, np.int32),
            np.empty(bound, np.uint64),
            np.empty(bound, np.int64),
            np.empty(bound, np.int32),
        )

    @njit(nogil=True, cache=True)
    def _grow(array, needed):
        """A copy of `array` with room for at least `needed` items (doubling)."""
        bigger = np.empty(max(needed, 2 * len(array)), array.dtype)
        bigger[: len(array)] = array
        return bigger

    @njit(nogil=True, cache=True)
    def _chunk_distinct(ids, offsets, min_n, max_n, bits, word_bounded):
        """Each document's distinct n-grams and counts, concatenated (for document frequency)."""
        grams, table_keys, table_counts, slots, uniq_keys, uniq_counts = _scratch(
            ids, offsets, min_n, max_n
        )
        capacity = len(ids) + 1024  # about right for prose; grown when short
        keys_out = np.empty(capacity, np.int64)
        counts_out = np.empty(capacity, np.int32)
        filled = 0
        for d in range(len(offsets) - 1):
            m = _doc_grams(ids, offsets[d], offsets[d + 1], min_n, max_n, bits, word_bounded, grams)
            u = _doc_counts(grams, m, table_keys, table_counts, slots, uniq_keys, uniq_counts)
            if filled + u > len(keys_out):
                keys_out = _grow(keys_out, filled + u)
                counts_out = _grow(counts_out, filled + u)
            keys_out[filled : filled + u] = uniq_keys[:u]
            counts_out[filled : filled + u] = uniq_counts[:u]
            filled += u
        return keys_out[:filled].copy(), counts_out[:filled].copy()

    @njit(nogil=True, cache=True)
    def _table_add(table_keys, table_df, table_tf, used, keys, dfs, tfs):
        """Add n-grams with their document and term counts to a frequency table, doubling
        the table when it is 60% full. Returns the (maybe new) table."""
        size = len(table_keys)
        for t in range(len(keys)):
            if 5 * (used + 1) > 3 * size:
                new_size = size * 2
                new_keys = np.zeros(new_size, np.int64)
                new_df = np.zeros(new_size, np.int32)
                new_tf = np.zeros(new_size, np.int32)
                new_mask = np.uint64(new_size - 1)
                for h in range(size):
                    k = table_keys[h]
                    if k != _EMPTY:
                        g = _slot(k, new_mask)
                        while new_keys[g] != _EMPTY:
                            g = (g + np.uint64(1)) & new_mask
                        new_keys[g] = k
                        new_df[g] = table_df[h]
                        new_tf[g] = table_tf[h]
                table_keys, table_df, table_tf, size = new_keys, new_df, new_tf, new_size
            mask = np.uint64(size - 1)
            key = keys[t]
            h = _slot(key, mask)
            while True:
                k = table_keys[h]
                if k == key:
                    table_df[h] += dfs[t]
                    table_tf[h] += tfs[t]
                    break
                if k == _EMPTY:
                    table_keys[h] = key
                    table_df[h] = dfs[t]
                    table_tf[h] = tfs[t]
                    used += 1
                    break
                h = (h + np.uint64(1)) & mask
        return table_keys, table_df, table_tf, used

    @njit(nogil=True, cache=True)
    def _chunk_frequencies(ids, offsets, min_n, max_n, bits, word_bounded):
        """Distinct n-grams of a chunk with their document and term counts: summed here, in
        the worker thread, so that the shared table merges far fewer entries."""
        keys, counts = _chunk_distinct(ids, offsets, min_n, max_n, bits, word_bounded)
        size = 1 << 16
        table_keys, table_df, table_tf, _ = _table_add(
            np.zeros(size, np.int64), np.zeros(size, np.int32), np.zeros(size, np.int32), 0,
            keys, np.ones(len(keys), np.int32), counts,
        )  # fmt: skip
        filled = table_keys != _EMPTY
        return table_keys[filled], table_df[filled], table_tf[filled]

    @njit(nogil=True, cache=True)
    def _lookup_table(vocabulary):
        """Open-addressing map from packed n-gram to column (its position in `vocabulary`)."""
        size = 1
        while size < 2 * len(vocabulary) + 2:
            size *= 2
        keys = np.zeros(size, np.int64)
        columns = np.empty(size, np.int32)
        mask = np.uint64(size - 1)
        for column in range(len(vocabulary)):
            key = vocabulary[column]
            h = _slot(key, mask)
            while keys[h] != _EMPTY:
                h = (h + np.uint64(1)) & mask
            keys[h] = key
            columns[h] = column
        return keys, columns

    @njit(nogil=True, cache=True)
    def _chunk_tfidf(
        ids, offsets, min_n, max_n, bits, word_bounded, lookup_keys, lookup_columns, idf,
        sublinear, out_dtype_sample,
    ):  # fmt: skip
        """CSR rows of TF-IDF (l2-normalized) for a chunk of documents."""
        grams, table_keys, table_counts, slots, uniq_keys, uniq_counts = _scratch(
            ids, offsets, min_n, max_n
        )
        n_docs = len(offsets) - 1
        indptr = np.zeros(n_docs + 1, np.int64)
        indices = np.empty(len(ids) + 1024, np.int32)  # grown when short
        data = np.empty(len(ids) + 1024, out_dtype_sample.dtype)
        mask = np.uint64(len(lookup_keys) - 1)
        row_columns = np.empty(len(grams), np.int32)
        row_values = np.empty(len(grams), np.float64)
        filled = 0
        for d in range(n_docs):
            m = _doc_grams(ids, offsets[d], offsets[d + 1], min_n, max_n, bits, word_bounded, grams)
            u = _doc_counts(grams, m, table_keys, table_counts, slots, uniq_keys, uniq_counts)
            found = 0
            for q in range(u):
                key = uniq_keys[q]
                h = _slot(key, mask)
                while True:
                    k = lookup_keys[h]
                    if k == key:
                        row_columns[found] = lookup_columns[h]
                        count = np.float64(uniq_counts[q])
                        row_values[found] = np.log(count) + 1.0 if sublinear else count
                        found += 1
                        break
                    if k == _EMPTY:
                        break
                    h = (h + np.uint64(1)) & mask
            if filled + found > len(indices):
                indices = _grow(indices, filled + found)
                data = _grow(data, filled + found)
            # Columns stay in first-occurrence order: sorting each row cost a third of the
            # time, and CSR does not need it (the matrix says has_sorted_indices=False).
            norm = 0.0
            for q in range(found):
                value = row_values[q] * idf[row_columns[q]]
                row_values[q] = value
                norm += value * value
            norm = np.sqrt(norm) if norm > 0 else 1.0
            for q in range(found):
                indices[filled + q] = row_columns[q]
                data[filled + q] = row_values[q] / norm
            filled += found
            indptr[d + 1] = filled
        return indptr, indices[:filled].copy(), data[:filled].copy()

    @njit(nogil=True, cache=True)
    def _decode(keys, bits, max_n, id_to_codepoint):
        """Packed n-grams back to code points, left-aligned in rows of max_n (0-padded)."""
        out = np.zeros((len(keys), max_n), np.uint32)
        mask = (np.int64(1) << bits) - 1
        for r in range(len(keys)):
            key = keys[r]
            n = 0
            rest = key
            while rest != 0:
                n += 1
                rest >>= bits
            for p in range(n):
                out[r, n - 1 - p] = id_to_codepoint[(key >> (bits * p)) & mask]
        return out


# --- the transformer ---------------------------------------------------------------------


class CharNgramTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF over character n-grams; the fast engine behind `features.char.engine: fast`.

    Computes the matrix of scikit-learn's ``TfidfVectorizer(analyzer=analyzer,
    norm="l2", smooth_idf=True)`` (its columns in another order) with compiled loops, in
    parallel threads over chunks of documents. Needs numba (the "scale" extra).

    Parameters
    ----------
    analyzer : {"char_wb", "char"}, default="char_wb"
        "char_wb": n-grams inside words padded with a space; "char": n-grams over the
        whole text, runs of whitespace collapsed.
    ngram_range : tuple of (int, int), default=(2, 5)
        The smallest and largest n.
    min_df : int or float, default=1
        Drop n-grams found in fewer documents (a float: a fraction of the documents).
    max_df : int or float, default=1.0
        Drop n-grams found in more documents (a float: a fraction of the documents).
    max_features : int, default=None
        Keep only the n-grams with the largest counts over the fit texts.
    sublinear_tf : bool, default=False
        Use 1 + log(tf) for term frequencies.
    lowercase : bool, default=True
        Lowercase the texts first.
    dtype : {"float32", "float64"}, default="float32"
        The type of the output values and of `idf_`.
    n_jobs : int, default=-1
        Threads sharing the work; -1 means one per core.
    chunk_chars : int, default=250_000
        Characters handled at once by one thread (bounds the memory).

    Attributes
    ----------
    alphabet_ : ndarray of int32
        The code points seen in training, sorted; each gets a small id.
    bits_ : int
        Bits per character id in a packed n-gram.
    vocabulary_keys_ : ndarray of int64
        The packed n-grams of the columns, sorted.
    idf_ : ndarray of shape (n_features_,)
        Inverse document frequency of each column.
    n_features_ : int
        Number of columns (n-grams kept).
    training_nonzeros_ : int
        Non-zero values of the matrix of the fit texts.
    nonzeros_per_char_ : float
        Non-zeros per character of the fit texts (sizes the output of `transform`).

    See Also
    --------
    sklearn.feature_extraction.text.TfidfVectorizer : The reference implementation.
    """

    extra_requirements = ("numba",)  # what a logged model's environment needs

    def __init__(
        self,
        analyzer: str = "char_wb",
        ngram_range: tuple[int, int] = (2, 5),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        max_features: int | None = None,
        sublinear_tf: bool = False,
        lowercase: bool = True,
        dtype: str = "float32",
        n_jobs: int = -1,
        chunk_chars: int = 250_000,
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.lowercase = lowercase
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.chunk_chars = chunk_chars

    # The lookup tables and the n-gram dict are rebuilt from the fitted arrays on first
    # use, never saved: the saved state is numpy arrays and numbers only.
    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ gives __dict__
        state.pop("_tables", None)
        state.pop("_vocabulary", None)
        return state

    @property
    def vocabulary_(self) -> dict[str, int]:
        """The column of each n-gram, as scikit-learn's `TfidfVectorizer.vocabulary_`.

        Built from the fitted arrays (`get_feature_names_out`) when first read.
        """
        if "_vocabulary" not in self.__dict__:
            names = self.get_feature_names_out().tolist()  # NotFittedError when unfitted
            self._vocabulary = dict(zip(names, range(len(names)), strict=True))
        return self._vocabulary

    def __sklearn_tags__(self):
        """scikit-learn's tags: a 1-D sequence of texts in."""
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True  # a sequence of texts
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in; `dtype` sets the output's
        return tags

    def _check_params(self) -> None:
        require_numba(ENGINE_SETTING)
        if self.analyzer not in ("char", "char_wb"):
            raise ValueError(f"analyzer must be 'char' or 'char_wb', got {self.analyzer!r}")
        low, high = self.ngram_range
        if not 1 <= low <= high:
            raise ValueError(
                f"ngram_range must be (min, max) with 1 <= min <= max, got {low, high}"
            )

    def _workers(self) -> int:
        return thread_count(self.n_jobs)

    def _chunks(self, texts: list[str]) -> list[list[str]]:
        chunks, current, size = [], [], 0
        for text in texts:
            current.append(text)
            size += len(text)
            if size >= self.chunk_chars:
                chunks.append(current)
                current, size = [], 0
        if current or not chunks:
            chunks.append(current)
        return chunks

    def _codepoints(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if self.lowercase:
            texts = [t.lower() for t in texts]
        if self.analyzer == "char":  # scikit-learn collapses runs of whitespace to " "
            texts = [_WHITE_SPACES.sub(" ", t) for t in texts]
        offsets = np.zeros(len(texts) + 1, np.int64)
        np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)), out=offsets[1:])
        codepoints = np.frombuffer(
            "".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32
        )
        return codepoints, offsets

    def _ids(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        codepoints, offsets = self._codepoints(texts)
        return self._tables["char_ids"][codepoints], offsets

    def _build_tables(self) -> None:
        """Code point -> id, and the vocabulary lookup, from the fitted arrays."""
        unknown = len(self.alphabet_) + FIRST_CHAR_ID
        char_ids = np.full(_MAX_CODEPOINT, unknown, dtype=np.uint16)
        char_ids[self.alphabet_] = np.arange(FIRST_CHAR_ID, unknown, dtype=np.uint16)
        if self.analyzer == "char_wb":  # words split on any whitespace, padded with " "
            char_ids[_whitespace_codepoints()] = SPACE_ID
        else:
            char_ids[ord(" ")] = SPACE_ID
        self._tables = {"char_ids": char_ids}
        if hasattr(self, "vocabulary_keys_"):
            keys, columns = _lookup_table(self.vocabulary_keys_)
            self._tables.update(lookup_keys=keys, lookup_columns=columns)

    def _fit_alphabet(self, chunks: list[list[str]]) -> None:
        counts = np.zeros(_MAX_CODEPOINT, np.int64)
        for chunk in chunks:
            counts += np.bincount(self._codepoints(chunk)[0], minlength=_MAX_CODEPOINT)
        if self.analyzer == "char_wb":
            counts[_whitespace_codepoints()] = 0
        else:
            counts[ord(" ")] = 0
        seen = np.flatnonzero(counts)
        # ids must fit `bits` bits so that max_n of them pack into a positive int64
        self.bits_ = max(int(len(seen) + FIRST_CHAR_ID).bit_length(), 1)
        max_n = self.ngram_range[1]
        if self.bits_ * max_n > 63:
            raise ValueError(
                f"{len(seen)} distinct characters are too many to pack {max_n}-grams exactly; "
                "lower ngram_range's maximum or use engine 'sklearn'"
            )
        self.alphabet_ = seen.astype(np.int32)

    def _count_ngrams(self, chunks: list[list[str]]) -> tuple[np.ndarray, ...]:
        """Every n-gram of the chunks with its document and term counts: (keys, df, tf)."""
        min_n, max_n = self.ngram_range
        word_bounded = self.analyzer == "char_wb"

        def distinct(chunk):
            ids, offsets = self._ids(chunk)
            return _chunk_frequencies(ids, offsets, min_n, max_n, self.bits_, word_bounded)

        table = (np.zeros(1 << 16, np.int64), np.zeros(1 << 16, np.int32))
        table = (*table, np.zeros(1 << 16, np.int32), 0)
        # The merge runs in this thread while the workers count the next chunks.
        for keys, dfs, tfs in _ordered_map(distinct, chunks, self._workers()):
            table = _table_add(*table, keys, dfs, tfs)
        table_keys, table_df, table_tf, _ = table
        filled = table_keys != _EMPTY
        keys, df, tf = table_keys[filled], table_df[filled], table_tf[filled]
        del table, table_keys, table_df, table_tf
        release_free_heap()  # the count of every n-gram seen was the fit's largest part
        return keys, df, tf

    def _prune(self, keys, df, tf, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
        """The n-grams kept by min_df, max_df and max_features: (keys, df)."""
        low = self.min_df if isinstance(self.min_df, int) else self.min_df * n_docs
        high = self.max_df if isinstance(self.max_df, int) else self.max_df * n_docs
        if high < low:
            raise ValueError("max_df corresponds to < documents than min_df")
        keep = (df >= low) & (df <= high)
        keys, df, tf = keys[keep], df[keep], tf[keep]
        if self.max_features is not None and len(keys) > self.max_features:
            # scikit-learn keeps the most frequent terms (by total count over the corpus)
            top = np.argsort(-tf, kind="stable")[: self.max_features]
            keys, df = keys[top], df[top]
        if len(keys) == 0:
            raise ValueError(
                "After pruning, no terms remain. Try a lower min_df or a higher max_df."
            )
        return keys, df

    def fit(self, X, y=None):
        """Learn the n-gram vocabulary and its idf from texts.

        Parameters
        ----------
        X : sequence of str, pandas Series, or one-column table
            The texts (read by `khabar.model.normalize.as_text_list`).
        y : None
            Ignored.

        Returns
        -------
        self : CharNgramTfidf
            This fitted transformer.
        """
        self._check_params()
        texts = as_text_list(X)
        chunks = self._chunks(texts)
        # a failed refit leaves no stale half
        for name in (*_FITTED, "_tables", "_vocabulary"):
            self.__dict__.pop(name, None)
        self._fit_alphabet(chunks)
        self._build_tables()
        keys, df = self._prune(*self._count_ngrams(chunks), n_docs=len(texts))
        order = np.argsort(keys)
        dtype = np.dtype(self.dtype)
        idf = np.full(len(order), len(texts) + 1, dtype=dtype)
        idf /= (df[order] + 1).astype(dtype)
        np.log(idf, out=idf)
        idf += 1.0
        self.training_nonzeros_ = int(df.sum())
        self.nonzeros_per_char_ = self.training_nonzeros_ / max(1, sum(map(len, texts)))
        self.vocabulary_keys_ = keys[order]
        self.idf_ = idf
        self.n_features_ = len(order)
        self._build_tables()
        return self

    def transform(self, X) -> sp.csr_matrix:
        """TF-IDF of texts over the fitted vocabulary.

        Parameters
        ----------
        X : sequence of str, pandas Series, or one-column table
            The texts.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_texts, n_features_)
            L2-normalized rows of `dtype`; column indices within a row are not sorted.
        """
        return self._transform(X)

    def _transform(self, X, capacity: int | None = None) -> sp.csr_matrix:
        check_is_fitted(self, "idf_")
        require_numba(ENGINE_SETTING)
        if not hasattr(self, "_tables"):
            self._build_tables()
        texts = as_text_list(X)
        min_n, max_n = self.ngram_range
        tables = self._tables
        idf = self.idf_.astype(np.float64)
        sample = np.zeros(1, np.dtype(self.dtype))

        def rows(chunk):
            ids, offsets = self._ids(chunk)
            return _chunk_tfidf(
                ids, offsets, min_n, max_n, self.bits_, self.analyzer == "char_wb",
                tables["lookup_keys"], tables["lookup_columns"], idf, self.sublinear_tf, sample,
            )  # fmt: skip

        if capacity is None:
            capacity = int(sum(map(len, texts)) * self.nonzeros_per_char_ * 1.05) + 1024
        sink = _RowSink(len(texts), capacity, np.dtype(self.dtype))
        for part in _ordered_map(rows, self._chunks(texts), self._workers()):
            sink.add(*part)
        return sink.matrix(self.n_features_)

    def fit_transform(self, X, y=None) -> sp.csr_matrix:
        """Fit on texts and return their TF-IDF matrix (one pass less than fit, transform).

        Parameters
        ----------
        X : sequence of str, pandas Series, or one-column table
            The texts.
        y : None
            Ignored.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_texts, n_features_)
            As `transform` returns.
        """
        texts = as_text_list(X)
        self.fit(texts)
        # Each kept n-gram occurs in df documents: the training matrix has sum(df) non-zeros.
        return self._transform(texts, capacity=self.training_nonzeros_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """The n-gram of each output column.

        Parameters
        ----------
        input_features : None
            Ignored (the input is text).

        Returns
        -------
        ndarray of str objects of shape (n_features_,)
            The n-grams; a character unseen in training shows as U+FFFD.
        """
        check_is_fitted(self, "idf_")
        max_n = self.ngram_range[1]
        id_to_codepoint = np.zeros(len(self.alphabet_) + FIRST_CHAR_ID + 1, np.uint32)
        id_to_codepoint[SPACE_ID] = ord(" ")
        id_to_codepoint[FIRST_CHAR_ID:-1] = self.alphabet_
        id_to_codepoint[-1] = 0xFFFD  # a character never seen in training
        codepoints = _decode(self.vocabulary_keys_, self.bits_, max_n, id_to_codepoint)
        names = np.ascontiguousarray(codepoints).view(f"<U{max_n}").ravel()
        return names.astype(object)


_FITTED = (
    "alphabet_", "bits_", "vocabulary_keys_", "idf_", "n_features_", "training_nonzeros_",
    "nonzeros_per_char_",
)  # fmt: skip


def _ordered_map(function, items: list, workers: int):
    """function(item) for each item, in order, on `workers` threads, holding at most
    2 x workers results that the caller has not taken yet (bounded memory)."""
    if workers == 1 or len(items) == 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _grown(array: np.ndarray, size: int, filled: int) -> np.ndarray:
    """A new array of `size` that owns its memory (matrix() shrinks it in place), holding
    the first `filled` values of `array`; np.resize would return a view."""
    grown = np.empty(size, array.dtype)
    grown[:filled] = array[:filled]
    return grown


class _RowSink:
    """Collects chunks of CSR rows into one preallocated matrix, so the rows exist once.
    `capacity` is a good guess of the total non-zeros; a short guess grows by 1.5x."""

    def __init__(self, n_rows: int, capacity: int, dtype: np.dtype) -> None:
        self.indptr = np.empty(n_rows + 1, np.int64)
        self.indptr[0] = 0
        self.indices = np.empty(max(capacity, 1), np.int32)
        self.data = np.empty(max(capacity, 1), dtype)
        self.rows = self.filled = 0

    def add(self, part_indptr, part_indices, part_data) -> None:
        end = self.filled + len(part_indices)
        if end > len(self.indices):
            size = max(end, int(1.5 * len(self.indices)))
            self.indices = _grown(self.indices, size, self.filled)
            self.data = _grown(self.data, size, self.filled)
        rows = len(part_indptr) - 1
        self.indptr[self.rows + 1 : self.rows + rows + 1] = part_indptr[1:] + self.filled
        self.indices[self.filled : end] = part_indices
        self.data[self.filled : end] = part_data
        self.rows += rows
        self.filled = end

    def matrix(self, n_columns: int) -> sp.csr_matrix:
        nnz = self.filled
        index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
        indices, data = self.indices, self.data
        self.indices = self.data = None
        if nnz != len(indices):  # shrink in place (realloc), not a copy
            indices.resize(nnz, refcheck=False)
            data.resize(nnz, refcheck=False)
        matrix = sp.csr_matrix(
            (data, indices, self.indptr.astype(index_dtype, copy=False)),
            shape=(self.rows, n_columns),
            copy=False,
        )
        matrix.has_sorted_indices = False
        return matrix
