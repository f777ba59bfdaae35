"""What a saved model says about itself: the metadata beside an export's model.skops, and a
clear warning when the model was saved with another scikit-learn than the one running."""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy
import sklearn
import skops
import yaml

from khabar.errors import KhabarError
from khabar.version import __version__

METADATA_FILE = "metadata.json"
EXPORT_FORMAT = "khabar-export"
EXPORT_FORMAT_VERSION = 1


class KhabarVersionWarning(UserWarning):
    """The model was saved by another scikit-learn version than the one loading it."""


def running_versions() -> dict[str, str]:
    """The versions of khabar, scikit-learn, skops, numpy and Python running now.

    Returns
    -------
    dict of str to str
        Package name -> version, as an export's metadata and `khabar serve` record them.
    """
    return {
        "khabar": __version__,
        "scikit-learn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks of 1 MB.

    Parameters
    ----------
    path : Path
        The file (an export's model.skops).

    Returns
    -------
    str
        The hex digest.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_metadata(folder: Path, metadata: dict[str, Any]) -> Path:
    """Write an export's metadata.json (UTF-8, indented).

    Parameters
    ----------
    folder : Path
        The export folder.
    metadata : dict
        JSON-ready metadata; `read_metadata` expects its "format" to be `EXPORT_FORMAT`.

    Returns
    -------
    Path
        The file written.
    """
    path = folder / METADATA_FILE
    path.write_text(json.dumps(metadata, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def read_metadata(folder: Path) -> dict[str, Any] | None:
    """An export's metadata, or None for a folder that has none (e.g. an MLflow model).

    Parameters
    ----------
    folder : Path
        A model folder.

    Returns
    -------
    dict or None
        The contents of its metadata.json.

    Raises
    ------
    KhabarError
        metadata.json is not readable JSON, or not khabar export metadata.
    """
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return None
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KhabarError(f"{path}: not readable JSON: {exc}") from None
    if not isinstance(metadata, dict) or metadata.get("format") != EXPORT_FORMAT:
        raise KhabarError(f'{path}: not khabar export metadata (no "format": "{EXPORT_FORMAT}")')
    return metadata


def saved_sklearn_version(folder: Path) -> str | None:
    """The scikit-learn version a model folder was saved with.

    Parameters
    ----------
    folder : Path
        An export folder or an MLflow model folder.

    Returns
    -------
    str or None
        From an export's metadata or from an MLflow model's MLmodel file; None when the
        folder does not say.
    """
    metadata = read_metadata(folder)
    if metadata is not None:
        return (metadata.get("versions") or {}).get("scikit-learn")
    mlmodel = Path(folder) / "MLmodel"
    if mlmodel.is_file():
        try:
            flavors = yaml.safe_load(mlmodel.read_text(encoding="utf-8")).get("flavors", {})
            return flavors.get("sklearn", {}).get("sklearn_version")
        except (OSError, yaml.YAMLError, AttributeError):
            return None
    return None


def check_model_folder(folder: Path, model_file: Path) -> None:
    """Check a model folder before loading its model file.

    The file must be the one the export recorded; a scikit-learn version mismatch is a
    `KhabarVersionWarning` (the model may still load, but may predict differently).

    Parameters
    ----------
    folder : Path
        The model folder (an export or an MLflow model).
    model_file : Path
        Its model.skops.

    Raises
    ------
    KhabarError
        The file's SHA-256 differs from the one in the export's metadata.
    """
    metadata = read_metadata(folder)
    expected = (metadata or {}).get("sha256")
    if expected and sha256_of(model_file) != expected:
        raise KhabarError(
            f"{model_file}: SHA-256 differs from the one in {METADATA_FILE} "
            "(the file was damaged or replaced after export)"
        )
    saved = saved_sklearn_version(folder)
    if saved and saved != sklearn.__version__:
        warnings.warn(
            f"{folder}: model saved with scikit-learn {saved}, running {sklearn.__version__}; "
            f"predictions may differ (install scikit-learn=={saved} to match, or re-train)",
            KhabarVersionWarning,
            stacklevel=3,
        )
