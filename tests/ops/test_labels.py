"""NumPy label operations against the MONAI transforms they stand in for on the ONNX path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import FillHoles, RemoveSmallObjects

from microseg.ops.labels import fill_holes, relabel, remove_small_objects, sigmoid, softmax


def _blobs(seed: int, labelled: bool) -> np.ndarray:
    """A (64, 80) mask of rings (holes) and specks, as 0/1 floats or as instance labels."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :80]
    mask = np.zeros((64, 80), bool)
    for _ in range(6):
        cy, cx, r = rng.uniform(8, 56), rng.uniform(8, 72), rng.uniform(3, 9)
        d = np.hypot(yy - cy, xx - cx)
        mask |= (d < r) & (d > r / 2)  # a ring: its centre is a hole
    mask |= rng.random((64, 80)) > 0.97  # specks
    mask[0, :10] = True  # touching the border: not a hole
    return ndimage.label(mask)[0].astype(np.int32) if labelled else mask.astype(np.float32)


@pytest.mark.parametrize("labelled", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_fill_holes_is_monais(seed, labelled):
    image = _blobs(seed, labelled)
    expected = FillHoles()(torch.from_numpy(image[None])).numpy()[0]
    np.testing.assert_array_equal(fill_holes(image), expected)


@pytest.mark.parametrize("labelled", [False, True])
@pytest.mark.parametrize("min_size", [1, 5, 30])
def test_remove_small_objects_is_monais(min_size, labelled):
    image = _blobs(3, labelled)
    expected = RemoveSmallObjects(min_size=min_size, connectivity=1)(torch.from_numpy(image[None])).numpy()[0]
    np.testing.assert_array_equal(remove_small_objects(image, min_size, 1), expected)
    constant = np.zeros((8, 8), np.float32)
    assert remove_small_objects(constant, min_size) is constant


def test_activations_are_torchs():
    x = torch.randn(3, 20, 30, generator=torch.Generator().manual_seed(0)) * 20
    np.testing.assert_allclose(sigmoid(x.numpy()), torch.sigmoid(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(softmax(x.numpy(), 0), torch.softmax(x, 0).numpy(), atol=1e-6)
    assert sigmoid(np.float32([-1e4]))[0] == 0


def test_relabel_makes_labels_consecutive():
    labels, n = relabel(np.array([[0, 7, 7], [3, 0, 9]]))
    assert n == 3 and labels.tolist() == [[0, 2, 2], [1, 0, 3]]
    assert relabel(np.array([[5, 5]]))[0].tolist() == [[1, 1]]
