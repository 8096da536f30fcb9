"""Loading and saving inside a transform chain."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from pathlib import Path

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import LoadImaged, MapTransform

from microseg.errors import MicrosegInputError
from microseg.io.background import BackgroundWriter
from microseg.io.readers import MicroscopyReader
from microseg.io.writers import output_path_like, write_prediction

__all__ = ["LoadMicroscopyd", "SaveMaskd", "SeparateUncertaintyd"]


class LoadMicroscopyd(LoadImaged):
    """``LoadImaged`` with :class:`~microseg.io.MicroscopyReader` (or the given reader) used directly.

    Plain ``LoadImaged(reader=...)`` retries MONAI's default readers when the given one fails and then reports all
    their tracebacks; this version lets the reader's own error (which names the file and the fix) through.
    All other arguments are those of ``LoadImaged``.
    """

    def __init__(self, keys: KeysCollection, reader=None, **kwargs) -> None:
        self.microscopy_reader = reader if reader is not None else MicroscopyReader()
        super().__init__(keys, reader=self.microscopy_reader, **kwargs)

    def __call__(self, data, reader=None):
        return super().__call__(data, reader if reader is not None else self.microscopy_reader)


class SaveMaskd(MapTransform):
    """Write a prediction in the format and layout of its input image, atomically.

    A TIFF stack gives a TIFF stack, a folder of slices a folder of slices (same file names), an HDF5 dataset an
    HDF5 dataset, a 2D image a 2D image; see :func:`microseg.io.output_path_like` for the names.

    Args:
        keys: the predictions to write, channel-first ``(1, H, W)`` or ``(1, Z, H, W)``.
        output_dir: output folder (created when the first file is written).
        meta_key: the key whose ``MetaTensor`` metadata names the input (default: the image).
        postfix: added to the input's name.
        scale: multiplier applied before the cast (255 writes a 0/1 mask as 0/255).
        dtype: stored dtype (``uint8`` for masks, ``float32`` for probabilities).
        writer: a :class:`~microseg.io.BackgroundWriter` to encode and write on its thread while the next input is
            predicted (the output path is set at once; the array is handed over as it is, not copied), or None to
            write here.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | Path,
        meta_key: str = "image",
        postfix: str = "_seg",
        scale: float = 255,
        dtype: str = "uint8",
        writer: BackgroundWriter | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.meta_key, self.postfix, self.scale, self.dtype = meta_key, postfix, scale, np.dtype(dtype)
        self.writer = writer

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        source = d.get(self.meta_key)
        meta = source.meta if isinstance(source, MetaTensor) else {}
        input_path = meta.get("filename_or_obj")
        if not input_path:
            raise MicrosegInputError(f"SaveMaskd: '{self.meta_key}' carries no file name to name the output after.")
        slice_names = str(meta["slice_names"]).split("\n") if meta.get("slice_names") else None
        for key in self.key_iterator(d):
            array = d[key].detach().cpu().numpy() if isinstance(d[key], torch.Tensor) else np.asarray(d[key])
            postfix = self.postfix if len(self.keys) == 1 else f"{self.postfix}_{key}"
            args = (array, input_path, self.output_dir, postfix, self.scale, self.dtype, slice_names)
            if self.writer is None:
                d[f"{key}_path"] = write_prediction(*args)
                continue
            d[f"{key}_path"] = output_path_like(input_path, self.output_dir, postfix, self.dtype)
            self.writer.submit(str(input_path), write_prediction, *args)
        return d


class SeparateUncertaintyd(MapTransform):
    """Move the uncertainty channel that :class:`~microseg.inferers.SliceTiledInferer` appends (``uncertainty=True``)
    from ``key`` into ``uncertainty_key``; a one-channel prediction passes unchanged.

    Shapes: ``(2, *spatial)`` in ``key`` -> ``(1, *spatial)`` in ``key`` and in ``uncertainty_key``.
    """

    def __init__(self, keys: KeysCollection = "pred", uncertainty_key: str = "uncertainty") -> None:
        super().__init__(keys)
        self.uncertainty_key = uncertainty_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            if d[key].shape[0] == 2:
                d[self.uncertainty_key] = d[key][1:2]
                d[key] = d[key][0:1]
        return d
