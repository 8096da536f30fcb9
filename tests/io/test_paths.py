from __future__ import annotations

import pytest

from microseg.errors import MicrosegInputError
from microseg.io import is_hdf5_path, list_slice_files, natural_sort_key, split_hdf5_path


def test_natural_sort_orders_numbers_as_numbers():
    names = ["z10.png", "z2.png", "Z1.png", "z100.png"]
    assert sorted(names, key=natural_sort_key) == ["Z1.png", "z2.png", "z10.png", "z100.png"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a/vol.h5:/raw/em", ("a/vol.h5", "/raw/em")),
        ("a/vol.h5:raw", ("a/vol.h5", "/raw")),
        ("a/vol.hdf5", ("a/vol.hdf5", None)),
        ("a/vol.h5:", ("a/vol.h5", None)),
        ("a/stack.tif", ("a/stack.tif", None)),
    ],
)
def test_split_hdf5_path(text, expected):
    assert split_hdf5_path(text) == expected


def test_is_hdf5_path():
    assert is_hdf5_path("x.h5:/d") and is_hdf5_path("x.HDF5") and not is_hdf5_path("x.tif")


def test_list_slice_files_empty_and_mixed(tmp_path):
    with pytest.raises(MicrosegInputError, match="holds no image slices"):
        list_slice_files(tmp_path)
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.tif").write_bytes(b"")
    with pytest.raises(MicrosegInputError, match="mixes image formats"):
        list_slice_files(tmp_path)
