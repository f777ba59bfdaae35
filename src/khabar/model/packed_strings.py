"""Many short strings (a vocabulary's n-grams, a word list) as two numpy arrays.

skops writes a dict or list of strings as one JSON node per string: a vocabulary of a few
hundred thousand n-grams became a 90 MB schema that took seconds to read. Packed, the
strings are one UTF-8 byte array and the end of each string, which skops keeps as `.npy`
members and reads back in one piece.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pack_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as the UTF-8 bytes of their concatenation and each one's end.

    Parameters
    ----------
    strings : sequence of str
        The strings, in the order to keep.

    Returns
    -------
    data : ndarray of uint8
        The UTF-8 encoding of the strings joined (lone surrogates kept).
    ends : ndarray of int64 of shape (len(strings),)
        Where each string ends in the joined text, in characters.
    """
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    joined = "".join(strings).encode("utf-8", "surrogatepass")
    return np.frombuffer(joined, dtype=np.uint8).copy(), np.cumsum(lengths)


def unpack_strings(data: np.ndarray, ends: np.ndarray) -> list[str]:
    """The strings `pack_strings` packed, in their order.

    Parameters
    ----------
    data : ndarray of uint8
        The UTF-8 bytes of the joined strings.
    ends : ndarray of int
        Each string's end in the joined text, in characters.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        The arrays do not describe a packed list (a damaged or hand-made file).
    """
    text = np.asarray(data, dtype=np.uint8).tobytes().decode("utf-8", "surrogatepass")
    ends = np.asarray(ends, dtype=np.int64)
    last = int(ends[-1]) if ends.ndim == 1 and len(ends) else 0
    if ends.ndim != 1 or last != len(text) or (np.diff(ends, prepend=0) < 0).any():
        raise ValueError("packed strings: the string ends do not match the text")
    starts = np.concatenate([[0], ends[:-1]]).tolist()
    return list(map(text.__getitem__, map(slice, starts, ends.tolist())))
