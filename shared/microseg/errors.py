"""Errors that tell the user what is wrong and how to fix it.

Every error raised for bad user input derives from :class:`MicrosegInputError` (a ``ValueError``), so that the
command-line layer can print it as one line and exit with status 2 instead of a traceback.
"""

from __future__ import annotations

import logging

SKIPPED_INPUT = "microseg_skipped_input"  # attribute of the log record of a skipped input (see log_skipped)

__all__ = ["SKIPPED_INPUT", "MicrosegError", "MicrosegInputError", "find_input_error", "log_skipped"]


class MicrosegError(Exception):
    """Base class of the errors that microseg raises on purpose."""


class MicrosegInputError(MicrosegError, ValueError):
    """An input file, folder or setting is unusable; the message names it and says what to do."""


def find_input_error(error: BaseException) -> MicrosegInputError | None:
    """The :class:`MicrosegInputError` behind ``error`` (itself, or in its chain of causes and contexts: MONAI wraps
    errors raised in transforms and config expressions in ``RuntimeError``), or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, MicrosegInputError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def log_skipped(logger: logging.Logger, error: BaseException) -> None:
    """Log that an input of a batch was skipped because of ``error`` (one ERROR line, the record marked with
    :data:`SKIPPED_INPUT` so that the ``microseg`` command can print it once, in its own words)."""
    logger.error("skipped: %s", error, extra={SKIPPED_INPUT: str(error)})
