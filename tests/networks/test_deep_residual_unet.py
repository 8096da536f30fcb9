"""Deep Residual U-Net: shapes in 2D and 3D, gradients, the paper's size, the input-size check, TorchScript."""

from __future__ import annotations

import pytest
import torch

from microseg.networks import DeepResidualUNet

SMALL = (4, 8, 16)


@pytest.mark.parametrize(("dims", "shape"), [(2, (2, 1, 32, 48)), (3, (1, 1, 8, 16, 16))], ids=["2d", "3d"])
def test_output_shape_is_input_shape_with_out_channels(dims, shape):
    net = DeepResidualUNet(spatial_dims=dims, in_channels=1, out_channels=3, features=SMALL).eval()
    with torch.no_grad():
        out = net(torch.randn(shape))
    assert out.shape == (shape[0], 3, *shape[2:])


def test_backward_reaches_every_parameter():
    net = DeepResidualUNet(features=SMALL)
    net(torch.randn(2, 1, 16, 16)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_default_is_the_papers_seven_unit_network():
    net = DeepResidualUNet()
    assert len(net.encoder) == 4 and len(net.decoder) == 3  # 3 encoder units + bridge, 3 decoder units
    assert [unit.residual[-1].out_channels for unit in net.decoder] == [256, 128, 64]
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(8.2e6, rel=0.01)


def test_logits_not_probabilities():
    torch.manual_seed(0)
    net = DeepResidualUNet(features=SMALL).eval()
    with torch.no_grad():
        out = net(10 * torch.randn(1, 1, 16, 16))
    assert out.min() < 0 or out.max() > 1


def test_size_not_divisible_is_refused_with_the_fix():
    with pytest.raises(ValueError, match=r"not divisible by 4; pad or crop"):
        DeepResidualUNet(features=SMALL)(torch.randn(1, 1, 18, 16))


def test_bad_arguments():
    with pytest.raises(ValueError, match="spatial_dims"):
        DeepResidualUNet(spatial_dims=1)
    with pytest.raises(ValueError, match="at least two levels"):
        DeepResidualUNet(features=(8,))


def test_torchscript_gives_same_output():
    net = DeepResidualUNet(features=SMALL).eval()
    x = torch.randn(1, 1, 32, 32)
    scripted = torch.jit.script(net)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x))
