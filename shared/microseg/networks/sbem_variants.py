"""The networks of the SBEM organelle recipe (CDeep3M's DeepEM3D 1fm/3fm/5fm, and MultiResUNet), by variant name."""

from __future__ import annotations

from torch import nn

from microseg.networks.deepem3d import DeepEM3D
from microseg.networks.multires_unet import MultiResUNet
from microseg.variants import SBEM_VARIANTS, variant_slices

__all__ = ["SBEM_VARIANTS", "sbem_network", "variant_slices"]

_MULTIRES_FILTERS = (32, 64, 128, 256, 512)


def sbem_network(variant: str, *, width: float = 1.0, out_channels: int = 1) -> nn.Module:
    """The network of ``variant`` with every channel count multiplied by ``width`` (1.0: the papers' widths).

    Shapes: input ``(B, variant_slices(variant), H, W)``, ``H`` and ``W`` multiples of 16; output
    ``(B, out_channels, H, W)`` logits.
    """
    slices = variant_slices(variant)
    if variant == "multiresunet":
        filters = [max(1, round(f * width)) for f in _MULTIRES_FILTERS]
        return MultiResUNet(spatial_dims=2, in_channels=1, out_channels=out_channels, filters=filters)
    return DeepEM3D(in_slices=slices, out_channels=out_channels, width=width)
