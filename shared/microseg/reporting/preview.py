"""``microseg segment --preview``: one picture per input, ``<input name>_preview.png`` in the output folder, with the
outlines of the predicted objects over the image (a stack: a few evenly spaced slices and the max projection; see
:func:`microseg.reporting.overlay.stack_preview`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from microseg.reporting.overlay import save_png, stack_preview

__all__ = ["preview_path", "write_previews"]


def preview_path(source: str | os.PathLike, output_dir: str | os.PathLike) -> Path:
    """Where the preview of ``source`` goes: ``a/stack.tif`` -> ``out/stack_preview.png``, ``a/vol.h5:/raw`` ->
    ``out/vol_preview.png``, ``a/slices/`` -> ``out/slices_preview.png``."""
    from microseg.io.paths import split_hdf5_path

    base = Path(split_hdf5_path(os.fspath(source))[0])
    stem = base.name if base.is_dir() else base.stem
    return Path(output_dir) / f"{stem}_preview.png"


def write_previews(pairs: Sequence[tuple[str, str]], output_dir: str | os.PathLike) -> list[Path]:
    """A preview PNG for every ``(input, mask)`` pair; returns their paths."""
    from microseg.io.load import read_image

    written = []
    for source, mask in pairs:
        picture = stack_preview(read_image(source).array, read_image(mask).array)
        written.append(save_png(picture, preview_path(source, output_dir)))
    return written
