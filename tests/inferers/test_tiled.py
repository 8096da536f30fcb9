"""Tiled prediction agrees with whole-image prediction; stacks, context and TTA are exact."""

from __future__ import annotations

import pytest
import torch
from monai.networks.nets import UNet

from microseg.inferers import SliceTiledInferer, dihedral_transforms
from microseg.inferers.tiled import _apply, _undo


class PixelNet(torch.nn.Module):
    """Per-pixel network (1x1 convs): tiling cannot change its output, so tiled must equal whole exactly."""

    def __init__(self, in_channels: int = 1) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(in_channels, 4, 1), torch.nn.Tanh(), torch.nn.Conv2d(4, 1, 1))

    def forward(self, x):
        return self.net(x)


@pytest.mark.parametrize("mode", ["gaussian", "constant"])
def test_tiled_equals_whole_for_pixelwise_net(mode):
    torch.manual_seed(0)
    net, image = PixelNet().eval(), torch.rand(2, 1, 70, 101)
    with torch.no_grad():
        tiled = SliceTiledInferer(roi_size=(32, 32), overlap=0.5, mode=mode)(image, net)
        torch.testing.assert_close(tiled, net(image), atol=1e-5, rtol=1e-5)


def test_tiled_close_to_whole_for_unet():
    torch.manual_seed(0)
    net = UNet(2, 1, 1, channels=(4, 8, 16), strides=(2, 2), num_res_units=1).eval()
    image = torch.rand(1, 1, 96, 128)
    with torch.no_grad():
        whole = torch.sigmoid(net(image))
        tiled = torch.sigmoid(SliceTiledInferer(roi_size=(64, 64), overlap=0.5)(image, net))
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().mean() < 0.02  # only tile borders differ (receptive field cut)


def test_stack_equals_slice_by_slice_with_context():
    torch.manual_seed(0)
    net, stack = PixelNet(in_channels=3).eval(), torch.rand(1, 1, 5, 20, 24)
    with torch.no_grad():
        out = SliceTiledInferer(roi_size=(16, 16), context=3, slice_batch=2)(stack, net)
        assert out.shape == (1, 1, 5, 20, 24)
        for z in range(5):
            idx = [max(z - 1, 0), z, min(z + 1, 4)]
            torch.testing.assert_close(out[:, :, z], net(stack[:, 0, idx]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["none", "flips", "dihedral"])
def test_tta_transforms_invert(mode):
    x = torch.rand(1, 1, 6, 6)
    for turns, flip in dihedral_transforms(mode):
        torch.testing.assert_close(_undo(_apply(x, turns, flip), turns, flip), x)
    assert len(dihedral_transforms(mode)) == {"none": 1, "flips": 4, "dihedral": 8}[mode]
    assert len(
        {tuple(_apply(torch.arange(4.0).reshape(1, 1, 2, 2), *t).flatten().tolist()) for t in dihedral_transforms(mode)}
    ) == len(dihedral_transforms(mode))


def test_tta_of_equivariant_net_is_unchanged_and_uncertainty_zero():
    net, image = PixelNet().eval(), torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        plain = SliceTiledInferer(roi_size=(32, 32))(image, net)
        tta = SliceTiledInferer(roi_size=(32, 32), tta="dihedral", uncertainty=True)(image, net)
    assert tta.shape == (1, 2, 40, 40)
    torch.testing.assert_close(tta[:, :1], plain, atol=1e-5, rtol=1e-5)
    assert tta[:, 1].abs().max() < 1e-5


def test_tta_uncertainty_positive_for_orientation_sensitive_net():
    torch.manual_seed(0)
    net = UNet(2, 1, 1, channels=(4, 8), strides=(2,), num_res_units=0).eval()
    with torch.no_grad():
        out = SliceTiledInferer(roi_size=(32, 32), tta="flips", uncertainty=True)(torch.rand(1, 1, 32, 32), net)
    assert out[:, 1].mean() > 0


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected"):
        SliceTiledInferer()(torch.zeros(1, 1, 4), PixelNet())
    with pytest.raises(ValueError, match="tta must be one of"):
        SliceTiledInferer(tta="all")


def test_2d_image_with_context_repeats_the_slice():
    net, image = PixelNet(in_channels=3).eval(), torch.rand(1, 1, 20, 24)
    with torch.no_grad():
        out = SliceTiledInferer(roi_size=(16, 16), context=3)(image, net)
        torch.testing.assert_close(out, net(image.repeat(1, 3, 1, 1)), atol=1e-5, rtol=1e-5)
