"""Round trips through every writer and reader, and the errors for unusable files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import tifffile
from monai.transforms import LoadImaged
from PIL import Image

from microseg.errors import MicrosegInputError
from microseg.io import (
    HDF5Reader,
    MicroscopyReader,
    PlainImageReader,
    SliceFolderReader,
    TiffReader,
    output_path_like,
    read_image,
    write_hdf5,
    write_like,
    write_png,
    write_slices,
    write_tiff,
)

RNG = np.random.default_rng(0)
STACK = RNG.integers(0, 255, (5, 20, 30), dtype=np.uint8)


def _leftovers(folder):
    return [p.name for p in folder.iterdir() if ".partial" in p.name]


def test_tiff_stack_round_trip(tmp_path):
    path = write_tiff(tmp_path / "s.tif", STACK)
    loaded = read_image(path)
    np.testing.assert_array_equal(loaded.array, STACK)
    assert not loaded.channel_last and not _leftovers(tmp_path)


def test_tiff_2d_and_uint16(tmp_path):
    image = RNG.integers(0, 65535, (20, 30), dtype=np.uint16)
    np.testing.assert_array_equal(read_image(write_tiff(tmp_path / "a.tiff", image)).array, image)


def test_png_bmp_rgb(tmp_path):
    write_png(tmp_path / "a.png", STACK[0])
    np.testing.assert_array_equal(PlainImageReader().read(tmp_path / "a.png").array, STACK[0])
    rgb = RNG.integers(0, 255, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.bmp")
    loaded = read_image(tmp_path / "c.bmp")
    np.testing.assert_array_equal(loaded.array, rgb)
    assert loaded.channel_last


def test_slice_folder_round_trip_natural_order(tmp_path):
    names = [f"z{i}.png" for i in (1, 2, 10, 11, 3)]
    write_slices(tmp_path / "slices", STACK, names)
    loaded = SliceFolderReader().read(tmp_path / "slices")
    order = sorted(range(5), key=lambda i: [1, 2, 10, 11, 3][i])
    np.testing.assert_array_equal(loaded.array, STACK[order])
    assert loaded.extra["slice_names"].split("\n") == ["z1.png", "z2.png", "z3.png", "z10.png", "z11.png"]


def test_slice_folder_rejects_mismatched_shapes(tmp_path):
    write_png(tmp_path / "a.png", STACK[0])
    write_png(tmp_path / "b.png", STACK[0, :10])
    with pytest.raises(MicrosegInputError, match="b.png: slice shape"):
        SliceFolderReader().read(tmp_path)


def test_hdf5_round_trip_and_dataset_choice(tmp_path):
    write_hdf5(f"{tmp_path / 'v.h5'}:/raw/em", STACK)
    np.testing.assert_array_equal(HDF5Reader().read(f"{tmp_path / 'v.h5'}:/raw/em").array, STACK)
    np.testing.assert_array_equal(read_image(tmp_path / "v.h5").array, STACK)  # the only dataset
    with h5py.File(tmp_path / "v.h5", "a") as h5:
        h5["other"] = STACK[:1]
    with pytest.raises(MicrosegInputError, match="holds 2 datasets"):
        read_image(tmp_path / "v.h5")
    with pytest.raises(MicrosegInputError, match="no dataset '/missing'"):
        read_image(f"{tmp_path / 'v.h5'}:/missing")


def test_loadimaged_uses_reader_and_keeps_layout(tmp_path):
    write_tiff(tmp_path / "s.tif", STACK)
    out = LoadImaged("image", reader=MicroscopyReader(), image_only=True, ensure_channel_first=True)(
        {"image": str(tmp_path / "s.tif")}
    )
    assert tuple(out["image"].shape) == (1, 5, 20, 30)
    np.testing.assert_array_equal(out["image"][0].numpy(), STACK)


@pytest.mark.parametrize("suffix", [".tif", ".png", ".h5"])
def test_truncated_file_names_file(tmp_path, suffix):
    path = tmp_path / f"bad{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, STACK)
    elif suffix == ".png":
        write_png(path, STACK[0])
    else:
        write_hdf5(path, STACK)
    path.write_bytes(path.read_bytes()[:64])
    with pytest.raises(MicrosegInputError, match=r"bad\.(tif|png|h5).*truncated, corrupt"):
        read_image(path)


def test_missing_and_unsupported(tmp_path):
    with pytest.raises(MicrosegInputError, match="no such file or folder"):
        TiffReader().read(tmp_path / "nope.tif")
    (tmp_path / "x.nii").write_bytes(b"0")
    with pytest.raises(MicrosegInputError, match="unsupported file type"):
        read_image(tmp_path / "x.nii")


def test_write_like_keeps_format(tmp_path):
    mask = (STACK > 128).astype(np.uint8) * 255
    tifffile.imwrite(tmp_path / "in.tif", STACK)
    assert write_like(mask, tmp_path / "in.tif", tmp_path / "out") == str(tmp_path / "out" / "in_seg.tif")
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "out" / "in_seg.tif"), mask)
    (tmp_path / "slices").mkdir()
    out = write_like(mask, tmp_path / "slices", tmp_path / "out", slice_names=[f"s{i}.png" for i in range(5)])
    assert sorted(p.name for p in (tmp_path / "out" / "slices_seg").iterdir())[:2] == ["s0.png", "s1.png"]
    assert out == str(tmp_path / "out" / "slices_seg")
    assert output_path_like("a/v.h5:/raw", "o") == "o/v_seg.h5:/raw"
    assert output_path_like("a/img.bmp", "o") == "o/img_seg.png"


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(ValueError):
        write_png(tmp_path / "a.png", STACK)  # 3D cannot be a PNG
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        write_slices(tmp_path / "s", STACK, names=["a.png"])
    assert list(tmp_path.iterdir()) == []
