"""Label conversions: binary masks to {0, 1}, annotations to instance labels."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_tensor

__all__ = ["BinarizeLabel", "BinarizeLabeld", "LabelInstances", "LabelInstancesd"]


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


class LabelInstances(Transform):
    """Instance labels from an annotation: a binary mask (one non-zero value) is split into connected components;
    an image that already holds several object labels (e.g. GlaS ``*_anno.bmp``) is kept as it is.

    Args:
        connectivity: 1 = edge neighbours only (4-connected in 2D), 2 = edges and corners.

    Shapes: ``(1, H, W)`` in, int32 ``(1, H, W)`` out (0 = background).
    """

    def __init__(self, connectivity: int = 1) -> None:
        self.connectivity = connectivity

    def __call__(self, label):
        tensor = convert_to_tensor(label, track_meta=True)
        values = torch.unique(tensor)
        if len(values[values != 0]) > 1:
            return tensor.to(torch.int32)
        from microseg.metrics.objects import label_objects

        labels = np.stack([label_objects(c, self.connectivity) for c in tensor.detach().cpu().numpy()])
        return convert_to_dst_type(labels, tensor, dtype=torch.int32)[0]


class LabelInstancesd(MapTransform):
    """Dictionary version of :class:`LabelInstances`."""

    def __init__(self, keys: KeysCollection, connectivity: int = 1, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.instances = LabelInstances(connectivity)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.instances(d[key])
        return d
