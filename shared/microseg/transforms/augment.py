"""Augmentations of the GlaS and DSB 2018 recipes that MONAI has no exact equivalent for.

* :class:`RandElasticDisplacement`: imgaug-style elastic deformation (Simard et al. 2003), a per-pixel random
  displacement field smoothed by a Gaussian; MONAI's ``Rand2DElastic`` instead deforms a coarse control grid.
* :class:`RandPiecewiseAffine`: imgaug-style piecewise distortion, a regular grid of control points each moved by a
  normal random distance proportional to the image size.
* :class:`RandMedianSharpen`: a 3x3 median blur followed by sharpening that is alpha-blended with its input.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, ensure_tuple_rep
from scipy import ndimage

__all__ = [
    "RandElasticDisplacement",
    "RandElasticDisplacementd",
    "RandMedianSharpen",
    "RandMedianSharpend",
    "RandPiecewiseAffine",
    "RandPiecewiseAffined",
]


def _as_numpy(img) -> np.ndarray:
    return img.detach().cpu().numpy() if isinstance(img, torch.Tensor) else np.asarray(img)


class RandElasticDisplacement(RandomizableTransform):
    """Elastic deformation with a dense displacement field: ``u = alpha * G_sigma * U(-1, 1)`` per axis.

    ``alpha`` (field strength, pixels) is drawn from ``alpha_range`` on each call; ``sigma`` is the Gaussian's
    standard deviation in pixels. This is imgaug's ``ElasticTransformation(alpha, sigma)``.

    Args:
        alpha_range: ``(low, high)`` of the field strength.
        sigma: standard deviation of the smoothing Gaussian, in pixels.
        prob: probability of deforming.
        mode: ``"bilinear"`` (images) or ``"nearest"`` (labels).

    Shapes: ``(C, H, W)`` in, same shape and type out (all channels move together).
    """

    def __init__(
        self, alpha_range: Sequence[float] = (5.0, 10.0), sigma: float = 3.0, prob: float = 1.0, mode: str = "bilinear"
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if len(alpha_range) != 2 or alpha_range[0] > alpha_range[1]:
            raise ValueError(f"alpha_range must be (low, high) with low <= high, got {alpha_range}")
        self.alpha_range = (float(alpha_range[0]), float(alpha_range[1]))
        self.sigma = float(sigma)
        self.mode = mode
        self.field: np.ndarray | None = None

    def randomize(self, spatial_shape: Sequence[int]) -> None:  # type: ignore[override]
        super().randomize(None)
        if not self._do_transform:
            return
        alpha = self.R.uniform(*self.alpha_range)
        noise = self.R.uniform(-1.0, 1.0, size=(len(spatial_shape), *spatial_shape))
        smooth = [ndimage.gaussian_filter(axis.astype(np.float32), self.sigma, mode="constant") for axis in noise]
        self.field = np.stack(smooth) * np.float32(alpha)

    def warp(self, img, mode: str | None = None):
        """Apply the last drawn field to ``img`` (no new randomness): every channel sampled at ``x + u(x)`` with
        ``grid_sample`` (bilinear, or nearest for labels), reflecting at the borders like SciPy's
        ``map_coordinates(mode="reflect")``, in one call for all channels."""
        if not self._do_transform or self.field is None:
            return img
        data = torch.as_tensor(_as_numpy(img))
        spatial = data.shape[1:]
        base = torch.meshgrid(*(torch.arange(n, dtype=torch.float64) for n in spatial), indexing="ij")
        # sampling positions in grid_sample's [-1, 1] (align_corners=False), last axis ordered (x, y)
        coords = [
            (2 * (g + torch.from_numpy(f)) + 1) / n - 1 for g, f, n in zip(base, self.field, spatial, strict=True)
        ]
        grid = torch.stack(coords[::-1], dim=-1)[None].float()
        interpolation = "nearest" if (mode or self.mode) == "nearest" else "bilinear"
        out = torch.nn.functional.grid_sample(
            data[None].float(), grid, mode=interpolation, padding_mode="reflection", align_corners=False
        )[0]
        return convert_to_dst_type(out.to(data.dtype), img)[0]

    def __call__(self, img, randomize: bool = True):
        if randomize:
            self.randomize(img.shape[1:])
        return self.warp(img)


class RandElasticDisplacementd(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandElasticDisplacement`: one field for all ``keys``; ``mode`` per key."""

    def __init__(
        self,
        keys: KeysCollection,
        alpha_range: Sequence[float] = (5.0, 10.0),
        sigma: float = 3.0,
        prob: float = 1.0,
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.deform = RandElasticDisplacement(alpha_range, sigma, prob=1.0)
        self.mode = ensure_tuple_rep(mode, len(self.keys))

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.deform.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        first = self.first_key(d)
        if first == ():
            return d
        self.deform.randomize(d[first].shape[1:])
        for key, mode in self.key_iterator(d, self.mode):
            d[key] = self.deform.warp(d[key], mode)
        return d


class RandPiecewiseAffine(RandElasticDisplacement):
    """Piecewise distortion as imgaug's ``PiecewiseAffine(scale, nb_rows, nb_cols)``: a regular ``grid`` of control
    points spanning the image (corners included) is moved, each point by a normal random distance
    ``N(0, z * size)`` per axis (``size`` = that axis' length, ``z`` drawn from ``scale_range`` on each call).

    Between control points the displacement is interpolated bilinearly (a piecewise-bilinear warp; imgaug
    triangulates the grid and warps each triangle affinely, which differs only inside the cells and is far slower).

    Args:
        scale_range: ``(low, high)`` of ``z``, the standard deviation of the displacement as a fraction of the size.
        grid: number of control points per axis ``(rows, cols)``, at least 2 each.
        prob: probability of distorting.
        mode: ``"bilinear"`` (images) or ``"nearest"`` (labels).

    Shapes: ``(C, H, W)`` in, same shape and type out (all channels move together).
    """

    def __init__(
        self,
        scale_range: Sequence[float] = (0.01, 0.04),
        grid: Sequence[int] = (4, 4),
        prob: float = 0.5,
        mode: str = "bilinear",
    ) -> None:
        # the parent's alpha_range holds the scale range; its warp() applies the field drawn in randomize()
        super().__init__(alpha_range=scale_range, sigma=0.0, prob=prob, mode=mode)
        self.grid = tuple(int(g) for g in grid)
        if len(self.grid) != 2 or min(self.grid) < 2:
            raise ValueError(f"grid must be two numbers of control points, each at least 2, got {grid}")

    def randomize(self, spatial_shape: Sequence[int]) -> None:  # type: ignore[override]
        RandomizableTransform.randomize(self, None)
        if not self._do_transform:
            return
        scale = self.R.uniform(*self.alpha_range)
        coarse = self.R.normal(0.0, 1.0, size=(len(spatial_shape), *self.grid))
        self.field = np.stack(
            [
                _resize_linear(axis, spatial_shape) * scale * size
                for axis, size in zip(coarse, spatial_shape, strict=True)
            ]
        )


def _resize_linear(coarse: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Bilinear interpolation of a coarse grid whose corner points sit on the corners of ``shape``."""
    coords = np.meshgrid(*(np.linspace(0, g - 1, n) for g, n in zip(coarse.shape, shape, strict=True)), indexing="ij")
    return ndimage.map_coordinates(coarse, coords, order=1, mode="nearest")


class RandPiecewiseAffined(RandElasticDisplacementd):
    """Dictionary version of :class:`RandPiecewiseAffine`: one distortion for all ``keys``; ``mode`` per key."""

    def __init__(
        self,
        keys: KeysCollection,
        scale_range: Sequence[float] = (0.01, 0.04),
        grid: Sequence[int] = (4, 4),
        prob: float = 0.5,
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, prob=prob, mode=mode, allow_missing_keys=allow_missing_keys)
        self.deform = RandPiecewiseAffine(scale_range, grid, prob=1.0)


# Paeth's 19 compare-exchange network: afterwards element 4 of the nine is their median
_MEDIAN9 = (
    (1, 2),
    (4, 5),
    (7, 8),
    (0, 1),
    (3, 4),
    (6, 7),
    (1, 2),
    (4, 5),
    (7, 8),
    (0, 3),
    (5, 8),
    (4, 7),
    (3, 6),
    (1, 4),
    (2, 5),
    (4, 7),
    (4, 2),
    (6, 4),
    (4, 2),
)


def _median3x3(data: torch.Tensor) -> torch.Tensor:
    """3x3 median of each channel of ``(C, H, W)``, the edge pixel repeated at the borders (SciPy's
    ``median_filter(size=3, mode="reflect")``), with element-wise minima and maxima of the 9 shifted images."""
    padded = torch.nn.functional.pad(data[:, None], (1, 1, 1, 1), mode="replicate")[:, 0]
    height, width = data.shape[-2:]
    v = [padded[:, i : i + height, j : j + width] for i in range(3) for j in range(3)]
    for a, b in _MEDIAN9:
        v[a], v[b] = torch.minimum(v[a], v[b]), torch.maximum(v[a], v[b])
    return v[4]


def median_sharpen(data: torch.Tensor, alpha: float | torch.Tensor, lightness: float | torch.Tensor) -> torch.Tensor:
    """3x3 median of each plane of ``(N, H, W)`` float ``data``, then the sharpening kernel
    ``(1 - a) * identity + a * [[-1, -1, -1], [-1, 8 + L, -1], [-1, -1, -1]]`` (edges repeated), computed as
    ``(1 + a (7 + L)) b - a S`` with ``b`` the median and ``S`` the sum of its 8 neighbours. ``alpha`` and
    ``lightness`` are numbers or ``(N, 1, 1)`` tensors (one per plane)."""
    blurred = _median3x3(data)
    padded = torch.nn.functional.pad(blurred[:, None], (1, 1, 1, 1), mode="replicate")
    box = torch.ones(1, 1, 3, 3, dtype=blurred.dtype, device=blurred.device)
    around = torch.nn.functional.conv2d(padded, box)[:, 0] - blurred
    return (1 + alpha * (7 + lightness)) * blurred - alpha * around


class RandMedianSharpen(RandomizableTransform):
    """3x3 median blur, then sharpening alpha-blended with the blurred image (imgaug ``Sharpen``).

    The sharpening kernel is ``(1 - a) * identity + a * [[-1, -1, -1], [-1, 8 + L, -1], [-1, -1, -1]]`` with the
    blend ``a`` drawn from ``alpha_range`` and the lightness ``L`` from ``lightness_range``.

    Args:
        alpha_range: blend between no sharpening (0) and full sharpening (1).
        lightness_range: brightness of the sharpened image.
        prob: probability of applying.

    Shapes: ``(C, H, W)`` in (each channel filtered separately), same shape and type out. Computed with torch
    (:func:`median_sharpen`: a median network of element-wise minima and maxima, then a 3x3 sum): the values of
    SciPy's ``median_filter`` and ``convolve`` with ``mode="reflect"``, about twice as fast.
    """

    def __init__(
        self,
        alpha_range: Sequence[float] = (0.0, 1.0),
        lightness_range: Sequence[float] = (0.75, 1.5),
        prob: float = 0.2,
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        self.alpha_range = tuple(float(v) for v in alpha_range)
        self.lightness_range = tuple(float(v) for v in lightness_range)
        self.alpha = 0.0
        self.lightness = 1.0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        if self._do_transform:
            self.alpha = self.R.uniform(*self.alpha_range)
            self.lightness = self.R.uniform(*self.lightness_range)

    def __call__(self, img, randomize: bool = True):
        if randomize:
            self.randomize()
        if not self._do_transform:
            return img
        data = torch.as_tensor(_as_numpy(img), dtype=torch.float32)
        return convert_to_dst_type(median_sharpen(data, self.alpha, self.lightness), img)[0]


class RandMedianSharpend(RandomizableTransform, MapTransform):
    """Dictionary version of :class:`RandMedianSharpen` (one draw for all ``keys``)."""

    def __init__(
        self,
        keys: KeysCollection,
        alpha_range: Sequence[float] = (0.0, 1.0),
        lightness_range: Sequence[float] = (0.75, 1.5),
        prob: float = 0.2,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.sharpen = RandMedianSharpen(alpha_range, lightness_range, prob=1.0)

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.sharpen.set_random_state(seed, state)
        return self

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize(None)
        if not self._do_transform:
            return d
        self.sharpen.randomize()
        for key in self.key_iterator(d):
            d[key] = self.sharpen(d[key], randomize=False)
        return d
