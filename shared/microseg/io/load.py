"""Reading microscopy images into NumPy arrays, without MONAI or torch: the readers behind
:mod:`microseg.io.readers` (MONAI ``ImageReader`` wrappers) and the ONNX Runtime path.

Every function returns the array in its natural (C-order) layout, with no axis swapping: a 2D image ``(H, W)`` or
``(H, W, C)`` for RGB(A); a stack (multipage TIFF, folder of slices, 3D HDF5 dataset) ``(Z, H, W)`` or
``(Z, H, W, C)``. Unreadable files raise :class:`~microseg.errors.MicrosegInputError` naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.paths import (
    PLAIN_IMAGE_SUFFIXES,
    TIFF_SUFFIXES,
    is_hdf5_path,
    list_slice_files,
    split_hdf5_path,
)

__all__ = [
    "LoadedImage",
    "check_declared",
    "memory_limit_bytes",
    "read_channel_first",
    "read_hdf5",
    "read_image",
    "read_instance_masks",
    "read_plain_image",
    "read_slice_folder",
    "read_tiff",
    "require_exists",
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


def require_exists(path: str | os.PathLike) -> None:
    """Raise :class:`MicrosegInputError` naming ``path`` and the working directory when nothing is there."""
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


def _is_colour(array: np.ndarray) -> bool:
    return array.ndim >= 3 and array.shape[-1] in _CHANNEL_SIZES


def _read_slice(file: Path) -> LoadedImage:
    return read_tiff(str(file)) if file.suffix.lower() in TIFF_SUFFIXES else read_plain_image(str(file))


def read_tiff(path: str) -> LoadedImage:
    """Single-page or multipage TIFF via ``tifffile``: ``(H, W)``, ``(Z, H, W)``; RGB(A) samples stay last."""
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
        raise _unreadable(path, "TIFF", error) from error
    return LoadedImage(np.asarray(array), path, channel_last)


def _palette_mode(image) -> str:
    """Mode to convert a palette image to: ``"L"`` when every colour used is a grey (label masks such as CDeep3M's
    ``mitos_3D.*.png`` store 0/1 as palette indices with a grey palette), else RGB(A)."""
    if "transparency" in image.info:
        return "RGBA"
    palette = np.asarray(image.getpalette() or [], np.uint8).reshape(-1, 3)
    used = np.unique(np.asarray(image))
    used = used[used < len(palette)]
    return "L" if len(palette) and np.all(palette[used] == palette[used][:, :1]) else "RGB"


def read_plain_image(path: str) -> LoadedImage:
    """2D PNG, BMP or JPEG via Pillow: ``(H, W)`` for greyscale and 16-bit, ``(H, W, C)`` for RGB(A)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            check_declared(path, (image.height, image.width, len(image.getbands())), _PIL_DTYPES.get(image.mode, "u1"))
            image.load()
            if image.mode == "P":
                image = image.convert(_palette_mode(image))
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


def read_slice_folder(path: str) -> LoadedImage:
    """A folder of 2D slices (TIFF, PNG, BMP or JPEG, one format), stacked in natural order into ``(Z, H, W)``."""
    if not Path(path).is_dir():
        raise MicrosegInputError(f"{path}: expected a folder of 2D slices, got a file.")
    slices = []
    files = list_slice_files(path)
    for file in files:
        loaded = _read_slice(file)
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


def read_hdf5(path: str) -> LoadedImage:
    """A dataset of an HDF5 file, ``file.h5:/group/dataset`` (or a file holding one dataset)."""
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
        raise _unreadable(file_name, "HDF5", error) from error
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


def read_instance_masks(path: str) -> LoadedImage:
    """A folder of binary masks, one object per file, merged into one int32 ``(H, W)`` label image (the i-th
    file in natural order gets label i + 1; where masks overlap, the later file wins)."""
    if not Path(path).is_dir():
        raise MicrosegInputError(f"{path}: expected a folder of per-object binary masks, got a file.")
    files = list_slice_files(path)
    labels = np.zeros(0, np.int32)
    for index, file in enumerate(files, start=1):
        mask = _read_slice(file).array
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


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Read one 2D image or stack with the reader its path calls for: folder -> :func:`read_slice_folder`,
    ``.h5[:/ds]`` -> :func:`read_hdf5`, ``.tif`` -> :func:`read_tiff`, ``.png/.bmp/.jpg`` -> :func:`read_plain_image`.
    ``extra["source_format"]`` names the reader."""
    path = os.fspath(path)
    if Path(path).is_dir():
        kind, loaded = "slice folder", read_slice_folder(path)
    elif is_hdf5_path(path):
        require_exists(split_hdf5_path(path)[0])
        kind, loaded = "HDF5", read_hdf5(path)
    elif path.lower().endswith(TIFF_SUFFIXES):
        require_exists(path)
        kind, loaded = "TIFF", read_tiff(path)
    elif path.lower().endswith(PLAIN_IMAGE_SUFFIXES):
        require_exists(path)
        kind, loaded = "image", read_plain_image(path)
    else:
        require_exists(path)
        raise MicrosegInputError(
            f"{path}: unsupported file type; use a TIFF stack (.tif), a 2D PNG/BMP/JPEG/TIFF image, an HDF5 "
            "dataset (file.h5:/dataset) or a folder of 2D slices."
        )
    loaded.extra.setdefault("source_format", kind)
    return loaded


def read_channel_first(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """An image or stack channel first, ``(C, H, W)`` or ``(C, Z, H, W)`` (grey images get a channel axis of 1), with
    the metadata MONAI's ``LoadImage`` + ``EnsureChannelFirst`` give it: ``filename_or_obj``, ``spatial_shape``,
    ``original_channel_dim`` (0: the channel axis is already first), ``source_format`` and, for a folder of slices,
    ``slice_names``. For runtimes that hand a loaded image to a bundle (MONAI Deploy)."""
    from microseg.ops.image import channel_first

    loaded = read_image(path)
    array = channel_first(loaded.array, loaded.channel_last)
    meta = {"filename_or_obj": os.fspath(path), "spatial_shape": np.asarray(array.shape[1:]), "original_channel_dim": 0}
    return array, {**meta, **loaded.extra}
