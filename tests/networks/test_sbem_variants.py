"""The SBEM variants by name, and the slice ensemble of CDeep3M (1fm + 3fm + 5fm)."""

from __future__ import annotations

import pytest
import torch

from microseg.networks import DeepEM3D, MultiResUNet, SliceEnsemble, sbem_network, variant_slices


@pytest.mark.parametrize(
    ("variant", "slices", "kind"),
    [
        ("deepem3d_1fm", 1, DeepEM3D),
        ("deepem3d_3fm", 3, DeepEM3D),
        ("deepem3d_5fm", 5, DeepEM3D),
        ("multiresunet", 1, MultiResUNet),
    ],
)
def test_each_variant_reads_its_slices_and_gives_logits(variant, slices, kind):
    network = sbem_network(variant, width=0.125).eval()
    assert isinstance(network, kind) and variant_slices(variant) == slices
    out = network(torch.rand(2, slices, 32, 48))
    assert out.shape == (2, 1, 32, 48) and out.dtype == torch.float32


def test_width_scales_the_papers_networks():
    full = sum(p.numel() for p in sbem_network("multiresunet").parameters())
    half = sum(p.numel() for p in sbem_network("multiresunet", width=0.5).parameters())
    assert full == sum(p.numel() for p in MultiResUNet().parameters()) and 0.2 < half / full < 0.3


def test_an_unknown_variant_names_the_choices():
    with pytest.raises(ValueError, match="deepem3d_3fm"):
        sbem_network("deepem3d_2fm")


def test_ensemble_averages_the_members_probabilities_on_their_own_slices():
    torch.manual_seed(0)
    members = [sbem_network(v, width=0.125).eval() for v in ("deepem3d_1fm", "deepem3d_3fm", "deepem3d_5fm")]
    ensemble = SliceEnsemble(members, [1, 3, 5]).eval()
    x = torch.rand(1, 5, 32, 32)
    with torch.no_grad():
        expected = (
            torch.sigmoid(members[0](x[:, 2:3])) + torch.sigmoid(members[1](x[:, 1:4])) + torch.sigmoid(members[2](x))
        ) / 3
        got = torch.sigmoid(ensemble(x))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_ensemble_refuses_the_wrong_number_of_slices():
    ensemble = SliceEnsemble([torch.nn.Conv2d(1, 1, 1), torch.nn.Conv2d(3, 1, 1)], [1, 3])
    with pytest.raises(ValueError, match="expected 3 adjacent slices"):
        ensemble(torch.rand(1, 5, 8, 8))
    with pytest.raises(ValueError, match="odd"):
        SliceEnsemble([torch.nn.Conv2d(2, 1, 1)], [2])
