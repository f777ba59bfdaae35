"""Same-story (near-duplicate) detection: one story told by several newspapers.

Texts are compared by the cosine of their word TF-IDF rows on khabar-normalized text;
above `NEAR_DUPLICATE` two items read as the same event (docs/results/stories.md shows
pairs just above and below). Products are sparse and in blocks of rows, so memory stays
bounded by block x items, never items x items.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.feature_extraction.text import TfidfVectorizer

from khabar.data.config import ExperimentConfig
from khabar.model.normalize import ArabicNormalizer

NEAR_DUPLICATE = 0.5
# Rows per sparse product: a block's products hold at most BLOCK x items cosines.
BLOCK = 500


def story_vectors(texts: list[str]):
    """Word TF-IDF rows of normalized texts, unit length: their dot product is the cosine.

    Parameters
    ----------
    texts : list of str
        Normalized texts.

    Returns
    -------
    sparse matrix or None
        One row per text; None when no text has a word.
    """
    vectorizer = TfidfVectorizer(analyzer="word", sublinear_tf=True, token_pattern=r"(?u)\b\w\w+\b")
    try:
        return vectorizer.fit_transform(texts)
    except ValueError:  # no word in any text
        return None


def normalized(texts: list[str]) -> list[str]:
    """Texts as khabar's default normalizer leaves them (what the story check compares).

    Parameters
    ----------
    texts : list of str
        Raw texts.

    Returns
    -------
    list of str
        The normalized texts.
    """
    return list(ArabicNormalizer().transform([str(t) for t in texts]))


def same_story_rows(
    texts: list[str], labeled: list[str], block: int = BLOCK, threshold: float = NEAR_DUPLICATE
) -> np.ndarray:
    """Which texts tell the same story as a labeled item (word TF-IDF cosine over threshold).

    Parameters
    ----------
    texts : list of str
        The candidates, normalized.
    labeled : list of str
        Labeled items, normalized.
    block : int, default BLOCK
        Candidates compared per sparse product (bounds memory).
    threshold : float, default NEAR_DUPLICATE
        The cosine above which two items are one story.

    Returns
    -------
    ndarray of bool
        True for each candidate with a labeled near-duplicate.
    """
    return best_match(texts, labeled, block)[1] > threshold


def best_match(texts: list[str], labeled: list[str], block: int = BLOCK):
    """Each text's most similar labeled item and their cosine.

    Parameters
    ----------
    texts, labeled : list of str
        Normalized texts; vocabulary and IDF are fit on both.
    block : int, default BLOCK
        Texts compared per sparse product.

    Returns
    -------
    position : ndarray of int
        The position in `labeled` of each text's closest item (0 when nothing is shared).
    cosine : ndarray of float
        Its cosine.
    """
    position = np.zeros(len(texts), dtype=np.int64)
    cosine = np.zeros(len(texts))
    vectors = story_vectors([*texts, *labeled]) if len(texts) and len(labeled) else None
    if vectors is None:
        return position, cosine
    candidates, known = vectors[: len(texts)], vectors[len(texts) :].T.tocsc()
    for start in range(0, len(texts), block):
        products = (candidates[start : start + block] @ known).tocsr()
        position[start : start + block] = np.asarray(products.argmax(axis=1)).ravel()
        cosine[start : start + block] = products.max(axis=1).toarray().ravel()
    return position, cosine


def near_duplicate_pairs(texts: list[str], threshold: float = NEAR_DUPLICATE, block: int = BLOCK):
    """Every pair of texts with cosine over threshold, each pair once (i < j).

    Parameters
    ----------
    texts : list of str
        Normalized texts.
    threshold : float, default NEAR_DUPLICATE
        The cosine above which two items are one story.
    block : int, default BLOCK
        Rows per sparse product: memory is bounded by block x len(texts) nonzeros.

    Returns
    -------
    ndarray of int, shape (pairs, 2)
        The pairs' positions.
    """
    vectors = story_vectors(texts) if len(texts) else None
    if vectors is None:
        return np.zeros((0, 2), dtype=np.int64)
    vectors = vectors.tocsr()
    columns = vectors.T.tocsc()
    found = []
    for start in range(0, len(texts), block):
        products = (vectors[start : start + block] @ columns).tocoo()
        keep = (products.data > threshold) & (products.row + start < products.col)
        found.append(np.column_stack([products.row[keep] + start, products.col[keep]]))
    return np.concatenate(found).astype(np.int64)


def story_ids(texts: list[str], threshold: float = NEAR_DUPLICATE, block: int = BLOCK) -> np.ndarray:
    """Each text's story: connected components of the near-duplicate graph.

    Parameters
    ----------
    texts : list of str
        Normalized texts.
    threshold : float, default NEAR_DUPLICATE
        The cosine above which two items are one story.
    block : int, default BLOCK
        Rows per sparse product.

    Returns
    -------
    ndarray of int
        A story number per text; texts with no near-duplicate are stories of their own.
    """
    return stories_of_pairs(near_duplicate_pairs(texts, threshold, block), len(texts))


def stories_of_pairs(pairs: np.ndarray, count: int) -> np.ndarray:
    """The connected components of a near-duplicate graph.

    Parameters
    ----------
    pairs : ndarray of int, shape (pairs, 2)
        Near-duplicate pairs (`near_duplicate_pairs`).
    count : int
        How many texts.

    Returns
    -------
    ndarray of int
        A story number per text.
    """
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    return connected_components(graph, directed=False)[1]


def raw_story_ids(texts: list[str], threshold: float = NEAR_DUPLICATE) -> np.ndarray:
    """Each raw text's story (`story_ids` of the normalized texts).

    Parameters
    ----------
    texts : list of str
        Raw texts.
    threshold : float, default NEAR_DUPLICATE
        The story cosine (data.near_duplicate_threshold).

    Returns
    -------
    ndarray of int
        A story number per text.
    """
    return story_ids(normalized(texts), threshold)


def story_detection(config: ExperimentConfig):
    """texts -> each raw text's story at the config's data.near_duplicate_threshold.

    Parameters
    ----------
    config : ExperimentConfig
        The experiment.

    Returns
    -------
    callable
        For `khabar.data.fit_set.load_train_and_test`'s `stories`.
    """
    return functools.partial(raw_story_ids, threshold=config.data.near_duplicate_threshold)
