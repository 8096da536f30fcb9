"""The DSB 2018 layout: listing, the validation part, per-nucleus masks merged into instance labels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import synthetic_nuclei, write_dsb_folder
from microseg.data import dsb2018_validation_ids, is_dsb2018_layout, list_dsb2018
from microseg.errors import MicrosegInputError
from microseg.io import InstanceMasksReader


@pytest.fixture
def dsb(tmp_path):
    return write_dsb_folder(tmp_path / "stage1_train", {f"id{i:02d}": {} for i in range(12)})


def test_list_and_validation_part(dsb):
    items = list_dsb2018(dsb)
    assert [i["name"] for i in items] == [f"id{i:02d}" for i in range(12)]
    assert items[0]["image"].endswith("id00/images/id00.png") and items[0]["label"].endswith("id00/masks")
    assert dsb2018_validation_ids(dsb) == ["id00", "id10"]
    train = list_dsb2018(dsb, exclude=dsb2018_validation_ids(dsb))
    assert len(train) == 10 and {i["name"] for i in list_dsb2018(dsb, include=["id03"])} == {"id03"}


def test_masks_folder_becomes_instance_labels(dsb):
    _, expected = synthetic_nuclei(seed=0)
    labels = InstanceMasksReader().read(dsb / "id00" / "masks").array
    assert labels.dtype == np.int32 and np.array_equal(labels, expected)


def test_inference_takes_either_layout(dsb, tmp_path):
    assert is_dsb2018_layout(dsb)
    assert len(list_dsb2018(dsb, require_labels=False)) == 12
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.fromarray(synthetic_nuclei()[0]).save(flat / "cells.png")
    assert not is_dsb2018_layout(flat)
    assert list_dsb2018(flat, require_labels=False) == [{"image": str(flat / "cells.png"), "name": "cells"}]


def test_errors_say_what_is_missing(dsb, tmp_path):
    write_dsb_folder(tmp_path / "test", {"t1": {}}, with_masks=False)
    with pytest.raises(MicrosegInputError, match="no masks/ folder"):
        list_dsb2018(tmp_path / "test")
    with pytest.raises(MicrosegInputError, match="no DSB 2018 sample"):
        list_dsb2018(tmp_path)
    with pytest.raises(MicrosegInputError, match="no such folder"):
        list_dsb2018(tmp_path / "missing")
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(dsb / "id01" / "masks" / "zz.png")
    with pytest.raises(MicrosegInputError, match="differs"):
        InstanceMasksReader().read(dsb / "id01" / "masks")
