"""The iteration of an inference evaluator that skips inputs failing their checks (see :mod:`microseg.data.batch`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from microseg.data.batch import ERROR_KEY, FAILED_KEY
from microseg.errors import find_input_error, log_skipped

__all__ = ["skip_failed_inputs"]

logger = logging.getLogger(__name__)


def _batch_inputs(batch) -> str:
    image = batch.get("image") if isinstance(batch, Mapping) else None
    names = (getattr(image, "meta", None) or {}).get("filename_or_obj") or "input"
    return ", ".join(map(str, names)) if isinstance(names, list | tuple) else str(names)


def skip_failed_inputs(engine, batchdata) -> dict:
    """``iteration_update`` for MONAI evaluators: run the evaluator's own iteration, except for a failure record of
    :class:`~microseg.data.batch.TolerantDataset` or a batch whose inference or post-processing raises
    :class:`~microseg.errors.MicrosegInputError`; those are added to ``engine.state.failed_inputs`` as
    ``(input, error)`` and give an empty output.

    In a config: ``"evaluator": {"_target_": "SupervisedEvaluator", ..., "iteration_update":
    "$microseg.engines.skip_failed_inputs"}``.
    """
    if not hasattr(engine.state, "failed_inputs"):
        engine.state.failed_inputs = []
    if isinstance(batchdata, Mapping) and FAILED_KEY in batchdata:
        engine.state.failed_inputs.extend(zip(batchdata[FAILED_KEY], batchdata[ERROR_KEY], strict=True))
        return {}
    try:
        return type(engine)._iteration(engine, engine, batchdata)
    except Exception as raised:
        error = find_input_error(raised)
        if error is None:
            raise
        log_skipped(logger, error)
        engine.state.failed_inputs.append((_batch_inputs(batchdata), str(error)))
        return {}
