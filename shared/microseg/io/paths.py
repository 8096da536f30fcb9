"""Path conventions shared by the readers, writers and data lists.

* HDF5 datasets are addressed as ``file.h5:/group/dataset`` (the ``:/`` separates file and dataset).
* A folder of 2D images is a stack of slices, ordered by natural sort (``z2.png`` before ``z10.png``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from microseg.errors import MicrosegInputError

__all__ = [
    "HDF5_SUFFIXES",
    "IMAGE_SUFFIXES",
    "TIFF_SUFFIXES",
    "is_hdf5_path",
    "list_slice_files",
    "natural_sort_key",
    "split_hdf5_path",
]

TIFF_SUFFIXES = (".tif", ".tiff")
PLAIN_IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PLAIN_IMAGE_SUFFIXES
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")

_DIGITS = re.compile(r"(\d+)")


def natural_sort_key(name: str | os.PathLike) -> list:
    """Key that sorts ``slice_2.png`` before ``slice_10.png`` (numbers compared as numbers, text case-insensitively)."""
    parts = _DIGITS.split(Path(name).name)
    return [int(p) if p.isdigit() else p.lower() for p in parts]


def split_hdf5_path(path: str | os.PathLike) -> tuple[str, str | None]:
    """Split ``file.h5:/group/dataset`` into ``("file.h5", "/group/dataset")``; no dataset part gives ``None``."""
    text = os.fspath(path)
    lowered = text.lower()
    for suffix in HDF5_SUFFIXES:
        marker = suffix + ":"
        index = lowered.find(marker)
        if index >= 0:
            dataset = text[index + len(marker) :].strip()
            if dataset and not dataset.startswith("/"):
                dataset = "/" + dataset
            return text[: index + len(suffix)], dataset or None
    return text, None


def is_hdf5_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names an HDF5 file, with or without a ``:/dataset`` part."""
    return split_hdf5_path(path)[0].lower().endswith(HDF5_SUFFIXES)


def list_slice_files(folder: str | os.PathLike) -> list[Path]:
    """The 2D image files of ``folder`` in natural order; hidden files are skipped.

    Raises:
        MicrosegInputError: if ``folder`` holds no image file, or holds images of several formats.
    """
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
    images = sorted((p for p in files if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_sort_key)
    if not images:
        raise MicrosegInputError(
            f"{folder}: the folder holds no image slices ({', '.join(IMAGE_SUFFIXES)}); "
            "point to a folder of 2D slices, a TIFF stack or an HDF5 dataset (file.h5:/dataset)."
        )
    suffixes = {p.suffix.lower().replace(".jpeg", ".jpg").replace(".tiff", ".tif") for p in images}
    if len(suffixes) > 1:
        raise MicrosegInputError(
            f"{folder}: the folder mixes image formats {sorted(suffixes)}; keep one format per stack of slices."
        )
    return images
