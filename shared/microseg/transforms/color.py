"""Colour-channel handling: RGB for colour models (H&E histology), grey for models of any modality (DSB nuclei)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from microseg.errors import MicrosegInputError
from microseg.transforms.checks import source_name

__all__ = ["EnsureRGB", "EnsureRGBd", "ToGrey", "ToGreyd"]


class EnsureRGB(Transform):
    """Make a channel-first image RGB: grey (1 channel) is repeated, RGBA drops its alpha, RGB is unchanged.

    Shapes: ``(C, H, W)`` with C in {1, 3, 4} in, ``(3, H, W)`` out.

    Raises:
        MicrosegInputError: any other number of channels, or an image that is not 2D.
    """

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 3:
            raise MicrosegInputError(
                f"{source_name(img)}: expected a 2D image with channels (C, H, W), got shape {tuple(img.shape)}; "
                "give one RGB image per file."
            )
        channels = img.shape[0]
        if channels == 3:
            return img
        if channels == 4:
            return img[:3]
        if channels == 1:
            return img.repeat(3, 1, 1)
        raise MicrosegInputError(
            f"{source_name(img)}: {channels} channels; this model takes RGB (3), RGBA (4) or grey (1) images."
        )


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

    weights = (0.299, 0.587, 0.114)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 3 or img.shape[0] not in (1, 3, 4):
            raise MicrosegInputError(
                f"{source_name(img)}: expected a 2D grey, RGB or RGBA image (C, H, W) with C in 1, 3, 4, got shape "
                f"{tuple(img.shape)}; give one 2D image per file."
            )
        if img.shape[0] == 1:
            return img
        weights = torch.tensor(self.weights, dtype=torch.float32, device=img.device).view(3, 1, 1)
        return (img[:3].to(torch.float32) * weights).sum(0, keepdim=True)


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
