"""Image readers for microscopy data, usable through MONAI's ``LoadImage``/``LoadImaged(reader=...)``.

Every reader returns the array in its natural (C-order) layout, with no axis swapping:

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from monai.data import ImageReader
from monai.utils import ensure_tuple

from microseg.errors import MicrosegInputError
from microseg.io.paths import (
    HDF5_SUFFIXES,
    PLAIN_IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    is_hdf5_path,
    list_slice_files,
    split_hdf5_path,
)

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

_CHANNEL_SIZES = (3, 4)
_PIL_DTYPES = {"I": "i4", "I;16": "u2", "I;16B": "u2", "I;16L": "u2", "F": "f4"}  # other modes: bytes per band


@dataclass
class LoadedImage:
    """What ``read`` returns: the array, the source path and whether the last axis holds colour channels."""

    array: np.ndarray
    path: str
    channel_last: bool = False
    extra: dict = field(default_factory=dict)


def _single_path(data: Sequence[str | os.PathLike] | str | os.PathLike) -> str:
    paths = ensure_tuple(data)
    if len(paths) != 1:
        raise MicrosegInputError(f"expected one image path, got {len(paths)}: {list(map(str, paths))}")
    return os.fspath(paths[0])


def _require_exists(path: str | os.PathLike) -> None:
    if not Path(path).exists():
        raise MicrosegInputError(
            f"{path}: no such file or folder; check the path (relative paths are taken from "
            f"the working directory {Path.cwd()})."
        )


def memory_limit_bytes() -> int:
    """The largest array a reader loads: ``$MICROSEG_MAX_IMAGE_BYTES`` if set, else this machine's physical memory."""
    env = os.environ.get("MICROSEG_MAX_IMAGE_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError as error:
            raise MicrosegInputError(
                f"MICROSEG_MAX_IMAGE_BYTES={env!r}: give a number of bytes, e.g. 8e9 for 8 GB."
            ) from error
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no limit we can know
        return 2**62


def check_declared(path: str | os.PathLike, shape: Sequence[int], dtype) -> None:
    """Refuse an image by what its header declares, before any pixel is read: no pixels, a dtype that is not a
    number, or more bytes than :func:`memory_limit_bytes` (a corrupt or hostile header, or a volume to be read in
    tiles). Shapes are ``(H, W)``, ``(Z, H, W)`` or either with channels last.

    Raises:
        MicrosegInputError: naming the file, the declared shape and what to do.
    """
    shape = tuple(int(n) for n in shape)
    dtype = np.dtype(dtype)
    if not shape or min(shape) <= 0:
        raise MicrosegInputError(f"{path}: the image declares no pixels (shape {shape}); the file is empty or corrupt.")
    if dtype.kind not in "buif":
        raise MicrosegInputError(
            f"{path}: pixel type {dtype} is not a real number (complex, text or record data); save the image as "
            "integers or floats (e.g. the magnitude of complex data)."
        )
    size = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    limit = memory_limit_bytes()
    if size > limit:
        raise MicrosegInputError(
            f"{path}: the file declares an image of shape {shape} ({dtype}, {size / 2**30:.1f} GiB), more than the "
            f"{limit / 2**30:.1f} GiB this machine can hold; crop or downsample it, or raise MICROSEG_MAX_IMAGE_BYTES "
            "if the header is right and the memory is there."
        )


def _unreadable(path: str, kind: str, error: Exception) -> MicrosegInputError:
    return MicrosegInputError(
        f"{path}: cannot read this {kind} file ({type(error).__name__}: {error}); it is truncated, corrupt or not a "
        f"{kind} file. Copy or export it again."
    )


class _ArrayReader(ImageReader):
    """Shared ``get_data`` for the readers below: natural layout, MONAI metadata keys."""

    suffixes: tuple[str, ...] = ()
    kind = "image"

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(os.fspath(f).lower().endswith(self.suffixes) for f in ensure_tuple(filename))

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs) -> LoadedImage:
        path = _single_path(data)
        _require_exists(path)
        return self._read(path)

    def _read(self, path: str) -> LoadedImage:
        raise NotImplementedError

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


def _is_colour(array: np.ndarray) -> bool:
    return array.ndim >= 3 and array.shape[-1] in _CHANNEL_SIZES


