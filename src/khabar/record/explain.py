"""Exact explanations of khabar's linear models.

A label's score is linear in the features: each feature's contribution is its value times
its weight, and the contributions plus the intercept are the score (`khabar predict`'s
``score_<label>``, or the decision function behind its probabilities). Nothing is
sampled. Spans say where each n-gram occurs in the user's own text
(`khabar.record.explain_spans`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.calibration import CalibratedClassifierCV
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import Pipeline

from khabar.errors import KhabarError
from khabar.model.classifiers import MultiLabelOneVsRest
from khabar.model.decision import ExcludeFromPredictions, JointLabelClassifier, score_columns
from khabar.model.normalize import ArabicNormalizer
from khabar.model.pipeline import class_labels, class_scores, is_multi_label, predict_labels
from khabar.model.target_aware import TargetAwareFeatures
from khabar.model.word_vectors import WordVectorFeatures
from khabar.record.explain_spans import TextPlaces

REST = "(rest)"
# A model may score a float32 matrix in float32 (FastLinearSVC, SGD, ridge): its scores
# then differ from exact sums by float32 rounding, at most about one unit roundoff of the
# summed magnitudes per term; more than that means the explanation is not the model's.
_FLOAT32_ROUNDOFF = 2.0**-24


@dataclass
class LinearForm:
    """Scores linear in the features: row r scores ``X @ weights[r] + intercepts[r]``.

    Attributes
    ----------
    weights : ndarray of shape (n_rows, n_features)
        One weight row per scored row (a class, or a sub-class of joint labels).
    intercepts : ndarray of shape (n_rows,)
        Their intercepts.
    members : list of ndarray
        For each class of the classifier, in `classes_` order, its rows: the class scores
        the best of them (one row, except for joint labels).
    row_names : list of str
        The name of each row (the class, or the joint sub-class).
    explained : str
        What the rows' scores are, in words.
    reference : callable
        ``reference(X)``: the classifier's own value of each row, to check the form by.
    """

    weights: np.ndarray
    intercepts: np.ndarray
    members: list[np.ndarray]
    row_names: list[str]
    explained: str
    reference: Callable[[sp.csr_matrix], np.ndarray]


def _single_rows(names: list[str]) -> list[np.ndarray]:
    return [np.asarray([k]) for k in range(len(names))]


def _naive_bayes_form(estimator) -> LinearForm:
    """Naive Bayes scores each class by its log-probability terms: log P(c) + Σ x·log P(x|c)
    (ComplementNB: its complement weights); two classes by the log-odds between them."""
    names = [str(c) for c in estimator.classes_]
    weights = np.asarray(estimator.feature_log_prob_, dtype=np.float64)
    zero = sp.csr_matrix((1, weights.shape[1]))
    intercepts = np.asarray(estimator.predict_joint_log_proba(zero), dtype=np.float64)[0]
    if len(names) != 2:
        explained = (
            "naive Bayes joint log-likelihood: log P(class) + Σ value × log P(n-gram | class)"
        )
        return LinearForm(
            weights,
            intercepts,
            _single_rows(names),
            names,
            explained,
            estimator.predict_joint_log_proba,
        )
    sign = np.asarray([[1.0], [-1.0]])

    def log_odds(X):
        joint = np.asarray(estimator.predict_joint_log_proba(X), dtype=np.float64)
        return np.column_stack([joint[:, 0] - joint[:, 1], joint[:, 1] - joint[:, 0]])

    weights = sign * (weights[0] - weights[1])
    intercepts = sign[:, 0] * (intercepts[0] - intercepts[1])
    explained = "naive Bayes log-odds: the difference of the two classes' log-probability terms"
    return LinearForm(weights, intercepts, _single_rows(names), names, explained, log_odds)


def _coefficient_form(estimator) -> LinearForm:
    names = [str(c) for c in estimator.classes_]
    coef = estimator.coef_
    coef = np.atleast_2d(np.asarray(coef.toarray() if sp.issparse(coef) else coef, np.float64))
    intercepts = np.broadcast_to(
        np.atleast_1d(np.asarray(estimator.intercept_, np.float64)), (coef.shape[0],)
    ).copy()
    if coef.shape[0] == 1 and len(names) == 2:  # one row for the second class: the first is -w
        coef, intercepts = (
            np.vstack([-coef[0], coef[0]]),
            np.asarray([-intercepts[0], intercepts[0]]),
        )
    if coef.shape[0] != len(names):
        raise KhabarError(
            f"cannot explain {type(estimator).__name__} exactly: {coef.shape[0]} weight rows "
            f"for {len(names)} classes"
        )
    return LinearForm(
        coef,
        intercepts,
        _single_rows(names),
        names,
        "decision function",
        lambda X: score_columns(estimator.decision_function(X)),
    )


def _constant_form(estimator, n_features: int) -> LinearForm:
    """One-vs-rest's stand-in for a label seen always or never in training: a constant."""
    zero = sp.csr_matrix((1, n_features))
    value = float(np.ravel(estimator.decision_function(zero))[0])
    return LinearForm(
        np.zeros((2, n_features)),
        np.asarray([-value, value]),
        _single_rows(["0", "1"]),
        ["0", "1"],
        "constant (a label seen in only one state)",
        lambda X: score_columns(np.asarray(estimator.decision_function(X), float)),
    )


