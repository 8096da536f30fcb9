from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microseg.data import SliceDataset, context_indices, list_inputs
from microseg.errors import MicrosegInputError


def test_context_indices_repeat_edges():
    assert context_indices(0, 10, 3).tolist() == [0, 0, 1]
    assert context_indices(9, 10, 5).tolist() == [7, 8, 9, 9, 9]
    assert context_indices(4, 10, 1).tolist() == [4]
    with pytest.raises(ValueError):
        context_indices(0, 10, 2)


def test_items_are_slices_with_context(stack_files):
    image = tifffile.imread(stack_files["image"])
    ds = SliceDataset(
        [{"image": str(stack_files["image"]), "label": str(stack_files["label"])}], slices=(2, 6), context=3
    )
    assert len(ds) == 4
    item = ds[0]
    assert tuple(item["image"].shape) == (3, 64, 96) and tuple(item["label"].shape) == (1, 64, 96)
    np.testing.assert_array_equal(item["image"].numpy(), image[1:4].astype(np.float32))
    assert item["slice"] == 2 and set(np.unique(item["label"].numpy())) <= {0, 255}


def test_bad_volumes_are_reported(stack_files, tmp_path):
    tifffile.imwrite(tmp_path / "gt3.tif", (tifffile.imread(stack_files["label"]) // 255) * 3)
    with pytest.raises(MicrosegInputError, match="gt3.tif: the label must be binary"):
        SliceDataset([{"image": str(stack_files["image"]), "label": str(tmp_path / "gt3.tif")}])
    tifffile.imwrite(tmp_path / "small.tif", tifffile.imread(stack_files["label"])[:, :10])
    with pytest.raises(MicrosegInputError, match="image and label shapes differ"):
        SliceDataset([{"image": str(stack_files["image"]), "label": str(tmp_path / "small.tif")}])
    with pytest.raises(MicrosegInputError, match="looks like a mask"):
        SliceDataset([{"image": str(stack_files["label"])}])
    with pytest.raises(MicrosegInputError, match="does not fit a stack of 12"):
        SliceDataset([{"image": str(stack_files["image"])}], slices=(5, 20))


def test_list_inputs(tmp_path, stack_files):
    assert list_inputs(stack_files["image"]) == [{"image": str(stack_files["image"])}]
    assert len(list_inputs(stack_files["dir"])) == 2  # multipage TIFFs: one input each
    slices = tmp_path / "slices"
    slices.mkdir()
    for i in range(3):
        tifffile.imwrite(slices / f"z{i}.tif", np.zeros((4, 4), np.uint8))
    assert list_inputs(slices) == [{"image": str(slices)}]  # 2D slices: one stack
    assert len(list_inputs(slices, folder="images")) == 3
    (tmp_path / "empty").mkdir()
    with pytest.raises(MicrosegInputError, match="empty or holds no image"):
        list_inputs(tmp_path / "empty")
    with pytest.raises(MicrosegInputError, match="no such file"):
        list_inputs(tmp_path / "nope")
