"""Batched augmentation on the device: per-sample draws, one grid for image and label, MONAI's distributions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import Rand2DElastic

from microseg.transforms import (
    RandBatchFlipSliceOrder,
    RandBatchFlipSliceOrderd,
    RandBatchIntensity,
    RandBatchIntensityd,
    RandBatchMedianSharpen,
    RandBatchSpatial,
    RandBatchSpatiald,
    RandElasticDisplacement,
    RandMedianSharpen,
    RandPiecewiseAffine,
)


def _batch(n: int = 6, size: int = 24) -> torch.Tensor:
    return torch.rand(n, 2, size, size, generator=torch.Generator().manual_seed(0))


def test_without_any_draw_the_batch_comes_back():
    x = _batch()
    out = RandBatchSpatial(flip_prob=0.0, prob=1.0, spacing=8, magnitude_range=(0, 0))(x)
    assert out.shape == x.shape and torch.allclose(out, x, atol=1e-5)
    labels = (x > 0.5).to(torch.uint8)
    assert torch.equal(RandBatchSpatial(mode="nearest")(labels), labels)


def test_flips_and_quarter_turns_are_exact_per_sample():
    x = torch.randint(0, 255, (16, 1, 12, 12), dtype=torch.uint8)
    spatial = RandBatchSpatial(flip_prob=0.5, rot90_prob=0.75, mode="nearest")
    spatial.set_random_state(3)
    out = spatial(x)
    flips, turns = spatial.params["flips"], spatial.params["turns"]
    for i in range(len(x)):
        expected = x[i]
        for axis in (0, 1):
            expected = expected.flip(axis + 1) if flips[i, axis] else expected
        # the sample is read at M p with M = flips @ turns: out = rot90(flip(x))
        expected = torch.rot90(expected, int(turns[i]), dims=(-2, -1))
        assert torch.equal(out[i], expected), (i, flips[i], turns[i])
    assert len(set(turns.tolist())) == 4 and flips.any() and not flips.all()
    bilinear = RandBatchSpatial(flip_prob=0.5, rot90_prob=0.75)
    bilinear.set_random_state(3)
    assert torch.allclose(bilinear(x.float()), out.float(), atol=1e-3)


def test_image_and_label_share_each_samples_grid():
    x = _batch(8)
    label = (x[:, :1] > 0.5).float()
    spatial = RandBatchSpatiald(
        ["image", "label", "copy"],
        mode=("bilinear", "nearest", "nearest"),
        flip_prob=0.5,
        rot90_prob=0.5,
        prob=1.0,
        rotate_range=0.5,
        scale_range=0.1,
        spacing=8,
        magnitude_range=(0.5, 2.0),
    )
    spatial.set_random_state(0)
    out = spatial({"image": x, "label": label, "copy": label.clone()})
    assert out["image"].shape == x.shape and out["label"].shape == label.shape
    assert torch.equal(out["label"], out["copy"])
    assert set(out["label"].unique().tolist()) <= {0.0, 1.0}
    # a label equal to the image's first channel moves with it: nearest and bilinear agree where both are defined
    moved = RandBatchSpatiald(["image", "label"], mode=("nearest", "nearest"), prob=1.0, rotate_range=0.5)
    moved.set_random_state(1)
    same = moved({"image": x[:, :1], "label": x[:, :1].clone()})
    assert torch.equal(same["image"], same["label"])
    assert not torch.equal(same["image"], x[:, :1])


def test_draws_are_per_sample_and_follow_the_seed():
    x = _batch(8)
    kwargs = {"flip_prob": 0.5, "prob": 0.5, "rotate_range": 0.5, "spacing": 8, "magnitude_range": (0.5, 2.0)}
    first, second, other = (RandBatchSpatial(**kwargs) for _ in range(3))
    first.set_random_state(5)
    second.set_random_state(5)
    other.set_random_state(6)
    a, b, c = first(x), second(x), other(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    changed = [not torch.allclose(a[i], x[i], atol=1e-5) for i in range(len(x))]
    assert any(changed) and not all(changed)  # each sample draws its own, some keep the identity


def test_the_deformation_has_monai_rand2delastic_magnitude():
    """Mean displacement of the elastic part alone equals MONAI's ``Rand2DElastic`` within sampling error."""
    size, spacing, magnitude = 96, 16, (2.0, 2.0)
    ramp = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)  # value = x coordinate
    inner = slice(16, -16)
    monai = Rand2DElastic(spacing=spacing, magnitude_range=magnitude, prob=1.0, padding_mode="border")
    monai.set_random_state(0)
    ours = RandBatchSpatial(prob=1.0, spacing=spacing, magnitude_range=magnitude, padding_mode="border")
    ours.set_random_state(0)
    theirs = np.mean([(monai(ramp[None])[0] - ramp)[inner, inner].abs().mean().item() for _ in range(40)])
    mine = (ours(ramp[None, None].expand(40, 1, size, size))[:, 0] - ramp)[:, inner, inner].abs().mean().item()
    assert mine == pytest.approx(theirs, rel=0.2)
    assert mine > 0.5  # the ramp moved by pixels, not by rounding


