"""Errors that are the user's to fix: the CLI prints them in one line each, exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem in the user's input (a file, a flag, a query), not a bug in nas.

    ``str(error)`` is the complete message; the CLI prints it without a traceback.
    """

    exit_code = 2
