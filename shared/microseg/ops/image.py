"""Channel layout, input checks, intensity scaling and colour of channel-first images ``(C, *spatial)``.

PyTorch-free: :mod:`microseg.transforms` wraps these for MONAI, :mod:`microseg.onnx_infer` calls them directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microseg.errors import MicrosegInputError

__all__ = [
    "GREY_WEIGHTS",
    "channel_first",
    "check_image",
    "ensure_rgb",
    "invert_bright_background",
    "is_two_valued",
    "percentile_normalize",
    "scale_intensity_range",
    "to_grey",
]

GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luminance weights of R, G, B (Pillow's ``convert("L")``)."""


def channel_first(array: np.ndarray, channel_last: bool) -> np.ndarray:
    """``(*spatial, C)`` -> ``(C, *spatial)`` when ``channel_last``, else a new leading axis of size 1 (what MONAI's
    ``EnsureChannelFirst`` does with the readers' ``original_channel_dim`` of -1 or ``nan``)."""
    return np.moveaxis(array, -1, 0) if channel_last else array[None]


def is_two_valued(array: np.ndarray) -> bool:
    """Whether ``array`` holds at most two distinct values."""
    low, high = array.min(), array.max()
    return bool(np.count_nonzero((array != low) & (array != high)) == 0)


def check_image(
    array: np.ndarray,
    name: str = "image",
    spatial_ndims: Sequence[int] = (2, 3),
    num_channels: Sequence[int] | None = (1,),
    allow_binary: bool = False,
    allow_constant: bool = False,
    declared_spatial_shape: Sequence[int] | None = None,
) -> None:
    """Check a channel-first image ``(C, *spatial)``: dimensions, channels, finite values, not a mask, not constant.

    Args:
        array: the image, channel first.
        name: the file it came from, for the message.
        spatial_ndims: accepted numbers of spatial dimensions.
        num_channels: accepted channel counts, or ``None`` for any.
        allow_binary: accept images with only two distinct values (otherwise taken for a mask given by mistake).
        allow_constant: accept images with a single value.
        declared_spatial_shape: the spatial shape the reader found, when known (catches colour samples that a
            config took for a spatial axis).

    Raises:
        MicrosegInputError: naming the file, what is wrong and what to do.
    """
    shape = tuple(array.shape)
    if declared_spatial_shape is not None and len(shape) - 1 == len(declared_spatial_shape) + 1 and shape[-1] in (3, 4):
        raise MicrosegInputError(
            f"{name}: expected {' or '.join(map(str, num_channels or (1,)))} channel(s), got {shape[-1]} "
            "(a colour image); convert the image to greyscale (one channel) first."
        )
    if len(shape) - 1 not in tuple(spatial_ndims):
        raise MicrosegInputError(
            f"{name}: expected {' or '.join(map(str, spatial_ndims))} spatial dimensions, got an array of "
            f"shape {shape[1:]} ({len(shape) - 1}D); give a 2D image or a stack of 2D slices (Z, H, W)."
        )
    if num_channels is not None and shape[0] not in tuple(num_channels):
        raise MicrosegInputError(
            f"{name}: expected {' or '.join(map(str, num_channels))} channel(s), got {shape[0]}; "
            "convert the image to greyscale (one channel) first."
        )
    if min(shape[1:]) == 0:
        raise MicrosegInputError(f"{name}: the image is empty (shape {shape[1:]}).")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        raise MicrosegInputError(f"{name}: the image holds NaN or infinite values; replace them before segmenting.")
    if not allow_constant and array.min() == array.max():
        raise MicrosegInputError(f"{name}: the image is constant (every pixel is {array.min()}); nothing to segment.")
    if not allow_binary and is_two_valued(array):
        raise MicrosegInputError(
            f"{name}: the image has only two distinct values, so it looks like a mask, not a micrograph; "
            "check that image and label paths are not swapped."
        )


