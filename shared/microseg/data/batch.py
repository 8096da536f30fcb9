"""Batch inference that survives bad files and interruptions.

* :class:`TolerantDataset` turns an input that fails its checks into a failure record instead of ending the run; the
  evaluator's ``iteration_update`` :func:`microseg.engines.skip_failed_inputs` skips it and
  :class:`microseg.handlers.FailedInputsReport` names the failures at the end (non-zero exit).
* :class:`microseg.handlers.InferenceManifest` records each input once its outputs are written (atomically) in
  ``output_dir/.microseg_manifest.jsonl`` with a fingerprint of the settings that shape the outputs;
  :func:`pending_inputs` drops the inputs a previous run with the same settings finished, so running the same
  command again after an interruption redoes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from monai.data import Dataset

from microseg.errors import find_input_error, log_skipped
from microseg.io.paths import split_hdf5_path

__all__ = [
    "ERROR_KEY",
    "FAILED_KEY",
    "MANIFEST_NAME",
    "TolerantDataset",
    "input_key",
    "pending_inputs",
    "read_manifest",
    "settings_fingerprint",
]

logger = logging.getLogger(__name__)

FAILED_KEY = "failed_input"
ERROR_KEY = "error"
MANIFEST_NAME = ".microseg_manifest.jsonl"


class TolerantDataset(Dataset):
    """A MONAI ``Dataset`` whose items that raise :class:`~microseg.errors.MicrosegInputError` in ``transform`` (MONAI
    wraps it in a ``RuntimeError``) come
    out as ``{"failed_input": <the item's image>, "error": <message>}`` (logged as an error) instead of stopping the
    data loader. Other exceptions (bugs) still stop the run. Use it with ``batch_size=1``, as the inference configs
    do: a failure record and an image do not collate into one batch.
    """

    def _transform(self, index: int):
        try:
            return super()._transform(index)
        except Exception as raised:
            error = find_input_error(raised)
            if error is None:
                raise
            item = self.data[index]
            name = item.get("image", index) if isinstance(item, Mapping) else index
            log_skipped(logger, error)
            return {FAILED_KEY: str(name), ERROR_KEY: str(error)}


def input_key(name: str | os.PathLike) -> str:
    """How the manifest names an input or output: its absolute path with ``~`` expanded (``file.h5:/dataset`` keeps
    its dataset part), so that ``./a.tif``, ``a.tif`` and ``/data/a.tif`` are one file, from any working directory."""
    return os.path.abspath(os.path.expanduser(os.fspath(name)))


def settings_fingerprint(settings: Mapping) -> str:
    """SHA-256 of the settings that shape a run's outputs (JSON with sorted keys; non-JSON values as text)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(output_dir: str | os.PathLike) -> tuple[str | None, dict[str, list[str]]]:
    """The settings fingerprint and ``{input: [outputs]}`` recorded in ``output_dir``; ``(None, {})`` if none.

    A line cut short by an interruption (the last one) is ignored.
    """
    path = Path(output_dir) / MANIFEST_NAME
    if not path.is_file():
        return None, {}
    fingerprint, done = None, {}
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "settings" in record:
            fingerprint = record["settings"]
        elif "input" in record:
            done[record["input"]] = list(record.get("outputs", []))
    return fingerprint, done


def _exists(output: str) -> bool:
    return Path(split_hdf5_path(output)[0]).exists()


def pending_inputs(
    datalist: Sequence[Mapping], output_dir: str | os.PathLike, settings: Mapping, skip_existing: bool = True
) -> list[Mapping]:
    """The items of ``datalist`` still to do: all of them, or with ``skip_existing`` those that the manifest in
    ``output_dir`` does not record as finished with the same ``settings`` (and whose outputs all still exist).

    Args:
        datalist: ``[{"image": path, ...}, ...]``.
        output_dir: the run's output folder.
        settings: everything that shapes the outputs (threshold, test-time augmentation, weights' digest, ...); a
            change makes every input pending again.
        skip_existing: skip finished inputs (``False`` redoes everything).
    """
    items = list(datalist)
    if not skip_existing:
        return items
    fingerprint, done = read_manifest(output_dir)
    if fingerprint != settings_fingerprint(settings):
        if done:
            logger.info("%s: earlier outputs were made with other settings; segmenting every input again", output_dir)
        return items
    finished = {name for name, outputs in done.items() if outputs and all(_exists(o) for o in outputs)}
    todo = [item for item in items if input_key(item.get("image", "")) not in finished]
    if len(todo) < len(items):
        logger.info(
            "%s: %d of %d inputs were finished by an earlier run with the same settings and are skipped "
            "(skip_existing=false redoes them)",
            output_dir,
            len(items) - len(todo),
            len(items),
        )
    if items and not todo:
        logger.info("%s: nothing left to do", output_dir)
    return todo
