"""khabar: Arabic news topic and stance classification, tracked in MLflow.

The Python API is the command line's, one function per command; each returns the typed
result the command prints::

    import khabar

    result = khabar.train("configs/topic.yaml", overrides=["model.params.C=0.3"])
    model = khabar.load_model(result.model_uri)
    khabar.predict(model, "new.jsonl", "predictions.jsonl")
    khabar.evaluate(model, "labeled.jsonl", label_column="primary")
    khabar.explain(model, ["وزير الخارجية يستقبل نظيره"], "why.jsonl")
    khabar.compare(result.run_id, other_run_id)

Each name is the runs layer's function itself (`khabar.train` is `khabar.runs.train.train`),
imported when first used, so ``import khabar`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from khabar.version import __version__

# name -> the module of the runs layer that defines it (under the same or another name)
_API = {
    "train": ("khabar.runs.train", "train"),
    "evaluate": ("khabar.runs.evaluate", "evaluate"),
    "compare": ("khabar.runs.compare", "compare"),
    "predict": ("khabar.runs.predict", "predict"),
    "explain": ("khabar.runs.explain", "explain"),
    "load_model": ("khabar.runs.predict", "load_model"),
    "load_config": ("khabar.runs.guard", "load_config"),
    "sweep": ("khabar.runs.sweep", "run_sweep"),
}

if TYPE_CHECKING:  # for readers and type checkers; at run time __getattr__ imports them
    from khabar.runs.compare import compare
    from khabar.runs.evaluate import evaluate
    from khabar.runs.explain import explain
    from khabar.runs.guard import load_config
    from khabar.runs.predict import load_model, predict
    from khabar.runs.sweep import run_sweep as sweep
    from khabar.runs.train import train


def __getattr__(name: str):
    if name in _API:
        module, attribute = _API[name]
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'khabar' has no attribute {name!r}")


__all__ = [
    "__version__", "compare", "evaluate", "explain", "load_config", "load_model", "predict",
    "sweep", "train",
]  # fmt: skip
