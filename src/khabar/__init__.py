"""khabar: Arabic news topic and stance classification, tracked in MLflow."""

from __future__ import annotations

__version__ = "0.1.0"


def load_model(uri_or_dir: str):
    """Load a trained khabar Pipeline from an MLflow model URI or an exported folder."""
    from khabar.predict import load_model as _load

    return _load(uri_or_dir)


__all__ = ["__version__", "load_model"]
