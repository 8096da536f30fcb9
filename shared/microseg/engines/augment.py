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
    runs ``transform`` there, sample by sample.

    MONAI's random spatial and intensity transforms run on CUDA tensors (elastic deformation resamples with
    ``grid_sample`` on the GPU), so the loader workers only read, normalise and crop, and a GPU that trains a small
    network is not left waiting for CPU-side augmentation. With ``transform=None`` it is MONAI's default batch
    preparation. ``TrainingCheckpoint`` reseeds ``transform`` at every epoch start like the loader's transforms, so
    resumed runs draw the same augmentations.

    Args:
        transform: dictionary transform applied to ``{"image": (C, *spatial), "label": (C', *spatial)}`` per sample.
        image_key, label_key: keys of the batch.

    Returns (when called): ``(image, label)``, each ``(B, C, *spatial)`` on ``device``.
    """

    def __init__(self, transform: Callable | None = None, image_key: str = "image", label_key: str = "label") -> None:
        self.transform, self.image_key, self.label_key = transform, image_key, label_key

    def __call__(
        self, batchdata: dict, device: torch.device | str | None = None, non_blocking: bool = False, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        image = _plain(batchdata[self.image_key]).to(device, non_blocking=non_blocking, **kwargs)
        label = _plain(batchdata[self.label_key]).to(device, non_blocking=non_blocking, **kwargs)
        if self.transform is None:
            return image, label
        samples = [self.transform({"image": image[i], "label": label[i]}) for i in range(image.shape[0])]
        return (
            torch.stack([_plain(s["image"]) for s in samples]),
            torch.stack([_plain(s["label"]) for s in samples]),
        )
