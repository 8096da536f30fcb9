"""DeepEM3D: 1fm/3fm/5fm shapes, gradients, the full size, input checks, TorchScript."""

from __future__ import annotations

import pytest
import torch

from microseg.networks import DeepEM3D

SMALL = 0.125  # width multiplier that keeps the tests fast


@pytest.mark.parametrize("slices", [1, 3, 5])
def test_output_is_the_centre_slice_at_full_size(slices):
    net = DeepEM3D(in_slices=slices, out_channels=2, width=SMALL).eval()
    with torch.no_grad():
        out = net(torch.randn(2, slices, 48, 64))
    assert out.shape == (2, 2, 48, 64)


def test_adjacent_slices_change_the_output_only_with_the_3d_stem():
    torch.manual_seed(0)
    net = DeepEM3D(in_slices=3, width=SMALL).eval()
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[:, 0] = torch.randn(32, 32)  # another slice above the centre one
    with torch.no_grad():
        assert not torch.allclose(net(x), net(y))


@pytest.mark.parametrize("slices", [1, 3])
def test_backward_reaches_every_parameter(slices):
    torch.manual_seed(0)
    net = DeepEM3D(in_slices=slices, width=SMALL)
    out = net(torch.randn(2, slices, 32, 32))
    (out * torch.randn_like(out)).sum().backward()  # a plain sum is constant through the side outputs' batch norms
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_full_width_sizes():
    one, three = DeepEM3D(in_slices=1), DeepEM3D(in_slices=3)
    assert sum(p.numel() for p in one.parameters()) == pytest.approx(10.80e6, rel=0.01)
    assert sum(p.numel() for p in three.parameters()) == pytest.approx(10.88e6, rel=0.01)
    assert one.block_c.norm.num_features == 2144 and one.block_b.norm.num_features == 1152


def test_bad_inputs_and_arguments_say_what_to_do():
    net = DeepEM3D(in_slices=3, width=SMALL)
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        net(torch.randn(1, 1, 32, 32))
    with pytest.raises(ValueError, match="not divisible by 16; pad or crop"):
        net(torch.randn(1, 3, 40, 32))
    with pytest.raises(ValueError, match="odd number"):
        DeepEM3D(in_slices=2)


def test_torchscript_gives_same_output():
    net = DeepEM3D(in_slices=5, width=SMALL).eval()
    x = torch.randn(1, 5, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(torch.jit.script(net)(x), net(x))
