"""Probability maps to masks and masks to instance labels, on NumPy arrays of one channel ``(H, W)`` (or any
spatial shape where stated).

PyTorch-free: :mod:`microseg.transforms` wraps these for MONAI (channel by channel), :mod:`microseg.onnx_infer`
calls them directly. :func:`fill_holes` and :func:`remove_small_objects` are MONAI's ``FillHoles`` and
``RemoveSmallObjects`` on one channel, written out so that the ONNX path needs no MONAI; tests check that they
agree.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

__all__ = [
    "class_watershed",
    "fill_holes",
    "fill_instance_holes",
    "hysteresis_threshold",
    "otsu_threshold",
    "relabel",
    "remove_small_objects",
    "sigmoid",
    "softmax",
    "split_touching_objects",
]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function in float32, without overflow warnings for large negative logits."""
    x = np.asarray(x, np.float32)
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-x))).astype(np.float32)


def softmax(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Softmax over ``axis`` (the channel axis of a ``(C, *spatial)`` map) in float32."""
    x = np.asarray(x, np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def relabel(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Label values mapped to 0..n consecutively (0 stays background); returns the image and n."""
    values, inverse = np.unique(labels, return_inverse=True)
    if values[0] != 0:
        inverse = inverse + 1
        values = np.concatenate([[0], values])
    return inverse.reshape(labels.shape), len(values) - 1


def otsu_threshold(channel: np.ndarray) -> np.ndarray:
    """Bool mask of ``channel > `` its Otsu threshold (``skimage.filters.threshold_otsu``); empty when constant."""
    from skimage.filters import threshold_otsu

    if channel.max() == channel.min():
        return np.zeros(channel.shape, bool)
    return channel > threshold_otsu(channel)


def hysteresis_threshold(channel: np.ndarray, low: float = 0.3, high: float = 0.7) -> np.ndarray:
    """Bool mask: pixels above ``high``, and pixels above ``low`` connected to them (8-connected in 2D)."""
    from skimage.filters import apply_hysteresis_threshold

    if low > high:
        raise ValueError(f"need low <= high, got low={low}, high={high}")
    return apply_hysteresis_threshold(channel, low, high)


def fill_holes(labels: np.ndarray, connectivity: int | None = None) -> np.ndarray:
    """MONAI's ``fill_holes`` on one channel: label by label, a region of other values that does not reach the image
    border through ``connectivity``-connected steps (default: full) takes the label. Returns a new array."""
    out = labels.copy()
    structure = ndimage.generate_binary_structure(labels.ndim, connectivity or labels.ndim)
    for label in sorted(set(np.unique(labels).tolist()) - {0}):
        reached = np.zeros(labels.shape, dtype=bool)
        ndimage.binary_dilation(
            reached, structure=structure, iterations=-1, mask=out != label, origin=0, border_value=1, output=reached
        )
        out[~reached] = label
    return out


def remove_small_objects(labels: np.ndarray, min_size: int, connectivity: int = 1) -> np.ndarray:
    """MONAI's ``remove_small_objects`` on one channel: objects (connected components of a 0/1 mask, or the labels of
    an instance image) of fewer than ``min_size`` pixels are set to 0. Same dtype out."""
    from skimage import morphology

    if np.unique(labels).size == 1:
        return labels
    as_input = labels.astype(bool if labels.max() <= 1 else np.int32)[None]  # MONAI passes the channel axis too
    with warnings.catch_warnings():  # called as MONAI calls it, so that both give the same masks
        warnings.filterwarnings("ignore", "Parameter `min_size` is deprecated", FutureWarning)
        kept = morphology.remove_small_objects(as_input, min_size, connectivity)[0]
    return kept.astype(labels.dtype)


def split_touching_objects(
    mask: np.ndarray, min_depth: float = 3.0, sigma: float = 1.0, connectivity: int = 1
) -> np.ndarray:
    """Objects of a binary mask, split at necks: a watershed of the smoothed distance map from its h-maxima.

    Peaks of the Euclidean distance to the background (smoothed by a Gaussian of ``sigma`` pixels) less than
    ``min_depth`` pixels above the saddle joining them are merged, so only necks at least ``min_depth`` narrower than
    the objects split them; ``min_depth=0`` gives plain connected components.

    Shapes: bool ``(H, W)`` in; int32 labels 1..N out.
    """
    from skimage.morphology import h_maxima
    from skimage.segmentation import watershed

    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    if min_depth <= 0 or not mask.any():
        return ndimage.label(mask, structure=structure)[0].astype(np.int32)
    distance = ndimage.distance_transform_edt(mask)
    if sigma > 0:
        distance = ndimage.gaussian_filter(distance, sigma)
    markers = ndimage.label(h_maxima(distance, min_depth) & mask, structure=structure)[0]
    return watershed(-distance, markers, mask=mask, connectivity=connectivity).astype(np.int32)


def class_watershed(
    probabilities: np.ndarray,
    mask_threshold: float = 0.5,
    seed_threshold: float = 0.5,
    min_seed_size: int = 4,
    connectivity: int = 1,
) -> np.ndarray:
    """Instances from a three-class ``(background, interior, border)`` probability map (the DSB 2018 recipe).

    Objects are where background < ``1 - mask_threshold``; seeds are the components of interior >
    ``seed_threshold`` inside them of at least ``min_seed_size`` pixels; a watershed of ``1 - interior`` from the
    seeds fills the objects, and an object region without a seed becomes an instance of its own.

    Shapes: float ``(3, H, W)`` in; int32 ``(H, W)`` labels 0..N out.
    """
    from skimage.segmentation import relabel_sequential, watershed

    array = np.asarray(probabilities, np.float32)
    if array.ndim != 3 or array.shape[0] != 3:
        raise ValueError(
            f"ClassWatershed takes (3, H, W) probabilities (background, interior, border), got {array.shape}"
        )
    structure = ndimage.generate_binary_structure(2, connectivity)
    mask = array[0] < 1 - mask_threshold
    seeds, _ = ndimage.label((array[1] > seed_threshold) & mask, structure=structure)
    if min_seed_size > 1:
        sizes = np.bincount(seeds.ravel())
        seeds[sizes[seeds] < min_seed_size] = 0
    labels = watershed(1 - array[1], seeds, mask=mask, connectivity=connectivity)
    orphans, n_orphans = ndimage.label(mask & (labels == 0), structure=structure)
    labels = np.where(orphans > 0, orphans + labels.max(), labels)
    if n_orphans or min_seed_size > 1:
        labels = relabel_sequential(labels)[0]
    return labels.astype(np.int32)


def fill_instance_holes(labels: np.ndarray, connectivity: int = 1) -> np.ndarray:
    """Holes of every object of an instance image filled in one pass: a background region touching no image edge
    and enclosed by a single object takes its label (a gap between several objects stays). Equals MONAI's
    ``FillHoles`` on label images, which needs one full pass per object.

    Shapes: int ``(H, W)`` in and out (same dtype).
    """
    structure = ndimage.generate_binary_structure(2, connectivity)
    foreground = labels > 0
    holes, n_holes = ndimage.label(ndimage.binary_fill_holes(foreground, structure) & ~foreground, structure)
    if n_holes == 0:
        return labels
    ring = ndimage.grey_dilation(holes, footprint=ndimage.generate_binary_structure(2, 1)) * foreground
    pairs = np.unique(np.stack([ring[ring > 0], labels[ring > 0]]), axis=1)  # (hole, object) that touch
    hole_ids, counts = np.unique(pairs[0], return_counts=True)
    enclosed = hole_ids[counts == 1]
    owner = np.zeros(n_holes + 1, labels.dtype)
    owner[pairs[0][np.isin(pairs[0], enclosed)]] = pairs[1][np.isin(pairs[0], enclosed)]
    return np.where(holes > 0, owner[holes], labels)
