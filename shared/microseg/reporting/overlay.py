"""Overlay pictures: segmentation outlines drawn over the image, for a person to look at.

* :func:`display_image` turns any 2D greyscale ``(H, W)`` or colour ``(H, W, 3|4)`` array into uint8 RGB
  ``(H, W, 3)`` (non-uint8 data scaled from its 1st to its 99th percentile, NaN shown black).
* :func:`outline_overlay` draws the inner outlines (:func:`skimage.segmentation.find_boundaries`, ``mode="inner"``)
  of a label image over it: every instance in its own colour of :data:`PALETTE` (Okabe-Ito, colour-blind friendly),
  a binary mask in :data:`PREDICTION_COLOUR`; with a ground truth, truth outlines in :data:`TRUTH_COLOUR` (magenta)
  and prediction outlines in :data:`PREDICTION_COLOUR` (green), :data:`BOTH_COLOUR` (white, the sum of the two)
  where they coincide.
* :func:`stack_preview` is the overlay of a 2D image, or for a stack a one-row grid of evenly spaced slices
  (captioned ``z = k``) and a max-intensity projection with the outline of the projected mask; at most about
  :data:`MAX_PREVIEW_WIDTH` pixels wide.
* :func:`save_png` writes a picture atomically; :func:`encode_png` gives its PNG bytes (for HTML pages).

NumPy, scikit-image and Pillow only (no PyTorch, no matplotlib).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.writers import atomic_output

__all__ = [
    "BOTH_COLOUR",
    "MAX_PREVIEW_WIDTH",
    "PALETTE",
    "PREDICTION_COLOUR",
    "TRUTH_COLOUR",
    "display_image",
    "encode_png",
    "fit_size",
    "outline_overlay",
    "resize_image",
    "resize_labels",
    "save_png",
    "stack_preview",
]

logger = logging.getLogger(__name__)

#: Okabe & Ito's colour-blind-friendly colours (without black), one per instance, repeated.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 159, 0),  # orange
    (86, 180, 233),  # sky blue
    (0, 158, 115),  # bluish green
    (240, 228, 66),  # yellow
    (0, 114, 178),  # blue
    (213, 94, 0),  # vermillion
    (204, 121, 167),  # reddish purple
)
TRUTH_COLOUR = (255, 0, 255)
PREDICTION_COLOUR = (0, 255, 0)
BOTH_COLOUR = (255, 255, 255)
MAX_PREVIEW_WIDTH = 2048
_GAP = 4  # pixels between the panels of a grid
_BACKGROUND = (32, 32, 32)
_PERCENTILE_SAMPLE = 1 << 22


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Any numeric array as uint8: uint8 unchanged, bool as 0/255, anything else scaled linearly from its 1st to its
    99th percentile (of the finite values) to 0..255, clipped; NaN and infinities become 0."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == bool:
        return values.astype(np.uint8) * 255
    if not (np.issubdtype(values.dtype, np.number)):
        raise MicrosegInputError(f"cannot show an image of dtype {values.dtype}: pass a numeric array")
    data = values.astype(np.float32, copy=False)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, np.uint8)
    sample = data[finite] if not finite.all() else data.ravel()
    if sample.size > _PERCENTILE_SAMPLE:  # percentiles of an evenly strided sample: fast on large stacks
        sample = sample[:: sample.size // _PERCENTILE_SAMPLE]
    lo, hi = (float(v) for v in np.percentile(sample, (1, 99)))
    if hi <= lo:  # mostly one value (e.g. a sparse image): scale from the minimum to the maximum; constant: black
        lo, hi = float(sample.min()), float(sample.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = np.clip((np.where(finite, data, lo) - lo) * scale, 0, 255)
    return np.rint(out).astype(np.uint8)


def _as_rgb(values: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` or ``(H, W, 3|4)`` as ``(H, W, 3)``."""
    if values.ndim == 2:
        return np.repeat(values[..., None], 3, axis=-1)
    return np.ascontiguousarray(values[..., :3])


def _check_image_shape(image: np.ndarray) -> None:
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))):
        raise MicrosegInputError(
            f"an image to show must be 2D greyscale (H, W) or colour (H, W, 3|4), got shape {image.shape}: "
            "pass one slice of a stack, channels last"
        )


def display_image(image: np.ndarray) -> np.ndarray:
    """An image as a picture: uint8 RGB.

    Args:
        image: greyscale ``(H, W)`` or colour ``(H, W, 3)`` / ``(H, W, 4)`` (alpha dropped), any numeric dtype.
            uint8 is shown as it is; other dtypes are scaled from their 1st to their 99th percentile (over all
            channels together, so colours keep their balance); NaN and infinities are shown black.

    Returns:
        uint8 ``(H, W, 3)``.
    """
    image = np.asarray(image)
    _check_image_shape(image)
    return _as_rgb(_scale_to_uint8(image))


