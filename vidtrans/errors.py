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


class Interrupted(BaseException):
    """SIGTERM or SIGHUP arrived (`timeout`, `docker stop`, Slurm, a closed terminal).

    The CLI raises it in the main thread so the run stops and cleans up as on Ctrl-C; like KeyboardInterrupt
    it is not an Exception, so no `except Exception` swallows it. The exit code is 128 + the signal number.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none), for one-line errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
