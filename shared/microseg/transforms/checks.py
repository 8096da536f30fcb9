"""Input checks that fail early with a message naming the file and saying what to fix.

Array transforms take channel-first data ``(C, *spatial)`` (a ``MetaTensor`` carries the file name in
``meta["filename_or_obj"]``) and return it unchanged; dictionary versions check the named keys.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

from microseg.errors import MicrosegInputError
from microseg.ops.image import check_image

__all__ = [
    "CheckBinaryLabel",
    "CheckBinaryLabeld",
    "CheckImage",
    "CheckImaged",
    "CheckSameShaped",
    "source_name",
]

BINARY_VALUE_SETS = ({0, 1}, {0, 255})


def source_name(data, default: str = "input") -> str:
    """The file an array came from (``MetaTensor`` metadata), else ``default``."""
    if isinstance(data, MetaTensor):
        name = data.meta.get("filename_or_obj")
        if name:
            return str(name)
    return default


def _to_numpy(data) -> np.ndarray:
    return data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)


class CheckImage(Transform):
    """Check a channel-first image ``(C, *spatial)``: dimensions, channels, finite values, not a mask.

    Args:
        spatial_ndims: accepted numbers of spatial dimensions, e.g. ``(2, 3)`` for an image or a stack of slices.
        num_channels: accepted channel counts, or ``None`` for any.
        allow_binary: accept images with only two distinct values (otherwise they are taken for a mask by mistake).
        allow_constant: accept images with a single value.
    """

    def __init__(
        self,
        spatial_ndims: Sequence[int] = (2, 3),
        num_channels: Sequence[int] | None = (1,),
        allow_binary: bool = False,
        allow_constant: bool = False,
    ) -> None:
        self.spatial_ndims = tuple(spatial_ndims)
        self.num_channels = tuple(num_channels) if num_channels is not None else None
        self.allow_binary = allow_binary
        self.allow_constant = allow_constant

    def __call__(self, img):
        check_image(
            _to_numpy(img),
            source_name(img, "image"),
            self.spatial_ndims,
            self.num_channels,
            self.allow_binary,
            self.allow_constant,
            img.meta.get("spatial_shape") if isinstance(img, MetaTensor) else None,
        )
        return img


class CheckBinaryLabel(Transform):
    """Check that a semantic label holds only {0, 1} or only {0, 255} (an all-zero label is fine)."""

    def __call__(self, label):
        values = set(np.unique(_to_numpy(label)).tolist())
        if not any(values <= allowed for allowed in BINARY_VALUE_SETS):
            shown = sorted(values)[:8]
            raise MicrosegInputError(
                f"{source_name(label, 'label')}: the label must be binary (0/1 or 0/255), but it holds the values "
                f"{shown}{' ...' if len(values) > 8 else ''}; threshold it, or give the binary mask."
            )
        return label


class CheckImaged(MapTransform):
    """Dictionary version of :class:`CheckImage`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, allow_missing_keys)
        self.checker = CheckImage(**kwargs)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.checker(d[key])
        return d


class CheckBinaryLabeld(MapTransform):
    """Dictionary version of :class:`CheckBinaryLabel`."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.checker = CheckBinaryLabel()

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.checker(d[key])
        return d


class CheckSameShaped(MapTransform):
    """Check that the spatial shapes of all ``keys`` agree (channel counts may differ)."""

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        keys = list(self.key_iterator(d))
        shapes = {key: tuple(d[key].shape[1:]) for key in keys}
        if len(set(shapes.values())) > 1:
            described = ", ".join(f"{source_name(d[k], str(k))} {shapes[k]}" for k in keys)
            raise MicrosegInputError(
                f"image and label shapes differ: {described}; each label must match its image pixel for pixel."
            )
        return d
