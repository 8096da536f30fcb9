"""Networks that MONAI does not provide."""

from __future__ import annotations

from microseg.networks.deep_residual_unet import DeepResidualUNet
from microseg.networks.deepem3d import DeepEM3D
from microseg.networks.inferer_network import InfererNetwork
from microseg.networks.mask_rcnn import PRETRAINED, mask_rcnn_resnet50_fpn
from microseg.networks.mask_rcnn_foreground import MaskRCNNForeground
from microseg.networks.multires_unet import MultiResUNet
from microseg.networks.sbem_variants import SBEM_VARIANTS, sbem_network, variant_slices
from microseg.networks.slice_ensemble import SliceEnsemble

__all__ = [
    "PRETRAINED",
    "SBEM_VARIANTS",
    "DeepEM3D",
    "DeepResidualUNet",
    "InfererNetwork",
    "MaskRCNNForeground",
    "MultiResUNet",
    "SliceEnsemble",
    "mask_rcnn_resnet50_fpn",
    "sbem_network",
    "variant_slices",
]
