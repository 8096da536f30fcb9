"""Fuzzing of the readers and the run-length decoder with hypothesis: random bytes, damaged files and random shapes
give a result or a :class:`~microseg.errors.MicrosegInputError`, never another exception.

The default run tries a few dozen examples per property; ``-m slow`` runs the same properties with thousands.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from microseg.errors import MicrosegInputError
from microseg.io import read_image, rle_decode, rle_encode, rles_to_labels, write_hdf5, write_tiff

QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SUFFIXES = (".tif", ".png", ".h5", ".jpg", ".bmp")


def _tiff_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _h5_bytes(array: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "a.h5"
        with h5py.File(path, "w") as h5:
            h5.create_dataset("raw", data=array, chunks=True)
        return path.read_bytes()


VALID_FILES: dict[str, Callable[[np.ndarray], bytes]] = {".tif": _tiff_bytes, ".png": _png_bytes, ".h5": _h5_bytes}


def _read_or_refuse(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"x{suffix}"
        path.write_bytes(data)
        try:
            loaded = read_image(path)
        except MicrosegInputError as error:
            assert path.name in str(error)
        else:
            assert isinstance(loaded.array, np.ndarray)


def _random_bytes(data: bytes, suffix: str) -> None:
    _read_or_refuse(data, suffix)


def _damaged_file(image: np.ndarray, suffix: str, cut: float, flips: list[tuple[float, int]]) -> None:
    """A valid file, truncated to ``cut`` of its length and with bytes at the ``flips`` positions replaced."""
    data = bytearray(VALID_FILES[suffix](image))
    for position, value in flips:
        data[int(position * (len(data) - 1))] = value
    _read_or_refuse(bytes(data[: max(1, int(cut * len(data)))]), suffix)


def _round_trip(array: np.ndarray, kind: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("a.tif" if kind == "tiff" else "a.h5:/raw")
        (write_tiff if kind == "tiff" else write_hdf5)(path, array)
        np.testing.assert_array_equal(read_image(path).array, array)


def _rle_text(text: str, height: int, width: int) -> None:
    try:
        mask = rle_decode(text, (height, width))
    except MicrosegInputError:
        return
    assert mask.shape == (height, width) and mask.dtype == bool
    assert rle_decode(rle_encode(mask), (height, width)).tolist() == mask.tolist()


def _rle_labels(texts: list[str], height: int, width: int) -> None:
    try:
        labels = rles_to_labels(texts, (height, width))
    except MicrosegInputError:
        return
    assert labels.shape == (height, width) and labels.min() >= 0


RANDOM_BYTES = (st.binary(max_size=4096), st.sampled_from(SUFFIXES))
DAMAGED = (
    arrays(np.uint8, array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)),
    st.sampled_from(sorted(VALID_FILES)),
    st.floats(0.0, 1.0),
    st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
ROUND_TRIP = (
    st.one_of(
        arrays(st.sampled_from([np.uint8, np.uint16, np.float32]), array_shapes(min_dims=2, max_dims=3, max_side=24))
    ).filter(lambda a: not (a.ndim == 3 and a.shape[-1] in (3, 4))),  # (H, W, 3) reads back as colour, by design
    st.sampled_from(["tiff", "hdf5"]),
)
RLE_TOKENS = st.lists(
    st.one_of(st.integers(-5, 10**20).map(str), st.sampled_from(["", "x", "1.5", "-0", "١٢", "1e3"])), max_size=12
)
RLE_TEXT = (RLE_TOKENS.map(" ".join), st.integers(-2, 40), st.integers(-2, 40))
RLE_LABELS = (st.lists(RLE_TOKENS.map(" ".join), max_size=5), st.integers(-2, 30), st.integers(-2, 30))


PROPERTIES = {
    "random_bytes": (_random_bytes, RANDOM_BYTES),
    "damaged_files": (_damaged_file, DAMAGED),
    "random_shapes_round_trip": (_round_trip, ROUND_TRIP),
    "rle_decode": (_rle_text, RLE_TEXT),
    "rles_to_labels": (_rle_labels, RLE_LABELS),
}

# test_<property> (QUICK budget, default run) and test_<property>_long (LONG budget, -m slow) for each property
for _name, (_check, _strategies) in PROPERTIES.items():
    globals()[f"test_{_name}"] = QUICK(given(*_strategies)(_check))
    globals()[f"test_{_name}_long"] = pytest.mark.slow(LONG(given(*_strategies)(_check)))