def _calibrated_form(classifier: CalibratedClassifierCV, n_features: int) -> LinearForm:
    """The mean of the calibrated copies' decision functions: linear again."""
    names = [str(c) for c in classifier.classes_]
    forms = []
    for calibrated in classifier.calibrated_classifiers_:
        inner = calibrated.estimator
        if [str(c) for c in inner.classes_] != names:
            raise KhabarError(
                "cannot explain this calibrated model exactly: a calibrated copy was fit on "
                f"classes {list(inner.classes_)}, the model has {names}"
            )
        forms.append(linear_form(inner, n_features))

    def mean_reference(X):
        return np.mean([form.reference(X) for form in forms], axis=0)

    explained = (
        f"mean of the {len(forms)} calibrated copies' {forms[0].explained} (khabar predict's "
        "score is the calibrated probability)"
    )
    return LinearForm(
        np.mean([f.weights for f in forms], axis=0),
        np.mean([f.intercepts for f in forms], axis=0),
        forms[0].members,
        names,
        explained,
        mean_reference,
    )


def _multi_label_form(classifier: MultiLabelOneVsRest, n_features: int) -> LinearForm:
    """Each label's own binary model; its row is that model's positive side."""
    names = [str(c) for c in classifier.classes_]
    parts = []
    for estimator in classifier.model_.estimators_:
        if hasattr(estimator, "classes_"):
            form = linear_form(estimator, n_features)
        else:
            form = _constant_form(estimator, n_features)
        parts.append((form, int(form.members[-1][0])))

    def reference(X):
        return np.column_stack([form.reference(X)[:, row] for form, row in parts])

    return LinearForm(
        np.vstack([form.weights[row] for form, row in parts]),
        np.asarray([form.intercepts[row] for form, row in parts]),
        _single_rows(names),
        names,
        parts[0][0].explained,
        reference,
    )


def _joint_form(classifier: JointLabelClassifier, n_features: int) -> LinearForm:
    """A main label scores its best sub-class: each explanation names the sub-class."""
    inner = linear_form(classifier.estimator_, n_features)
    members = [
        np.concatenate([inner.members[j] for j in columns]) for columns in classifier.members_
    ]
    explained = f"{inner.explained} of the best sub-class (joint labels)"
    return LinearForm(
        inner.weights, inner.intercepts, members, inner.row_names, explained, inner.reference
    )


