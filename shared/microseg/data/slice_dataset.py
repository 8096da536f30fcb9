"""Training on the slices of volumes: each item is one 2D slice, optionally with adjacent slices as channels."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import apply_transform

from microseg.errors import MicrosegInputError
from microseg.io.readers import MicroscopyReader
from microseg.ops.tiling import context_indices
from microseg.transforms.checks import CheckBinaryLabel, CheckImage, CheckSameShaped

__all__ = ["SliceDataset", "context_indices"]


def _load_stack(path: str) -> tuple[np.ndarray, dict]:
    reader = MicroscopyReader()
    array, meta = reader.get_data(reader.read(path))
    if not np.isnan(meta["original_channel_dim"]):
        raise MicrosegInputError(f"{path}: expected a greyscale stack, got colour data of shape {array.shape}.")
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise MicrosegInputError(f"{path}: expected a 2D image or a stack (Z, H, W), got shape {array.shape}.")
    return array, meta


class SliceDataset(torch.utils.data.Dataset):
    """The 2D slices of one or more image/label volumes, as dictionaries ready for MONAI dictionary transforms.

    Volumes (TIFF stacks, folders of slices, HDF5 datasets, or single 2D images) are read once per process and
    kept in memory in their stored dtype; the image is checked (not binary, finite), the label is checked
    (binary 0/1 or 0/255) and both must have one shape.

    Args:
        data: one dictionary per volume, ``{"image": path, "label": path}``; ``"label"`` may be absent.
        slices: ``(start, stop)`` range of slices to use from every volume (``None``: all slices).
        context: number of adjacent slices given as input channels (1 = plain 2D, 3 or 5 = 2.5D); slices beyond
            the ends of the stack repeat the edge slice.
        transform: applied to every item.

    Items:
        ``{"image": MetaTensor (context, H, W) float32, "label": MetaTensor (1, H, W) float32, "slice": int}``,
        with the file names in the metadata.
    """

    def __init__(
        self,
        data: Sequence[dict],
        slices: Sequence[int] | None = None,
        context: int = 1,
        transform: Callable | None = None,
    ) -> None:
        self.data = list(data)
        if not self.data:
            raise MicrosegInputError("SliceDataset: the data list is empty; check dataset_dir and the file names.")
        context_indices(0, 1, context)  # validates context
        self.context, self.transform = context, transform
        self.slice_range = tuple(slices) if slices is not None else None
        self._volumes: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self.index = [(v, z) for v, depth in enumerate(self._depths()) for z in self._slice_numbers(v, depth)]

    def _depths(self) -> list[int]:
        return [self._volume(v)[0].shape[0] for v in range(len(self.data))]

    def _slice_numbers(self, volume: int, depth: int) -> range:
        if self.slice_range is None:
            return range(depth)
        start, stop = self.slice_range
        if not 0 <= start < stop <= depth:
            raise MicrosegInputError(
                f"{self.data[volume]['image']}: slice range [{start}, {stop}) does not fit a stack of {depth} slices; "
                "fix the slice range in the config."
            )
        return range(start, stop)

    def _volume(self, v: int) -> tuple[np.ndarray, np.ndarray | None]:
        if v not in self._volumes:
            item = self.data[v]
            image, _ = _load_stack(item["image"])
            checked = {"image": MetaTensor(image[None], meta={"filename_or_obj": item["image"]})}
            CheckImage(spatial_ndims=(3,), num_channels=None)(checked["image"])
            label = None
            if item.get("label") is not None:
                label, _ = _load_stack(item["label"])
                checked["label"] = MetaTensor(label[None], meta={"filename_or_obj": item["label"]})
                CheckBinaryLabel()(checked["label"])
                CheckSameShaped(["image", "label"])(checked)
            self._volumes[v] = (image, label)
        return self._volumes[v]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        v, z = self.index[i]
        image, label = self._volume(v)
        item = self.data[v]
        channels = image[context_indices(z, image.shape[0], self.context)].astype(np.float32)
        out: dict = {"image": MetaTensor(channels, meta={"filename_or_obj": item["image"], "slice": z}), "slice": z}
        if label is not None:
            out["label"] = MetaTensor(
                label[z : z + 1].astype(np.float32), meta={"filename_or_obj": item["label"], "slice": z}
            )
        return apply_transform(self.transform, out) if self.transform is not None else out
