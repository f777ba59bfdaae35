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


class TargetAwareFeatures(TransformerMixin, BaseEstimator):
    """Wraps a text feature step (e.g. khabar's FeatureUnion). Input: the DataFrame that
    `ArabicNormalizer(keep_columns=(target_column,))` returns. A target never seen in
    training gets the shared features only."""

    def __init__(
        self,
        features: BaseEstimator,
        text_column: str = "text",
        target_column: str = "target",
    ) -> None:
        self.features = features
        self.text_column = text_column
        self.target_column = target_column

    def _columns(self, X) -> tuple[list[str], np.ndarray]:  # noqa: N803
        if not isinstance(X, pd.DataFrame) or self.target_column not in X:
            raise ValueError(
                f"target-aware features need a {self.target_column!r} column in the input"
            )
        texts = X[self.text_column].tolist()
        return texts, np.asarray([str(t) for t in X[self.target_column]], dtype=object)

    def fit(self, X, y=None):  # noqa: N803
        texts, targets = self._columns(X)
        self.features_ = clone(self.features).fit(texts, y)
        self.targets_ = np.asarray(sorted(set(targets)), dtype=object)
        return self

    def transform(self, X) -> sp.csr_matrix:  # noqa: N803
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
