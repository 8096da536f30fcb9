"""Networks that MONAI does not provide."""

from __future__ import annotations

from microseg.networks.inferer_network import InfererNetwork
from microseg.networks.mask_rcnn import PRETRAINED, mask_rcnn_resnet50_fpn
from microseg.networks.mask_rcnn_foreground import MaskRCNNForeground

__all__ = ["PRETRAINED", "InfererNetwork", "MaskRCNNForeground", "mask_rcnn_resnet50_fpn"]
