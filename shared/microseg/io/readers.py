"""Image readers for microscopy data, usable through MONAI's ``LoadImage``/``LoadImaged(reader=...)``.

Each reader wraps a function of :mod:`microseg.io.load` (which needs neither MONAI nor torch) and returns the array
in its natural (C-order) layout, with no axis swapping:

* a 2D image: ``(H, W)``, or ``(H, W, C)`` for RGB(A);
* a stack of slices (multipage TIFF, folder of slices, 3D HDF5 dataset): ``(Z, H, W)``, or ``(Z, H, W, C)``.

The metadata carries ``spatial_shape`` and ``original_channel_dim`` (``nan`` when there is no channel axis, ``-1``
for RGB(A)) as MONAI expects, so ``EnsureChannelFirstd`` works unchanged. Unreadable files raise
:class:`~microseg.errors.MicrosegInputError` naming the file.

Note: ``LoadImage(reader=X)`` falls back to MONAI's default readers when ``X`` fails and then reports every
reader's traceback; use :class:`microseg.transforms.LoadMicroscopyd` (or pass the reader at call time) to get the
reader's own error message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from monai.data import ImageReader
from monai.utils import ensure_tuple

from microseg.errors import MicrosegInputError
from microseg.io.load import (
    LoadedImage,
    check_declared,
    memory_limit_bytes,
    read_hdf5,
    read_image,
    read_instance_masks,
    read_plain_image,
    read_slice_folder,
    read_tiff,
    require_exists,
)
from microseg.io.paths import PLAIN_IMAGE_SUFFIXES, TIFF_SUFFIXES, is_hdf5_path, split_hdf5_path

__all__ = [
    "HDF5Reader",
    "InstanceMasksReader",
    "LoadedImage",
    "MicroscopyReader",
    "PlainImageReader",
    "SliceFolderReader",
    "TiffReader",
    "check_declared",
    "memory_limit_bytes",
    "read_image",
]


def _single_path(data: Sequence[str | os.PathLike] | str | os.PathLike) -> str:
    paths = ensure_tuple(data)
    if len(paths) != 1:
        raise MicrosegInputError(f"expected one image path, got {len(paths)}: {list(map(str, paths))}")
    return os.fspath(paths[0])


class _ArrayReader(ImageReader):
    """A MONAI reader around one function of :mod:`microseg.io.load`: natural layout, MONAI metadata keys."""

    suffixes: tuple[str, ...] = ()
    kind = "image"
    load: Callable[[str], LoadedImage] = staticmethod(read_image)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(os.fspath(f).lower().endswith(self.suffixes) for f in ensure_tuple(filename))

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs) -> LoadedImage:
        path = _single_path(data)
        require_exists(split_hdf5_path(path)[0] if is_hdf5_path(path) else path)
        return self.load(path)

    def get_data(self, img: LoadedImage) -> tuple[np.ndarray, dict]:
        array = img.array
        spatial_shape = array.shape[:-1] if img.channel_last else array.shape
        meta = {
            "spatial_shape": np.asarray(spatial_shape),
            "original_channel_dim": -1 if img.channel_last else float("nan"),
            "source_format": self.kind,
            **img.extra,
        }
        return array, meta


class TiffReader(_ArrayReader):
    """Single-page or multipage TIFF (``.tif``/``.tiff``) via ``tifffile``: :func:`microseg.io.load.read_tiff`."""

    suffixes = TIFF_SUFFIXES
    kind = "TIFF"
    load = staticmethod(read_tiff)


class PlainImageReader(_ArrayReader):
    """2D PNG, BMP or JPEG via Pillow: :func:`microseg.io.load.read_plain_image`."""

    suffixes = PLAIN_IMAGE_SUFFIXES
    kind = "image"
    load = staticmethod(read_plain_image)


class SliceFolderReader(_ArrayReader):
    """A folder of 2D slices stacked in natural order into ``(Z, H, W)``: :func:`microseg.io.load.read_slice_folder`."""

    kind = "slice folder"
    load = staticmethod(read_slice_folder)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(Path(f).is_dir() for f in ensure_tuple(filename))


class HDF5Reader(_ArrayReader):
    """A dataset of an HDF5 file, addressed as ``file.h5:/group/dataset``: :func:`microseg.io.load.read_hdf5`.

    Without a ``:/dataset`` part the file must hold exactly one dataset. 2D datasets give ``(H, W)``, 3D ``(Z, H, W)``.
    """

    kind = "HDF5"
    load = staticmethod(read_hdf5)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(is_hdf5_path(f) for f in ensure_tuple(filename))


class InstanceMasksReader(_ArrayReader):
    """A folder of binary masks, one object per file (the Kaggle DSB 2018 ``<id>/masks/`` layout), merged into one
    ``(H, W)`` int32 instance label image: :func:`microseg.io.load.read_instance_masks`."""

    kind = "instance masks"
    load = staticmethod(read_instance_masks)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(Path(f).is_dir() for f in ensure_tuple(filename))


class MicroscopyReader(_ArrayReader):
    """Dispatches on the path (:func:`microseg.io.load.read_image`): folder -> slices, ``.h5[:/ds]`` -> HDF5,
    ``.tif`` -> TIFF, ``.png/.bmp/.jpg`` -> Pillow."""

    kind = "microscopy"
    load = staticmethod(read_image)

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(
            Path(f).is_dir() or is_hdf5_path(f) or os.fspath(f).lower().endswith(TIFF_SUFFIXES + PLAIN_IMAGE_SUFFIXES)
            for f in ensure_tuple(filename)
        )
