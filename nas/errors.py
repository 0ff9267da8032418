"""Errors that are the user's to fix: the CLI prints them in one line each, exit code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A problem in the user's input (a file, a flag, a query), not a bug in nas.

    ``str(error)`` is the complete message; the CLI prints it without a traceback.
    """

    exit_code = 2


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate, or ``""``; appended to messages."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