def linear_form(classifier, n_features: int) -> LinearForm:
    """The linear scores behind a fitted classifier of khabar's registry, as it is wrapped.

    Parameters
    ----------
    classifier : estimator
        A Pipeline's classifier step: a linear model (``coef_``, ``intercept_``), multinomial
        or complement naive Bayes, maybe calibrated, in joint-label, exclude-from-predictions
        or multi-label wrappers.
    n_features : int
        The width of the feature matrix.

    Returns
    -------
    LinearForm

    Raises
    ------
    KhabarError
        The classifier's scores are not linear in the features (one line, naming it).
    """
    if isinstance(classifier, MultiLabelOneVsRest):
        return _multi_label_form(classifier, n_features)
    if isinstance(classifier, ExcludeFromPredictions):
        return linear_form(classifier.estimator_, n_features)
    if isinstance(classifier, JointLabelClassifier):
        return _joint_form(classifier, n_features)
    if isinstance(classifier, CalibratedClassifierCV):
        return _calibrated_form(classifier, n_features)
    if isinstance(classifier, MultinomialNB | ComplementNB):
        return _naive_bayes_form(classifier)
    if all(hasattr(classifier, a) for a in ("coef_", "intercept_", "decision_function")):
        return _coefficient_form(classifier)
    raise KhabarError(
        f"cannot explain {type(classifier).__name__} exactly: its scores are not a weight per "
        "feature (coef_ and intercept_, or naive Bayes log-probabilities)"
    )


@dataclass
class FeatureBlock:
    """A block of feature columns: an n-gram vectorizer's, a dense block's or the targets'.

    Attributes
    ----------
    name : str
        "char", "word", "word_vectors", "char[<target>]" (a target's copy), "target".
    start, stop : int
        Its columns, ``start:stop``.
    step : transformer or None
        The n-gram vectorizer behind it (finds spans); None for dense and target blocks.
    names : ndarray or None
        The name of each column (n-grams, targets); None for a dense block.
    dense : bool
        Its columns are summed into one contribution (a mean word vector names nothing).
    """

    name: str
    start: int
    stop: int
    step: object | None
    names: np.ndarray | None
    dense: bool = False


def _union_blocks(features) -> list[FeatureBlock]:
    parts = getattr(features, "transformer_list", None) or [("char", features)]
    blocks, position = [], 0
    for name, step in parts:
        if isinstance(step, str):  # "drop" / "passthrough": khabar's unions have neither
            raise KhabarError(f"cannot explain a feature union with a {step!r} block")
        names = np.asarray(step.get_feature_names_out(), dtype=object)
        dense = isinstance(step, WordVectorFeatures) or not hasattr(step, "analyzer")
        blocks.append(
            FeatureBlock(
                name,
                position,
                position + len(names),
                None if dense else step,
                None if dense else names,
                dense,
            )
        )
        position += len(names)
    return blocks


def feature_blocks(features) -> list[FeatureBlock]:
    """The blocks of a fitted feature step, in column order.

    Parameters
    ----------
    features : transformer
        A Pipeline's ``features`` step: khabar's union of blocks, maybe target-aware.

    Returns
    -------
    list of FeatureBlock
        Target-aware features: the shared blocks, each target's copies, then "target".
    """
    if not isinstance(features, TargetAwareFeatures):
        return _union_blocks(features)
    shared = _union_blocks(features.features_)
    width = shared[-1].stop if shared else 0
    blocks = list(shared)
    for k, target in enumerate(features.targets_, start=1):
        blocks += [
            FeatureBlock(
                f"{b.name}[{target}]",
                b.start + k * width,
                b.stop + k * width,
                b.step,
                b.names,
                b.dense,
            )
            for b in shared
        ]
    end = width * (len(features.targets_) + 1)
    targets = np.asarray([str(t) for t in features.targets_], dtype=object)
    blocks.append(FeatureBlock("target", end, end + len(targets), None, targets))
    return blocks


@dataclass
class LabelExplanation:
    """One label's score for one text, feature by feature.

    Attributes
    ----------
    label : str
        The label explained.
    row_name : str
        The scored row: the label, or the joint sub-class whose score the label takes.
    score : float
        The intercept plus every contribution.
    intercept : float
        The row's intercept.
    columns : ndarray of int
        The text's feature columns with a value.
    values, weights, contributions : ndarray of float64
        Per column: the feature's value, its weight, and their product.
    probability : float or None
        `khabar predict`'s score of the label when that is a probability.
    """

    label: str
    row_name: str
    score: float
    intercept: float
    columns: np.ndarray
    values: np.ndarray
    weights: np.ndarray
    contributions: np.ndarray
    probability: float | None = None


