"""What khabar's compiled estimators share: numba's `njit` when the "scale" extra is
installed, the error that names the setting needing it, and the thread count for n_jobs."""

from __future__ import annotations

import os

from khabar.errors import KhabarError

try:
    from numba import njit
except ImportError:  # the "scale" extra is optional; require_numba says what to install
    njit = None


def require_numba(setting: str) -> None:
    """Raise a KhabarError naming `setting` (the config choice that needs numba) when
    numba is missing.

    Parameters
    ----------
    setting : str
        The config setting that chose a compiled estimator, with its alternative, e.g.
        ``"features.char.engine=fast (or set features.char.engine=sklearn)"``.

    Raises
    ------
    KhabarError
        When numba (the "scale" extra) is not installed.
    """
    if njit is None:
        raise KhabarError(f"{setting} needs numba: pip install 'khabar[scale]'")


def thread_count(n_jobs: int | None) -> int:
    """Threads for an estimator's `n_jobs`.

    Parameters
    ----------
    n_jobs : int or None
        -1 or None means every core; any other value is bounded by the cores there are.

    Returns
    -------
    int
        At least 1, at most the number of cores.
    """
    cores = os.cpu_count() or 1
    return cores if n_jobs in (None, -1) else max(1, min(int(n_jobs), cores))
