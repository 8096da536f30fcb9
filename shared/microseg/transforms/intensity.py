"""Intensity normalisation of micrographs."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type

from microseg.ops.image import invert_bright_background, percentile_normalize

__all__ = ["InvertBrightBackground", "InvertBrightBackgroundd", "PercentileNormalize", "PercentileNormalized"]


class PercentileNormalize(Transform):
    """Scale each 2D plane so that its ``lower`` and ``upper`` percentiles map to 0 and 1 (no clipping).

    Statistics are taken per channel and per slice over the last two axes ``(H, W)``, so a stack ``(C, Z, H, W)``
    is normalised exactly as its slices ``(C, H, W)`` would be one by one. This is bioimage.io's ``scale_range``
    with ``axes="yx"``. Works for uint8, uint16 and float input alike.

    Args:
        lower: lower percentile (0-100).
        upper: upper percentile (0-100).
        eps: added to the range to avoid dividing by zero on constant planes.

    Shapes:
        ``(C, H, W)`` or ``(C, Z, H, W)`` in, same shape out, float32.
    """

    def __init__(self, lower: float = 1.0, upper: float = 99.0, eps: float = 1e-6) -> None:
        if not 0 <= lower < upper <= 100:
            raise ValueError(f"need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
        self.lower, self.upper, self.eps = lower, upper, eps

    def __call__(self, img):
        array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
        scaled = percentile_normalize(array, self.lower, self.upper, self.eps)
        return convert_to_dst_type(scaled, img, dtype=torch.float32 if isinstance(img, torch.Tensor) else np.float32)[0]


class PercentileNormalized(MapTransform):
    """Dictionary version of :class:`PercentileNormalize`."""

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 1.0,
        upper: float = 99.0,
        eps: float = 1e-6,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.normalizer = PercentileNormalize(lower, upper, eps)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.normalizer(d[key])
        return d


class InvertBrightBackground(Transform):
    """Invert images whose background is bright, so that objects are always brighter than the background.

    The DSB 2018 recipe's rule: an image (already scaled so that 0 is dark and 1 is bright, e.g. by
    :class:`PercentileNormalize`) whose mean intensity is above ``threshold`` has a bright background (bright-field,
    H&E) and becomes ``1 - x``; a dark-background image (fluorescence) is returned unchanged. Nuclei cover a minority
    of the pixels, so the mean is dominated by the background.

    Args:
        threshold: mean intensity above which the image is inverted.

    Shapes: ``(C, H, W)`` in (the mean is taken over all channels), same shape and type out.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = float(threshold)

    def __call__(self, img):
        return invert_bright_background(img, self.threshold)


class InvertBrightBackgroundd(MapTransform):
    """Dictionary version of :class:`InvertBrightBackground`."""

    def __init__(self, keys: KeysCollection, threshold: float = 0.5, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.invert = InvertBrightBackground(threshold)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.invert(d[key])
        return d