def test_rotation_and_scaling_about_the_centre():
    size = 33
    x = torch.zeros(1, 1, size, size)
    x[0, 0, 16, 26] = 1.0  # 10 pixels right of the centre
    spatial = RandBatchSpatial(prob=1.0, rotate_range=np.pi, mode="nearest", padding_mode="zeros")
    spatial.set_random_state(2)
    out = spatial(x)
    angle = spatial.params["angle"][0]
    y, x_ = (c.item() for c in torch.nonzero(out[0, 0])[0])
    # the output at p samples the input at A p: the dot lands at A^-1 (0, 10)
    expected = (-10 * np.sin(-angle), 10 * np.cos(-angle))
    assert abs((y - 16) - expected[0]) <= 1 and abs((x_ - 16) - expected[1]) <= 1


def test_quarter_turns_need_square_samples():
    with pytest.raises(ValueError, match="square"):
        RandBatchSpatial(rot90_prob=1.0)(torch.zeros(2, 1, 8, 10))
    with pytest.raises(ValueError, match="probability"):
        RandBatchSpatial(prob=1.5)
    with pytest.raises(ValueError, match="nearest"):
        RandBatchSpatial()(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))


def test_intensity_draws_per_sample():
    x = torch.ones(200, 1, 4, 4)
    intensity = RandBatchIntensity(noise_prob=0.0, scale_prob=1.0, scale_factor=0.1, shift_prob=1.0, shift_offset=0.1)
    intensity.set_random_state(0)
    out = intensity(x)
    p = intensity.params
    expected = torch.as_tensor(p["scale"] + p["shift"], dtype=torch.float32)[:, None, None, None].expand_as(x)
    assert torch.allclose(out, expected)
    assert 0.8 <= out.min() < 0.9 and 1.1 < out.max() <= 1.2  # 1 + U(-0.1, 0.1) + U(-0.1, 0.1)
    noisy = RandBatchIntensity(noise_prob=0.5, noise_std=0.2)
    noisy.set_random_state(0)
    spread = noisy(torch.zeros(200, 1, 32, 32)).std(dim=(1, 2, 3)).numpy()
    assert np.allclose(spread, noisy.params["noise"], atol=0.02)
    assert 60 < (spread == 0).sum() < 140


def test_intensity_dictionary_version_leaves_other_keys():
    x, label = torch.zeros(4, 1, 8, 8), torch.ones(4, 1, 8, 8)
    out = RandBatchIntensityd("image", shift_prob=1.0, shift_offset=0.5)({"image": x, "label": label})
    assert torch.equal(out["label"], label) and not torch.equal(out["image"], x)
    with pytest.raises(ValueError, match="floating point"):
        RandBatchIntensity()(torch.zeros(2, 1, 4, 4, dtype=torch.uint8))


def test_the_dense_field_has_rand_elastic_displacements_magnitude():
    """The imgaug-style dense field (GlaS recipe) moves pixels as far as ``RandElasticDisplacement`` does."""
    size = 96
    ramp = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)
    inner = slice(16, -16)
    theirs_t = RandElasticDisplacement(alpha_range=(8, 8), sigma=3, prob=1.0)
    theirs_t.set_random_state(0)
    theirs = np.mean([(theirs_t(ramp[None])[0] - ramp)[inner, inner].abs().mean().item() for _ in range(20)])
    ours = RandBatchSpatial(dense_prob=1.0, dense_alpha_range=(8, 8), dense_sigma=3)
    ours.set_random_state(0)
    mine = (ours(ramp[None, None].expand(20, 1, size, size))[:, 0] - ramp)[:, inner, inner].abs().mean().item()
    assert mine == pytest.approx(theirs, rel=0.2)
    assert mine > 0.2


