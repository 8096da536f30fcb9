"""Selecting slices of a stack, and flipping the order of adjacent slices given as channels."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform, Transform

from microseg.errors import MicrosegInputError
from microseg.transforms.checks import source_name

__all__ = ["RandFlipSliceOrder", "RandFlipSliceOrderd", "SelectSlices", "SelectSlicesd"]


class SelectSlices(Transform):
    """Keep slices ``start <= z < stop`` of a channel-first stack ``(C, Z, H, W)``.

    Args:
        start: first slice kept (0-based).
        stop: one past the last slice kept; ``None`` keeps up to the end.

    Shapes: ``(C, Z, H, W)`` in, ``(C, stop - start, H, W)`` out.
    """

    def __init__(self, start: int = 0, stop: int | None = None) -> None:
        self.start, self.stop = int(start), None if stop is None else int(stop)

    def __call__(self, img):
        if img.ndim != 4:
            raise MicrosegInputError(
                f"{source_name(img)}: selecting slices needs a stack (Z, H, W), "
                f"got spatial shape {tuple(img.shape[1:])}."
            )
        depth = img.shape[1]
        stop = depth if self.stop is None else self.stop
        if not 0 <= self.start < stop <= depth:
            raise MicrosegInputError(
                f"{source_name(img)}: cannot take slices [{self.start}, {stop}) of a stack of {depth} slices; "
                "fix the slice range in the config."
            )
        return img[:, self.start : stop]


class SelectSlicesd(MapTransform):
    """Dictionary version of :class:`SelectSlices`."""

    def __init__(
        self, keys: KeysCollection, start: int = 0, stop: int | None = None, allow_missing_keys: bool = False
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.selector = SelectSlices(start, stop)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.selector(d[key])
        return d


class RandFlipSliceOrder(RandomizableTransform):
    """Reverse the order of the adjacent slices that a 2.5D network gets as channels, with probability ``prob``.

    With the 8 rotations and mirror images of the plane (``RandFlipd`` on both axes + ``RandRotate90d``) this gives
    the 16 augmentations of CDeep3M: the plane's dihedral group times the two directions of the slice axis. For a
    single slice (one channel) it changes nothing.

    Shapes: ``(slices, H, W)`` in, same shape out.
    """

    def __call__(self, img, randomize: bool = True):
        if randomize:
            self.randomize(None)
        return torch.flip(img, dims=(0,)) if self._do_transform else img


class RandFlipSliceOrderd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandFlipSliceOrder`: one draw flips the channel order of every key (a
    single-slice label is unchanged by it)."""

    def __init__(self, keys: KeysCollection, prob: float = 0.5, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.flipper = RandFlipSliceOrder(prob=1.0)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if self._do_transform:
            for key in self.key_iterator(d):
                d[key] = self.flipper(d[key], randomize=False)
        return d
