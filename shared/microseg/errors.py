"""Errors that tell the user what is wrong and how to fix it.

Every error raised for bad user input derives from :class:`MicrosegInputError` (a ``ValueError``), so that the
command-line layer can print it as one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

__all__ = ["MicrosegError", "MicrosegInputError"]


class MicrosegError(Exception):
    """Base class of the errors that microseg raises on purpose."""


class MicrosegInputError(MicrosegError, ValueError):
    """An input file, folder or setting is unusable; the message names it and says what to do."""
