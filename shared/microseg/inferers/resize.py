"""Predict at a fixed working scale and return the prediction at the input's size."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from monai.inferers import Inferer, SimpleInferer

__all__ = ["LongestSideInferer"]


class LongestSideInferer(Inferer):
    """Scale each image so that its longest side is ``image_size``, zero-pad it to a square, predict with
    ``inferer``, then crop and scale the prediction back to the input's size.

    This is the GlaS recipe's "zero-pad to square, resize to 512 x 512", undone exactly on the way out, so that
    images of any size and aspect come back at their own size.

    Args:
        image_size: side of the square the network sees.
        inferer: the inferer run at that scale (default ``SimpleInferer()``; a
            :class:`~microseg.inferers.SliceTiledInferer` adds test-time augmentation).
        mode: interpolation of the prediction on the way back (``"bilinear"`` for logits or probabilities).

    Shapes: ``(B, C, H, W)`` in; ``(B, C_out, H, W)`` out.
    """

    def __init__(self, image_size: int = 512, inferer: Inferer | None = None, mode: str = "bilinear") -> None:
        super().__init__()
        self.image_size = int(image_size)
        self.inferer = inferer if inferer is not None else SimpleInferer()
        self.mode = mode

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
        height, width = inputs.shape[-2:]
        scale = self.image_size / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = F.interpolate(inputs, size=size, mode="area") if size != (height, width) else inputs
        pad_h, pad_w = self.image_size - size[0], self.image_size - size[1]
        top, left = pad_h // 2, pad_w // 2
        padded = F.pad(scaled, (left, pad_w - left, top, pad_h - top))
        outputs = self.inferer(padded, network, *args, **kwargs)
        outputs = outputs[..., top : top + size[0], left : left + size[1]]
        if size == (height, width):
            return outputs
        return F.interpolate(outputs, size=(height, width), mode=self.mode, align_corners=False)
