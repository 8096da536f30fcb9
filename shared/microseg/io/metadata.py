"""Physical pixel sizes from image files: ImageJ and OME TIFF metadata, TIFF resolution tags, HDF5
``element_size_um`` (ilastik, Fiji), read without loading the pixels.

Sizes are in micrometres, one per spatial axis in the array's order: ``(y, x)`` for a 2D image, ``(z, y, x)`` for a
stack (``None`` for an axis the file does not describe). Resolutions in inches are ignored: they are the 72/96/300
dpi of screen and print software, not a microscope's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from microseg.errors import MicrosegInputError
from microseg.io.paths import TIFF_SUFFIXES, is_hdf5_path, split_hdf5_path

__all__ = ["UNITS_IN_UM", "parse_pixel_size", "pixel_size_of"]

UNITS_IN_UM = {
    "nm": 1e-3,
    "nanometer": 1e-3,
    "um": 1.0,
    "µm": 1.0,
    "μm": 1.0,
    "\\u00b5m": 1.0,  # ImageJ writes the micro sign escaped
    "micron": 1.0,
    "microns": 1.0,
    "micrometer": 1.0,
    "micrometre": 1.0,
    "mm": 1e3,
    "millimeter": 1e3,
    "cm": 1e4,
    "centimeter": 1e4,
}

PixelSize = tuple[float | None, ...]


def parse_pixel_size(value: float | str | Sequence[float], ndim: int) -> PixelSize:
    """``--pixel_size`` as one size per spatial axis: a number (square pixels; for a stack also the slice spacing),
    or ``y,x`` / ``z,y,x`` values in micrometres.

    Raises:
        MicrosegInputError: not numbers, not positive, or another count of values than 1, 2 or 3.
    """
    items = re.split(r"[,\s]+", value.strip("()[] ")) if isinstance(value, str) else value
    items = [items] if isinstance(items, int | float) else list(items)
    try:
        sizes = [float(v) for v in items if v != ""]
    except (TypeError, ValueError):
        sizes = []
    if not sizes or any(not s > 0 for s in sizes) or len(sizes) > 3:
        raise MicrosegInputError(
            f"--pixel_size {value!r}: give the pixel size in micrometres as one positive number, or y,x or z,y,x."
        )
    if len(sizes) == 1:
        return (sizes[0],) * ndim
    if len(sizes) == ndim:
        return tuple(sizes)
    if ndim == 3 and len(sizes) == 2:
        return (None, *sizes)
    return tuple(sizes[-ndim:])


def pixel_size_of(path: str | os.PathLike, ndim: int) -> PixelSize | None:
    """The pixel size the file records, or ``None`` when it records none (or the file is a PNG/JPEG/slice folder)."""
    text = os.fspath(path)
    try:
        if is_hdf5_path(text):
            return _hdf5_size(text, ndim)
        if text.lower().endswith(TIFF_SUFFIXES):
            return _tiff_size(text, ndim)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def _in_um(value: float, unit: str | None) -> float | None:
    factor = UNITS_IN_UM.get((unit or "").strip().lower())
    return None if factor is None or not value > 0 else value * factor


def _hdf5_size(text: str, ndim: int) -> PixelSize | None:
    import h5py

    file_name, dataset = split_hdf5_path(text)
    with h5py.File(file_name, "r") as h5:
        names = [n for n in h5 if isinstance(h5[n], h5py.Dataset)]
        node = h5[dataset] if dataset else (h5[names[0]] if len(names) == 1 else None)
        sizes = None if node is None else node.attrs.get("element_size_um")
    if sizes is None or len(sizes) < ndim:
        return None
    return tuple(float(s) for s in list(sizes)[-ndim:])


def _tiff_size(text: str, ndim: int) -> PixelSize | None:
    import tifffile

    with tifffile.TiffFile(text) as tif:
        ome = _ome_size(tif.ome_metadata, ndim) if tif.is_ome else None
        if ome is not None:
            return ome
        page = tif.pages[0]
        imagej = tif.imagej_metadata or {}
        unit = imagej.get("unit")
        resolution_unit = int(getattr(page, "resolutionunit", 1))
        if unit is None and resolution_unit == 3:  # RESUNIT.CENTIMETER
            unit = "cm"
        x_res, y_res = page.tags.get("XResolution"), page.tags.get("YResolution")
        if unit is None or x_res is None or y_res is None:
            return None
        x, y = (_in_um(_per_pixel(t.value), unit) for t in (x_res, y_res))
        if x is None or y is None:
            return None
        spacing = imagej.get("spacing")
        z = _in_um(float(spacing), unit) if spacing is not None else None
    return (y, x) if ndim == 2 else (z, y, x)


def _per_pixel(resolution) -> float:
    """The size of one pixel from a TIFF resolution (pixels per unit, a rational ``(num, den)``), 0 if none."""
    num, den = resolution if isinstance(resolution, tuple | list) else (float(resolution), 1)
    return den / num if num else 0.0


def _ome_size(xml: str | None, ndim: int) -> PixelSize | None:
    if not xml:
        return None
    pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", xml)
    if pixels is None:
        return None
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(0)))

    def axis(name: str) -> float | None:
        value = attrs.get(f"PhysicalSize{name}")
        return None if value is None else _in_um(float(value), attrs.get(f"PhysicalSize{name}Unit", "µm"))

    y, x = axis("Y"), axis("X")
    if y is None or x is None:
        return None
    return (y, x) if ndim == 2 else (axis("Z"), y, x)
