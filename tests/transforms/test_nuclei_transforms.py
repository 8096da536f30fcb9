"""Transforms of the DSB 2018 recipe: grey conversion, inversion, three-class targets, piecewise distortion,
thresholds, seeded watershed and instance hole filling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import FillHoles

from conftest import synthetic_nuclei
from microseg.errors import MicrosegInputError
from microseg.metrics import kaggle_ap
from microseg.transforms import (
    ClassWatershed,
    ClassWatershedd,
    FillInstanceHoles,
    HysteresisThreshold,
    InstancesToClasses,
    InstancesToClassesd,
    InvertBrightBackground,
    OtsuThreshold,
    OtsuThresholdd,
    RandPiecewiseAffine,
    RandPiecewiseAffined,
    ToGrey,
)


def test_to_grey():
    rgba = torch.zeros(4, 2, 2)
    rgba[0], rgba[1], rgba[2], rgba[3] = 100.0, 200.0, 50.0, 255.0
    grey = ToGrey()(rgba)
    assert grey.shape == (1, 2, 2) and grey[0, 0, 0].item() == pytest.approx(0.299 * 100 + 0.587 * 200 + 0.114 * 50)
    single = torch.rand(1, 3, 3)
    assert ToGrey()(single) is single
    with pytest.raises(MicrosegInputError, match="grey, RGB or RGBA"):
        ToGrey()(torch.zeros(2, 3, 3))


def test_invert_bright_background_only():
    dark, bright = torch.full((1, 4, 4), 0.2), torch.full((1, 4, 4), 0.8)
    assert torch.equal(InvertBrightBackground()(dark), dark)
    assert torch.allclose(InvertBrightBackground()(bright), torch.full((1, 4, 4), 0.2))


def test_instances_to_classes_separates_touching_objects():
    labels = np.zeros((1, 12, 20), np.int32)
    labels[0, 2:10, 2:10], labels[0, 2:10, 10:18], labels[0, 0:2, 19] = 1, 2, 3
    classes = InstancesToClasses(border_width=1)(torch.as_tensor(labels))[0].numpy()
    assert classes[5, 9] == 2 and classes[5, 10] == 2  # each side of the contact is border
    assert classes[5, 8] == 1 and classes[5, 11] == 1 and classes[0, 0] == 0
    assert (classes[0:2, 19] == 1).all()  # an object too thin for an interior stays all interior (a seed)
    assert np.array_equal(classes > 0, labels[0] > 0)
    d = InstancesToClassesd("label", border_width=2)({"label": torch.as_tensor(labels)})
    assert (d["label"][0, 4:8, 4:8] == 1).all() and d["label"][0, 3, 4] == 2


def _classes_scipy(labels: np.ndarray, w: int) -> np.ndarray:
    """The definition, with SciPy's filters (microseg 0.9 computed it this way)."""
    from scipy import ndimage

    low = ndimage.minimum_filter(labels, size=2 * w + 1, mode="nearest")
    high = ndimage.maximum_filter(labels, size=2 * w + 1, mode="nearest")
    interior = (labels > 0) & (low == labels) & (high == labels)
    kept = np.bincount(labels[interior].ravel(), minlength=int(labels.max()) + 1)
    interior |= (labels > 0) & (kept[labels] == 0)
    return np.where(interior, 1, np.where(labels > 0, 2, 0))


@pytest.mark.parametrize("border_width", [1, 2, 3])
def test_instances_to_classes_per_plane_of_a_batch_equals_scipy(border_width):
    planes = [synthetic_nuclei(48, 64, seed=s)[1] for s in range(3)]
    planes[2] = np.zeros_like(planes[2])  # an empty plane
    planes[1][0:2, 60] = planes[1].max() + 1  # a sliver at the edge: no interior, all interior
    batch = torch.as_tensor(np.stack(planes)[:, None].astype(np.int32))  # (B, 1, H, W), ids repeat across planes
    classes = InstancesToClasses(border_width)(batch)
    assert classes.shape == batch.shape and classes.dtype == torch.int64
    for plane, got in zip(planes, classes[:, 0], strict=True):
        assert np.array_equal(got.numpy(), _classes_scipy(plane.astype(np.int64), border_width))


