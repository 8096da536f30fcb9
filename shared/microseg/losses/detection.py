"""Loss for detectors that compute their own losses (torchvision Mask R-CNN)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = ["SumOfLosses"]


class SumOfLosses(torch.nn.Module):
    """The weighted sum of a detector's loss dict (``loss_classifier``, ``loss_box_reg``, ``loss_mask``, ...).

    Args:
        weights: weight per loss name; names not given weigh 1.

    Shapes: a dict of scalar tensors in (the targets are ignored: the detector used them already); a scalar out.
    """

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.weights = dict(weights or {})

    def forward(self, losses: Mapping[str, torch.Tensor], targets: Any = None) -> torch.Tensor:
        if not isinstance(losses, Mapping) or not losses:
            raise ValueError("SumOfLosses expects the loss dict of a detector in training mode")
        return sum(self.weights.get(name, 1.0) * value for name, value in losses.items())