class TiffReader(_ArrayReader):
    """Single-page or multipage TIFF (``.tif``/``.tiff``) via ``tifffile``.

    A multipage greyscale TIFF gives ``(Z, H, W)``; a single page gives ``(H, W)``; RGB(A) samples stay last.
    """

    suffixes = TIFF_SUFFIXES
    kind = "TIFF"

    def _read(self, path: str) -> LoadedImage:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                if not tif.series:
                    raise ValueError("the file holds no image")
                series = tif.series[0]
                check_declared(path, series.shape, series.dtype)
                array = series.asarray()
                channel_last = series.axes.endswith("S") and array.shape[-1] in _CHANNEL_SIZES
        except MicrosegInputError:
            raise
        except Exception as error:
            raise _unreadable(path, self.kind, error) from error
        return LoadedImage(np.asarray(array), path, channel_last)


class PlainImageReader(_ArrayReader):
    """2D PNG, BMP or JPEG via Pillow: ``(H, W)`` for greyscale and 16-bit, ``(H, W, C)`` for RGB(A)."""

    suffixes = PLAIN_IMAGE_SUFFIXES
    kind = "image"

    def _read(self, path: str) -> LoadedImage:
        from PIL import Image

        try:
            with Image.open(path) as image:
                check_declared(
                    path, (image.height, image.width, len(image.getbands())), _PIL_DTYPES.get(image.mode, "u1")
                )
                image.load()
                if image.mode == "P":
                    image = image.convert("RGBA" if "transparency" in image.info else "RGB")
                array = np.asarray(image)
        except MicrosegInputError:
            raise
        except Image.DecompressionBombError as error:
            raise MicrosegInputError(
                f"{path}: {error} Pillow refuses images this large as a safety measure; if the image is genuine, save "
                "it as a TIFF (read without that limit, up to this machine's memory)."
            ) from error
        except Exception as error:
            raise _unreadable(path, Path(path).suffix.lstrip(".").upper(), error) from error
        return LoadedImage(array, path, _is_colour(array))


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read one 2D image or stack with the reader its suffix calls for (TIFF, PNG/BMP/JPEG, HDF5, folder)."""
    return MicroscopyReader().read(path)


class SliceFolderReader(_ArrayReader):
    """A folder of 2D slices (TIFF, PNG, BMP or JPEG, one format), stacked in natural order into ``(Z, H, W)``."""

    kind = "slice folder"

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(Path(f).is_dir() for f in ensure_tuple(filename))

    def _read(self, path: str) -> LoadedImage:
        if not Path(path).is_dir():
            raise MicrosegInputError(f"{path}: expected a folder of 2D slices, got a file.")
        slices = []
        files = list_slice_files(path)
        for file in files:
            loaded = (TiffReader() if file.suffix.lower() in TIFF_SUFFIXES else PlainImageReader()).read(file)
            if not slices:
                check_declared(path, (len(files), *loaded.array.shape), loaded.array.dtype)
            if slices and loaded.array.shape != slices[0].array.shape:
                raise MicrosegInputError(
                    f"{file}: slice shape {loaded.array.shape} differs from {slices[0].array.shape} of "
                    f"{Path(slices[0].path).name}; all slices of a stack must have one shape."
                )
            if loaded.array.ndim - int(loaded.channel_last) != 2:
                raise MicrosegInputError(f"{file}: expected a 2D slice, got an array of shape {loaded.array.shape}.")
            slices.append(loaded)
        names = [Path(s.path).name for s in slices]
        return LoadedImage(
            np.stack([s.array for s in slices]), path, slices[0].channel_last, {"slice_names": "\n".join(names)}
        )


class HDF5Reader(_ArrayReader):
    """A dataset of an HDF5 file, addressed as ``file.h5:/group/dataset``.

    Without a ``:/dataset`` part the file must hold exactly one dataset. 2D datasets give ``(H, W)``, 3D ``(Z, H, W)``.
    """

    suffixes = HDF5_SUFFIXES
    kind = "HDF5"

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(is_hdf5_path(f) for f in ensure_tuple(filename))

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs) -> LoadedImage:
        path = _single_path(data)
        _require_exists(split_hdf5_path(path)[0])
        return self._read(path)

    def _read(self, path: str) -> LoadedImage:
        import h5py

        file_name, dataset = split_hdf5_path(path)
        try:
            with h5py.File(file_name, "r") as h5:
                dataset = dataset or _only_dataset(h5, file_name)
                if dataset not in h5 or not isinstance(h5[dataset], h5py.Dataset):
                    raise MicrosegInputError(
                        f"{file_name}: no dataset {dataset!r}; it holds {_dataset_names(h5)}. "
                        f"Name one as {file_name}:/<dataset>."
                    )
                check_declared(path, h5[dataset].shape, h5[dataset].dtype)
                array = h5[dataset][()]
        except MicrosegInputError:
            raise
        except Exception as error:
            raise _unreadable(file_name, self.kind, error) from error
        return LoadedImage(np.asarray(array), path, _is_colour(array), {"hdf5_dataset": dataset})


def _dataset_names(h5) -> list[str]:
    import h5py

    names: list[str] = []
    h5.visititems(lambda name, obj: names.append("/" + name) if isinstance(obj, h5py.Dataset) else None)
    return names


def _only_dataset(h5, file_name: str) -> str:
    names = _dataset_names(h5)
    if len(names) != 1:
        raise MicrosegInputError(
            f"{file_name}: holds {len(names)} datasets {names}; name the one to use as {file_name}:/<dataset>."
        )
    return names[0]


class InstanceMasksReader(_ArrayReader):
    """A folder of binary masks, one object per file (the Kaggle DSB 2018 ``<id>/masks/`` layout), merged into one
    ``(H, W)`` int32 instance label image: the ``i``-th mask in natural file order gets label ``i + 1``.

    Masks are not expected to overlap; where they do, the later file's label wins. A folder without mask files is an
    error (the image size would be unknown).
    """

    kind = "instance masks"

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return all(Path(f).is_dir() for f in ensure_tuple(filename))

    def _read(self, path: str) -> LoadedImage:
        if not Path(path).is_dir():
            raise MicrosegInputError(f"{path}: expected a folder of per-object binary masks, got a file.")
        files = list_slice_files(path)
        labels = np.zeros(0, np.int32)
        for index, file in enumerate(files, start=1):
            mask = (TiffReader() if file.suffix.lower() in TIFF_SUFFIXES else PlainImageReader()).read(file).array
            if mask.ndim != 2:
                raise MicrosegInputError(f"{file}: expected a 2D binary mask, got an array of shape {mask.shape}.")
            if index == 1:
                labels = np.zeros(mask.shape, np.int32)
            elif mask.shape != labels.shape:
                raise MicrosegInputError(
                    f"{file}: mask shape {mask.shape} differs from {labels.shape} of {files[0].name}; all masks of "
                    "an image must have the image's shape."
                )
            labels[mask > 0] = index
        return LoadedImage(labels, path, False)


class MicroscopyReader(_ArrayReader):
    """Dispatches on the path: folder -> :class:`SliceFolderReader`, ``.h5[:/ds]`` -> :class:`HDF5Reader`,
    ``.tif`` -> :class:`TiffReader`, ``.png/.bmp/.jpg`` -> :class:`PlainImageReader`."""

    kind = "microscopy"

    def __init__(self) -> None:
        super().__init__()
        self._readers: tuple[_ArrayReader, ...] = (SliceFolderReader(), HDF5Reader(), TiffReader(), PlainImageReader())

    def verify_suffix(self, filename: Sequence[str | os.PathLike] | str | os.PathLike) -> bool:
        return any(reader.verify_suffix(filename) for reader in self._readers)

    def read(self, data: Sequence[str | os.PathLike] | str | os.PathLike, **kwargs) -> LoadedImage:
        path = _single_path(data)
        for reader in self._readers:
            if reader.verify_suffix(path):
                loaded = reader.read(path)
                loaded.extra.setdefault("source_format", reader.kind)
                return loaded
        _require_exists(path)
        raise MicrosegInputError(
            f"{path}: unsupported file type; use a TIFF stack (.tif), a 2D PNG/BMP/JPEG/TIFF image, an HDF5 "
            "dataset (file.h5:/dataset) or a folder of 2D slices."
        )
