"""Batch preparation that turns instance label images into torchvision detection targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from monai.engines.utils import PrepareBatch
from monai.utils import CommonKeys

from microseg.engines.augment import _plain
from microseg.transforms.detection import instance_targets

__all__ = ["PrepareInstanceBatch"]


class PrepareInstanceBatch(PrepareBatch):
    """For ``SupervisedTrainer``: images and targets for ``network(images, targets)``.

    The batch is a list of dicts (``DataLoader(collate_fn=monai.data.utils.no_collation)``, images may differ in
    size) or one collated dict. Each ``label`` is a ``(1, H, W)`` instance label image, made into
    :func:`microseg.transforms.instance_targets`.

    With ``transform`` the random augmentation runs here, on ``device``, before the targets are made: each image
    and its label as a batch of one, ``{"image": (1, 3, H, W), "label": (1, 1, H, W)}`` (the batched transforms of
    :mod:`microseg.transforms.batch`; images of a batch may differ in size). ``TrainingCheckpoint`` reseeds it at
    every epoch start, as it does the loader's transforms.

    Args:
        transform: dictionary transform of one image and its instance label on the device, or None.
        image_key, label_key: keys of each item.

    Returns:
        ``(images, targets, (targets,), {})``: lists of ``(3, H, W)`` tensors and target dicts on ``device``; the
        engine's inferer then calls ``network(images, targets)``, which returns the loss dict.
    """

    def __init__(
        self,
        transform: Callable | None = None,
        image_key: str = CommonKeys.IMAGE,
        label_key: str = CommonKeys.LABEL,
    ) -> None:
        self.transform, self.image_key, self.label_key = transform, image_key, label_key

    def _augment(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.transform({self.image_key: image[None], self.label_key: label[None]})
        return _plain(out[self.image_key])[0], _plain(out[self.label_key])[0]

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
        images = [_plain(it[self.image_key]).to(device, non_blocking=non_blocking) for it in items]
        labels = [_plain(it[self.label_key]).to(device, non_blocking=non_blocking) for it in items]
        if self.transform is not None:
            pairs = [self._augment(i, lab) for i, lab in zip(images, labels, strict=True)]
            images, labels = [p[0] for p in pairs], [p[1] for p in pairs]
        targets = [instance_targets(lab) for lab in labels]
        return images, targets, (targets,), {}
