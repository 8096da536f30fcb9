"""What the ``microseg`` command prints around a run: short log lines on standard error that do not break the
progress bars, one line per skipped input, no tracebacks for input errors (``--debug`` shows them), and no
warnings that say nothing to a user.

Three levels:

* ``quiet``: warnings and errors only, no progress bars;
* ``normal`` (the default): the same plus progress bars when standard error is a terminal;
* ``verbose``: every INFO line of MONAI, ignite and microseg, formatted by the bundle's ``logging.conf`` as
  ``python -m monai.bundle run`` shows them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections.abc import Iterator

from microseg.errors import SKIPPED_INPUT
from microseg.progress import show_progress

__all__ = ["ConsoleHandler", "console"]

# Warnings that carry nothing a user can act on: MONAI's notice that configs run code (microseg runs only the
# installed bundles unless --trust_bundle is given), and scikit-image's renaming of an argument that MONAI's
# RemoveSmallObjects passes (the results do not change).
SILENCED_WARNINGS = (
    (UserWarning, r"parsing config_file"),
    (FutureWarning, r".*min_size.*"),
    (UserWarning, r"the effective log level of .* is higher than INFO"),
)
_ENGINE_EXCEPTION = "run is terminating due to exception"  # ignite: "Engine run ..." / "Current run ..."
# Libraries that log the problems of a file they then fail to read: the error microseg raises says it in its words.
QUIET_LIBRARIES = ("tifffile",)
# MONAI loggers that print through a handler of their own (``monai.apps.utils.get_logger``) instead of the root's; the
# console handler takes their place (MONAI adds its own only to a logger that does not exist yet).
MONAI_LOGGERS = ("monai.handlers.StatsHandler", "monai.bundle.scripts", "monai.bundle.workflows", "monai.apps")


class ConsoleHandler(logging.Handler):
    """Log records as ``level: message`` lines on standard error, written around the progress bars. Tracebacks of
    errors and ignite's "terminating due to exception" lines are left out (the command prints the error itself) unless
    ``debug``; skipped inputs are kept in :attr:`skipped` for the command to print at the end."""

    def __init__(self, debug: bool = False) -> None:
        super().__init__(logging.WARNING)
        self.debug = debug
        self.skipped: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, SKIPPED_INPUT):
            self.skipped.append(getattr(record, SKIPPED_INPUT))
            return
        if not self.debug and (
            record.exc_info or _ENGINE_EXCEPTION in record.getMessage() or record.name.split(".")[0] in QUIET_LIBRARIES
        ):
            return
        try:
            from tqdm import tqdm

            tqdm.write(f"{record.levelname.lower()}: {_one_line(record)}", file=sys.stderr)
        except Exception:  # a log line must never end the run
            self.handleError(record)


def _one_line(record: logging.LogRecord) -> str:
    """The record's message on one line; a captured Python warning without its file, line and source line
    (``path.py:12: UserWarning: text\n  warnings.warn(`` -> ``UserWarning: text``)."""
    message = record.getMessage().strip().splitlines()[0] if record.getMessage().strip() else ""
    if record.name == "py.warnings":
        match = re.match(r"^.*?:\d+: (\w+(?:Warning|Error)?: .*)$", message)
        message = match.group(1) if match else message
    return message


@contextlib.contextmanager
def console(quiet: bool = False, verbose: bool = False, debug: bool = False) -> Iterator[ConsoleHandler]:
    """Set up logging, warnings and progress bars for one command; restore them afterwards."""
    root = logging.getLogger()
    handler = ConsoleHandler(debug)
    saved = (root.handlers[:], root.level, logging.root.manager.disable)
    show_progress(not quiet and sys.stderr.isatty())
    with warnings.catch_warnings():
        if not debug:
            for category, message in SILENCED_WARNINGS:
                warnings.filterwarnings("ignore", message=message, category=category)
        if verbose or debug:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
        else:
            root.handlers[:] = [handler]
            root.setLevel(logging.INFO)
            logging.disable(logging.INFO)  # INFO lines of every logger, MONAI's own handlers included
        adopted = {name: logging.getLogger(name) for name in ([] if verbose or debug else MONAI_LOGGERS)}
        before = {name: (lg.handlers[:], lg.propagate) for name, lg in adopted.items()}
        for lg in adopted.values():
            lg.handlers[:], lg.propagate = [handler], False
        logging.captureWarnings(True)
        try:
            yield handler
        finally:
            logging.captureWarnings(False)
            show_progress(False)
            for name, lg in adopted.items():
                lg.handlers[:], lg.propagate = before[name]
            root.handlers[:], root.level = saved[0], saved[1]
            logging.disable(saved[2])
