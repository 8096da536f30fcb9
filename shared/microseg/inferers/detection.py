"""Run a torchvision detector inside MONAI engines."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["DetectionInferer"]


class DetectionInferer(Inferer):
    """Call a torchvision detector in eval mode and return its detections as batched, padded tensors.

    MONAI engines decollate outputs along the first axis, which would split a list of per-image detection dicts
    into single detections; stacking them keeps one dict per image after decollation.

    Shapes: ``(B, 3, H, W)`` images in; a dict out with ``boxes`` ``(B, N, 4)``, ``scores`` ``(B, N)``, ``labels``
    ``(B, N)`` and ``masks`` ``(B, N, 1, H, W)``, N the largest detection count in the batch. Padding entries have
    score -1 and empty masks.
    """

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        detections = network(list(inputs), *args, **kwargs)
        if isinstance(detections, tuple):  # a scripted model returns (losses, detections)
            detections = detections[1]
        n = max(len(d["scores"]) for d in detections)
        height, width = inputs.shape[-2:]
        fill = {"boxes": 0.0, "scores": -1.0, "labels": 0, "masks": 0.0}
        out = {}
        for key, value in fill.items():
            padded = []
            for det in detections:
                item = det[key] if key != "masks" else det[key].reshape(-1, 1, height, width)
                pad = torch.full((n - len(item), *item.shape[1:]), value, dtype=item.dtype, device=item.device)
                padded.append(torch.cat([item, pad]))
            out[key] = torch.stack(padded)
        return out
