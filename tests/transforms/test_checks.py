from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from microseg.errors import MicrosegInputError
from microseg.transforms import CheckBinaryLabel, CheckBinaryLabeld, CheckImage, CheckImaged, CheckSameShaped


def _image(shape=(1, 4, 16, 16), name="stack.tif", seed=0):
    data = torch.from_numpy(np.random.default_rng(seed).random(shape).astype(np.float32))
    return MetaTensor(data, meta={"filename_or_obj": name})


def test_good_image_passes_unchanged():
    image = _image()
    assert CheckImage()(image) is image
    assert CheckImaged("image")({"image": image})["image"] is image


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_image((1, 2, 3, 16, 16)), "expected 2 or 3 spatial dimensions"),
        (_image((3, 16, 16)), "expected 1 channel"),
        (MetaTensor(torch.zeros(1, 8, 8), meta={"filename_or_obj": "stack.tif"}), "the image is constant"),
        (
            MetaTensor((torch.rand(1, 8, 8) > 0.5).float() * 255, meta={"filename_or_obj": "stack.tif"}),
            "looks like a mask",
        ),
        (MetaTensor(torch.full((1, 8, 8), float("nan")), meta={"filename_or_obj": "stack.tif"}), "NaN or infinite"),
        (MetaTensor(torch.zeros(1, 0, 8), meta={"filename_or_obj": "stack.tif"}), "empty"),
    ],
)
def test_bad_images_name_the_file(data, message):
    with pytest.raises(MicrosegInputError, match=f"stack.tif: .*{message}"):
        CheckImage()(data)


def test_binary_image_allowed_when_asked():
    mask_like = (torch.rand(1, 8, 8) > 0.5).float()
    CheckImage(allow_binary=True)(mask_like)


@pytest.mark.parametrize("values", [(0, 1), (0, 255), (0,), (1,), (255,)])
def test_binary_labels_pass(values):
    label = torch.tensor(np.random.default_rng(0).choice(values, (1, 8, 8)))
    CheckBinaryLabel()(label)
    CheckBinaryLabeld("label")({"label": label})


@pytest.mark.parametrize("values", [(0, 1, 2), (0, 128), (1, 255)])
def test_non_binary_labels_fail(values):
    label = MetaTensor(torch.tensor(np.array(values * 32)[:64].reshape(1, 8, 8)), meta={"filename_or_obj": "gt.tif"})
    with pytest.raises(MicrosegInputError, match=r"gt.tif: the label must be binary"):
        CheckBinaryLabel()(label)


def test_shape_mismatch_names_both_files():
    data = {"image": _image((1, 4, 16, 16), "img.tif"), "label": _image((1, 4, 16, 15), "gt.tif")}
    with pytest.raises(MicrosegInputError, match=r"img.tif \(4, 16, 16\), gt.tif \(4, 16, 15\)"):
        CheckSameShaped(["image", "label"])(data)
    data["label"] = _image((1, 4, 16, 16), "gt.tif")
    CheckSameShaped(["image", "label"])(data)
