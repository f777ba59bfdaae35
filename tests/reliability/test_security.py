"""Security: model files are never unpickled and only khabar's and scikit-learn's classes
are trusted; the UI binds to 127.0.0.1 unless told otherwise; names that become folder
names cannot climb out of reports/."""

from __future__ import annotations

import json
import os
import pickle
import re

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import khabar
from khabar.errors import KhabarError
from khabar.model.pipeline import build_pipeline
from khabar.record import model_files
from khabar.runs.guard import load_config

from ..conftest import NEWS_SMALL, write_config
from .conftest import PROJECT, only_line, run_main


class _Trap:
    """Unpickling this creates a folder: proof that a pickle was loaded."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _predict_with(model_path, workdir):
    inputs = workdir / "in.txt"
    inputs.write_text("نص للتجربة\n", encoding="utf-8")
    return run_main(
        "predict", "--model", model_path, "--input", inputs, "--output", workdir / "out.jsonl"
    )


@pytest.mark.parametrize(
    ("name", "function", "refused"),
    [
        ("skops model holding os.system", os.system, f"{os.name}.system"),
        ("skops model holding numpy.save (a function of a trusted package)", np.save, "numpy.save"),
    ],
)
def test_untrusted_skops_model_is_refused(workdir, ledger, name, function, refused):
    with ledger.case("security", name, "refused with one line naming the type") as case:
        folder = workdir / "model"
        folder.mkdir()
        sio.dump(Pipeline([("step", FunctionTransformer(function))]), folder / "model.skops")
        result = _predict_with(folder, workdir)
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert "refusing to load untrusted type(s)" in message and refused in message
        assert not (workdir / "out.jsonl").exists()
        with pytest.raises(KhabarError, match="refusing to load"):
            khabar.load_model(folder)


def test_pickle_disguised_as_skops_is_never_unpickled(workdir, ledger):
    with ledger.case(
        "security", "a pickle renamed model.skops", "refused; the pickle is never loaded"
    ) as case:
        marker = workdir / "pickle-was-loaded"
        (workdir / "model.skops").write_bytes(pickle.dumps(_Trap(str(marker))))
        result = _predict_with(workdir / "model.skops", workdir)
        case.crashed = result.crashed
        case.saw(f"{result.summary()}; pickle executed: {marker.exists()}")
        message = only_line(result)
        assert "not a readable skops model file" in message
        assert not marker.exists()


def test_pickle_model_folder_is_refused(workdir, ledger):
    with ledger.case(
        "security",
        "MLflow-style model folder with only model.pkl",
        "refused (no model.skops); the pickle is never loaded",
    ) as case:
        marker = workdir / "pickle-was-loaded"
        folder = workdir / "mlflow-model"
        folder.mkdir()
        (folder / "model.pkl").write_bytes(pickle.dumps(_Trap(str(marker))))
        (folder / "MLmodel").write_text(
            "flavors:\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: "
            "cloudpickle\n",
            encoding="utf-8",
        )
        result = _predict_with(folder, workdir)
        case.crashed = result.crashed
        case.saw(f"{result.summary()}; pickle executed: {marker.exists()}")
        message = only_line(result)
        assert "no model.skops" in message and not marker.exists()


def _fixture_frame():
    import pandas as pd

    rows = [json.loads(line) for line in NEWS_SMALL.read_text(encoding="utf-8").splitlines()]
    return pd.DataFrame({"text": [r["text"] for r in rows]}), rows


# Every kind of type a khabar model holds: plain, calibrated, multi-label, naive Bayes.
MODEL_VARIANTS = [
    ("linear_svc", "single_label", False),
    ("linear_svc", "single_label", True),
    ("logistic_regression", "multi_label", False),
    ("complement_nb", "single_label", False),
]


# The non-default types those models name, written out by hand.
MODEL_TYPES_TRUSTED = {
    "khabar.model.classifiers.MultiLabelOneVsRest",
    "khabar.model.features.CompactTfidfVectorizer",
    "khabar.model.features.SparseUnion",
    "khabar.model.normalize.ArabicNormalizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
}


def test_every_khabar_model_loads_under_the_policy(tmp_path, ledger):
    """The class-only trust policy must not refuse khabar's own models."""
    with ledger.case(
        "security",
        f"{len(MODEL_VARIANTS)} khabar model kinds saved and loaded through skops",
        "all load; only classes from khabar, scikit-learn, numpy, scipy trusted",
    ) as case:
        frame, rows = _fixture_frame()
        trusted, loaded = set(), 0
        for name, task, calibrate in MODEL_VARIANTS:
            config = load_config(
                write_config(
                    tmp_path,
                    task=task,
                    data={"label_column": "topics" if task == "multi_label" else "primary"},
                    model={"name": name, "params": {}, "calibrate": calibrate},
                    # a small vocabulary keeps skops quick; the types are the same
                    features={"char": {"analyzer": "char_wb", "ngram_range": [2, 3], "min_df": 2}},
                )
            )
            labels = [r["topics"] if task == "multi_label" else r["primary"] for r in rows]
            model = build_pipeline(config).fit(frame, labels)
            path = tmp_path / f"{name}-{task}-{calibrate}.skops"
            model_files.save_skops(model, path)
            trusted |= set(model_files.untrusted_types(path))
            again = khabar.load_model(path)
            assert np.array_equal(again.predict(frame), model.predict(frame))
            loaded += 1
        case.saw(f"{loaded} of {len(MODEL_VARIANTS)} loaded; types trusted: {sorted(trusted)}")
        assert loaded == len(MODEL_VARIANTS)
        # Exactly these, by hand: a new type in khabar's models (or one gone, e.g. the
        # calibration wrapper) must be looked at, not trusted in passing.
        assert trusted == MODEL_TYPES_TRUSTED
        assert all(model_files.is_trusted_type(name) for name in trusted)


