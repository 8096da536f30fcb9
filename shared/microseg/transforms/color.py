"""Colour-channel handling: RGB for colour models (H&E histology), grey for models of any modality (DSB nuclei)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type

from microseg.ops.image import GREY_WEIGHTS, ensure_rgb, to_grey
from microseg.transforms.checks import source_name

__all__ = ["EnsureRGB", "EnsureRGBd", "ToGrey", "ToGreyd"]


def _via_numpy(function, img):
    """``function(array, name)`` of :mod:`microseg.ops.image` applied to a tensor, keeping its type and metadata."""
    array = img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)
    out = function(array, source_name(img))
    return img if out is array else convert_to_dst_type(out, img, dtype=out.dtype)[0]


class EnsureRGB(Transform):
    """Make a channel-first image RGB: grey (1 channel) is repeated, RGBA drops its alpha, RGB is unchanged.

    Shapes: ``(C, H, W)`` with C in {1, 3, 4} in, ``(3, H, W)`` out.

    Raises:
        MicrosegInputError: any other number of channels, or an image that is not 2D.
    """

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return _via_numpy(ensure_rgb, img)


class EnsureRGBd(MapTransform):
    """Dictionary version of :class:`EnsureRGB`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.rgb = EnsureRGB()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.rgb(d[key])
        return d


class ToGrey(Transform):
    """Make a channel-first image single-channel: RGB becomes its luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R
    BT.601, as Pillow's ``convert("L")``), RGBA drops its alpha first, grey is unchanged.

    Shapes: ``(C, H, W)`` with C in {1, 3, 4} in, float32 ``(1, H, W)`` out (grey input keeps its dtype).

    Raises:
        MicrosegInputError: any other number of channels, or an image that is not 2D.
    """

    weights = GREY_WEIGHTS

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return _via_numpy(to_grey, img)


class ToGreyd(MapTransform):
    """Dictionary version of :class:`ToGrey`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.grey = ToGrey()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.grey(d[key])
        return d