@dataclass
class TextExplanation:
    """What the model said about one text, and why.

    Attributes
    ----------
    prediction : str or list of str
        The predicted label (a list for a multi-label model).
    labels : list of LabelExplanation
        The predicted label first, then the others asked for (every label for multi-label).
    places : TextPlaces or None
        Where its n-grams occur (None when explained from a feature matrix alone).
    """

    prediction: str | list[str]
    labels: list[LabelExplanation]
    places: TextPlaces | None = None


class Explainer:
    """Exact explanations of one fitted khabar Pipeline (normalize -> features -> classifier).

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline.

    Attributes
    ----------
    labels : list of str
        The model's classes.
    multi_label : bool
        It predicts label lists.
    form : LinearForm
        Its classifier's linear scores.
    blocks : list of FeatureBlock
        Its feature columns, block by block.
    score_kind : str
        What `khabar predict` writes as scores: "decision" or "probability".

    Raises
    ------
    KhabarError
        The model cannot be explained exactly (one line, naming why).
    """

    def __init__(self, model: Pipeline) -> None:
        self.model = model
        self.classifier = Pipeline([("classifier", model[-1])])
        self.labels = class_labels(model)
        self.multi_label = is_multi_label(model)
        self.blocks = feature_blocks(model.named_steps.get("features", model[-2]))
        width = self.blocks[-1].stop if self.blocks else 0
        self.form = linear_form(model[-1], width)
        if self.form.weights.shape[1] != width:
            raise KhabarError(
                f"cannot explain this model: its classifier weighs {self.form.weights.shape[1]} "
                f"features, its feature step makes {width}"
            )
        self.score_kind = "probability" if hasattr(self.classifier, "predict_proba") else "decision"
        self._abs_weights: np.ndarray | None = None
        normalizer = model[0]
        self.steps = normalizer.enabled_steps() if isinstance(normalizer, ArabicNormalizer) else []
        self._starts = np.asarray([b.start for b in self.blocks])
        self.dense = np.zeros(width, dtype=bool)
        for block in self.blocks:
            self.dense[block.start : block.stop] = block.dense

    def block_of(self, column: int) -> FeatureBlock:
        """The block a feature column belongs to.

        Parameters
        ----------
        column : int
            A feature column.

        Returns
        -------
        FeatureBlock
        """
        return self.blocks[int(np.searchsorted(self._starts, column, side="right")) - 1]

    def check_labels(self, labels: Sequence[str]) -> None:
        """Refuse labels the model does not have.

        Parameters
        ----------
        labels : sequence of str
            Labels asked for.

        Raises
        ------
        KhabarError
            Naming the first unknown label and the model's labels.
        """
        for label in labels:
            if label not in self.labels:
                raise KhabarError(f"label {label!r}: the model's labels are {self.labels}")

    def row_scores(self, X: sp.csr_matrix) -> np.ndarray:
        """Every row's score as weights x values + intercept, checked against the model.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            Feature rows, as the Pipeline's feature steps make them.

        Returns
        -------
        ndarray of shape (n_samples, n_rows)

        Raises
        ------
        KhabarError
            The model's own scores differ: it is not what this explanation says it is.
        """
        scores = np.asarray(X @ self.form.weights.T) + self.form.intercepts
        reference = np.asarray(self.form.reference(X), dtype=np.float64).reshape(scores.shape)
        gap = np.abs(scores - reference)
        if (gap <= 1e-9 * (1 + np.abs(reference))).all():
            return scores  # equal in float64
        if self._abs_weights is None:  # kept: a float32 model comes here on every batch
            self._abs_weights = np.abs(self.form.weights)
        magnitude = np.asarray(abs(X) @ self._abs_weights.T) + np.abs(self.form.intercepts)
        terms = np.diff(X.indptr)[:, None] + 2
        if (gap > 1e-9 + terms * _FLOAT32_ROUNDOFF * magnitude).any():
            raise KhabarError(
                f"cannot explain this model exactly: its {self.form.explained} differs from the "
                f"sum of weight x value by up to {gap.max():.3g}"
            )
        return scores

    def label_explanation(
        self, X: sp.csr_matrix, i: int, label: str, scores: np.ndarray
    ) -> LabelExplanation:
        """One label's contributions for row `i` of X.

        Parameters
        ----------
        X : scipy.sparse.csr_matrix
            Feature rows.
        i : int
            The row.
        label : str
            One of `labels`.
        scores : ndarray
            `row_scores` of X (picks a joint label's best sub-class).

        Returns
        -------
        LabelExplanation
            Without `probability` (the caller knows the model's scores).
        """
        members = self.form.members[self.labels.index(label)]
        row = int(members[np.argmax(scores[i, members])])
        lo, hi = X.indptr[i], X.indptr[i + 1]
        columns = X.indices[lo:hi]
        values = X.data[lo:hi].astype(np.float64)
        weights = self.form.weights[row, columns]
        contributions = values * weights
        intercept = float(self.form.intercepts[row])
        return LabelExplanation(
            label,
            self.form.row_names[row],
            intercept + float(contributions.sum()),
            intercept,
            columns,
            values,
            weights,
            contributions,
        )

    def explain_matrix(
        self, X, labels: Sequence[str] = (), texts: Sequence[str] | None = None
    ) -> list[TextExplanation]:
        """Explanations of feature rows: the prediction and each label asked for.

        Parameters
        ----------
        X : sparse matrix
            Feature rows, as the Pipeline's feature steps make them.
        labels : sequence of str, default=()
            Labels to explain besides the predicted one (multi-label: every label is).
        texts : sequence of str, optional
            The input texts of the rows, to find spans in.

        Returns
        -------
        list of TextExplanation
            One per row, in order.
        """
        X = sp.csr_matrix(X)
        predicted = predict_labels(self.classifier, X)
        model_scores, _ = class_scores(self.classifier, X)
        scores = self.row_scores(X)
        out = []
        for i, prediction in enumerate(predicted):
            wanted = list(self.labels) if self.multi_label else [prediction]
            wanted += [label for label in labels if label not in wanted]
            explained = []
            for label in wanted:
                one = self.label_explanation(X, i, label, scores)
                if self.score_kind == "probability":
                    one.probability = float(model_scores[i, self.labels.index(label)])
                explained.append(one)
            places = None if texts is None else TextPlaces(texts[i], self.steps)
            out.append(TextExplanation(prediction, explained, places))
        return out

    def explain(
        self, inputs, texts: Sequence[str], labels: Sequence[str] = ()
    ) -> list[TextExplanation]:
        """Explanations of input rows: featurized as the Pipeline does, then explained.

        Parameters
        ----------
        inputs : DataFrame or list of str
            What the Pipeline's first step takes (texts, and e.g. a target column).
        texts : sequence of str
            The rows' texts as given (spans are offsets into them).
        labels : sequence of str, default=()
            Labels to explain besides the predicted one.

        Returns
        -------
        list of TextExplanation
            One per row, in order.
        """
        self.check_labels(labels)
        return self.explain_matrix(self.model[:-1].transform(inputs), labels, texts)