def test_source_never_loads_pickle(ledger):
    with ledger.case(
        "security",
        "no pickle loading anywhere in src/khabar",
        "no pickle/joblib/cloudpickle load, no MLflow pickle loaders, no trusted=True",
    ) as case:
        risky = re.compile(
            r"pickle\.loads?\(|joblib\.load\(|cloudpickle|dill\.|"
            r"mlflow\.(sklearn|pyfunc)\.load_model|trusted\s*=\s*True|torch\.load"
        )
        hits = [
            f"{path.relative_to(PROJECT)}:{number}"
            for path in sorted((PROJECT / "src" / "khabar").rglob("*.py"))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if risky.search(line)
        ]
        case.saw(f"{len(hits)} risky calls {hits}")
        assert hits == []


def test_ui_binds_to_loopback_unless_told(workdir, ledger, monkeypatch):
    import khabar.runs.ui

    commands = []

    class Server:  # records the command; never started, so never signalled
        def __init__(self, command, **kwargs):
            commands.append(command)

        def wait(self):
            return 0

    monkeypatch.setattr(khabar.runs.ui.subprocess, "Popen", Server)
    monkeypatch.setattr(khabar.runs.ui, "stop_group", lambda process: None)
    with ledger.case(
        "security", "khabar ui without --host", "MLflow UI bound to 127.0.0.1"
    ) as case:
        assert run_main("ui").code == 0
        host = commands[-1][commands[-1].index("--host") + 1]
        case.saw(f"--host {host}")
        assert host == "127.0.0.1"
    with ledger.case("security", "khabar ui --host 0.0.0.0", "bound where the user asked") as case:
        assert run_main("ui", "--host", "0.0.0.0").code == 0
        host = commands[-1][commands[-1].index("--host") + 1]
        case.saw(f"--host {host}")
        assert host == "0.0.0.0"
    with ledger.case(
        "security", "no other server binds to all interfaces", "no 0.0.0.0 in src/khabar"
    ) as case:
        hits = [
            str(path.relative_to(PROJECT))
            for path in (PROJECT / "src" / "khabar").rglob("*.py")
            if "0.0.0.0" in path.read_text(encoding="utf-8")
        ]
        case.saw(f"files binding 0.0.0.0: {hits}")
        assert hits == []


UNSAFE_NAMES = [
    ("name", "../escape"),
    ("name", "../../etc"),
    ("experiment", "/abs/path"),
    ("name", "a/b"),
    ("experiment", ".."),
    ("name", ".hidden"),
    ("experiment", "~root"),
]


@pytest.mark.parametrize(("field", "value"), UNSAFE_NAMES, ids=[v for _, v in UNSAFE_NAMES])
def test_unsafe_names_are_refused(workdir, ledger, field, value):
    with ledger.case(
        "security",
        f"{field} {value!r} (becomes a folder name)",
        "exit 2 naming the field; nothing created",
    ) as case:
        config = write_config(workdir)
        result = run_main("train", config, "--set", f"{field}={value}")
        case.crashed = result.crashed
        case.saw(result.summary())
        message = only_line(result)
        assert f"{field}: {value!r} is not a safe name" in message
        assert sorted(p.name for p in workdir.iterdir()) == [config.name]
