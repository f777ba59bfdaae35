"""Reuse: register with an alias, export to a self-contained folder, load it back safely
(trust policy, checksum, version warning), the Python API, and the serving request forms."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import khabar
import khabar.cli
import khabar.runs.export
from khabar.cli import build_parser, main
from khabar.data.config import ExperimentConfig
from khabar.errors import KhabarError
from khabar.model.classifiers import REGISTRY
from khabar.model.normalize import ArabicNormalizer
from khabar.model.pipeline import build_pipeline
from khabar.record.model_files import SKOPS_FILE, load_skops, save_skops
from khabar.record.model_info import METADATA_FILE, KhabarVersionWarning, sha256_of
from khabar.runs.serve import make_server, request_frame

from .conftest import NEWS_SMALL

TEXTS = ["وزير الخارجية يستقبل السفير", "قوات الأمن تحبط هجوما إرهابيا", "وصول قارب مهاجرين"]


@pytest.fixture
def trained(in_shared_store, tmp_path):
    """A folder for this test's files, and the shared store's linear SVC run."""
    return tmp_path, in_shared_store.runs["svc"]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def predict_records(capsys, model, folder: Path) -> list[dict]:
    texts = folder / "texts.jsonl"
    texts.write_text(
        "".join(
            json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)
        ),
        encoding="utf-8",
    )
    out = folder / "predictions.jsonl"
    code, _, err = run_cli(capsys, "predict", "--model", model, "--input", texts, "--output", out)
    assert code == 0, err
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def test_register_sets_an_alias_that_predict_resolves(trained, capsys):
    folder, result = trained
    code, out, err = run_cli(
        capsys, "register", result.run_id, "--name", "khabar-topic", "--alias", "champion"
    )
    assert code == 0, err
    assert "models:/khabar-topic@champion" in out
    version = mlflow.MlflowClient().get_model_version_by_alias("khabar-topic", "champion")
    assert version.run_id == result.run_id
    by_alias = predict_records(capsys, "models:/khabar-topic@champion", folder)
    by_run = predict_records(capsys, result.model_uri, folder)
    assert by_alias == by_run and len(by_alias) == len(TEXTS)


def test_register_errors_are_one_line_and_leave_no_version(trained, capsys):
    _, result = trained
    code, _, err = run_cli(capsys, "register", "0" * 32, "--name", "khabar-topic")
    assert code == 2 and err.count("\n") == 1 and "not found" in err
    client = mlflow.MlflowClient()
    before = len(client.search_model_versions("name = 'khabar-aliases'"))
    code, _, err = run_cli(
        capsys, "register", result.run_id, "--name", "khabar-aliases", "--alias", "v3"
    )
    assert code == 2 and "cannot set alias 'v3'" in err
    assert len(client.search_model_versions("name = 'khabar-aliases'")) == before


def test_export_is_self_contained_and_predicts_like_the_run(trained, capsys):
    folder, result = trained
    out_dir = folder / "export-topic"
    code, _, err = run_cli(capsys, "export", result.model_uri, "--output", out_dir)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [METADATA_FILE, SKOPS_FILE]
    metadata = json.loads((out_dir / METADATA_FILE).read_text(encoding="utf-8"))
    assert metadata["labels"] == ["diplomacy", "migration", "other", "security"]
    assert metadata["run_id"] == result.run_id
    assert metadata["config"]["model"]["params"] == {"C": 0.5}
    assert metadata["metrics"]["test_f1_macro"] == pytest.approx(result.metrics["test_f1_macro"])
    assert set(metadata["versions"]) == {"khabar", "scikit-learn", "skops", "numpy", "python"}
    assert metadata["sha256"] == sha256_of(out_dir / SKOPS_FILE)
    # No pickle anywhere: skops files are zip archives of JSON and numpy arrays.
    assert (out_dir / SKOPS_FILE).read_bytes()[:2] == b"PK"

    assert predict_records(capsys, out_dir, folder) == predict_records(
        capsys, result.model_uri, folder
    )
    model = khabar.load_model(out_dir)  # the Python API
    assert isinstance(model, Pipeline)
    assert list(model.predict(["نص عربي عن وزير الخارجية"]))[0] in metadata["labels"]
    assert list(model.predict(pd.DataFrame({"text": TEXTS}))) == list(model.predict(TEXTS))

    # Re-exporting an export keeps its provenance; an existing folder is never overwritten.
    again = folder / "export-again"
    assert run_cli(capsys, "export", out_dir, "--output", again)[0] == 0
    assert (
        json.loads((again / METADATA_FILE).read_text(encoding="utf-8"))["run_id"] == result.run_id
    )
    code, _, err = run_cli(capsys, "export", result.model_uri, "--output", out_dir)
    assert code == 2 and "already exists" in err


@pytest.fixture(scope="module")
def exported_once(shared_store, tmp_path_factory) -> Path:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", shared_store.tracking_uri)
        model_uri = shared_store.runs["svc"].model_uri
        return khabar.runs.export.export_model(model_uri, tmp_path_factory.mktemp("reuse") / "export")


@pytest.fixture
def exported(exported_once, tmp_path) -> Path:
    """A fresh copy of one export, for a test to tamper with."""
    return Path(shutil.copytree(exported_once, tmp_path / "exported"))


class Tampered(TransformerMixin, BaseEstimator):
    """What an attacker would slip into a model file: code that runs while it is loaded."""

    def __init__(self, marker: str = "") -> None:
        self.marker = marker

    def __setstate__(self, state):
        Path(state["marker"]).write_text("code ran at load time", encoding="utf-8")
        self.__dict__.update(state)


def _plant(folder: Path, pipeline: Pipeline) -> Path:
    """Replace an export's model with PIPELINE and fix the checksum, as an attacker who
    controls the folder would."""
    sio.dump(pipeline, folder / SKOPS_FILE)
    path = folder / METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["sha256"] = sha256_of(folder / SKOPS_FILE)
    path.write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def test_a_foreign_type_is_refused_before_any_of_its_code_runs(exported, tmp_path, capsys):
    marker = tmp_path / "marker.txt"
    _plant(exported, Pipeline([("normalize", ArabicNormalizer()), ("x", Tampered(str(marker)))]))

    code, _, err = run_cli(
        capsys,
        "predict",
        "--model",
        exported,
        "--input",
        NEWS_SMALL,
        "--output",
        tmp_path / "p.csv",
    )
    assert code == 2 and err.count("\n") == 1
    assert "refusing to load untrusted type(s)" in err and "Tampered" in err
    with pytest.raises(KhabarError, match="Tampered"):
        khabar.load_model(exported)
    assert not marker.exists()
    # Control: the planted file is live; loaded by trusting everything, its code runs.
    sio.load(exported / SKOPS_FILE, trusted=sio.get_untrusted_types(file=exported / SKOPS_FILE))
    assert marker.exists()


@pytest.mark.parametrize(
    "function", [os.system, khabar.cli.main], ids=["os.system", "khabar.cli.main"]
)
def test_functions_are_refused_even_from_trusted_packages(exported, function):
    # A FunctionTransformer would call the named function on every prediction.
    _plant(
        exported,
        Pipeline([("normalize", ArabicNormalizer()), ("f", FunctionTransformer(function))]),
    )
    with pytest.raises(KhabarError, match="refusing to load untrusted type"):
        load_skops(exported / SKOPS_FILE)


def test_a_replaced_model_file_fails_its_checksum(exported):
    sio.dump(Pipeline([("normalize", ArabicNormalizer())]), exported / SKOPS_FILE)
    with pytest.raises(KhabarError, match="SHA-256 differs"):
        khabar.load_model(exported)


def test_a_scikit_learn_version_mismatch_warns(exported, tmp_path, capsys):
    path = exported / METADATA_FILE
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["versions"]["scikit-learn"] = "1.0.2"
    path.write_text(json.dumps(metadata), encoding="utf-8")
    with pytest.warns(KhabarVersionWarning, match=r"scikit-learn 1\.0\.2, running \d"):
        khabar.load_model(exported)
    code, _, err = run_cli(
        capsys,
        "predict",
        "--model",
        exported,
        "--input",
        NEWS_SMALL,
        "--output",
        tmp_path / "p.csv",
    )
    assert code == 0
    assert "khabar: warning:" in err and "scikit-learn 1.0.2" in err


def test_matching_versions_load_without_a_warning(exported, recwarn):
    khabar.load_model(exported)
    assert not [w for w in recwarn if issubclass(w.category, KhabarVersionWarning)]


def test_servers_bind_to_loopback_by_default(exported):
    parser = build_parser()
    assert parser.parse_args(["serve", "--model", "m"]).host == "127.0.0.1"
    assert parser.parse_args(["ui"]).host == "127.0.0.1"
    server = make_server(str(exported), port=0)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"inputs": TEXTS}, "application/json"),
        ({"instances": [{"text": t} for t in TEXTS]}, "application/json"),
        ({"dataframe_records": [{"text": t} for t in TEXTS]}, "application/json"),
        (
            {"dataframe_split": {"columns": ["text"], "data": [[t] for t in TEXTS]}},
            "application/json",
        ),
        ("text\n" + "\n".join(TEXTS) + "\n", "text/csv"),
    ],
    ids=["inputs", "instances", "records", "split", "csv"],
)
def test_serving_request_forms_give_the_same_texts(body, content_type):
    raw = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode("utf-8")
    frame = request_frame(raw, content_type, "text")
    assert frame["text"].tolist() == TEXTS


def test_serving_rejects_unknown_request_forms():
    with pytest.raises(KhabarError, match="expected one of dataframe_split"):
        request_frame(b'{"texts": ["x"]}', "application/json", "text")
    with pytest.raises(KhabarError, match="not UTF-8 JSON"):
        request_frame(b"{", "application/json", "text")


def test_every_pipeline_khabar_builds_loads_under_the_trust_policy(tmp_path):
    """The policy must not refuse khabar's own models: each classifier, calibrated or not,
    single- or multi-label, round-trips through skops and predicts the same."""
    rows = pd.read_json(NEWS_SMALL, lines=True)
    for name, calibrate, multi in itertools.product(REGISTRY, (False, True), (False, True)):
        config = ExperimentConfig.model_validate(
            {
                "name": "policy",
                "experiment": "policy",
                "task": "multi_label" if multi else "single_label",
                "data": {"train": str(NEWS_SMALL)},
                "features": {"char": {"ngram_range": [2, 3], "max_features": 300}},
                "model": {"name": name, "calibrate": calibrate},
            }
        )
        labels = rows["topics"].tolist() if multi else rows["primary"].tolist()
        model = build_pipeline(config).fit(rows[["text"]], labels)
        path = tmp_path / f"{name}-{calibrate}-{multi}.skops"
        save_skops(model, path)
        loaded = load_skops(path)
        assert (loaded.predict(TEXTS) == model.predict(TEXTS)).all(), path.name


def test_ui_points_to_the_team_server_instead_of_starting_one(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    code, out, _ = run_cli(capsys, "ui")
    assert code == 0 and "serves the MLflow UI itself" in out
