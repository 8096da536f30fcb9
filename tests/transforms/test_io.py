from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from monai.data import MetaTensor

from microseg.errors import MicrosegInputError
from microseg.transforms import LoadMicroscopyd, SaveMaskd, SeparateUncertaintyd


def test_load_reports_reader_error_not_fallback(tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    with pytest.raises(MicrosegInputError, match="bad.tif: cannot read this TIFF file"):
        LoadMicroscopyd("image")({"image": str(bad)})


def test_load_then_save_same_format(tmp_path):
    stack = np.random.default_rng(0).integers(0, 255, (3, 16, 16), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "s.tif", stack)
    d = LoadMicroscopyd("image", image_only=True, ensure_channel_first=True)({"image": str(tmp_path / "s.tif")})
    d["pred"] = MetaTensor((d["image"] > 100).float())
    out = SaveMaskd("pred", tmp_path / "out")(d)
    written = tifffile.imread(out["pred_path"])
    np.testing.assert_array_equal(written, (stack > 100).astype(np.uint8) * 255)


def test_save_needs_a_file_name(tmp_path):
    with pytest.raises(MicrosegInputError, match="carries no file name"):
        SaveMaskd("pred", tmp_path)({"image": torch.zeros(1, 4, 4), "pred": torch.zeros(1, 4, 4)})


def test_separate_uncertainty():
    d = SeparateUncertaintyd("pred")({"pred": torch.stack([torch.zeros(4, 4), torch.ones(4, 4)])})
    assert d["pred"].shape == (1, 4, 4) and d["uncertainty"].mean() == 1
    assert "uncertainty" not in SeparateUncertaintyd("pred")({"pred": torch.zeros(1, 4, 4)})
