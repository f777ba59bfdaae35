"""The C heap under corpus-sized work (glibc; on other C libraries both calls do nothing).

glibc keeps freed memory inside the process unless asked: freed blocks scattered between
live ones stay resident, and after a large array is freed its "dynamic mmap threshold" rises
(up to 32 MB), so later arrays of a few MB come from the heap and stay behind after they are
freed too. At SaudiNewsNet scale the two together were ~140 MB of a training process's
peak (docs/NOTES.md, "Scale benchmark").
"""

from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3  # mallopt parameter number, from glibc's malloc.h
_MMAP_THRESHOLD_BYTES = 1 << 20


def _libc():
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def release_free_heap() -> None:
    """Hand the heap's free pages back to the system.

    Called after large frees (reading a corpus, the n-gram count, the training texts).
    Does nothing on C libraries other than glibc.
    """
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def use_fixed_mmap_threshold() -> None:
    """Give blocks of 1 MB and more their own mapping, returned to the system when freed.

    A fixed threshold also turns off glibc's raising of it. The command line calls this
    once at start; a library should leave the allocator of its host process alone. Does
    nothing on C libraries other than glibc.
    """
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES)
