from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg.errors import MicrosegInputError
from microseg.transforms import (
    BinarizeLabel,
    BinarizeLabeld,
    PercentileNormalize,
    PercentileNormalized,
    RandFlipSliceOrderd,
    SelectSlices,
    SelectSlicesd,
)


def test_percentile_normalize_maps_percentiles_per_slice():
    rng = np.random.default_rng(0)
    stack = np.stack([rng.integers(0, 100, (32, 32)), rng.integers(1000, 60000, (32, 32))])[None].astype(np.uint16)
    out = PercentileNormalize(1, 99)(stack)
    assert out.dtype == np.float32 and out.shape == stack.shape
    for z in range(2):
        low, high = np.percentile(out[0, z], [1, 99])
        assert low == pytest.approx(0, abs=1e-5) and high == pytest.approx(1, abs=1e-5)


def test_percentile_normalize_stack_equals_slices():
    stack = torch.rand(1, 3, 16, 16) * 200
    whole = PercentileNormalize()(stack)
    for z in range(3):
        torch.testing.assert_close(whole[:, z], PercentileNormalize()(stack[:, z]))
    d = PercentileNormalized("image")({"image": stack})
    torch.testing.assert_close(d["image"], whole)


def test_percentile_normalize_constant_plane_is_finite():
    assert np.isfinite(PercentileNormalize()(np.ones((1, 8, 8)))).all()
    with pytest.raises(ValueError):
        PercentileNormalize(50, 10)


def test_binarize_label_maps_255_to_1():
    label = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)
    out = BinarizeLabel()(label)
    assert out.dtype == torch.float32 and out.tolist() == [[[0.0, 1.0], [1.0, 0.0]]]
    assert BinarizeLabeld("label")({"label": label})["label"].sum() == 2


def test_binarize_label_invert_makes_zero_the_object():
    label = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)  # ISBI 2012: 0 = membrane
    assert BinarizeLabeld("label", invert=True)({"label": label})["label"].tolist() == [[[1.0, 0.0], [0.0, 1.0]]]


@pytest.mark.parametrize(("text", "inverted"), [("true", True), ("True", True), ("false", False), ("0", False)])
def test_binarize_label_reads_invert_given_as_text(text, inverted):
    """``python -m monai.bundle run ... --invert_label false`` passes the text "false", which Python takes as true."""
    label = torch.tensor([[[0, 255]]], dtype=torch.uint8)
    assert BinarizeLabel(text)(label).tolist() == ([[[1.0, 0.0]]] if inverted else [[[0.0, 1.0]]])


def test_binarize_label_refuses_an_invert_that_is_not_a_bool():
    with pytest.raises(MicrosegInputError, match="invert_label"):
        BinarizeLabel("membrane")


def test_rand_flip_slice_order_reverses_the_context_channels_only():
    image = torch.arange(3.0)[:, None, None].expand(3, 4, 4).clone()
    label = torch.ones(1, 4, 4)
    flip = RandFlipSliceOrderd(["image", "label"], prob=1.0)
    out = flip({"image": image, "label": label})
    assert out["image"][:, 0, 0].tolist() == [2.0, 1.0, 0.0] and torch.equal(out["label"], label)
    keep = RandFlipSliceOrderd("image", prob=0.0)({"image": image})
    assert torch.equal(keep["image"], image)
    flip.set_random_state(seed=0)
    draws = {
        RandFlipSliceOrderd("image", prob=0.5).set_random_state(seed=s)({"image": image})["image"][0, 0, 0].item()
        for s in range(20)
    }
    assert draws == {0.0, 2.0}


def test_select_slices():
    stack = torch.arange(5)[None, :, None, None].expand(1, 5, 2, 2)
    assert SelectSlices(1, 3)(stack)[0, :, 0, 0].tolist() == [1, 2]
    assert SelectSlicesd("image", 3, None)({"image": stack})["image"].shape[1] == 2
    with pytest.raises(MicrosegInputError, match="cannot take slices \\[4, 9\\)"):
        SelectSlices(4, 9)(stack)
    with pytest.raises(MicrosegInputError, match="needs a stack"):
        SelectSlices(0, 1)(torch.zeros(1, 4, 4))
