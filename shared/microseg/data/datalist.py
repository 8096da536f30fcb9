"""Data lists for bundle configs: what to segment, and which image goes with which label."""

from __future__ import annotations

import os
from pathlib import Path

from microseg.errors import MicrosegInputError
from microseg.io.paths import HDF5_SUFFIXES, IMAGE_SUFFIXES, TIFF_SUFFIXES, natural_sort_key, split_hdf5_path

__all__ = ["list_inputs"]


def _is_volume_file(path: Path) -> bool:
    """A file that is a volume on its own: HDF5, or a multipage TIFF."""
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return True
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                return len(tif.series[0].shape) - int(tif.series[0].axes.endswith("S")) >= 3
        except Exception:  # unreadable: let the reader report it with the file name
            return True
    return False


def list_inputs(path: str | os.PathLike, folder: str = "auto") -> list[dict[str, str]]:
    """The inputs found at ``path``, as a MONAI data list ``[{"image": path}, ...]``.

    Args:
        path: a file (TIFF stack, 2D image, ``file.h5[:/dataset]``) or a folder.
        folder: how to read a folder: ``"stack"`` (the folder is one stack of 2D slices), ``"images"`` (each file
            is one input), or ``"auto"`` (each file is one input when the folder holds HDF5 files or multipage TIFFs,
            otherwise the folder is one stack of slices).

    Raises:
        MicrosegInputError: the path does not exist, or the folder holds no usable file.
    """
    if folder not in ("auto", "stack", "images"):
        raise ValueError(f"folder must be 'auto', 'stack' or 'images', got {folder!r}")
    text = os.fspath(path)
    base = Path(split_hdf5_path(text)[0])
    if not base.exists():
        raise MicrosegInputError(f"{text}: no such file or folder; check the path.")
    if base.is_file():
        return [{"image": text}]
    files = sorted(
        (
            p
            for p in base.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES + HDF5_SUFFIXES
        ),
        key=natural_sort_key,
    )
    if not files:
        raise MicrosegInputError(
            f"{base}: the folder is empty or holds no image ({', '.join(IMAGE_SUFFIXES + HDF5_SUFFIXES)})."
        )
    if folder == "images" or (folder == "auto" and any(_is_volume_file(p) for p in files)):
        return [{"image": str(p)} for p in files]
    return [{"image": str(base)}]
