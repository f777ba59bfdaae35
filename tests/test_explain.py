"""`khabar explain` on every classifier khabar offers: for each explained label the listed
contributions plus the intercept equal the score (1e-6), the score is the `score_<label>`
that `khabar predict` writes (or, where that is a probability, the decision function behind
it, checked through the probability), and every span covers the input characters its
n-gram was made of, through diacritics, tatweel, URLs, emoji and Latin words."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pytest

import khabar
from khabar.cli import main
from khabar.data.config import ExperimentConfig
from khabar.data.fit_set import build_fit_set, load_train_and_test, model_inputs
from khabar.errors import KhabarError
from khabar.model.classifiers import REGISTRY
from khabar.model.decision import score_columns
from khabar.model.normalize import normalize_text
from khabar.model.pipeline import build_pipeline
from khabar.record.explain import REST, Explainer
from khabar.record.model_files import save_skops

from .conftest import NEWS_SMALL, write_jsonl

TOLERANCE = 1e-6
FEATURES = {
    "char": {"analyzer": "char_wb", "ngram_range": [2, 4], "min_df": 1},
    "word": {"analyzer": "word", "ngram_range": [1, 2], "min_df": 1},
}
# Written for these tests: marks, tatweel, URLs, mentions, hashtags, emoji, Latin, digits.
SPECIAL = [
    "أَعْلَنَتِ الشُّرْطَةُ القبضَ على ٣ متهمين بتهريب المهاجرين في مـــدينة الإسكندرية",
    "وزير الخارجية يستقبل نظيره الأردني https://news.example.com/a?b=1 لبحث التعاون 🤝🇸🇦",
    "@وزارة_الداخلية: إحباط هجوم إرهابي #الأمن_الوطني قرب الحدود NATO Summit 2025",
    "مؤتمر   دولي\tللحوار\n\nفي جنيف URL يبحث أزمة اللاجئين غداً",
    "İstanbul تستضيف مهرجان الفنون 🎨 للمرة الأولى",
]

FLOAT64 = {"char": {"dtype": "float64"}, "word": {"dtype": "float64"}}
# These score a float32 feature matrix in float32: khabar predict's score then carries
# float32 rounding, at most one unit roundoff (2^-24) of the summed magnitudes per term.
FLOAT32_SCORING = {"sgd", "ridge", "fast_linear_svc"}


def _merge(base: dict, changes: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# name -> (config sections to change, how khabar predict's probability follows from the
# explained scores: None when predict writes the decision function itself)
CASES = {
    "linear_svc": ({"model": {"name": "linear_svc"}}, None),
    "logistic_regression": ({"model": {"name": "logistic_regression"}}, "softmax"),
    "complement_nb": ({"model": {"name": "complement_nb"}}, "softmax"),
    "multinomial_nb": ({"model": {"name": "multinomial_nb"}}, "softmax"),
    "sgd": ({"model": {"name": "sgd"}}, None),
    "ridge": ({"model": {"name": "ridge"}}, None),
    "nbsvm": ({"model": {"name": "nbsvm"}}, None),
    "fast_linear_svc": (
        {"model": {"name": "fast_linear_svc"}, "features": {"char": {"engine": "fast"}}},
        None,
    ),
    # The same three on float64 features: scored in float64, so equal to 1e-6 as well.
    "sgd_float64": ({"model": {"name": "sgd"}, "features": FLOAT64}, None),
    "ridge_float64": ({"model": {"name": "ridge"}, "features": FLOAT64}, None),
    "fast_linear_svc_float64": (
        {
            "model": {"name": "fast_linear_svc"},
            "features": _merge(FLOAT64, {"char": {"engine": "fast"}}),
        },
        None,
    ),
    "char_analyzer": ({"features": {"char": {"analyzer": "char"}}}, None),
    "fast_char_analyzer": ({"features": {"char": {"analyzer": "char", "engine": "fast"}}}, None),
    "calibrated_svc": ({"model": {"name": "linear_svc", "calibrate": True}}, "calibrated"),
    "calibrated_nb": ({"model": {"name": "complement_nb", "calibrate": True}}, "calibrated"),
    "joint_svc": ({"data": {"auxiliary_label_column": "stance"}}, None),
    "joint_logistic": (
        {"data": {"auxiliary_label_column": "stance"}, "model": {"name": "logistic_regression"}},
        "joint",
    ),
    "joint_nb": (
        {"data": {"auxiliary_label_column": "stance"}, "model": {"name": "complement_nb"}},
        "joint",
    ),
    "exclude": ({"model": {"exclude_from_predictions": ["other"]}}, None),
    "target_aware": ({"features": {"target_column": "target"}}, None),
    "binary_svc": ({"data": {"train": "BINARY"}}, None),
    "binary_nb": ({"data": {"train": "BINARY"}, "model": {"name": "complement_nb"}}, "sigmoid"),
    "binary_logistic": (
        {"data": {"train": "BINARY"}, "model": {"name": "logistic_regression"}},
        "sigmoid",
    ),
    "multi_svc": ({"task": "multi_label", "data": {"label_column": "topics"}}, None),
    "multi_logistic": (
        {
            "task": "multi_label",
            "data": {"label_column": "topics"},
            "model": {"name": "logistic_regression"},
        },
        "sigmoid",
    ),
    "multi_nb": (
        {
            "task": "multi_label",
            "data": {"label_column": "topics"},
            "model": {"name": "complement_nb"},
        },
        "sigmoid",
    ),
    "multi_nbsvm": (
        {"task": "multi_label", "data": {"label_column": "topics"}, "model": {"name": "nbsvm"}},
        None,
    ),
    "multi_calibrated": (
        {
            "task": "multi_label",
            "data": {"label_column": "topics"},
            "model": {"name": "linear_svc", "calibrate": True},
        },
        "calibrated",
    ),
}


@pytest.fixture(scope="module")
def data_files(tmp_path_factory) -> dict[str, str]:
    return make_data_files(tmp_path_factory.mktemp("explain-data"))


def make_data_files(folder) -> dict[str, str]:
    """The fixture with a `target` column (two made-up targets), and a two-class subset."""
    rows = [json.loads(line) for line in NEWS_SMALL.read_text("utf-8").splitlines()]
    for i, row in enumerate(rows):
        row["target"] = "A" if i % 3 else "B"
    binary = [row for row in rows if row["primary"] in ("security", "migration")]
    return {
        "ALL": str(write_jsonl(folder / "news.jsonl", rows)),
        "BINARY": str(write_jsonl(folder / "binary.jsonl", binary)),
    }


def fit_case(name: str, data_files: dict[str, str], changes: dict | None = None):
    """The case's Pipeline fit on its training split, and the frame of rows to explain: the
    test split and the SPECIAL texts."""
    base = {
        "name": "explain",
        "experiment": "explain",
        "seed": 7,
        "data": {"train": "ALL", "label_column": "primary", "test_size": 0.25},
        "features": FEATURES,
        "model": {"name": "linear_svc", "params": {}},
    }
    settings = _merge(base, CASES[name][0] if changes is None else changes)
    settings["data"]["train"] = data_files[settings["data"]["train"]]
    config = ExperimentConfig.model_validate(settings)
    train, test = load_train_and_test(config)
    fit = build_fit_set(config, train)
    pipeline = build_pipeline(config).fit(fit.inputs, fit.fit_labels)
    inputs = model_inputs(test, config)
    extra = pd.DataFrame({"text": SPECIAL, "target": ["A", "B", "A", "B", "C"][: len(SPECIAL)]})
    frame = pd.concat([inputs, extra[inputs.columns]], ignore_index=True)
    frame.insert(0, "id", [f"row-{i}" for i in range(len(frame))])
    return pipeline, frame


def _probability_link(link: str, pipeline, frame, explanations: dict[str, dict]) -> None:
    """Where khabar predict writes probabilities, the explained score must be the decision
    function behind them: checked through the probability, or recomputed with scikit-learn."""
    if link == "softmax":
        scores = np.asarray([e["score"] for e in explanations.values()])
        shares = np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
        for share, e in zip(shares, explanations.values(), strict=True):
            assert abs(share - e["probability"]) <= TOLERANCE
    elif link == "sigmoid":
        for e in explanations.values():
            assert abs(1 / (1 + np.exp(-e["score"])) - e["probability"]) <= TOLERANCE


def _sklearn_scores(link: str, pipeline, row: pd.DataFrame) -> dict[str, float]:
    """The explained scores recomputed from scikit-learn's own methods, for the cases whose
    probability cannot give them back."""
    X = pipeline[:-1].transform(row)
    classifier = pipeline[-1]

    def base(estimator):
        if hasattr(estimator, "decision_function"):
            return score_columns(estimator.decision_function(X))
        return estimator.predict_joint_log_proba(X)

    if link == "calibrated":
        if hasattr(classifier, "model_"):  # multi-label: each label's calibrated model
            columns = []
            for estimator in classifier.model_.estimators_:
                inner = [base(c.estimator)[:, -1] for c in estimator.calibrated_classifiers_]
                columns.append(np.mean(inner, axis=0))
            values = np.column_stack(columns)[0]
        else:
            values = np.mean(
                [base(c.estimator) for c in classifier.calibrated_classifiers_], axis=0
            )[0]
        return dict(zip([str(c) for c in classifier.classes_], values, strict=True))
    inner = base(classifier.estimator_)[0]  # joint: a main label takes its best sub-class
    return {
        str(label): float(inner[members].max())
        for label, members in zip(classifier.classes_, classifier.members_, strict=True)
    }


def _tolerance(name: str, explanation: dict) -> float:
    """khabar predict rounds to 6 decimals; a float32-scoring model adds float32 rounding."""
    if name not in FLOAT32_SCORING:
        return TOLERANCE
    magnitude = abs(explanation["intercept"]) + sum(
        abs(f["contribution"]) for f in explanation["features"]
    )
    return TOLERANCE + (len(explanation["features"]) + 2) * 2.0**-24 * magnitude


def _check_spans(pipeline, text: str, feature: dict) -> None:
    steps = pipeline[0].enabled_steps()
    block = feature["block"].split("[")[0]
    gram = feature["feature"]
    assert feature["spans"], f"{gram!r} ({feature['block']}) not found in {text!r}"
    for start, end in feature["spans"]:
        assert 0 <= start < end <= len(text)
        covered = normalize_text(text[start:end], steps).lower()
        if "#" in text and "remove_hashtag_signs" in steps:
            covered = covered.replace("_", " ")  # the step splits at "_" in a text with "#"
        if block == "word":
            assert re.findall(r"(?u)\b\w\w+\b", covered) == gram.split(" "), (gram, covered)
        else:
            assert covered == gram.strip(" ") or " ".join(covered.split()) == gram.strip(), (
                gram,
                covered,
            )


@pytest.mark.parametrize("name", list(CASES))
def test_contributions_add_up_to_khabar_predicts_scores(name, data_files, monkeypatch, tmp_path):
    pipeline, frame = fit_case(name, data_files)
    labels = [str(c) for c in pipeline[-1].classes_]
    result = khabar.explain(pipeline, frame, top=0, labels=labels)
    predicted = khabar.predict(pipeline, frame).predictions
    link = CASES[name][1]
    for i, row in enumerate(result.rows):
        expected = predicted.iloc[i]
        assert row["id"] == expected["id"] and row["text"] == frame["text"][i]
        assert row["prediction"] == expected["prediction"]
        explained = {e["label"]: e for e in row["explanations"]}
        assert set(explained) == set(labels)
        if not isinstance(row["prediction"], list):
            assert row["explanations"][0]["label"] == row["prediction"]
        for label, e in explained.items():
            listed = sum(f["contribution"] for f in e["features"])
            assert abs(e["intercept"] + listed - e["score"]) <= TOLERANCE
            assert e["features"][-1]["feature"] == REST
            if link is None:
                assert row["score_kind"] == "decision"
                assert abs(e["score"] - expected[f"score_{label}"]) <= _tolerance(name, e)
            else:
                assert row["score_kind"] == "probability"
                assert abs(e["probability"] - expected[f"score_{label}"]) <= TOLERANCE
        if link in ("calibrated", "joint"):
            by_sklearn = _sklearn_scores(link, pipeline, frame.iloc[[i]].drop(columns="id"))
            for label, e in explained.items():
                assert abs(e["score"] - by_sklearn[label]) <= TOLERANCE
        else:
            _probability_link(link or "none", pipeline, frame, explained)
        for e in explained.values():
            for feature in e["features"][:-1]:
                if feature["block"] not in ("word_vectors", "target"):
                    _check_spans(pipeline, row["text"], feature)


def test_every_classifier_of_the_registry_is_a_case():
    named = {settings.get("model", {}).get("name", "linear_svc") for settings, _ in CASES.values()}
    assert set(REGISTRY) <= named


def test_word_vectors_are_one_aggregated_contribution(data_files, tmp_path, monkeypatch):
    pytest.importorskip("gensim")
    monkeypatch.setenv("KHABAR_VECTORS_DIR", str(tmp_path / "vectors"))
    changes = {
        "model": {"name": "nbsvm"},
        "features": {
            "word_vectors": {
                "corpus": str(NEWS_SMALL),
                "vector_size": 8,
                "min_count": 2,
                "epochs": 2,
            }
        },
    }
    pipeline, frame = fit_case("nbsvm", data_files, changes)
    result = khabar.explain(pipeline, frame, top=0)
    predicted = khabar.predict(pipeline, frame).predictions
    for i, row in enumerate(result.rows):
        e = row["explanations"][0]
        vectors = [f for f in e["features"] if f["block"] == "word_vectors"]
        assert len(vectors) == 1 and vectors[0]["feature"] == "word_vectors"
        assert vectors[0]["value"] is None and vectors[0]["contribution"] != 0
        listed = sum(f["contribution"] for f in e["features"])
        assert abs(e["intercept"] + listed - e["score"]) <= TOLERANCE
        assert abs(e["score"] - predicted[f"score_{e['label']}"][i]) <= TOLERANCE


def test_top_lists_the_largest_pushes_then_the_rest(data_files):
    pipeline, frame = fit_case("linear_svc", data_files)
    every = khabar.explain(pipeline, frame, top=0).rows
    top3 = khabar.explain(pipeline, frame, top=3).rows
    for full, short in zip(every, top3, strict=True):
        all_features = full["explanations"][0]["features"][:-1]
        listed = short["explanations"][0]["features"]
        assert [f["feature"] for f in listed] == [f["feature"] for f in all_features[:3]] + [REST]
        magnitudes = [abs(f["contribution"]) for f in all_features]
        assert magnitudes == sorted(magnitudes, reverse=True)
        rest = sum(f["contribution"] for f in all_features[3:])
        assert abs(listed[-1]["contribution"] - rest) <= TOLERANCE


def test_cli_writes_jsonl_whose_scores_match_khabar_predict(data_files, tmp_path):
    pipeline, frame = fit_case("target_aware", data_files)
    (tmp_path / "model").mkdir()
    save_skops(pipeline, tmp_path / "model" / "model.skops")
    source = tmp_path / "in.jsonl"
    frame.to_json(source, orient="records", lines=True, force_ascii=False)
    out, predicted = tmp_path / "why.jsonl", tmp_path / "predicted.jsonl"
    model = str(tmp_path / "model")
    assert (
        main(
            [
                "explain",
                "--model",
                model,
                "--input",
                str(source),
                "--output",
                str(out),
                "--top",
                "4",
                "--label",
                "security",
                "--limit",
                "12",
            ]
        )
        == 0
    )
    assert (
        main(["predict", "--model", model, "--input", str(source), "--output", str(predicted)]) == 0
    )
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    scores = [json.loads(line) for line in predicted.read_text("utf-8").splitlines()][:12]
    assert len(rows) == 12 and [r["id"] for r in rows] == [s["id"] for s in scores]
    for row, score in zip(rows, scores, strict=True):
        assert row["prediction"] == score["prediction"]
        labels = [e["label"] for e in row["explanations"]]
        assert labels[0] == row["prediction"] and "security" in labels
        for e in row["explanations"]:
            assert len(e["features"]) == 5
            assert abs(e["score"] - score[f"score_{e['label']}"]) <= TOLERANCE
            assert (
                abs(e["intercept"] + sum(f["contribution"] for f in e["features"]) - e["score"])
                <= TOLERANCE
            )
    targets = {f["block"] for row in rows for e in row["explanations"] for f in e["features"]}
    assert {"char", "word"} <= targets and any(b.startswith(("char[", "word[")) for b in targets)


def test_rows_without_text_get_a_reason_and_ids_default_to_row_numbers(data_files):
    pipeline, _ = fit_case("linear_svc", data_files)
    result = khabar.explain(
        pipeline, pd.DataFrame({"text": ["وزير الخارجية يستقبل نظيره", " ", None]})
    )
    assert [row["id"] for row in result.rows] == [1, 2, 3]
    assert result.empty_rows == 2
    assert result.rows[1]["reason"] == "empty text" and result.rows[1]["explanations"] == []
    assert result.rows[2]["prediction"] is None


def test_txt_input_rows_are_named_by_their_line(data_files, tmp_path):
    pipeline, _ = fit_case("linear_svc", data_files)
    source = tmp_path / "texts.txt"
    source.write_text("وزير الخارجية يستقبل نظيره\n\nالشرطة تضبط شبكة تهريب\n", "utf-8")
    rows = khabar.explain(pipeline, str(source)).rows
    assert [row["id"] for row in rows] == [1, 3]


def test_bad_requests_are_one_line_errors(data_files, tmp_path, capsys):
    pipeline, frame = fit_case("linear_svc", data_files)
    with pytest.raises(KhabarError, match="label 'sports': the model's labels are"):
        khabar.explain(pipeline, frame, labels=["sports"])
    with pytest.raises(KhabarError, match="--top -1"):
        khabar.explain(pipeline, frame, top=-1)
    with pytest.raises(KhabarError, match="--limit 0"):
        khabar.explain(pipeline, frame, limit=0)
    with pytest.raises(KhabarError, match="output must end in .jsonl or .html"):
        khabar.explain(pipeline, frame, tmp_path / "why.csv")
    source = tmp_path / "in.jsonl"
    frame.to_json(source, orient="records", lines=True, force_ascii=False)
    code = main(
        [
            "explain",
            "--model",
            str(tmp_path / "missing"),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "why.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("khabar: error: model not found") and err.count("\n") == 1


def test_a_model_that_is_not_linear_is_refused_in_one_line(data_files, tmp_path, capsys):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import Pipeline

    pipeline, frame = fit_case("linear_svc", data_files)
    X = pipeline[:-1].transform(frame)
    knn = KNeighborsClassifier(3).fit(X, khabar.predict(pipeline, frame).predictions["prediction"])
    other = Pipeline([*pipeline.steps[:-1], ("classifier", knn)])
    with pytest.raises(KhabarError, match="cannot explain KNeighborsClassifier exactly"):
        Explainer(other)
    (tmp_path / "knn").mkdir()
    save_skops(other, tmp_path / "knn" / "model.skops")
    source = tmp_path / "in.jsonl"
    frame.to_json(source, orient="records", lines=True, force_ascii=False)
    code = main(
        [
            "explain",
            "--model",
            str(tmp_path / "knn"),
            "--input",
            str(source),
            "--output",
            str(tmp_path / "why.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot explain KNeighborsClassifier exactly" in err
    assert err.count("\n") == 1 and not (tmp_path / "why.jsonl").exists()


def test_the_same_answer_as_eli5_where_eli5_explains_the_model(data_files):
    """A cross-check against eli5 0.16 (maintained again), which explains a bare
    TfidfVectorizer + linear model on the normalized text: the same features, contributions
    and score."""
    eli5 = pytest.importorskip("eli5")
    changes = {"features": {"word": None}, "model": {"name": "logistic_regression"}}
    pipeline, frame = fit_case("logistic_regression", data_files, changes)
    vectorizer = pipeline.named_steps["features"].transformer_list[0][1]
    classifier = pipeline[-1]
    texts = pipeline[0].transform(frame)
    rows = khabar.explain(pipeline, frame, top=0).rows
    for text, row in zip(texts[:8], rows[:8], strict=True):
        ours = row["explanations"][0]
        theirs = eli5.explain_prediction(
            classifier, text, vec=vectorizer, top=None, targets=[ours["label"]]
        )
        target = theirs.targets[0]
        weights = {
            f.feature: f.weight for f in target.feature_weights.pos + target.feature_weights.neg
        }
        assert abs(weights.pop("<BIAS>") - ours["intercept"]) <= TOLERANCE
        assert abs(target.score - ours["score"]) <= TOLERANCE
        listed = {f["feature"]: f["contribution"] for f in ours["features"][:-1]}
        assert set(listed) == set(weights)
        assert max(abs(listed[name] - weights[name]) for name in listed) <= TOLERANCE
