"""A writer thread, so that the next input is read and predicted while the last one's outputs are encoded and
written (TIFF/PNG/HDF5 compression, ``fsync``)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from microseg.errors import find_input_error

__all__ = ["BackgroundWriter"]

logger = logging.getLogger(__name__)


class BackgroundWriter:
    """Run writes in submission order on one background thread, at most ``max_pending`` queued at a time.

    :class:`~microseg.transforms.SaveMaskd` (``writer=``) submits each output file;
    :class:`~microseg.handlers.InferenceManifest` (same ``writer``) submits the input's manifest record after them,
    so an input is recorded only once its outputs are on disk, as without the thread; at the end of the run it
    waits for the queue (:meth:`wait`). Work is tagged with its input: when a write fails with
    :class:`~microseg.errors.MicrosegInputError`, that input's later work (its record) is skipped and the failure is
    reported by :meth:`wait` as ``(input, error)``, like a failure during prediction; any other error stops the
    writer, and the next :meth:`submit` or :meth:`wait` raises it in the caller's thread.

    Args:
        max_pending: writes queued or running before :meth:`submit` blocks; each holds its array in memory.
    """

    def __init__(self, max_pending: int = 2) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.max_pending = int(max_pending)
        self._slots = threading.BoundedSemaphore(self.max_pending)
        self._executor: ThreadPoolExecutor | None = None
        self._last: Future | None = None
        self._error: BaseException | None = None
        self._failed: dict[str, str] = {}  # input -> error, in the order they failed

    def submit(self, tag: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``fn(*args, **kwargs)`` as work of input ``tag``; blocks while ``max_pending`` writes wait."""
        self._raise_error()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="microseg-writer")
        self._slots.acquire()
        try:
            self._last = self._executor.submit(self._run, tag, fn, args, kwargs)
        except BaseException:
            self._slots.release()
            raise

    def _run(self, tag: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            if self._error is None and tag not in self._failed:
                fn(*args, **kwargs)
        except BaseException as raised:  # reported in the caller's thread
            error = find_input_error(raised)
            if error is not None:
                logger.error("skipped: %s", error)
                self._failed[tag] = str(error)
            else:
                self._error = raised
        finally:
            self._slots.release()

    def wait(self) -> list[tuple[str, str]]:
        """Wait until everything submitted is written; return the inputs whose writes failed with an input error,
        as ``(input, error)``, and forget them. Raises the first other error of the thread."""
        if self._last is not None:
            self._last.result()
        self._raise_error()
        failed, self._failed = list(self._failed.items()), {}
        return failed

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        """Wait for the queue and stop the thread (a later :meth:`submit` starts a new one)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __repr__(self) -> str:
        return f"BackgroundWriter(max_pending={self.max_pending})"
