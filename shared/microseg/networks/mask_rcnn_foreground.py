"""A detector turned into a dense foreground-probability network, for ensembling with U-Nets."""

from __future__ import annotations

import torch

from microseg.transforms.detection import FilterDetections, MergeDetectionMasks

__all__ = ["MaskRCNNForeground"]


class MaskRCNNForeground(torch.nn.Module):
    """Mask R-CNN whose output is one foreground probability map per image: the detections that survive the
    recipe's filtering (score >= ``score_threshold``, NMS) with mask probabilities below ``mask_threshold`` set
    to 0, summed and clipped to [0, 1] (see :mod:`microseg.transforms.detection`).

    Args:
        detector: a torchvision Mask R-CNN (e.g. :func:`~microseg.networks.mask_rcnn_resnet50_fpn`).
        score_threshold, nms_threshold, mask_threshold: as in :class:`~microseg.transforms.FilterDetections` and
            :class:`~microseg.transforms.MergeDetectionMasks`.

    Shapes: ``(B, 3, H, W)`` images in [0, 1] in; ``(B, 1, H, W)`` probabilities out (not logits: this is an
    inference-only wrapper; the detector is put in eval mode).
    """

    def __init__(
        self,
        detector: torch.nn.Module,
        score_threshold: float = 0.4,
        nms_threshold: float = 0.5,
        mask_threshold: float = 0.3,
    ) -> None:
        super().__init__()
        self.detector = detector
        self.filter = FilterDetections(score_threshold, nms_threshold)
        self.merge = MergeDetectionMasks(mask_threshold, merge_threshold=1.0)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.detector.eval()
        detections = self.detector(list(images))
        return torch.stack([self.merge(self.filter(det))[1] for det in detections])
