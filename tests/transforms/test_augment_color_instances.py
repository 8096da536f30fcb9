"""GlaS recipe augmentations, RGB handling, instance labelling and touching-object splitting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg.errors import MicrosegInputError
from microseg.transforms import (
    EnsureRGB,
    LabelInstances,
    LabelInstancesd,
    RandElasticDisplacement,
    RandElasticDisplacementd,
    RandMedianSharpen,
    RandMedianSharpend,
    SplitTouchingObjects,
)


def _disks(centres, radius=20, shape=(60, 110)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.any([(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2 for cy, cx in centres], axis=0)


def test_elastic_moves_image_and_label_together_and_keeps_label_values():
    label = torch.from_numpy(_disks([(30, 30)]).astype(np.float32))[None]
    image = torch.cat([label * 0.8, label * 0.5, label * 0.2])
    out = RandElasticDisplacementd(["image", "label"], alpha_range=(30, 30), sigma=3, mode=["bilinear", "nearest"])
    out.set_random_state(0)
    d = out({"image": image, "label": label})
    assert d["image"].shape == (3, 60, 110) and d["label"].shape == (1, 60, 110)
    assert set(torch.unique(d["label"]).tolist()) <= {0.0, 1.0}
    assert not torch.equal(d["label"], label)
    inside = d["label"][0] > 0
    assert torch.allclose(d["image"][0][inside].mean(), torch.tensor(0.8), atol=0.05)


def test_elastic_is_reproducible_and_off_at_probability_zero():
    image = torch.rand(1, 20, 20)
    a = RandElasticDisplacement(prob=1.0).set_random_state(3)(image)
    b = RandElasticDisplacement(prob=1.0).set_random_state(3)(image)
    assert torch.equal(a, b) and not torch.equal(a, image)
    assert torch.equal(RandElasticDisplacement(prob=0.0)(image), image)
    with pytest.raises(ValueError, match="alpha_range"):
        RandElasticDisplacement(alpha_range=(10, 5))


def test_median_sharpen_without_sharpening_is_a_median_filter():
    image = np.zeros((1, 9, 9), np.float32)
    image[0, 4, 4] = 1.0  # an isolated bright pixel: the 3x3 median removes it
    sharpen = RandMedianSharpen(alpha_range=(0, 0), prob=1.0)
    assert np.array_equal(sharpen(image), np.zeros_like(image))
    flat = np.full((3, 5, 5), 0.5, np.float32)
    full = RandMedianSharpen(alpha_range=(1, 1), lightness_range=(1, 1), prob=1.0)(flat)
    assert np.allclose(full, 0.5)  # the kernel sums to the lightness (1): a flat image stays flat
    d = RandMedianSharpend("image", prob=0.0)({"image": image})
    assert d["image"] is image


def test_ensure_rgb():
    assert EnsureRGB()(torch.zeros(1, 4, 5)).shape == (3, 4, 5)
    rgba = torch.arange(4.0)[:, None, None].expand(4, 2, 2)
    assert torch.equal(EnsureRGB()(rgba), rgba[:3])
    with pytest.raises(MicrosegInputError, match="2 channels"):
        EnsureRGB()(torch.zeros(2, 4, 5))
    with pytest.raises(MicrosegInputError, match="2D image"):
        EnsureRGB()(torch.zeros(3, 2, 4, 5))


def test_label_instances_from_binary_and_instance_annotations():
    binary = torch.from_numpy(_disks([(30, 25), (30, 80)]) * 255.0)[None]
    labels = LabelInstances()(binary)
    assert labels.dtype == torch.int32 and sorted(torch.unique(labels).tolist()) == [0, 1, 2]
    instances = torch.zeros(1, 4, 4)
    instances[0, 0, 0], instances[0, 3, 3] = 5, 9
    kept = LabelInstancesd("label")({"label": instances})["label"]
    assert kept[0, 0, 0] == 1 and kept[0, 3, 3] == 2 and kept.sum() == 3  # objects kept, gaps closed (1..N)


def test_label_instances_without_background_and_refusals():
    assert LabelInstances()(torch.tensor([[[4, 7], [7, 9]]])).tolist() == [[[1, 2], [2, 3]]]
    with pytest.raises(MicrosegInputError, match="negative values"):
        LabelInstances()(torch.tensor([[[0, -2], [3, 3]]]))
    with pytest.raises(MicrosegInputError, match="whole numbers"):
        LabelInstances()(torch.tensor([[[0.0, 1.5], [2.0, 2.0]]]))


def test_split_touching_objects():
    touching = torch.from_numpy(_disks([(30, 30), (30, 65)]).astype(np.float32))[None]  # overlap: one component
    assert len(torch.unique(SplitTouchingObjects(min_depth=0)(touching))) == 2
    split = SplitTouchingObjects(min_depth=3, sigma=1)(touching)
    assert sorted(torch.unique(split).tolist()) == [0, 1, 2]
    assert torch.equal(split > 0, touching > 0)  # the watershed only divides the foreground
    one = torch.from_numpy(_disks([(30, 50)]).astype(np.float32))[None]
    assert sorted(torch.unique(SplitTouchingObjects()(one)).tolist()) == [0, 1]
    assert SplitTouchingObjects()(torch.zeros(1, 5, 5)).sum() == 0


def test_median_sharpen_equals_scipy_median_filter_and_convolve():
    """The torch implementation computes SciPy's ``median_filter(size=3)``, then ``convolve`` (``mode="reflect"``)."""
    from scipy import ndimage

    image = torch.from_numpy(np.random.default_rng(0).random((3, 37, 53)).astype(np.float32))
    sharpen = RandMedianSharpen(prob=1.0).set_random_state(5)
    out = sharpen(image)
    kernel = -np.ones((3, 3), np.float32)
    kernel[1, 1] = 8.0 + sharpen.lightness
    kernel = sharpen.alpha * kernel
    kernel[1, 1] += 1.0 - sharpen.alpha
    expected = [
        ndimage.convolve(ndimage.median_filter(c, size=3, mode="reflect"), kernel, mode="reflect") for c in image
    ]
    np.testing.assert_allclose(out.numpy(), np.stack(expected), atol=1e-5)


def test_elastic_warp_equals_scipy_map_coordinates():
    """``grid_sample`` with reflection samples where SciPy's ``map_coordinates(mode="reflect")`` does."""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.random((2, 41, 59)).astype(np.float32))
    label = torch.from_numpy((rng.random((1, 41, 59)) > 0.5).astype(np.float32))
    deform = RandElasticDisplacement(alpha_range=(8, 8), prob=1.0).set_random_state(3)
    warped = deform(image)
    coords = [
        g + f for g, f in zip(np.meshgrid(np.arange(41.0), np.arange(59.0), indexing="ij"), deform.field, strict=True)
    ]
    expected = [ndimage.map_coordinates(c, coords, order=1, mode="reflect") for c in image.numpy()]
    np.testing.assert_allclose(warped.numpy(), np.stack(expected), atol=1e-4)
    nearest = ndimage.map_coordinates(label.numpy()[0], coords, order=0, mode="reflect")
    assert (deform.warp(label, "nearest").numpy()[0] != nearest).mean() < 1e-3
