"""Handlers of a batch inference run: the manifest of finished inputs and the report of failed ones
(see :mod:`microseg.data.batch`)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from ignite.engine import Engine, Events

from microseg.data.batch import MANIFEST_NAME, input_key, read_manifest, settings_fingerprint
from microseg.handlers.report_files import item_source
from microseg.io.background import BackgroundWriter
from microseg.io.failures import FAILED_INPUTS_FILE, failed_inputs_error
from microseg.io.writers import atomic_output

__all__ = ["FailedInputsReport", "InferenceManifest"]

logger = logging.getLogger(__name__)


def _items(output) -> list[Mapping]:
    if isinstance(output, Mapping):
        return [output] if output else []
    return [item for item in output or [] if isinstance(item, Mapping)]


class InferenceManifest:
    """Append ``{"input": ..., "outputs": [...]}`` to ``output_dir/.microseg_manifest.jsonl`` after each input's
    outputs are written (every ``*_path`` entry that :class:`~microseg.transforms.SaveMaskd` adds), flushed to disk.

    The first line holds the fingerprint of ``settings``; a manifest of other settings is started afresh. Read back
    by :func:`microseg.data.batch.pending_inputs`. At the start of a run, temporary files that a killed run left
    in ``output_dir`` (``.<name>.*.partial*``, untouched for 10 minutes) are removed.

    With ``writer`` (the :class:`~microseg.io.BackgroundWriter` of the run's ``SaveMaskd``) each record is queued
    behind its input's files and written once they are; at the end of the run the handler waits for the writer and
    adds the inputs whose writes failed with an input error to ``engine.state.failed_inputs`` (reported by
    :class:`FailedInputsReport`, attached after this handler).

    Args:
        output_dir: the run's output folder.
        settings: what shapes the outputs (the same mapping given to ``pending_inputs``).
        writer: the background writer of the outputs, or None when they are written in the iteration.
    """

    STALE_SECONDS = 600

    def __init__(
        self, output_dir: str | os.PathLike, settings: Mapping, writer: BackgroundWriter | None = None
    ) -> None:
        self.path = Path(output_dir) / MANIFEST_NAME
        self.fingerprint = settings_fingerprint(settings)
        self.writer = writer
        self._checked = False

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)
        if self.writer is not None:
            engine.add_event_handler(Events.COMPLETED, self._wait_for_writer)

    def _wait_for_writer(self, engine: Engine) -> None:
        try:
            failed = self.writer.wait()
        finally:
            self.writer.close()  # no idle thread left behind in a long-lived process; the next run starts one
        if failed:
            if not hasattr(engine.state, "failed_inputs"):
                engine.state.failed_inputs = []
            engine.state.failed_inputs.extend(failed)

    def _reset(self, engine: Engine) -> None:
        """Start of a run: a manifest of other settings is emptied at once (before any output is rewritten), and
        temporary files that a killed run left are removed (those untouched for ``STALE_SECONDS``: a file another run
        is writing right now is younger)."""
        self._checked = False
        if self.path.is_file():
            self._start_manifest()
        cutoff = time.time() - self.STALE_SECONDS
        for stale in self.path.parent.glob(".*.partial*"):
            if stale.stat().st_mtime < cutoff:
                logger.info("removing %s, left by an interrupted run", stale)
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)

    def _start_manifest(self) -> None:
        fingerprint, _ = read_manifest(self.path.parent)
        if fingerprint != self.fingerprint:
            with atomic_output(self.path) as tmp:
                tmp.write_text(json.dumps({"settings": self.fingerprint}) + "\n")
        self._checked = True

    def __call__(self, engine: Engine) -> None:
        records = []
        for item in _items(engine.state.output):
            name = item_source(item, "")
            outputs = [input_key(v) for k, v in item.items() if str(k).endswith("_path") and isinstance(v, str | Path)]
            if name and outputs:
                records.append((name, json.dumps({"input": input_key(name), "outputs": outputs})))
        if self.writer is None:
            self._append([record for _, record in records])
            return
        for name, record in records:  # after the input's files, skipped if one of them failed
            self.writer.submit(name, self._append, [record])

    def _append(self, records: list[str]) -> None:
        if not records:
            return
        if not self._checked:
            self._start_manifest()
        with open(self.path, "a") as handle:
            handle.write("\n".join(records) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


class FailedInputsReport:
    """At the end of a run, if inputs were skipped (``engine.state.failed_inputs``, filled by
    :func:`microseg.engines.skip_failed_inputs`), write them with their errors to ``output_dir/failed_inputs.txt``
    and raise one :class:`~microseg.errors.MicrosegInputError` that counts them, so the command exits non-zero after
    finishing every good input. A run of one input raises that input's own error (and makes no output folder for
    it). A clean run removes an old ``failed_inputs.txt``.

    Args:
        output_dir: the run's output folder.
    """

    FILE_NAME = FAILED_INPUTS_FILE

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.output_dir = Path(output_dir)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._reset)
        engine.add_event_handler(Events.COMPLETED, self)

    def _reset(self, engine: Engine) -> None:
        engine.state.failed_inputs = []

    def __call__(self, engine: Engine) -> None:
        failures = list(getattr(engine.state, "failed_inputs", []))
        error = failed_inputs_error(self.output_dir, failures, engine.state.epoch_length or len(failures))
        if error is not None:
            raise error
