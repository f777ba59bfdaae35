"""The one error type a user can cause: the CLI prints its message on one line and exits 2."""

from __future__ import annotations


class KhabarError(Exception):
    """A problem with the user's input, config or environment, worded for the user.

    Its message names the file, row, key or setting at fault; the command line prints it
    on one line after ``khabar: error:`` and exits with status 2.
    """


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message.

    Libraries' messages can run to many lines, and a khabar error is one.

    Parameters
    ----------
    exc : BaseException
        Any exception; MLflow's carry their text in a `message` attribute, used when set.

    Returns
    -------
    str
        The message's first non-blank line, or the exception type's name when the message
        is empty.
    """
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
