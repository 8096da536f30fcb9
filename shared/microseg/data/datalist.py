"""Data lists for bundle configs: what to segment, and which image goes with which label."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from microseg.errors import MicrosegInputError

if TYPE_CHECKING:
    import torch

from microseg.io.paths import HDF5_SUFFIXES, IMAGE_SUFFIXES, TIFF_SUFFIXES, natural_sort_key, split_hdf5_path

__all__ = ["LABEL_SUFFIXES", "images_by_stem", "list_image_label_pairs", "list_inputs", "split_every", "take_subset"]

LABEL_SUFFIXES = ("", "_mask", "_label", "_labels", "_anno")
"""Label file names tried for image ``<stem>.<ext>``: ``<stem><suffix>.<any image ext>``, in this order."""


def _is_volume_file(path: Path) -> bool:
    """A file that is a volume on its own: HDF5, or a multipage TIFF."""
    suffix = path.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        return True
    if suffix in TIFF_SUFFIXES:
        import tifffile

        try:
            with tifffile.TiffFile(path) as tif:
                return len(tif.series[0].shape) - int(tif.series[0].axes.endswith("S")) >= 3
        except Exception:  # unreadable: let the reader report it with the file name
            return True
    return False


def list_inputs(path: str | os.PathLike, folder: str = "auto") -> list[dict[str, str]]:
    """The inputs found at ``path``, as a MONAI data list ``[{"image": path}, ...]``.

    Args:
        path: a file (TIFF stack, 2D image, ``file.h5[:/dataset]``) or a folder.
        folder: how to read a folder: ``"stack"`` (the folder is one stack of 2D slices), ``"images"`` (each file
            is one input), or ``"auto"`` (each file is one input when the folder holds HDF5 files or multipage TIFFs,
            otherwise the folder is one stack of slices).

    Raises:
        MicrosegInputError: the path does not exist, or the folder holds no usable file.
    """
    if folder not in ("auto", "stack", "images"):
        raise ValueError(f"folder must be 'auto', 'stack' or 'images', got {folder!r}")
    text = os.fspath(path)
    base = Path(split_hdf5_path(text)[0])
    if not base.exists():
        raise MicrosegInputError(f"{text}: no such file or folder; check the path.")
    if base.is_file():
        return [{"image": text}]
    files = sorted(
        (
            p
            for p in base.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES + HDF5_SUFFIXES
        ),
        key=natural_sort_key,
    )
    if not files:
        raise MicrosegInputError(
            f"{base}: the folder is empty or holds no image ({', '.join(IMAGE_SUFFIXES + HDF5_SUFFIXES)})."
        )
    if folder == "images" or (folder == "auto" and any(_is_volume_file(p) for p in files)):
        return [{"image": str(p)} for p in files]
    return [{"image": str(base)}]


def images_by_stem(folder: str | os.PathLike) -> dict[str, Path]:
    """``{stem: path}`` of the 2D image files of ``folder`` in natural name order (the first of equal stems wins)."""
    found: dict[str, Path] = {}
    for path in sorted(Path(folder).iterdir(), key=natural_sort_key):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            found.setdefault(path.stem, path)
    return found


def list_image_label_pairs(
    folder: str | os.PathLike, images: str = "images", labels: str = "masks", require_labels: bool = True
) -> list[dict[str, str]]:
    """A MONAI data list ``[{"image", "label", "name"}, ...]`` of a folder of images with a parallel folder of masks.

    Layout: ``folder/<images>/<name>.<ext>`` and ``folder/<labels>/<name><suffix>.<ext>`` with ``<suffix>`` one of
    :data:`LABEL_SUFFIXES` (``cell01.tif`` goes with ``cell01.png``, ``cell01_mask.tif``, ...). Extensions: TIFF,
    PNG, BMP, JPEG. Items come in natural name order.

    Args:
        folder: the data-set folder.
        images: name of the image sub-folder.
        labels: name of the label sub-folder.
        require_labels: raise when an image has no label (training, evaluation); False lists images without labels
            with no ``"label"`` key.

    Raises:
        MicrosegInputError: a folder is missing or empty, or an image has no label while ``require_labels``.
    """
    root = Path(folder)
    image_dir, label_dir = root / images, root / labels
    if not image_dir.is_dir():
        raise MicrosegInputError(
            f"{image_dir}: no such folder; put the images in {root}/{images}/ and their masks in {root}/{labels}/."
        )
    image_files = images_by_stem(image_dir)
    if not image_files:
        raise MicrosegInputError(f"{image_dir}: no image found ({', '.join(IMAGE_SUFFIXES)}).")
    label_files = images_by_stem(label_dir) if label_dir.is_dir() else {}
    items = []
    for name, path in image_files.items():
        item = {"image": str(path), "name": name}
        label = next((label_files[name + s] for s in LABEL_SUFFIXES if name + s in label_files), None)
        if label is not None:
            item["label"] = str(label)
        elif require_labels:
            raise MicrosegInputError(
                f"{path}: no mask for this image in {label_dir}/; expected {name}.png, {name}_mask.tif or similar "
                f"(suffixes {', '.join(repr(s) for s in LABEL_SUFFIXES)})."
            )
        items.append(item)
    return items


def split_every(items: Sequence[Any], every: int) -> tuple[list[Any], list[Any]]:
    """``(rest, held_out)``: every ``every``-th item from the first is held out (``items[::every]``), in order.

    A split that does not depend on a random seed or on how many items a run trains on, so that one validation set
    serves every experiment on a folder.
    """
    if every < 2:
        raise ValueError(f"every must be 2 or more (one item in `every` is held out), got {every}")
    if len(items) < 2:
        raise MicrosegInputError(f"{len(items)} item(s): at least 2 are needed to hold one out for validation.")
    items = list(items)
    return [x for i, x in enumerate(items) if i % every], items[::every]


def take_subset(data: Sequence[Any] | torch.utils.data.Dataset, size: int | None, seed: int = 0) -> Any:
    """The first ``size`` items of a seeded random permutation of ``data`` (all of it when ``size`` is None or not
    smaller than ``len(data)``), kept in their original order.

    Subsets for one seed are nested: the 5 items of ``size=5`` are among the 10 of ``size=10``, so that a learning
    curve adds data instead of swapping it. A list gives a list; a dataset gives a ``torch.utils.data.Subset``.
    """
    total = len(data)
    if size is None or size >= total:
        return data
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    chosen = sorted(np.random.default_rng(seed).permutation(total)[:size].tolist())
    import torch

    if isinstance(data, torch.utils.data.Dataset):
        return torch.utils.data.Subset(data, chosen)
    return [data[i] for i in chosen]
