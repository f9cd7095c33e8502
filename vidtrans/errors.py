"""Errors that reach the user as a one-line message (the CLI turns them into exit codes)."""

from __future__ import annotations


class VidtransError(Exception):
    """A problem the user can fix: bad input, a missing model, an unwritable output.

    The message is one line that names the file or setting and what is wrong with it.
    """

    exit_code: int = 1


class UsageError(VidtransError, ValueError):
    """Options that contradict each other or are out of range (also a ValueError, for Python callers)."""

    exit_code = 2


class InputError(VidtransError):
    """An input file or folder that is missing, unreadable or not what it claims to be."""


class OutputError(VidtransError):
    """An output that cannot be written, or would overwrite something without --overwrite."""


class ModelError(VidtransError):
    """A model that cannot be found, loaded or trusted."""


class MissingExtraError(VidtransError):
    """An optional dependency is not installed; the message names the extra to install."""


class PartialFailure(VidtransError):
    """The job finished but some items failed; the message says how many."""

    exit_code = 3
