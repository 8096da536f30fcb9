"""Batch preparation that turns instance label images into torchvision detection targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from monai.engines.utils import PrepareBatch
from monai.utils import CommonKeys

from microseg.transforms.detection import instance_targets

__all__ = ["PrepareInstanceBatch"]


class PrepareInstanceBatch(PrepareBatch):
    """For ``SupervisedTrainer``: images and targets for ``network(images, targets)``.

    The batch is a list of dicts (``DataLoader(collate_fn=monai.data.utils.no_collation)``, images may differ in
    size) or one collated dict. Each ``label`` is a ``(1, H, W)`` instance label image, made into
    :func:`microseg.transforms.instance_targets`.

    Returns:
        ``(images, targets, (targets,), {})``: lists of ``(3, H, W)`` tensors and target dicts on ``device``; the
        engine's inferer then calls ``network(images, targets)``, which returns the loss dict.
    """

    def __init__(self, image_key: str = CommonKeys.IMAGE, label_key: str = CommonKeys.LABEL) -> None:
        self.image_key, self.label_key = image_key, label_key

    def __call__(
        self,
        batchdata: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ):
        items = (
            batchdata
            if isinstance(batchdata, Sequence)
            else [
                {self.image_key: i, self.label_key: lab}
                for i, lab in zip(batchdata[self.image_key], batchdata[self.label_key], strict=True)
            ]
        )
        images = [torch.as_tensor(it[self.image_key]).to(device, non_blocking=non_blocking) for it in items]
        targets = [instance_targets(torch.as_tensor(it[self.label_key]).to(device)) for it in items]
        return images, targets, (targets,), {}
