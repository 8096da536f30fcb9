"""Tiled prediction of 2D images and stacks in NumPy: the algorithm of MONAI's ``sliding_window_inference`` (same
tile positions, padding and Gaussian weights), test-time augmentation by the dihedral group, adjacent slices as
channels, and prediction at a fixed working scale.

PyTorch-free, for :mod:`microseg.onnx_infer`; :class:`microseg.inferers.SliceTiledInferer` and
:class:`microseg.inferers.LongestSideInferer` are the PyTorch versions, and tests check that both give the same
output for the same network. A *predictor* here is any callable from a float32 ``(N, C, h, w)`` batch to
``(N, C_out, h, w)`` logits (an ONNX Runtime session, or a network wrapped for a test).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

from microseg.progress import progress

__all__ = [
    "TTA_MODES",
    "LongestSidePredictor",
    "TileTTA",
    "TiledPredictor",
    "context_indices",
    "dihedral_transforms",
    "importance_map",
    "resize_area",
    "resize_bilinear",
    "sliding_window",
    "tile_starts",
    "tile_transforms",
]

Predictor = Callable[[np.ndarray], np.ndarray]
TTA_MODES = ("none", "flips", "dihedral", "dihedral_z")


def dihedral_transforms(mode: str) -> list[tuple[int, bool]]:
    """The test-time augmentations of ``mode`` applied to the whole image, as ``(quarter_turns, flip_width)`` pairs.

    ``"none"``: identity; ``"flips"``: identity, horizontal, vertical and both flips (4); ``"dihedral"``: the 8
    rotations by 90 degrees and their mirror images. :func:`undo_dihedral` inverts each exactly. ``"dihedral_z"``
    augments each tile instead (:func:`tile_transforms`), so the whole image is predicted once.
    """
    if mode in ("none", "dihedral_z"):
        return [(0, False)]
    if mode == "flips":
        return [(0, False), (0, True), (2, True), (2, False)]  # id, flip W, flip H (= rot180 + flip W), flip both
    if mode == "dihedral":
        return [(k, flip) for k in range(4) for flip in (False, True)]
    raise ValueError(f"tta must be one of {TTA_MODES}, got {mode!r}")


def tile_transforms(mode: str) -> list[tuple[int, bool, bool]]:
    """The test-time augmentations of ``mode`` applied to each tile, as ``(quarter_turns, flip_width, reverse_slices)``.

    ``"dihedral_z"``: CDeep3M's 16 augmentations, the 8 rotations/mirror images of the plane times both orders of
    the adjacent slices given as channels (the same 8 twice for a single slice). Per tile, so that a tile's prediction
    does not depend on where the image ends: tiled prediction out of core (:mod:`microseg.largeimage`) gives the same
    result as in memory. Other modes: none (they augment the whole image, :func:`dihedral_transforms`).
    """
    dihedral_transforms(mode)  # validates mode
    if mode != "dihedral_z":
        return []
    return [(k, flip, reverse) for reverse in (False, True) for k in range(4) for flip in (False, True)]


class TileTTA:
    """A predictor averaging the logits of ``predictor`` over per-tile augmentations (:func:`tile_transforms`).

    Args:
        predictor: float32 ``(N, C, h, w)`` -> ``(N, C_out, h, w)`` logits; ``C`` holds the adjacent slices.
        transforms: ``(quarter_turns, flip_width, reverse_slices)`` triples.
        uncertainty: append the standard deviation of the sigmoid probabilities over the augmentations.

    Shapes: ``(N, C, h, w)`` in (``h == w`` when turning by odd quarter turns); ``(N, C_out [+1], h, w)`` out.
    """

    def __init__(self, predictor: Predictor, transforms: Sequence[tuple[int, bool, bool]], uncertainty: bool) -> None:
        self.predictor, self.transforms, self.uncertainty = predictor, list(transforms), uncertainty

    def __call__(self, x: np.ndarray) -> np.ndarray:
        logits = []
        for turns, flip, reverse in self.transforms:
            moved = apply_dihedral(x[:, ::-1] if reverse else x, turns, flip)
            predicted = np.asarray(self.predictor(moved.astype(np.float32, order="C", copy=True)), np.float32)
            logits.append(undo_dihedral(predicted, turns, flip))
        mean = np.mean(logits, axis=0, dtype=np.float32)
        if not self.uncertainty:
            return mean
        from microseg.ops.labels import sigmoid

        spread = np.std([sigmoid(v) for v in logits], axis=0, dtype=np.float32)
        return np.concatenate([mean, spread], axis=1)


def apply_dihedral(x: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """Flip the last axis (if ``flip``), then rotate the last two axes by ``turns`` quarter turns."""
    x = np.flip(x, axis=-1) if flip else x
    return np.rot90(x, turns, axes=(-2, -1)) if turns else x


def undo_dihedral(x: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """The inverse of :func:`apply_dihedral`."""
    x = np.rot90(x, -turns, axes=(-2, -1)) if turns else x
    return np.flip(x, axis=-1) if flip else x


def context_indices(z: int, depth: int, context: int) -> np.ndarray:
    """Indices of the ``context`` slices centred on ``z`` in a stack of ``depth`` slices, repeating the edge slices.

    >>> context_indices(0, 10, 3).tolist()
    [0, 0, 1]
    """
    if context < 1 or context % 2 == 0:
        raise ValueError(f"context must be a positive odd number of slices, got {context}")
    half = context // 2
    return np.clip(np.arange(z - half, z + half + 1), 0, depth - 1)


def importance_map(patch_size: Sequence[int], mode: str = "constant", sigma_scale: float = 0.125) -> np.ndarray:
    """Weights of one tile (MONAI's ``compute_importance_map``): ones, or a Gaussian of sigma ``sigma_scale`` times
    the tile size centred on the tile, clamped below at its smallest value (at least 1e-3). float32 ``patch_size``."""
    if mode == "constant":
        return np.ones(tuple(patch_size), np.float32)
    if mode != "gaussian":
        raise ValueError(f"mode must be 'constant' or 'gaussian', got {mode!r}")
    weights = np.ones((), np.float32)
    for size in patch_size:
        x = np.arange(-(size - 1) / 2.0, (size - 1) / 2.0 + 1, dtype=np.float32)
        x = np.exp(x**2 / np.float32(-2 * (size * sigma_scale) ** 2)).astype(np.float32)
        weights = weights[..., None] * x
    return np.maximum(weights, max(float(weights.min()), 1e-3)).astype(np.float32)


def tile_starts(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> list[tuple[int, ...]]:
    """Start corners of the tiles covering ``image_size`` (each at least ``roi_size``), in MONAI's order: tiles
    step by ``int(roi * (1 - overlap))`` (one tile where roi equals the image), the last one flush with the edge."""
    per_axis = []
    for size, roi in zip(image_size, roi_size, strict=True):
        roi = min(roi, size)
        step = roi if roi == size else max(int(roi * (1 - overlap)), 1)
        count = next((d for d in range(math.ceil(size / step)) if d * step + roi >= size), 0) + 1
        per_axis.append([i * step - max(i * step + roi - size, 0) for i in range(count)])
    return list(itertools.product(*per_axis))


def sliding_window(
    x: np.ndarray,
    roi_size: Sequence[int],
    sw_batch_size: int,
    predictor: Predictor,
    overlap: float = 0.25,
    mode: str = "constant",
) -> np.ndarray:
    """MONAI's ``sliding_window_inference`` in NumPy: zero-pad images smaller than a tile (evenly, the extra pixel
    after), predict the tiles ``sw_batch_size`` at a time, blend them weighted by :func:`importance_map`, crop.

    Shapes: float32 ``(N, C, *spatial)`` in; float32 ``(N, C_out, *spatial)`` out.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be >= 0 and < 1, got {overlap}")
    batch, spatial = x.shape[0], x.shape[2:]
    roi = tuple(int(r) if r and r > 0 else int(s) for r, s in zip(roi_size, spatial, strict=True))
    pads = [((r - s) // 2, r - s - (r - s) // 2) if r > s else (0, 0) for r, s in zip(roi, spatial, strict=True)]
    if any(any(p) for p in pads):
        x = np.pad(x, [(0, 0), (0, 0), *pads])
    image_size = x.shape[2:]
    windows = [
        tuple(slice(s, s + r) for s, r in zip(start, roi, strict=True))
        for start in tile_starts(image_size, roi, overlap)
    ]
    weights = importance_map(roi, mode)
    count = np.zeros(image_size, np.float32)
    for window in windows:
        count[window] += weights
    output = None
    total = batch * len(windows)
    for first in range(0, total, sw_batch_size):
        items = range(first, min(first + sw_batch_size, total))
        tiles = np.concatenate(
            [x[i // len(windows), None][(slice(None), slice(None), *windows[i % len(windows)])] for i in items]
        )
        predicted = np.asarray(predictor(np.ascontiguousarray(tiles, np.float32)), np.float32) * weights
        if output is None:
            output = np.zeros((batch, predicted.shape[1], *image_size), np.float32)
        for i, tile in zip(items, predicted, strict=True):
            output[(i // len(windows), slice(None), *windows[i % len(windows)])] += tile
    output /= count
    return output[(slice(None), slice(None), *(slice(p[0], p[0] + s) for p, s in zip(pads, spatial, strict=True)))]


class TiledPredictor:
    """:class:`microseg.inferers.SliceTiledInferer` in NumPy: 2D images or stacks slice by slice, tiles blended by
    averaging or a Gaussian, optional test-time augmentation and adjacent slices as channels.

    Args:
        roi_size, sw_batch_size, overlap, mode, context, tta, uncertainty, slice_batch: as in
            :class:`~microseg.inferers.SliceTiledInferer` (its device and progress arguments have no meaning here).

    Shapes: ``(B, C, H, W)`` or ``(B, C, Z, H, W)`` in; float32 ``(B, C_out [+1], *spatial)`` logits out (plus the
    standard deviation of the sigmoid over the augmentations with ``uncertainty``).
    """

    def __init__(
        self,
        roi_size: Sequence[int] = (256, 256),
        sw_batch_size: int = 8,
        overlap: float = 0.25,
        mode: str = "gaussian",
        context: int = 1,
        tta: str = "none",
        uncertainty: bool = False,
        slice_batch: int = 4,
        **_ignored,
    ) -> None:
        context_indices(0, 1, context)
        self.roi_size, self.sw_batch_size, self.overlap, self.mode = tuple(roi_size), sw_batch_size, overlap, mode
        self.context, self.transforms, self.uncertainty = context, dihedral_transforms(tta), uncertainty
        self.tile_transforms, self.slice_batch = tile_transforms(tta), slice_batch

    def __call__(self, inputs: np.ndarray, predictor: Predictor) -> np.ndarray:
        inputs = np.asarray(inputs, np.float32)
        if inputs.ndim == 4 and self.context > 1:  # a lone 2D image: its own context, repeated
            return self._predict_stack(inputs[:, :, None], predictor)[:, :, 0]
        if inputs.ndim == 4:
            return self._predict_2d(inputs, predictor)
        if inputs.ndim == 5:
            return self._predict_stack(inputs, predictor)
        raise ValueError(f"expected (B, C, H, W) or (B, C, Z, H, W) input, got shape {inputs.shape}")

    def _predict_2d(self, x: np.ndarray, predictor: Predictor) -> np.ndarray:
        if self.tile_transforms:
            tiled = TileTTA(predictor, self.tile_transforms, self.uncertainty)
            return sliding_window(x, self.roi_size, self.sw_batch_size, tiled, self.overlap, self.mode)
        logits = [
            undo_dihedral(
                sliding_window(
                    apply_dihedral(x, t, f), self.roi_size, self.sw_batch_size, predictor, self.overlap, self.mode
                ),
                t,
                f,
            )
            for t, f in self.transforms
        ]
        mean = np.mean(logits, axis=0, dtype=np.float32) if len(logits) > 1 else logits[0]
        if not self.uncertainty:
            return mean
        from microseg.ops.labels import sigmoid

        spread = np.std([sigmoid(v) for v in logits], axis=0, dtype=np.float32)
        return np.concatenate([mean, spread], axis=1)

    def _predict_stack(self, x: np.ndarray, predictor: Predictor) -> np.ndarray:
        batch, channels, depth = x.shape[:3]
        outputs = []
        with progress(total=depth, desc="slices", unit="slice", inner=True) as bar:
            for start in range(0, depth, self.slice_batch):
                zs = range(start, min(start + self.slice_batch, depth))
                picks = np.stack([x[:, :, context_indices(z, depth, self.context)] for z in zs], axis=1)
                flat = picks.reshape(batch * len(zs), channels * self.context, *x.shape[-2:])
                pred = self._predict_2d(flat, predictor)
                outputs.append(pred.reshape(batch, len(zs), *pred.shape[1:]).swapaxes(1, 2))
                bar.update(len(zs))
        return np.concatenate(outputs, axis=2)


def _pool_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Adaptive average pooling of one axis (PyTorch's windows: ``floor(i*n/size)`` to ``ceil((i+1)*n/size)``)."""
    n = x.shape[axis]
    bounds = [((i * n) // size, -((-(i + 1) * n) // size)) for i in range(size)]
    return np.stack([x.take(range(a, b), axis=axis).mean(axis=axis, dtype=np.float32) for a, b in bounds], axis=axis)


def resize_area(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """PyTorch's ``interpolate(mode="area")`` (adaptive average pooling) of the last two axes to ``size``."""
    return _pool_axis(_pool_axis(np.asarray(x, np.float32), size[0], x.ndim - 2), size[1], x.ndim - 1)


def _linear_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation of one axis as PyTorch's ``align_corners=False`` (half-pixel centres, edges clamped)."""
    n = x.shape[axis]
    scale = np.float32(n / size)
    source = np.maximum(scale * (np.arange(size, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), 0)
    low = source.astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    weight = (source - low).astype(np.float32)
    shape = [1] * x.ndim
    shape[axis] = size
    weight = weight.reshape(shape)
    return (x.take(low, axis=axis) * (1 - weight) + x.take(high, axis=axis) * weight).astype(np.float32)


def resize_bilinear(x: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """PyTorch's ``interpolate(mode="bilinear", align_corners=False)`` of the last two axes to ``size``."""
    return _linear_axis(_linear_axis(np.asarray(x, np.float32), size[0], x.ndim - 2), size[1], x.ndim - 1)


class LongestSidePredictor:
    """:class:`microseg.inferers.LongestSideInferer` in NumPy: scale the longest side to ``image_size`` (area
    interpolation), zero-pad to a square, predict with ``inner``, crop and scale back (bilinear).

    Shapes: ``(B, C, H, W)`` in; float32 ``(B, C_out, H, W)`` out.
    """

    def __init__(self, image_size: int = 512, inferer: TiledPredictor | None = None, mode: str = "bilinear") -> None:
        if mode != "bilinear":
            raise ValueError(f"LongestSidePredictor scales predictions back bilinearly, got mode={mode!r}")
        self.image_size = int(image_size)
        self.inner = inferer if inferer is not None else TiledPredictor((self.image_size, self.image_size), 1, 0.0)

    def __call__(self, inputs: np.ndarray, predictor: Predictor) -> np.ndarray:
        height, width = inputs.shape[-2:]
        scale = self.image_size / max(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        scaled = resize_area(inputs, size) if size != (height, width) else np.asarray(inputs, np.float32)
        pad_h, pad_w = self.image_size - size[0], self.image_size - size[1]
        top, left = pad_h // 2, pad_w // 2
        padded = np.pad(scaled, [(0, 0)] * (scaled.ndim - 2) + [(top, pad_h - top), (left, pad_w - left)])
        outputs = self.inner(padded, predictor)[..., top : top + size[0], left : left + size[1]]
        return outputs if size == (height, width) else resize_bilinear(outputs, (height, width))