def percentile_normalize(array: np.ndarray, lower: float = 1.0, upper: float = 99.0, eps: float = 1e-6) -> np.ndarray:
    """Scale each plane (last two axes) so that its ``lower`` and ``upper`` percentiles map to 0 and 1, unclipped
    (bioimage.io's ``scale_range`` with ``axes="yx"``).

    Shapes: ``(..., H, W)`` of any real dtype in; float32 of the same shape out.
    """
    if not 0 <= lower < upper <= 100:
        raise ValueError(f"need 0 <= lower < upper <= 100, got lower={lower}, upper={upper}")
    planes = array.reshape(-1, array.shape[-2] * array.shape[-1]).astype(np.float32, copy=False)
    low, high = np.percentile(planes, [lower, upper], axis=1, keepdims=True)
    return ((planes - low) / (high - low + eps)).astype(np.float32).reshape(array.shape)


def invert_bright_background(array: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """``1 - x`` when the mean intensity (over every channel) is above ``threshold`` (a bright background:
    bright-field, H&E), else ``x`` unchanged; for images already scaled so that 0 is dark and 1 bright."""
    return 1 - array if float(array.mean()) > threshold else array


def scale_intensity_range(
    array: np.ndarray, a_min: float, a_max: float, b_min: float = 0.0, b_max: float = 1.0, clip: bool = True
) -> np.ndarray:
    """Map ``[a_min, a_max]`` linearly onto ``[b_min, b_max]`` (MONAI's ``ScaleIntensityRange``), float32 out."""
    if a_max == a_min:
        raise ValueError(f"a_min and a_max must differ, got {a_min}")
    scaled = (array.astype(np.float32, copy=False) - a_min) / (a_max - a_min) * (b_max - b_min) + b_min
    return np.clip(scaled, b_min, b_max).astype(np.float32) if clip else scaled.astype(np.float32)


def _check_2d_channels(array: np.ndarray, name: str, allowed: Sequence[int], what: str) -> None:
    if array.ndim != 3 or array.shape[0] not in allowed:
        raise MicrosegInputError(
            f"{name}: expected a 2D {what} image (C, H, W) with C in {', '.join(map(str, allowed))}, got shape "
            f"{tuple(array.shape)}; give one 2D image per file."
        )


def to_grey(array: np.ndarray, name: str = "image") -> np.ndarray:
    """One channel: RGB becomes its luminance (:data:`GREY_WEIGHTS`), RGBA drops alpha first, grey is unchanged.

    Shapes: ``(C, H, W)`` with C in {1, 3, 4} in; float32 ``(1, H, W)`` out (grey input keeps its dtype).

    Raises:
        MicrosegInputError: another number of channels, or not 2D.
    """
    _check_2d_channels(array, name, (1, 3, 4), "grey, RGB or RGBA")
    if array.shape[0] == 1:
        return array
    weights = np.asarray(GREY_WEIGHTS, np.float32).reshape(3, 1, 1)
    return (array[:3].astype(np.float32) * weights).sum(0, keepdims=True, dtype=np.float32)


def ensure_rgb(array: np.ndarray, name: str = "image") -> np.ndarray:
    """Three channels: grey is repeated, RGBA drops alpha, RGB is unchanged.

    Shapes: ``(C, H, W)`` with C in {1, 3, 4} in; ``(3, H, W)`` out.

    Raises:
        MicrosegInputError: another number of channels, or not 2D.
    """
    if array.ndim != 3:
        raise MicrosegInputError(
            f"{name}: expected a 2D image with channels (C, H, W), got shape {tuple(array.shape)}; "
            "give one RGB image per file."
        )
    channels = array.shape[0]
    if channels == 3:
        return array
    if channels == 4:
        return array[:3]
    if channels == 1:
        return np.repeat(array, 3, axis=0)
    raise MicrosegInputError(f"{name}: {channels} channels; this model takes RGB (3), RGBA (4) or grey (1) images.")
