"""The end of a batch run in which some inputs failed: ``failed_inputs.txt`` in the output folder and the one error
that counts them (used by the PyTorch path's :class:`microseg.handlers.FailedInputsReport` and the ONNX Runtime
path alike; no torch)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from microseg.errors import MicrosegInputError
from microseg.io.writers import atomic_output

__all__ = ["FAILED_INPUTS_FILE", "failed_inputs_error"]

FAILED_INPUTS_FILE = "failed_inputs.txt"


def failed_inputs_error(
    output_dir: str | os.PathLike, failures: Sequence[tuple[str, str]], total: int
) -> MicrosegInputError | None:
    """Write ``(input, error)`` failures to ``output_dir/failed_inputs.txt`` (one ``input<TAB>error`` line each) and
    return the error to raise: a run of one input gets that input's own error (and no output folder is made for it);
    more inputs get one that counts the failures. ``None`` (and an old ``failed_inputs.txt`` removed) when nothing
    failed."""
    output_dir = Path(output_dir)
    report = output_dir / FAILED_INPUTS_FILE
    if not failures:
        report.unlink(missing_ok=True)
        return None
    if total > 1 or output_dir.exists():
        with atomic_output(report) as tmp:
            tmp.write_text("".join(f"{name}\t{error}\n" for name, error in failures))
    if total == 1:
        return MicrosegInputError(failures[0][1])
    shown = ", ".join(name for name, _ in failures[:3]) + (" ..." if len(failures) > 3 else "")
    return MicrosegInputError(
        f"{len(failures)} of {total} inputs failed and were skipped ({shown}); each is listed with its error in "
        f"{report}. The other {total - len(failures)} were segmented into {output_dir}."
    )