def test_zoom_shows_a_window_of_the_sample_enlarged():
    size = 65
    ramp = torch.arange(size, dtype=torch.float32)[None, None, None, :].expand(8, 1, size, size)
    spatial = RandBatchSpatial(zoom_prob=1.0, zoom=0.75, padding_mode="zeros")
    spatial.set_random_state(0)
    out = spatial(ramp.contiguous())
    steps = out[:, 0, :, 1:] - out[:, 0, :, :-1]
    assert torch.allclose(steps, torch.full_like(steps, 0.75), atol=1e-3)  # 75% of the width spread over all of it
    lows, highs = out[:, 0, 0, 0], out[:, 0, 0, -1]
    assert (lows >= -1e-3).all() and (highs <= size - 1 + 1e-3).all()  # the window stays inside the sample
    assert len(set(lows.round().tolist())) > 1  # at random places
    with pytest.raises(ValueError, match="zoom"):
        RandBatchSpatial(zoom=1.5)


def test_batched_median_sharpen_equals_the_per_sample_transform():
    x = torch.rand(6, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    batched = RandBatchMedianSharpen(prob=0.5)
    batched.set_random_state(4)
    out = batched(x)
    p = batched.params
    assert p["applied"].any() and not p["applied"].all()
    for i in range(len(x)):
        if not p["applied"][i]:
            assert torch.equal(out[i], x[i])
            continue
        single = RandMedianSharpen(prob=1.0)
        single.alpha, single.lightness = p["alpha"][i], p["lightness"][i]
        single._do_transform = True
        assert torch.allclose(out[i], single(x[i], randomize=False), atol=1e-5)


def test_the_piecewise_field_moves_pixels_as_rand_piecewise_affine_does():
    """The DSB2018 recipe's piecewise distortion: same sign convention (a constant field shifts the sample the same
    way) and the same displacement size as :class:`RandPiecewiseAffine`."""
    size = 64
    ramp = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)
    theirs_t = RandPiecewiseAffine(scale_range=(0.04, 0.04), prob=1.0).set_random_state(0)
    theirs_t.randomize((size, size))
    theirs_t.field = np.stack([np.zeros((size, size)), np.full((size, size), 2.0)])  # 2 pixels along x
    ours = RandBatchSpatial(piecewise_prob=1.0, piecewise_scale_range=(0.04, 0.04))
    ours.randomize(1, (size, size))
    ours.params["piecewise"] = np.stack([np.zeros((4, 4)), np.full((4, 4), 2.0)])[None].astype(np.float32)
    shifted = ours(ramp[None, None].contiguous(), randomize=False)[0, 0]
    assert torch.allclose(shifted[:, :-2], theirs_t.warp(ramp[None])[0][:, :-2], atol=1e-4)
    assert torch.allclose(shifted[:, :-2], ramp[:, :-2] + 2, atol=1e-4)

    theirs_t = RandPiecewiseAffine(scale_range=(0.04, 0.04), prob=1.0).set_random_state(0)
    theirs = np.mean([(theirs_t(ramp[None])[0] - ramp)[8:-8, 8:-8].abs().mean().item() for _ in range(40)])
    ours.set_random_state(0)
    mine = (ours(ramp[None, None].expand(40, 1, size, size).contiguous())[:, 0] - ramp)[:, 8:-8, 8:-8]
    assert mine.abs().mean().item() == pytest.approx(theirs, rel=0.2)
    assert theirs > 0.5
    with pytest.raises(ValueError, match="piecewise_grid"):
        RandBatchSpatial(piecewise_grid=(1, 4))


def test_slice_order_flips_per_sample_and_labels_keep_their_one_channel():
    x = torch.rand(8, 5, 6, 6, generator=torch.Generator().manual_seed(2))
    label = (x[:, :1] > 0.5).float()
    d = RandBatchFlipSliceOrderd(["image", "label"], prob=0.5).set_random_state(1)({"image": x, "label": label})
    flipped = d["image"][:, 0] != x[:, 0]
    assert 0 < flipped.flatten(1).any(1).sum() < len(x)
    for i in range(len(x)):
        expected = x[i].flip(0) if flipped[i].any() else x[i]
        assert torch.equal(d["image"][i], expected)
    assert torch.equal(d["label"], label)
    assert torch.equal(RandBatchFlipSliceOrder(prob=0.0)(x), x)
    with pytest.raises(ValueError, match="batch"):
        RandBatchFlipSliceOrder(prob=1.0)(torch.zeros(4, 4))