def _entries(explainer: Explainer, one: LabelExplanation):
    """Per feature to list: its position in `one` (-1 for a dense block's sum), its block
    (dense ones only; others are looked up when listed) and its contribution."""
    dense = explainer.dense[one.columns]
    positions = np.flatnonzero(~dense)
    blocks: list[FeatureBlock | None] = [None] * len(positions)
    contributions = [one.contributions[positions]]
    if dense.any():
        owners = np.searchsorted(explainer._starts, one.columns[dense], side="right") - 1
        for owner in np.unique(owners):
            blocks.append(explainer.blocks[owner])
            contributions.append([one.contributions[dense][owners == owner].sum()])
    positions = np.concatenate([positions, np.full(len(blocks) - len(positions), -1)])
    return positions, blocks, np.concatenate(contributions)


def _feature(explainer, one, position, block, contribution, places) -> dict:
    if position < 0:  # a dense block: one aggregated contribution, no n-gram to point at
        return {
            "feature": block.name,
            "block": block.name,
            "value": None,
            "weight": None,
            "contribution": float(contribution),
            "spans": [],
        }
    column = int(one.columns[position])
    block = explainer.block_of(column)
    name = str(block.names[column - block.start])
    spans = places.spans(block.step, name) if places is not None and block.step else []
    return {
        "feature": name,
        "block": block.name,
        "value": float(one.values[position]),
        "weight": float(one.weights[position]),
        "contribution": float(contribution),
        "spans": spans,
    }