def _as_labels(labels: np.ndarray) -> np.ndarray:
    """A label or mask image as non-negative integers (bool -> 0/1, floats rounded, NaN -> 0)."""
    labels = np.asarray(labels)
    if labels.dtype == bool:
        return labels.astype(np.uint8)
    if np.issubdtype(labels.dtype, np.floating):
        return np.rint(np.nan_to_num(labels, nan=0.0)).astype(np.int64)
    if not np.issubdtype(labels.dtype, np.integer):
        raise MicrosegInputError(f"a label image must hold integers, got dtype {labels.dtype}")
    return labels


def _check_same_size(image: np.ndarray, labels: np.ndarray, what: str) -> None:
    if labels.shape != image.shape[:2]:
        raise MicrosegInputError(
            f"the {what} of shape {labels.shape} does not fit the image of shape {image.shape}: pass a 2D label "
            f"image of the image's height and width {image.shape[:2]} (the mask predicted from this image; resize "
            "it with microseg.reporting.overlay.resize_labels if it was predicted at another scale)"
        )


def _has_instances(labels: np.ndarray) -> bool:
    """Whether a label image holds more than one non-zero value (instances) rather than a binary mask."""
    foreground = labels[labels > 0]
    return foreground.size > 0 and foreground.min() != foreground.max()


def outline_overlay(
    image: np.ndarray, labels: np.ndarray, truth: np.ndarray | None = None, instances: bool | None = None
) -> np.ndarray:
    """Outlines of a segmentation drawn over an image.

    Args:
        image: ``(H, W)`` or ``(H, W, 3|4)``, any dtype (see :func:`display_image`).
        labels: ``(H, W)`` mask (one non-zero value) or instance labels (0 = background); bool, integer or float.
        truth: optional ground truth ``(H, W)``, binary or instance labels.
        instances: without ``truth``, colour the outlines by label value (``True``) or all alike (``False``);
            default: by value when ``labels`` holds more than one non-zero value.

    Returns:
        uint8 RGB ``(H, W, 3)``. Without ``truth``: each instance's inner outline in its colour of :data:`PALETTE`
        (by label value), a binary mask's in :data:`PREDICTION_COLOUR`. With ``truth``: prediction outlines in
        :data:`PREDICTION_COLOUR`, truth outlines in :data:`TRUTH_COLOUR`, :data:`BOTH_COLOUR` where they coincide.

    Raises:
        MicrosegInputError: a label image does not have the image's height and width.
    """
    from skimage.segmentation import find_boundaries

    picture = display_image(image).copy()
    labels = _as_labels(labels)
    _check_same_size(picture, labels, "label image")
    pred_edges = find_boundaries(labels, mode="inner")
    if truth is None:
        if not (_has_instances(labels) if instances is None else instances):
            picture[pred_edges] = PREDICTION_COLOUR
        else:
            palette = np.asarray(PALETTE, np.uint8)
            picture[pred_edges] = palette[(labels[pred_edges].astype(np.int64) - 1) % len(palette)]
        return picture
    truth = _as_labels(truth)
    _check_same_size(picture, truth, "ground truth")
    true_edges = find_boundaries(truth, mode="inner")
    picture[pred_edges & ~true_edges] = PREDICTION_COLOUR
    picture[true_edges & ~pred_edges] = TRUTH_COLOUR
    picture[pred_edges & true_edges] = BOTH_COLOUR
    return picture


def fit_size(shape: Sequence[int], max_width: int, max_height: int | None = None) -> tuple[int, int]:
    """The ``(height, width)`` of ``shape[:2]`` scaled down (never up), aspect kept, to fit the given bounds."""
    height, width = int(shape[0]), int(shape[1])
    scale = min(1.0, max_width / max(width, 1), (max_height or height) / max(height, 1))
    return max(1, round(height * scale)), max(1, round(width * scale))


def resize_labels(labels: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of a label image ``(H, W)`` to ``size = (height, width)`` (values kept)."""
    labels = np.asarray(labels)
    height, width = int(size[0]), int(size[1])
    if labels.shape[:2] == (height, width):
        return labels
    rows = np.minimum(((np.arange(height) + 0.5) * labels.shape[0] / height).astype(np.int64), labels.shape[0] - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * labels.shape[1] / width).astype(np.int64), labels.shape[1] - 1)
    return labels[rows[:, None], cols[None, :]]


def resize_image(picture: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize a uint8 picture ``(H, W)`` or ``(H, W, 3)`` to ``size = (height, width)`` (area averaging when
    shrinking, bilinear when enlarging)."""
    from PIL import Image

    height, width = int(size[0]), int(size[1])
    if picture.shape[:2] == (height, width):
        return picture
    shrink = height <= picture.shape[0] and width <= picture.shape[1]
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(np.ascontiguousarray(picture)).resize((width, height), method))


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _captioned(panel: np.ndarray, caption: str, font_size: int = 14) -> np.ndarray:
    """``panel`` (uint8 RGB) with a strip holding ``caption`` above it."""
    from PIL import Image, ImageDraw

    font = _font(font_size)
    # the strip height from a text with ascenders and descenders, so that every caption strip is equally high
    _, top, _, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), "Zgjy0", font=font)
    strip = Image.new("RGB", (panel.shape[1], bottom - min(top, 0) + 6), _BACKGROUND)
    ImageDraw.Draw(strip).text((4, 3 - min(top, 0)), caption, fill=(255, 255, 255), font=font)
    return np.concatenate([np.asarray(strip), panel], axis=0)


