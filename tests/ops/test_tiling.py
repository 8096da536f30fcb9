"""The NumPy tiling of the ONNX path against MONAI's ``sliding_window_inference`` and the PyTorch inferers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data.utils import compute_importance_map, dense_patch_slices
from monai.inferers import sliding_window_inference
from monai.inferers.utils import _get_scan_interval

from microseg.inferers import LongestSideInferer, SliceTiledInferer
from microseg.inferers.tiled import TileTTA
from microseg.ops.tiling import (
    LongestSidePredictor,
    TiledPredictor,
    importance_map,
    resize_area,
    resize_bilinear,
    sliding_window,
    tile_starts,
    tile_transforms,
)

TOLERANCE = 2e-5


def _network(in_channels: int = 1, out_channels: int = 2) -> torch.nn.Module:
    """A small convolutional network whose output depends on the tile's border (zero padding), as a U-Net's does."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(4, out_channels, 5, padding=2)
    ).eval()


def _predictor(network: torch.nn.Module):
    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return network(torch.from_numpy(batch)).numpy()

    return predict


def _close(numpy_out: np.ndarray, torch_out: torch.Tensor) -> None:
    assert numpy_out.shape == tuple(torch_out.shape)
    assert np.abs(numpy_out - torch_out.numpy()).max() < TOLERANCE


@pytest.mark.parametrize("mode", ["constant", "gaussian"])
@pytest.mark.parametrize("shape", [(64, 96), (40, 50), (33, 97), (32, 32)])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_sliding_window_is_monais(mode, shape, overlap):
    network = _network()
    x = torch.rand(2, 1, *shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = sliding_window_inference(x, (32, 48), 3, network, overlap=overlap, mode=mode)
    _close(sliding_window(x.numpy(), (32, 48), 3, _predictor(network), overlap, mode), expected)


@pytest.mark.parametrize("size", [(32, 48), (17, 64), (256, 256)])
def test_importance_map_and_tile_positions_are_monais(size):
    for mode in ("constant", "gaussian"):
        np.testing.assert_allclose(importance_map(size, mode), compute_importance_map(size, mode).numpy(), rtol=1e-6)
    for image in ((100, 130), size, (size[0] + 1, size[1] * 3)):
        expected = dense_patch_slices(image, size, _get_scan_interval(image, size, 2, (0.25, 0.25)))
        assert tile_starts(image, size, 0.25) == [tuple(s.start for s in window) for window in expected]


@pytest.mark.parametrize(
    ("tta", "context", "uncertainty", "depth"),
    [
        ("none", 1, False, 0),
        ("flips", 1, True, 0),
        ("dihedral", 1, False, 0),
        ("flips", 3, True, 5),
        ("none", 3, False, 0),
        ("dihedral_z", 3, True, 4),
        ("dihedral_z", 1, False, 0),
    ],
)
def test_tiled_predictor_is_slice_tiled_inferer(tta, context, uncertainty, depth):
    network = _network(in_channels=context, out_channels=1)
    shape = (1, 1, depth, 40, 56) if depth else (1, 1, 40, 56)
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(2))
    settings = {"roi_size": (32, 32), "sw_batch_size": 4, "context": context, "tta": tta, "uncertainty": uncertainty}
    with torch.no_grad():
        expected = SliceTiledInferer(**settings, slice_batch=2)(x, network)
    _close(TiledPredictor(**settings, slice_batch=2)(x.numpy(), _predictor(network)), expected)


@pytest.mark.parametrize("shape", [(48, 80), (100, 30), (64, 64), (20, 24)])
def test_longest_side_predictor_is_longest_side_inferer(shape):
    network = _network(in_channels=3, out_channels=1)
    x = torch.rand(1, 3, *shape, generator=torch.Generator().manual_seed(3))
    inner = {"roi_size": (64, 64), "sw_batch_size": 1, "overlap": 0.0, "tta": "flips"}
    with torch.no_grad():
        expected = LongestSideInferer(64, SliceTiledInferer(**inner))(x, network)
    _close(LongestSidePredictor(64, TiledPredictor(**inner))(x.numpy(), _predictor(network)), expected)


@pytest.mark.parametrize(("source", "target"), [((50, 70), (32, 45)), ((20, 30), (64, 64)), ((64, 64), (64, 64))])
def test_resizing_is_pytorchs(source, target):
    x = torch.rand(2, 3, *source, generator=torch.Generator().manual_seed(4))
    np.testing.assert_allclose(resize_area(x.numpy(), target), F.interpolate(x, target, mode="area"), atol=1e-6)
    expected = F.interpolate(x, target, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(resize_bilinear(x.numpy(), target), expected, atol=1e-6)


def test_dihedral_z_averages_16_augmentations_of_each_tile():
    """16 = the 8 rotations/mirror images of the plane times both slice orders; a network that ignores the slice
    order and is equivariant to the dihedral group gives its plain output back."""
    assert len(set(tile_transforms("dihedral_z"))) == 16 and tile_transforms("dihedral") == []
    mean_net = torch.nn.Conv2d(3, 1, 1, bias=False)
    torch.nn.init.constant_(mean_net.weight, 1 / 3)  # symmetric in the slices, pointwise: equivariant
    x = torch.rand(1, 1, 5, 40, 40, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = SliceTiledInferer((32, 32), 4, context=3)(x, mean_net)
        augmented = SliceTiledInferer((32, 32), 4, context=3, tta="dihedral_z")(x, mean_net)
    torch.testing.assert_close(augmented, plain, atol=1e-6, rtol=1e-6)
    order = torch.nn.Conv2d(3, 1, 1, bias=False)
    torch.nn.init.constant_(order.weight, 0.0)
    order.weight.data[0, 0] = 1.0  # reads only the first slice: the reversed order reads the last one
    tile = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = TileTTA(order, tile_transforms("dihedral_z"), uncertainty=False)(tile)
    torch.testing.assert_close(out, (tile[:, :1] + tile[:, 2:]) / 2, atol=1e-6, rtol=1e-6)
