"""Physical pixel sizes read from file metadata, and the --pixel_size option."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile

from microseg.errors import MicrosegInputError
from microseg.io.metadata import parse_pixel_size, pixel_size_of

STACK = np.zeros((3, 16, 16), np.uint8)


def test_imagej_tiff(tmp_path):
    path = tmp_path / "ij.tif"
    metadata = {"unit": "um", "spacing": 0.04}
    tifffile.imwrite(path, STACK, imagej=True, resolution=(200, 200), metadata=metadata)
    assert pixel_size_of(path, 3) == pytest.approx((0.04, 0.005, 0.005))


def test_ome_tiff_in_nanometres(tmp_path):
    path = tmp_path / "ome.tif"
    metadata = {"axes": "ZYX", "PhysicalSizeX": 6, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 6}
    metadata |= {"PhysicalSizeYUnit": "nm", "PhysicalSizeZ": 40, "PhysicalSizeZUnit": "nm"}
    tifffile.imwrite(path, STACK, ome=True, metadata=metadata)
    assert pixel_size_of(path, 3) == pytest.approx((0.04, 0.006, 0.006))


def test_hdf5_element_size(tmp_path):
    with h5py.File(tmp_path / "v.h5", "w") as h5:
        h5.create_dataset("raw", data=STACK).attrs["element_size_um"] = [0.5, 0.1, 0.1]
    assert pixel_size_of(f"{tmp_path / 'v.h5'}:/raw", 3) == pytest.approx((0.5, 0.1, 0.1))


def test_no_size_when_the_file_has_none_or_only_dpi(tmp_path):
    tifffile.imwrite(tmp_path / "plain.tif", STACK)
    tifffile.imwrite(tmp_path / "dpi.tif", STACK[0], resolution=(72, 72), resolutionunit="INCH")
    (tmp_path / "x.png").write_bytes(b"")
    assert pixel_size_of(tmp_path / "plain.tif", 3) is None
    assert pixel_size_of(tmp_path / "dpi.tif", 2) is None
    assert pixel_size_of(tmp_path / "x.png", 2) is None


@pytest.mark.parametrize(
    ("value", "ndim", "expected"),
    [("0.005", 3, (0.005,) * 3), ("0.2,0.1", 2, (0.2, 0.1)), ("0.1,0.1", 3, (None, 0.1, 0.1)), (0.5, 2, (0.5, 0.5))],
)
def test_parse_pixel_size(value, ndim, expected):
    assert parse_pixel_size(value, ndim) == expected


@pytest.mark.parametrize("value", ["big", "-1", "0", "1,2,3,4"])
def test_bad_pixel_size_is_refused(value):
    with pytest.raises(MicrosegInputError, match="--pixel_size"):
        parse_pixel_size(value, 2)