def _row(panels: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 RGB panels side by side (tops aligned), :data:`_GAP` pixels apart."""
    height = max(p.shape[0] for p in panels)
    width = sum(p.shape[1] for p in panels) + _GAP * (len(panels) - 1)
    grid = np.empty((height, width, 3), np.uint8)
    grid[:] = _BACKGROUND
    x = 0
    for panel in panels:
        grid[: panel.shape[0], x : x + panel.shape[1]] = panel
        x += panel.shape[1] + _GAP
    return grid


def _split_stack(image: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(image, labels, is_stack)`` with a one-slice stack made 2D; checks that the shapes fit together."""
    if labels.ndim == 2:
        _check_image_shape(image)
        _check_same_size(image, labels, "label image")
        return image, labels, False
    if labels.ndim != 3:
        raise MicrosegInputError(f"a mask must be 2D (H, W) or a stack (Z, H, W), got shape {labels.shape}")
    if not (image.ndim == 3 or (image.ndim == 4 and image.shape[-1] in (3, 4))) or image.shape[:3] != labels.shape:
        raise MicrosegInputError(
            f"the mask stack of shape {labels.shape} does not fit the image of shape {image.shape}: pass the stack "
            "(Z, H, W) or (Z, H, W, 3|4) the mask was predicted from"
        )
    if labels.shape[0] == 1:
        return image[0], labels[0], False
    return image, labels, True


def stack_preview(
    image: np.ndarray, labels: np.ndarray, n_slices: int = 4, max_width: int = MAX_PREVIEW_WIDTH
) -> np.ndarray:
    """A picture of a segmentation result: the outline overlay of a 2D image, or a grid for a stack.

    Args:
        image: 2D ``(H, W)`` / ``(H, W, 3|4)`` or a stack ``(Z, H, W)`` / ``(Z, H, W, 3|4)``, any dtype.
        labels: the mask or instance labels, ``(H, W)`` or ``(Z, H, W)`` as the image.
        n_slices: slices shown for a stack (evenly spaced from the first to the last; fewer when the stack has
            fewer).
        max_width: the picture is shrunk to be at most about this wide (labels with nearest neighbour, so that
            outlines stay sharp).

    Returns:
        uint8 RGB ``(height, width, 3)``. For a 2D image :func:`outline_overlay`; for a stack one row of
        ``n_slices`` overlays, each captioned ``z = k``, and a last panel captioned ``max projection``: the
        max-intensity projection of the image with the outline of the mask's projection (its union over z).
    """
    if n_slices < 1:
        raise MicrosegInputError(f"n_slices must be at least 1, got {n_slices}")
    image, labels = np.asarray(image), _as_labels(labels)
    image, labels, is_stack = _split_stack(image, labels)
    if not is_stack:
        size = fit_size(image.shape, max_width)
        return outline_overlay(resize_image(display_image(image), size), resize_labels(labels, size))
    depth = labels.shape[0]
    chosen = np.unique(np.linspace(0, depth - 1, min(n_slices, depth)).round().astype(int))
    slices = _scale_to_uint8(image[chosen])  # one intensity scale for all shown slices
    projection = _scale_to_uint8(np.nanmax(image, axis=0) if np.issubdtype(image.dtype, np.floating) else image.max(0))
    n_panels = len(chosen) + 1
    size = fit_size(labels.shape[1:], max(16, (max_width - _GAP * (n_panels - 1)) // n_panels))
    instances = _has_instances(labels)  # one colouring for all slices
    panels = [
        _captioned(
            outline_overlay(resize_image(_as_rgb(plane), size), resize_labels(labels[z], size), instances=instances),
            f"z = {z}",
        )
        for plane, z in zip(slices, chosen, strict=True)
    ]
    footprint = resize_labels((labels > 0).any(axis=0).astype(np.uint8), size)
    panels.append(_captioned(outline_overlay(resize_image(_as_rgb(projection), size), footprint), "max projection"))
    return _row(panels)


def _check_picture(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype != np.uint8 or not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))):
        raise MicrosegInputError(
            f"a PNG picture must be uint8 (H, W), (H, W, 3) or (H, W, 4), got {array.dtype} {array.shape}: "
            "convert it with microseg.reporting.overlay.display_image"
        )
    return np.ascontiguousarray(array)


def encode_png(array: np.ndarray) -> bytes:
    """The PNG file content of a uint8 picture ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_check_picture(array)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def save_png(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write a uint8 picture ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` as a PNG file, atomically (the folder is
    created); returns the path."""
    data = encode_png(array)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
    logger.debug("wrote %s (%d bytes)", path, len(data))
    return Path(path)
