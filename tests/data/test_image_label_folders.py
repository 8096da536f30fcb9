"""Folders of images with masks: pairing, the fixed validation split, nested training subsets, synthetic TEM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from microseg.data import (
    list_image_label_pairs,
    split_every,
    synthetic_tem_cell,
    take_subset,
    write_synthetic_tem,
)
from microseg.errors import MicrosegInputError


def _touch_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(folder / name)


def test_pairs_match_stems_with_label_suffixes_in_natural_order(tmp_path):
    _touch_images(tmp_path / "images", ["c10.tif", "c2.png", "c1.tif"])
    _touch_images(tmp_path / "masks", ["c1.png", "c2_mask.tif", "c10_anno.png", "stray.png"])
    items = list_image_label_pairs(tmp_path)
    assert [item["name"] for item in items] == ["c1", "c2", "c10"]
    assert [item["label"].rsplit("/", 1)[1] for item in items] == ["c1.png", "c2_mask.tif", "c10_anno.png"]


def test_missing_mask_missing_folder_and_empty_folder_are_reported(tmp_path):
    with pytest.raises(MicrosegInputError, match="no such folder; put the images in"):
        list_image_label_pairs(tmp_path)
    (tmp_path / "images").mkdir()
    with pytest.raises(MicrosegInputError, match="no image found"):
        list_image_label_pairs(tmp_path)
    _touch_images(tmp_path / "images", ["a.png", "b.png"])
    _touch_images(tmp_path / "masks", ["a.png"])
    with pytest.raises(MicrosegInputError, match=r"b.png: no mask for this image .* expected b.png, b_mask.tif"):
        list_image_label_pairs(tmp_path)
    items = list_image_label_pairs(tmp_path, require_labels=False)
    assert "label" in items[0] and "label" not in items[1]


def test_split_every_holds_out_a_fixed_interleaved_part():
    rest, held = split_every(list(range(11)), 5)
    assert held == [0, 5, 10] and rest == [1, 2, 3, 4, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="every must be 2 or more"):
        split_every([1, 2], 1)
    with pytest.raises(MicrosegInputError, match="at least 2"):
        split_every([1], 5)


def test_take_subset_is_seeded_nested_and_ordered():
    data = list(range(100))
    small, large = take_subset(data, 5, seed=3), take_subset(data, 25, seed=3)
    assert len(small) == 5 and len(large) == 25 and set(small) <= set(large)
    assert small == sorted(small) and take_subset(data, 5, seed=3) == small != take_subset(data, 5, seed=4)
    assert take_subset(data, None) is data and take_subset(data, 500) is data
    subset = take_subset(torch.utils.data.TensorDataset(torch.arange(10)), 4, seed=0)
    assert isinstance(subset, torch.utils.data.Subset) and len(subset) == 4
    with pytest.raises(ValueError, match="at least 1"):
        take_subset(data, 0)


def test_synthetic_tem_cell_is_reproducible_with_a_darker_nucleus():
    image, mask = synthetic_tem_cell(96, seed=1)
    again, _ = synthetic_tem_cell(96, seed=1)
    assert image.dtype == np.uint8 and image.shape == mask.shape == (96, 96)
    np.testing.assert_array_equal(image, again)
    assert set(np.unique(mask)) == {0, 255} and 0.005 < (mask > 0).mean() < 0.3
    assert image[mask > 0].mean() < image[mask == 0].mean()
    assert synthetic_tem_cell((40, 60), seed=2)[0].shape == (40, 60)


def test_write_synthetic_tem_gives_a_pairable_folder(tmp_path):
    write_synthetic_tem(tmp_path, count=3, size=32, seed=0, suffix=".tif")
    items = list_image_label_pairs(tmp_path)
    assert [item["name"] for item in items] == ["cell_0", "cell_1", "cell_2"]
    assert items[0]["image"].endswith(".tif") and items[0]["label"].endswith(".png")
    with pytest.raises(ValueError, match="suffix must be .png, .tif or .tiff"):
        write_synthetic_tem(tmp_path / "jpeg", count=1, suffix=".jpg")
