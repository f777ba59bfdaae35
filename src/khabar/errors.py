"""The one error type a user can cause: the CLI prints its message on one line and exits 2."""

from __future__ import annotations


class KhabarError(Exception):
    """A problem with the user's input, config or environment, worded for the user."""


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message (MLflow's `message` when it has
    one), or its type's name when the message is empty: libraries' messages can run to
    many lines, and a khabar error is one."""
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
