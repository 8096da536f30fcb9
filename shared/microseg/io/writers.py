"""Atomic writers for masks and probability maps: TIFF (2D or stack), PNG, folders of slices and HDF5.

Each writer writes into a temporary file (or folder) next to the target and renames it into place only when the
whole array is written, so an interrupted or failed run never leaves a partial output under the final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.paths import HDF5_SUFFIXES, PLAIN_IMAGE_SUFFIXES, TIFF_SUFFIXES, split_hdf5_path

__all__ = [
    "atomic_output",
    "output_path_like",
    "write_hdf5",
    "write_like",
    "write_png",
    "write_prediction",
    "write_slices",
    "write_tiff",
]


def _read_umask() -> int:
    """The process's umask (read once, at import: setting it to read it is not safe while threads create files)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success rename it to ``path``, on error delete it.

    Args:
        path: the final file or folder; its parent folder is created.
        is_dir: yield a temporary folder instead of a file name.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp/mkdtemp create 0600/0700 entries; the result gets the mode a plain open() would give (0644/0755 under
    # the usual umask 022), so that other users of a shared analysis server can read it
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)
    else:
        handle, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial" + final.suffix, dir=final.parent)
        os.fchmod(handle, 0o666 & ~_UMASK)
        os.close(handle)
        tmp = Path(name)
    try:
        yield tmp
        if is_dir:
            _replace_dir(tmp, final)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
        raise


def _replace_dir(tmp: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def write_tiff(path: str | os.PathLike, array: np.ndarray, compression: str | None = "zlib") -> Path:
    """Write a 2D image ``(H, W)`` or a stack ``(Z, H, W)`` as one (multipage) TIFF, atomically."""
    import tifffile

    with atomic_output(path) as tmp:
        tifffile.imwrite(tmp, np.ascontiguousarray(array), compression=compression, photometric="minisblack")
    return Path(path)


def write_png(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a 2D ``(H, W)`` uint8/uint16 array as PNG, atomically."""
    from PIL import Image

    if array.ndim != 2:
        raise ValueError(f"PNG takes a 2D array, got shape {array.shape}")
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return Path(path)


def write_slices(
    folder: str | os.PathLike, array: np.ndarray, names: Sequence[str] | None = None, suffix: str = ".png"
) -> Path:
    """Write a stack ``(Z, H, W)`` as one 2D file per slice into ``folder`` (replaced as a whole, atomically).

    Args:
        folder: output folder.
        array: the stack.
        names: file name per slice (their suffix decides the format); default ``slice_0000.png`` and so on.
        suffix: format of the default names (``.png`` or ``.tif``).
    """
    names = list(names) if names is not None else [f"slice_{i:04d}{suffix}" for i in range(len(array))]
    if len(names) != len(array):
        raise ValueError(f"got {len(names)} slice names for {len(array)} slices")
    with atomic_output(folder, is_dir=True) as tmp:
        for name, plane in zip(names, array, strict=True):
            target = tmp / name
            if target.suffix.lower() in TIFF_SUFFIXES:
                write_tiff(target, plane)
            else:
                write_png(target.with_suffix(".png"), plane)
    return Path(folder)


def write_hdf5(path: str | os.PathLike, array: np.ndarray, chunks: bool | tuple = True) -> Path:
    """Write ``array`` as dataset ``file.h5:/dataset`` (default ``/data``) of a new HDF5 file, atomically.

    The whole file is replaced. Chunked and gzip-compressed.
    """
    import h5py

    file_name, dataset = split_hdf5_path(path)
    with atomic_output(file_name) as tmp, h5py.File(tmp, "w") as h5:
        h5.create_dataset(dataset or "/data", data=array, chunks=chunks, compression="gzip")
    return Path(file_name)


def output_path_like(
    input_path: str | os.PathLike, output_dir: str | os.PathLike, postfix: str = "_seg", dtype=None
) -> str:
    """Where :func:`write_like` puts the output for ``input_path``: same format and name plus ``postfix``.

    ``a/stack.tif`` -> ``out/stack_seg.tif``; ``a/slices/`` -> ``out/slices_seg/``;
    ``a/vol.h5:/raw`` -> ``out/vol_seg.h5:/raw``; ``a/img.bmp`` -> ``out/img_seg.png`` (BMP/JPEG become PNG, or
    TIFF when ``dtype`` is one PNG cannot hold, e.g. float32 probabilities).
    """
    file_name, dataset = split_hdf5_path(input_path)
    source = Path(file_name)
    output_dir = Path(output_dir)
    suffix = source.suffix.lower()
    if source.is_dir() or not suffix:
        return str(output_dir / f"{source.name}{postfix}")
    if suffix in HDF5_SUFFIXES:
        return f"{output_dir / (source.stem + postfix + source.suffix)}:{dataset or '/data'}"
    if suffix in PLAIN_IMAGE_SUFFIXES:
        png = dtype is None or np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16))
        return str(output_dir / f"{source.stem}{postfix}{'.png' if png else '.tif'}")
    return str(output_dir / f"{source.stem}{postfix}{source.suffix}")


def write_like(
    array: np.ndarray,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    postfix: str = "_seg",
    slice_names: Sequence[str] | None = None,
) -> str:
    """Write ``array`` in the format of ``input_path`` (see :func:`output_path_like`); return the output path.

    Args:
        array: ``(H, W)`` or ``(Z, H, W)``, already in the dtype to store.
        input_path: the image the array was predicted from.
        output_dir: the output folder.
        postfix: added to the input's name.
        slice_names: for a folder of slices, the input's slice file names (reused for the output slices).
    """
    target = output_path_like(input_path, output_dir, postfix, array.dtype)
    file_name = split_hdf5_path(target)[0]
    suffix = Path(file_name).suffix.lower()
    if suffix in HDF5_SUFFIXES:
        write_hdf5(target, array)
    elif suffix in TIFF_SUFFIXES:
        write_tiff(target, array)
    elif suffix == ".png":
        if array.ndim != 2:
            raise MicrosegInputError(f"{input_path}: a 2D input gave an output of shape {array.shape}")
        write_png(target, array)
    else:
        if array.ndim == 2:
            array = array[None]
        names = (
            [
                Path(n).with_suffix(".png").name if Path(n).suffix.lower() not in TIFF_SUFFIXES else n
                for n in slice_names
            ]
            if slice_names
            else None
        )
        write_slices(target, array, names)
    return target


def write_prediction(
    array: np.ndarray,
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    postfix: str = "_seg",
    scale: float = 255,
    dtype: str | np.dtype = "uint8",
    slice_names: Sequence[str] | None = None,
) -> str:
    """Write one channel of a prediction like its input (:func:`write_like`): multiplied by ``scale``, rounded when
    ``dtype`` is an integer type, cast to ``dtype``. Returns the output path.

    Shapes: ``(1, H, W)`` or ``(1, Z, H, W)``.
    """
    dtype = np.dtype(dtype)
    if array.shape[0] != 1:
        raise ValueError(f"a prediction is written one channel at a time, got shape {array.shape}")
    values = array[0] * scale
    if np.issubdtype(dtype, np.integer):
        values = np.rint(values)
    return write_like(values.astype(dtype), input_path, output_dir, postfix, slice_names)