def test_piecewise_affine_is_seeded_and_labels_stay_labels():
    image = torch.rand(1, 48, 64)
    first = RandPiecewiseAffine(prob=1.0).set_random_state(3)(image)
    again = RandPiecewiseAffine(prob=1.0).set_random_state(3)(image)
    assert torch.equal(first, again) and not torch.equal(first, image) and first.shape == image.shape
    assert torch.equal(RandPiecewiseAffine(prob=0.0)(image), image)
    _, labels = synthetic_nuclei(48, 64)
    d = RandPiecewiseAffined(["image", "label"], prob=1.0, mode=["bilinear", "nearest"]).set_random_state(0)(
        {"image": image, "label": torch.as_tensor(labels[None])}
    )
    assert set(np.unique(d["label"].numpy())) <= set(np.unique(labels))
    with pytest.raises(ValueError, match="grid"):
        RandPiecewiseAffine(grid=(1, 4))


def test_piecewise_affine_displacement_scale():
    t = RandPiecewiseAffine(scale_range=(0.04, 0.04), grid=(4, 4), prob=1.0).set_random_state(0)
    t.randomize((400, 400))
    std = t.field.std()  # normal displacements of 0.04 * 400 = 16 pixels at the control points, interpolated between
    assert 4 < std < 25


def test_otsu_and_hysteresis_thresholds():
    probability = np.zeros((1, 10, 10), np.float32)
    probability[0, 2:5, 2:5] = 0.9
    probability[0, 5, 2:5] = 0.5  # faint, connected to the bright square
    probability[0, 8, 8] = 0.5  # faint, isolated
    mask = OtsuThreshold()(torch.as_tensor(probability))
    assert mask.sum() == 9 + 3 + 1
    hyst = HysteresisThreshold(low=0.4, high=0.8)(probability)
    assert hyst.sum() == 9 + 3 and hyst[0, 8, 8] == 0
    assert OtsuThresholdd("p")({"p": torch.zeros(1, 4, 4)})["p"].sum() == 0  # constant: empty, not an error


def test_class_watershed_splits_touching_nuclei():
    _, labels = synthetic_nuclei(64, 80, seed=1)
    classes = InstancesToClasses(border_width=2)(torch.as_tensor(labels[None]))[0]
    probability = torch.stack([(classes == k).float() for k in range(3)])
    predicted = ClassWatershed(min_seed_size=1)(probability)
    assert predicted.shape == (1, 64, 80) and predicted.dtype == torch.int32
    assert kaggle_ap(labels, predicted[0].numpy()) == 1.0
    plain = ClassWatershedd("pred", seed_threshold=1.1)({"pred": probability})["pred"][0].numpy()
    assert plain.max() < labels.max()  # no seed: every connected region is one object, touching nuclei merge
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        ClassWatershed()(torch.zeros(2, 4, 4))


def test_fill_instance_holes_equals_monai_fill_holes():
    rng = np.random.default_rng(0)
    _, labels = synthetic_nuclei(64, 80, seed=2)
    holed = labels.copy()
    for value in range(1, labels.max() + 1):
        ys, xs = np.nonzero(labels == value)
        holed[ys[len(ys) // 2], xs[len(xs) // 2]] = 0
    holed[rng.random(labels.shape) < 0.01] = 0
    expected = FillHoles()(torch.as_tensor(holed[None]))
    filled = FillInstanceHoles()(torch.as_tensor(holed[None]))
    assert torch.equal(filled, expected) and filled.dtype == torch.as_tensor(holed).dtype


def test_foreground_probability_of_class_probabilities():
    from microseg.transforms import ForegroundProbability, ForegroundProbabilityd

    probability = torch.softmax(torch.randn(3, 5, 6, generator=torch.Generator().manual_seed(0)), 0)
    foreground = ForegroundProbabilityd("pred")({"pred": probability})["pred"]
    assert foreground.shape == (1, 5, 6)
    torch.testing.assert_close(foreground[0], probability[1] + probability[2])
    with pytest.raises(ValueError, match="background in channel 0"):
        ForegroundProbability()(torch.zeros(1, 5, 6))
