"""Label conversions."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_tensor

__all__ = ["BinarizeLabel", "BinarizeLabeld"]


class BinarizeLabel(Transform):
    """Map a binary mask stored as {0, 1} or {0, 255} to float32 {0, 1} (any value above zero becomes 1).

    Shapes: any shape in, same shape out.
    """

    def __call__(self, label):
        tensor = convert_to_tensor(label, track_meta=True)
        return (tensor > 0).to(torch.float32)


class BinarizeLabeld(MapTransform):
    """Dictionary version of :class:`BinarizeLabel`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.binarize = BinarizeLabel()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.binarize(d[key])
        return d
