"""Run-length encoding of instance masks in the Kaggle Data Science Bowl 2018 convention, and its CSV files.

Convention (Kaggle DSB 2018, "Evaluation" page): the pixels of an ``H x W`` image are numbered from 1, top to bottom
then left to right (column-major order: pixel ``(row, col)`` has number ``col * H + row + 1``). One object is a
space-separated list of ``start length`` pairs over that numbering, starts increasing, runs not touching. A
submission has one row per object: ``ImageId,EncodedPixels``; an image with no object has one row with an empty
``EncodedPixels``. Solution-style files add ``Height``, ``Width`` (and ``Usage``) columns.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.readers import check_declared
from microseg.io.writers import atomic_output

__all__ = [
    "SUBMISSION_HEADER",
    "labels_to_rles",
    "read_rle_csv",
    "rle_decode",
    "rle_encode",
    "rles_to_labels",
    "write_submission",
]

SUBMISSION_HEADER = ("ImageId", "EncodedPixels")


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2D binary mask ``(H, W)`` (anything above 0 is the object) as ``"start length ..."`` (``""``: empty)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"rle_encode takes a 2D mask, got shape {mask.shape}")
    pixels = np.concatenate([[0], (mask.T.ravel() > 0).astype(np.int8), [0]])
    changes = np.flatnonzero(pixels[1:] != pixels[:-1]) + 1  # 1-based positions where a run starts or ends (+1)
    starts, ends = changes[0::2], changes[1::2]
    return " ".join(f"{s} {e - s}" for s, e in zip(starts, ends, strict=True))


def _checked_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2:
        raise MicrosegInputError(f"run-length masks are 2D: give (height, width), got {tuple(shape)}.")
    height, width = (int(v) for v in shape)
    if height <= 0 or width <= 0:
        raise MicrosegInputError(f"run-length mask shape must be positive, got {tuple(shape)}.")
    check_declared("run-length mask", (height, width), np.int32)
    return height, width


def rle_decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Decode ``"start length ..."`` into a boolean ``(H, W)`` mask of ``shape``.

    Raises:
        MicrosegInputError: odd number of values, non-integers, non-positive starts or lengths, unsorted or
            overlapping runs, or runs past the image's ``H * W`` pixels.
    """
    height, width = _checked_shape(shape)
    flat = np.zeros(height * width, bool)
    values = rle.split() if isinstance(rle, str) else []
    if len(values) % 2:
        raise MicrosegInputError(f"run-length encoding has an odd number of values ({len(values)}): {rle[:60]!r}")
    try:
        pairs = np.asarray(values, dtype=np.int64).reshape(-1, 2)
    except (ValueError, OverflowError) as error:
        raise MicrosegInputError(
            f"run-length encoding holds a value that is not an integer (or is beyond 64 bits): {rle[:60]!r}"
        ) from error
    starts, lengths = pairs[:, 0], pairs[:, 1]
    if len(pairs) and (starts.min() < 1 or lengths.min() < 1):
        raise MicrosegInputError(f"run-length starts and lengths must be positive: {rle[:60]!r}")
    if len(pairs) and max(starts.max(), lengths.max()) > flat.size:
        raise MicrosegInputError(f"run-length encoding runs past the image's {flat.size} pixels: {rle[:60]!r}")
    ends = starts + lengths - 1
    if len(pairs) and ends.max() > flat.size:
        raise MicrosegInputError(
            f"run-length encoding reaches pixel {ends.max()} of an image of {height}x{width} = {flat.size} pixels."
        )
    if np.any(starts[1:] <= ends[:-1]):
        raise MicrosegInputError(f"run-length runs must be sorted and must not overlap: {rle[:60]!r}")
    for start, length in pairs:
        flat[start - 1 : start - 1 + length] = True
    return flat.reshape(width, height).T


def labels_to_rles(labels: np.ndarray) -> list[str]:
    """One run-length encoding per object of a 2D instance label image (0 = background), in increasing label order."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels_to_rles takes a 2D label image, got shape {labels.shape}")
    return [rle_encode(labels == value) for value in np.unique(labels) if value != 0]


def rles_to_labels(rles: Iterable[str], shape: tuple[int, int]) -> np.ndarray:
    """An int32 ``(H, W)`` instance label image from encodings: object ``i`` (from 1) is the ``i``-th non-empty one.

    Raises:
        MicrosegInputError: an encoding is invalid (see :func:`rle_decode`) or two objects overlap.
    """
    labels = np.zeros(_checked_shape(shape), np.int32)
    index = 0
    for rle in rles:
        if not rle or not rle.strip():
            continue
        index += 1
        mask = rle_decode(rle, shape)
        if np.any(labels[mask]):
            raise MicrosegInputError(f"object {index} overlaps an earlier object of the same image.")
        labels[mask] = index
    return labels


def write_submission(path: str | os.PathLike, rles_by_image: Mapping[str, Sequence[str]]) -> str:
    """Write a Kaggle submission CSV atomically: ``ImageId,EncodedPixels``, one row per object, one row with empty
    ``EncodedPixels`` for an image without objects; images in the mapping's order.

    Args:
        path: the CSV file.
        rles_by_image: ``{image id: encodings}``, e.g. ``{name: labels_to_rles(labels)}``.

    Returns:
        the path written.
    """
    with atomic_output(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUBMISSION_HEADER)
        for image_id, rles in rles_by_image.items():
            writer.writerows([(image_id, rle) for rle in rles] or [(image_id, "")])
    return os.fspath(path)


def read_rle_csv(path: str | os.PathLike, shapes: Mapping[str, tuple[int, int]] | None = None) -> dict[str, np.ndarray]:
    """Read a submission- or solution-style CSV into ``{ImageId: int32 (H, W) instance labels}``.

    The image size comes from the ``Height`` and ``Width`` columns (solution files) or, for files without them
    (``stage1_train_labels.csv``, submissions), from ``shapes``.

    Raises:
        MicrosegInputError: missing columns, an image whose size is unknown, or an invalid encoding (the message
            names the row).
    """
    encodings: dict[str, list[str]] = {}
    sizes: dict[str, tuple[int, int]] = dict(shapes or {})
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = set(SUBMISSION_HEADER) - set(reader.fieldnames or ())
        if missing:
            raise MicrosegInputError(f"{path}: no column {sorted(missing)}; expected a header 'ImageId,EncodedPixels'.")
        for row in reader:
            image_id = row["ImageId"].strip()
            encodings.setdefault(image_id, []).append(row["EncodedPixels"] or "")
            if row.get("Height") and row.get("Width"):
                sizes[image_id] = (int(row["Height"]), int(row["Width"]))
    result = {}
    for image_id, rles in encodings.items():
        if image_id not in sizes:
            raise MicrosegInputError(
                f"{path}: the size of image {image_id} is unknown; give Height and Width columns or pass shapes."
            )
        try:
            result[image_id] = rles_to_labels(rles, sizes[image_id])
        except MicrosegInputError as error:
            raise MicrosegInputError(f"{path}, image {image_id}: {error}") from error
    return result
