"""NumPy image operations: the same values as the MONAI transforms and the PyTorch arithmetic they replace."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import ScaleIntensityRange

from microseg.errors import MicrosegInputError
from microseg.ops.image import (
    channel_first,
    check_image,
    ensure_rgb,
    invert_bright_background,
    percentile_normalize,
    scale_intensity_range,
    to_grey,
)


def test_scale_intensity_range_is_monais():
    x = np.random.default_rng(0).integers(0, 256, (3, 20, 30)).astype(np.float32)  # as LoadImaged gives it
    for clip in (True, False):
        expected = ScaleIntensityRange(a_min=10, a_max=200, b_min=0.0, b_max=1.0, clip=clip)(torch.from_numpy(x))
        np.testing.assert_allclose(scale_intensity_range(x, 10, 200, 0.0, 1.0, clip), expected.numpy(), atol=1e-6)


def test_grey_and_rgb_channels():
    rgba = np.random.default_rng(1).integers(0, 256, (4, 8, 9)).astype(np.uint8)
    expected = (torch.from_numpy(rgba[:3]).float() * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    np.testing.assert_allclose(to_grey(rgba)[0], expected.numpy(), rtol=1e-6)
    grey = rgba[:1]
    assert to_grey(grey) is grey
    assert ensure_rgb(grey).shape == (3, 8, 9) and (ensure_rgb(grey)[2] == grey[0]).all()
    assert ensure_rgb(rgba).shape == (3, 8, 9)
    with pytest.raises(MicrosegInputError, match="pic.png: 2 channels"):
        ensure_rgb(rgba[:2], "pic.png")
    with pytest.raises(MicrosegInputError, match="pic.png: expected a 2D grey, RGB or RGBA"):
        to_grey(rgba[:2], "pic.png")


def test_layout_normalisation_and_checks():
    assert channel_first(np.zeros((5, 6, 3)), channel_last=True).shape == (3, 5, 6)
    assert channel_first(np.zeros((2, 5, 6)), channel_last=False).shape == (1, 2, 5, 6)
    stack = np.random.default_rng(2).random((2, 3, 16, 16)).astype(np.float32) * 1000
    scaled = percentile_normalize(stack, 1, 99)
    for plane, out in zip(stack.reshape(-1, 16, 16), scaled.reshape(-1, 16, 16), strict=True):
        np.testing.assert_allclose(out, percentile_normalize(plane, 1, 99), rtol=1e-6)  # plane by plane
    assert invert_bright_background(np.full((1, 4, 4), 0.8, np.float32))[0, 0, 0] == pytest.approx(0.2)
    check_image(stack[:1, 0], "ok.tif", spatial_ndims=(2,))
    with pytest.raises(MicrosegInputError, match="two.tif: the image has only two distinct values"):
        check_image((stack[:1, 0] > 500).astype(np.uint8), "two.tif")
    with pytest.raises(MicrosegInputError, match="rgb.tif: expected 1 channel"):
        check_image(np.zeros((1, 8, 8, 3)), "rgb.tif", declared_spatial_shape=(8, 8))
