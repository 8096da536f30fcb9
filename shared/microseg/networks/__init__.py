"""Networks that MONAI does not provide."""

from __future__ import annotations

from microseg.networks.deep_residual_unet import DeepResidualUNet
from microseg.networks.inferer_network import InfererNetwork
from microseg.networks.mask_rcnn import PRETRAINED, mask_rcnn_resnet50_fpn
from microseg.networks.mask_rcnn_foreground import MaskRCNNForeground

__all__ = ["PRETRAINED", "DeepResidualUNet", "InfererNetwork", "MaskRCNNForeground", "mask_rcnn_resnet50_fpn"]
