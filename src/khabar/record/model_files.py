"""Model files without pickle: skops, trusting only the types a khabar Pipeline is built from."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from sklearn.pipeline import Pipeline

from khabar.errors import KhabarError, first_line
from khabar.version import __version__


def _skops_io():
    # Imported when first used: skops adds ~27 MB that training needs only after its fit.
    import skops.io

    return skops.io


# A khabar Pipeline holds khabar's own classes, scikit-learn estimators and the numpy /
# scipy containers inside them. A type from anywhere else is refused.
TRUSTED_MODULE_PREFIXES = ("khabar.", "sklearn.", "numpy.", "scipy.sparse.")
SKOPS_FILE = "model.skops"


def untrusted_types(path: Path) -> list[str]:
    """The types a skops file names beyond skops' default trusted ones, read without loading.

    Parameters
    ----------
    path : Path
        A skops file.

    Returns
    -------
    list of str
        Dotted type names, to be checked with `is_trusted_type`.
    """
    return list(_skops_io().get_untrusted_types(file=path))


def _resolve(name: str) -> object | None:
    """The object a dotted name refers to, importing only from already trusted packages."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:  # a module that fails to import names nothing we trust
            return None
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        return found
    return None


def is_trusted_type(name: str) -> bool:
    """Whether a type a skops file names is a class of khabar, scikit-learn, numpy or scipy.

    Functions are refused even there: a skops file can name any function (e.g. one that
    runs a command) as a step's callable, and a khabar Pipeline stores none. Only trusted
    packages are imported to look the name up.

    Parameters
    ----------
    name : str
        A dotted type name, e.g. ``sklearn.svm._classes.LinearSVC``.

    Returns
    -------
    bool
        True for a class under `TRUSTED_MODULE_PREFIXES`.
    """
    return name.startswith(TRUSTED_MODULE_PREFIXES) and isinstance(_resolve(name), type)


def types_to_trust(model: Pipeline) -> list[str]:
    """The non-default types a model needs trusted: what MLflow records in its MLmodel.

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline.

    Returns
    -------
    list of str
        Dotted type names, sorted.
    """
    return sorted(t for t in _skops_io().get_untrusted_types(data=_skops_io().dumps(model)))


def save_skops(model: Pipeline, path: Path) -> None:
    """Write a model to a skops file (no pickle).

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline.
    path : Path
        The file to write, ``model.skops`` by convention.
    """
    _skops_io().dump(model, path)


def _legacy_module(name: str) -> str | None:
    """The module a type name from before the layers lives in now: models saved by khabar
    0.1's flat layout name e.g. `khabar.normalize.ArabicNormalizer`; every estimator class
    moved, under its module's name, into the model layer (`khabar.model.normalize`)."""
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "khabar":
        return f"khabar.model.{parts[1]}"
    return None


def _alias_legacy_modules(names: list[str]) -> None:
    """Make old flat module paths importable as the model layer's modules, so skops (which
    imports a type's recorded module) finds them. Only model-layer modules are aliased."""
    for name in names:
        old = name.rsplit(".", 1)[0]
        new = _legacy_module(name)
        if new is None or old in sys.modules:
            continue
        try:
            sys.modules[old] = importlib.import_module(new)
        except ImportError:
            continue  # no such module in the model layer: the type stays unresolved, refused


def load_skops(path: Path) -> Pipeline:
    """Load a Pipeline from a skops file under khabar's trust policy.

    Parameters
    ----------
    path : Path
        A ``model.skops`` file.

    Returns
    -------
    Pipeline
        The fitted scikit-learn Pipeline.

    Raises
    ------
    KhabarError
        The file is missing, unreadable, names a type outside the policy, holds state its
        classes refuse, or holds something other than a Pipeline.
    """
    path = Path(path)
    if not path.is_file():
        raise KhabarError(f"model file not found: {path}")
    try:
        needed = untrusted_types(path)
    except Exception as exc:  # a damaged or foreign file: skops raises many types
        raise KhabarError(f"{path}: not a readable skops model file: {exc}") from None
    _alias_legacy_modules(needed)
    # Only trusted packages are imported to look a name up, so the check runs no foreign code.
    refused = [t for t in needed if not is_trusted_type(t)]
    if refused:
        raise KhabarError(
            f"{path}: refusing to load untrusted type(s) {refused}; a khabar model holds only "
            f"classes from {', '.join(p.rstrip('.') for p in TRUSTED_MODULE_PREFIXES)}"
        )
    try:
        model = _skops_io().load(path, trusted=needed)
    except Exception as exc:  # damaged state: a step's own checks raise (e.g. ValueError)
        raise KhabarError(f"{path}: cannot load the model: {first_line(exc)}") from None
    if not isinstance(model, Pipeline):
        raise KhabarError(f"{path}: holds a {type(model).__name__}, not a scikit-learn Pipeline")
    return model


def pip_requirements(model: Pipeline) -> list[str]:
    """The packages a logged model needs, stated rather than inferred.

    MLflow's inference loads the model again in a subprocess, seconds per run that add up
    in a sweep.

    Parameters
    ----------
    model : Pipeline
        A fitted khabar Pipeline; a compiled estimator in it adds its `extra_requirements`.

    Returns
    -------
    list of str
        Pinned requirements (``name==version``) of the running environment, khabar first.
    """
    from importlib.metadata import version

    names = ["scikit-learn", "skops", "numpy", "scipy", "pandas"]
    parts = [model, *model.get_params(deep=True).values()]
    # A compiled estimator says what it needs beyond scikit-learn (numba).
    names += sorted({r for p in parts for r in getattr(type(p), "extra_requirements", ())})
    return [f"khabar=={__version__}", *(f"{name}=={version(name)}" for name in names)]
