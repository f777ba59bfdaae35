"""The one place that builds khabar's Pipeline: normalize -> features -> classifier."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from khabar.data.config import ExperimentConfig
from khabar.data.fit_set import input_columns
from khabar.model.classifiers import MultiLabelOneVsRest, build_classifier
from khabar.model.decision import ExcludeFromPredictions, JointLabelClassifier, score_columns
from khabar.model.features import build_features
from khabar.model.normalize import ArabicNormalizer
from khabar.model.target_aware import TargetAwareFeatures
from khabar.model.word_vectors import word_vector_step


def build_pipeline(config: ExperimentConfig) -> Pipeline:
    """The unfitted Pipeline an experiment describes.

    Parameters
    ----------
    config : ExperimentConfig
        Its normalize, features and model sections, its task and its seed.

    Returns
    -------
    Pipeline
        ``normalize`` (ArabicNormalizer) -> ``features`` (a union of n-gram blocks, maybe
        target-aware, maybe with word vectors) -> ``classifier`` (from the registry, maybe
        wrapped for joint labels or excluded predictions).
    """
    features = build_features(config.features, config.normalize.model_dump())
    if config.features.target_column:
        features = TargetAwareFeatures(
            features,
            text_column=config.data.text_column,
            target_column=config.features.target_column,
        )
    params = dict(config.model.params)
    if config.features.word_vectors is not None and config.model.name == "nbsvm":
        # The mean word vector is dense, not counts: NBSVM leaves its columns unscaled.
        params.setdefault("unscaled_columns", config.features.word_vectors.vector_size)
    classifier = build_classifier(
        config.model.name,
        params,
        seed=config.seed,
        calibrate=config.model.calibrate,
        multi_label=config.task == "multi_label",
    )
    if config.data.auxiliary_label_column:
        classifier = JointLabelClassifier(classifier)
    if config.model.exclude_from_predictions:
        classifier = ExcludeFromPredictions(
            classifier, excluded=tuple(config.model.exclude_from_predictions)
        )
    return Pipeline(
        [
            (
                "normalize",
                ArabicNormalizer(
                    **config.normalize.model_dump(),
                    text_column=config.data.text_column,
                    keep_columns=tuple(input_columns(config)[1:]),
                ),
            ),
            ("features", features),
            ("classifier", classifier),
        ]
    )


def is_multi_label(model: Pipeline) -> bool:
    """Whether a fitted khabar Pipeline predicts label lists.

    Parameters
    ----------
    model : Pipeline
        A khabar Pipeline.

    Returns
    -------
    bool
    """
    return isinstance(model[-1], MultiLabelOneVsRest)


def class_labels(model: Pipeline) -> list[str]:
    """The classes a fitted Pipeline scores, in the order of its score columns.

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline (or a Pipeline of its classifier step alone).

    Returns
    -------
    list of str
    """
    return [str(c) for c in model[-1].classes_]


def class_scores(model: Pipeline, X) -> tuple[np.ndarray, str]:
    """One score per class and row: probabilities where the classifier has them, else
    decision values.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline.
    X : DataFrame, list of str or sparse matrix
        What the Pipeline's first step takes.

    Returns
    -------
    scores : ndarray of shape (n_rows, n_classes)
        Columns in `class_labels` order (binary decision values as two columns).
    kind : {"probability", "decision"}
    """
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X)), "probability"
    return score_columns(model.decision_function(X)), "decision"


def predict_labels(model: Pipeline, X) -> list:
    """Predicted labels as plain Python values.

    Parameters
    ----------
    model : Pipeline
        A fitted Pipeline.
    X : DataFrame, list of str or sparse matrix
        What the Pipeline's first step takes.

    Returns
    -------
    list
        One string per row, or one list of strings per row for a multi-label model.
    """
    predicted = model.predict(X)
    if is_multi_label(model):
        return model[-1].to_label_lists(predicted)
    return [str(p) for p in predicted]


def _weights(estimator) -> np.ndarray | None:
    """Per-class weight rows of a fitted linear or naive Bayes classifier."""
    if hasattr(estimator, "calibrated_classifiers_"):
        rows = [_weights(c.estimator) for c in estimator.calibrated_classifiers_]
        return None if any(r is None for r in rows) else np.mean(rows, axis=0)
    if hasattr(estimator, "coef_"):
        coef = np.asarray(
            estimator.coef_.toarray() if hasattr(estimator.coef_, "toarray") else estimator.coef_
        )
        return np.vstack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef
    if hasattr(estimator, "feature_log_prob_"):
        log_prob = estimator.feature_log_prob_
        return log_prob - log_prob.mean(axis=0, keepdims=True)
    return None


def _feature_names(features) -> np.ndarray:
    """Column names without the union's "char__" / "word__" prefixes (the n-grams)."""
    if hasattr(features, "transformer_list"):
        # Each block's own names in the union's column order: the union's own method would
        # prefix each of maybe half a million names in Python, only for us to cut it off.
        return np.concatenate([_feature_names(block) for _, block in features.transformer_list])
    names = features.get_feature_names_out()
    if hasattr(features, "features_"):  # target-aware: "char__[target] gram" wraps a union
        names = [str(name).split("__", 1)[-1] for name in names]
    return np.asarray(names, dtype=object)


def _is_ngram(features, columns: int) -> np.ndarray:
    """Per column: an n-gram (True) or a dense word-vector dimension, which names nothing a
    reader can interpret (False); those are the union's last block."""
    mask = np.ones(columns, dtype=bool)
    step = word_vector_step(features)
    if step is not None:
        mask[columns - step.vectors_.shape[1] :] = False
    return mask


def top_weighted_features(model: Pipeline, k: int = 15) -> dict[str, list[tuple[str, float]]]:
    """The k n-grams with the largest weight for each class.

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline.
    k : int, default 15
        How many n-grams per class.

    Returns
    -------
    dict of str to list of (str, float)
        Per class, its top n-grams and their weights, largest first; {} when the classifier
        has no per-feature weights. Word-vector dimensions are never listed.
    """
    classifier = model[-1]
    names = _feature_names(model.named_steps["features"])
    ngram = _is_ngram(model.named_steps["features"], len(names))
    if is_multi_label(model):
        rows = [_weights(e) for e in classifier.model_.estimators_]
        if any(r is None for r in rows):
            return {}
        weights = np.vstack([r[-1] for r in rows])
    else:
        weights = _weights(classifier)
        if weights is None:
            return {}
    top: dict[str, list[tuple[str, float]]] = {}
    for label, row in zip(class_labels(model), weights, strict=True):
        row = np.where(ngram, row, -np.inf)
        candidates = np.argpartition(row, -k)[-k:] if len(row) > k else np.arange(len(row))
        best = candidates[np.argsort(row[candidates], kind="stable")[::-1]]
        top[label] = [(str(names[i]), float(row[i])) for i in best if ngram[i]]
    return top
