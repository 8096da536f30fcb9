"""Random augmentation on the training device, after the batch has been moved there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["AugmentOnDevice"]


def _plain(x: Any) -> torch.Tensor:
    return x.as_tensor() if hasattr(x, "as_tensor") else torch.as_tensor(x)


class AugmentOnDevice:
    """``prepare_batch`` for MONAI's ``SupervisedTrainer`` that moves the batch to the trainer's device and then
    runs ``transform`` there, on the whole batch at once (``batched=True``) or sample by sample.

    The loader workers then only read, normalise and crop, and a GPU that trains a small network is not left waiting
    for CPU-side augmentation. Batched transforms (:mod:`microseg.transforms.batch`: one sampling grid and one
    ``grid_sample`` per batch) launch a fixed number of kernels per batch; MONAI's per-sample transforms also run
    on CUDA tensors but launch their kernels once per sample. With ``transform=None`` it is MONAI's default batch
    preparation. ``TrainingCheckpoint`` reseeds ``transform`` at every epoch start like the loader's transforms, so
    resumed runs draw the same augmentations.

    Args:
        transform: dictionary transform applied to ``{"image": (B, C, *spatial), "label": (B, C', *spatial)}``
            (``batched``) or to ``{"image": (C, *spatial), "label": (C', *spatial)}`` per sample.
        batched: whether ``transform`` takes the whole batch.
        image_key, label_key: keys of the batch.

    Returns (when called): ``(image, label)``, each ``(B, C, *spatial)`` on ``device``.
    """

    def __init__(
        self,
        transform: Callable | None = None,
        batched: bool = False,
        image_key: str = "image",
        label_key: str = "label",
    ) -> None:
        self.transform, self.batched, self.image_key, self.label_key = transform, batched, image_key, label_key

    def __call__(
        self, batchdata: dict, device: torch.device | str | None = None, non_blocking: bool = False, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = _plain(batchdata[self.image_key]).to(device, non_blocking=non_blocking, **kwargs)
        label = _plain(batchdata[self.label_key]).to(device, non_blocking=non_blocking, **kwargs)
        if self.transform is None:
            return image, label
        if self.batched:
            out = self.transform({"image": image, "label": label})
            return _plain(out["image"]), _plain(out["label"])
        samples = [self.transform({"image": image[i], "label": label[i]}) for i in range(image.shape[0])]
        return (
            torch.stack([_plain(s["image"]) for s in samples]),
            torch.stack([_plain(s["label"]) for s in samples]),
        )
