"""MultiResUNet: shapes in 2D and 3D, gradients, the paper's widths, input checks, TorchScript."""

from __future__ import annotations

import pytest
import torch

from microseg.networks import MultiResUNet
from microseg.networks.multires_unet import multires_channels

SMALL = (4, 8, 16)


@pytest.mark.parametrize(("dims", "shape"), [(2, (2, 3, 32, 48)), (3, (1, 1, 8, 16, 16))], ids=["2d", "3d"])
def test_output_shape_is_input_shape_with_out_channels(dims, shape):
    net = MultiResUNet(spatial_dims=dims, in_channels=shape[1], out_channels=2, filters=SMALL).eval()
    with torch.no_grad():
        assert net(torch.randn(shape)).shape == (shape[0], 2, *shape[2:])


def test_backward_reaches_every_parameter():
    net = MultiResUNet(filters=SMALL)
    net(torch.randn(2, 1, 16, 16)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_default_is_the_papers_network():
    net = MultiResUNet()
    assert multires_channels(32) == (8, 17, 26)  # W = 1.67 * 32 split W/6, W/3, W/2 and rounded down
    assert [b.out_channels for b in [*net.encoder, net.bottom]] == [51, 105, 212, 426, 853]
    assert [len(p.convs) for p in net.paths] == [4, 3, 2, 1]
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(7.24e6, rel=0.01)


def test_size_not_divisible_is_refused_and_bad_arguments():
    with pytest.raises(ValueError, match="not divisible by 4; pad or crop"):
        MultiResUNet(filters=SMALL)(torch.randn(1, 1, 18, 16))
    with pytest.raises(ValueError, match="spatial_dims"):
        MultiResUNet(spatial_dims=1)
    with pytest.raises(ValueError, match="at least two levels"):
        MultiResUNet(filters=(8,))


def test_torchscript_gives_same_output():
    net = MultiResUNet(filters=SMALL).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(net)(x), net(x))
