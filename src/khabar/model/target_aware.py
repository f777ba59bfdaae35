"""Target-aware features: one linear model that learns both what a word means in general
and what it means for each target (Mawqif's `Covid Vaccine`, `Women empowerment`, ...).

The text features F are joined by one copy of F per target, zeroed outside that target's
rows, and a one-hot of the target itself ("frustratingly easy" feature augmentation,
Daumé III 2007). A word shared by all targets keeps its weight; a word that signals
`Against` for one target only gets a target-specific correction.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from khabar.model.normalize import as_text_list


class TargetAwareFeatures(TransformerMixin, BaseEstimator):
    """Text features shared by all targets, plus one copy per target and a target one-hot.

    Wraps a text feature step (e.g. khabar's FeatureUnion). Its input is the DataFrame that
    ``ArabicNormalizer(keep_columns=(target_column,))`` returns. A target never seen in
    training gets the shared features only.

    Parameters
    ----------
    features : transformer
        The text feature step; it is fit on the texts of `text_column`.
    text_column : str, default="text"
        The input column holding the texts.
    target_column : str, default="target"
        The input column naming each row's target.

    Attributes
    ----------
    features_ : transformer
        The fitted clone of `features`.
    targets_ : ndarray of str objects
        The targets seen in training, sorted: one block and one indicator column each.
    """

    def __init__(
        self,
        features: BaseEstimator,
        text_column: str = "text",
        target_column: str = "target",
    ) -> None:
        self.features = features
        self.text_column = text_column
        self.target_column = target_column

    def __sklearn_tags__(self):
        """scikit-learn's tags: a DataFrame of texts and targets in."""
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = []  # texts in; `features` sets the output's
        return tags

    def _columns(self, X) -> tuple[list[str], np.ndarray]:
        if not isinstance(X, pd.DataFrame) or self.target_column not in X:
            raise ValueError(
                f"target-aware features need a {self.target_column!r} column in the input"
            )
        texts = as_text_list(X, self.text_column)
        return texts, np.asarray([str(t) for t in X[self.target_column]], dtype=object)

    def fit(self, X, y=None):
        """Fit `features` on the texts and learn the targets.

        Parameters
        ----------
        X : DataFrame
            With the columns `text_column` and `target_column`.
        y : array-like, default=None
            Passed to `features`' fit.

        Returns
        -------
        self : TargetAwareFeatures
            This fitted transformer.
        """
        texts, targets = self._columns(X)
        self.features_ = clone(self.features).fit(texts, y)
        self.targets_ = np.asarray(sorted(set(targets)), dtype=object)
        return self

    def transform(self, X) -> sp.csr_matrix:
        """Shared features, one copy per target zeroed outside its rows, target one-hot.

        Parameters
        ----------
        X : DataFrame
            With the columns `text_column` and `target_column`.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (n_samples, (1 + n_targets) * n_text_features \
+ n_targets)
            The shared block, a block per target in `targets_`, then the one-hot columns.
        """
        check_is_fitted(self)
        texts, targets = self._columns(X)
        shared = sp.csr_matrix(self.features_.transform(texts))
        blocks = [shared]
        indicator = np.zeros((len(texts), len(self.targets_)), dtype=shared.dtype)
        for k, target in enumerate(self.targets_):
            rows = (targets == target).astype(shared.dtype)
            indicator[:, k] = rows
            blocks.append(sp.diags(rows) @ shared)
        blocks.append(sp.csr_matrix(indicator))
        return sp.hstack(blocks, format="csr")

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Output column names: the text features', then "[target] name", then the targets.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        ndarray of str objects
            One name per output column; a per-target copy keeps the union's prefix first
            ("char__[target] gram"), a one-hot column is "target__<target>".
        """
        check_is_fitted(self)
        names = [str(n) for n in self.features_.get_feature_names_out()]
        out = list(names)
        for target in self.targets_:
            # Keep the union's "char__" prefix first: reports split names on "__".
            out += [_with_target(name, target) for name in names]
        out += [f"target__{target}" for target in self.targets_]
        return np.asarray(out, dtype=object)


def _with_target(name: str, target: str) -> str:
    prefix, sep, ngram = name.partition("__")
    return f"{prefix}__[{target}] {ngram}" if sep else f"[{target}] {name}"
