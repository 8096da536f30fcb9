"""Probability maps to binary masks: Otsu's threshold and hysteresis (double) thresholding.

A fixed threshold is MONAI's ``AsDiscreted(threshold=t)``; these complete the choices of the DSB 2018 recipe.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type

from microseg.ops.labels import hysteresis_threshold, otsu_threshold

__all__ = ["HysteresisThreshold", "HysteresisThresholdd", "OtsuThreshold", "OtsuThresholdd"]


def _as_numpy(img) -> np.ndarray:
    return img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)


def _as_mask(mask: np.ndarray, like):
    return convert_to_dst_type(
        mask.astype(np.float32), like, dtype=torch.float32 if isinstance(like, torch.Tensor) else np.float32
    )[0]


class OtsuThreshold(Transform):
    """Binarise each channel at its own Otsu threshold (the value that maximises the between-class variance of the
    channel's histogram, ``skimage.filters.threshold_otsu``). A constant channel gives an empty mask.

    Shapes: ``(C, H, W)`` float in, float32 ``(C, H, W)`` {0, 1} out.
    """

    def __call__(self, img):
        array = _as_numpy(img)
        return _as_mask(np.stack([otsu_threshold(c) for c in array]), img)


class HysteresisThreshold(Transform):
    """Hysteresis (double) threshold: pixels above ``high`` are objects, and so are pixels above ``low`` connected to
    one of them (``skimage.filters.apply_hysteresis_threshold``, 8-connected in 2D). Faint object edges are kept
    without the isolated faint noise that a single ``low`` threshold lets in.

    Args:
        low: lower threshold.
        high: upper threshold, at least ``low``.

    Shapes: ``(C, H, W)`` float in, float32 ``(C, H, W)`` {0, 1} out.
    """

    def __init__(self, low: float = 0.3, high: float = 0.7) -> None:
        if low > high:
            raise ValueError(f"need low <= high, got low={low}, high={high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, img):
        array = _as_numpy(img)
        return _as_mask(np.stack([hysteresis_threshold(c, self.low, self.high) for c in array]), img)


class OtsuThresholdd(MapTransform):
    """Dictionary version of :class:`OtsuThreshold`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.threshold = OtsuThreshold()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.threshold(d[key])
        return d


class HysteresisThresholdd(MapTransform):
    """Dictionary version of :class:`HysteresisThreshold`."""

    def __init__(
        self, keys: KeysCollection, low: float = 0.3, high: float = 0.7, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.threshold = HysteresisThreshold(low, high)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.threshold(d[key])
        return d
