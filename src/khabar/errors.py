"""The one error type a user can cause: the CLI prints its message on one line and exits 2."""


class KhabarError(Exception):
    """A problem with the user's input, config or environment, worded for the user."""