def _strongest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest values, largest first, ties in position order (0: all)."""
    if 0 < k < len(values):
        threshold = np.partition(values, len(values) - k)[len(values) - k]
        candidates = np.flatnonzero(values >= threshold)  # the top k, and ties at the edge
        return candidates[np.argsort(-values[candidates], kind="stable")][:k]
    return np.argsort(-values, kind="stable")


def ranked_features(
    explainer: Explainer, one: LabelExplanation, top: int, places: TextPlaces | None = None
) -> list[dict]:
    """The features of one label's explanation, largest push first, then "(rest)".

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    one : LabelExplanation
        The label's contributions for one text.
    top : int
        How many features to list by absolute contribution; 0: all of them.
    places : TextPlaces, optional
        Where the text's n-grams occur; without it, spans are empty.

    Returns
    -------
    list of dict
        ``{feature, block, value, weight, contribution, spans}`` each; a dense block is one
        entry (value and weight null); last ``feature: "(rest)"`` with the summed
        contribution of every feature not listed, so the listed contributions plus the
        intercept are the score.
    """
    positions, blocks, contributions = _entries(explainer, one)
    order = _strongest(np.abs(contributions), top)
    listed = [
        _feature(explainer, one, int(positions[j]), blocks[j], contributions[j], places)
        for j in order
    ]
    rest = np.ones(len(contributions), dtype=bool)
    rest[order] = False
    listed.append(
        {
            "feature": REST,
            "block": None,
            "value": None,
            "weight": None,
            "contribution": float(contributions[rest].sum()),
            "spans": [],
        }
    )
    return listed


def explanation_records(
    explainer: Explainer, explanation: TextExplanation, top: int = 10
) -> list[dict]:
    """One text's explanations as JSON-ready dicts: the `explanations` of a JSONL row.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    explanation : TextExplanation
        One text's explanation.
    top : int, default=10
        Features listed per label (0: all).

    Returns
    -------
    list of dict
        Per label: ``label``, ``score``, ``intercept``, ``explained`` (what the score is),
        ``sub_class`` (joint labels), ``probability`` (when `khabar predict` writes
        probabilities) and ``features`` (see `ranked_features`).
    """
    records = []
    for one in explanation.labels:
        record = {
            "label": one.label,
            "score": one.score,
            "intercept": one.intercept,
            "explained": explainer.form.explained,
        }
        if one.row_name != one.label:
            record["sub_class"] = one.row_name
        if one.probability is not None:
            record["probability"] = one.probability
        record["features"] = ranked_features(explainer, one, top, explanation.places)
        records.append(record)
    return records


def pushing_ngrams(
    explainer: Explainer, one: LabelExplanation, k: int = 3, sign: int = 1
) -> list[tuple[str, str, float]]:
    """The k features that pushed a label's score most in one direction.

    Parameters
    ----------
    explainer : Explainer
        The model's explainer.
    one : LabelExplanation
        The label's contributions for one text.
    k : int, default=3
        How many.
    sign : {1, -1}, default=1
        1: the largest positive contributions (towards the label); -1: the most negative.

    Returns
    -------
    list of (str, str, float)
        The n-gram (a dense block: its name), its block and its contribution, strongest
        first; only contributions of that sign.
    """
    positions, blocks, contributions = _entries(explainer, one)
    order = _strongest(sign * contributions, k)
    found = []
    for j in order:
        if sign * contributions[j] <= 0:
            break
        if positions[j] < 0:
            found.append((blocks[j].name, blocks[j].name, float(contributions[j])))
        else:
            column = int(one.columns[positions[j]])
            block = explainer.block_of(column)
            name = str(block.names[column - block.start])
            found.append((name, block.name, float(contributions[j])))
    return found
