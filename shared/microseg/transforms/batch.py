"""Random augmentation of whole ``(B, C, H, W)`` batches on the training device, with per-sample parameters.

MONAI's random transforms work sample by sample. On a GPU that trains a small network, neither loader workers
(CPU) nor per-sample transforms on the device (dozens of small kernel launches per sample) keep up. These
transforms draw each sample's parameters from the same distributions as the MONAI transforms they stand for and
apply them to the whole batch at once:

* :class:`RandBatchSpatial`: ``RandFlip`` on each axis, ``RandRotate90``, and ``RandAffine`` (rotation, scaling,
  translation) or ``Rand2DElastic`` (the same plus a control-grid deformation) composed into one sampling grid
  per sample; one ``grid_sample`` per batch and key.
* :class:`RandBatchIntensity`: ``RandGaussianNoise``, ``RandScaleIntensity`` and ``RandShiftIntensity``.
* :class:`RandBatchMedianSharpen`: :class:`microseg.transforms.RandMedianSharpen`.
* :class:`RandBatchFlipSliceOrder`: :class:`microseg.transforms.RandFlipSliceOrder`.

:class:`RandBatchSpatial` also stands for ``RandScaleCrop`` + ``Resize`` (``zoom``) and for
:class:`microseg.transforms.RandElasticDisplacement` (``dense_alpha_range``), the GlaS recipe's, and for
:class:`microseg.transforms.RandPiecewiseAffine` (``piecewise_scale_range``), the DSB2018 recipe's.

Only the distributions are MONAI's: the random values differ from those the per-sample transforms would draw.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable
from monai.utils import convert_to_tensor, ensure_tuple_rep

from microseg.transforms.augment import median_sharpen

__all__ = [
    "RandBatchFlipSliceOrder",
    "RandBatchFlipSliceOrderd",
    "RandBatchIntensity",
    "RandBatchIntensityd",
    "RandBatchMedianSharpen",
    "RandBatchMedianSharpend",
    "RandBatchSpatial",
    "RandBatchSpatiald",
]


def _pair(value: float | Sequence[float], name: str) -> tuple[float, float]:
    pair = ensure_tuple_rep(value, 2)
    if len(pair) != 2 or any(float(v) < 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative number or one per axis (H, W), got {value!r}")
    return float(pair[0]), float(pair[1])


def _range(value: Sequence[float], name: str) -> tuple[float, float]:
    if len(value) != 2 or not 0 <= value[0] <= value[1]:
        raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {value!r}")
    return float(value[0]), float(value[1])


def _probability(value: float, name: str) -> float:
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


class RandBatchSpatial(Randomizable):
    """Flips, quarter turns, an affine map and an elastic deformation of each sample of a batch, as one sampling grid.

    Per sample, independently: each axis is flipped with ``flip_prob`` (``RandFlip``); with ``rot90_prob`` the
    sample turns by 1, 2 or 3 quarter turns (``RandRotate90(max_k=3)``); with ``prob`` it is rotated by
    ``U(-rotate_range, rotate_range)`` radians, scaled by ``1 + U(-s, s)`` per axis, shifted by ``U(-t, t)`` pixels
    per axis about the centre (``RandAffine``) and, if ``spacing`` is given, deformed by a displacement field:
    normal offsets of standard deviation ``U(*magnitude_range)`` pixels on control points every ``spacing``
    pixels, interpolated bicubically (``Rand2DElastic``). The output at pixel ``p`` (centred coordinates) samples
    the input at ``M (A (p + d(p)) + t)``, with ``M`` the flips and turns, ``A`` rotation times scaling and ``d``
    the displacement. Without flips, turns or deformation the grid hits pixel centres (exact for ``nearest``,
    within float rounding, about 1e-5 pixel, for ``bilinear``).

    Two more steps for recipes that use them: with ``zoom_prob`` the sample shows a random ``zoom`` fraction of
    itself enlarged to the full size (``RandScaleCrop(roi_scale=zoom)`` then ``Resize``, applied first), and with
    ``dense_prob`` the displacement also gets a dense field ``alpha * G_sigma * U(-1, 1)`` per axis, ``alpha`` from
    ``dense_alpha_range`` (:class:`~microseg.transforms.RandElasticDisplacement`, imgaug's elastic transformation).
    With ``piecewise_prob`` the displacement also gets a piecewise-bilinear field: a ``piecewise_grid`` of control
    points spanning the sample (corners included) moved by ``N(0, z * size)`` pixels per axis, ``z`` from
    ``piecewise_scale_range`` (:class:`~microseg.transforms.RandPiecewiseAffine`, imgaug's ``PiecewiseAffine``).
    Steps that a recipe runs one after the other with different padding share one ``padding_mode`` here (they
    differ only within a few pixels of the border).

    Args:
        flip_prob: probability of flipping each axis, one value or ``(p_H, p_W)``.
        rot90_prob: probability of a quarter turn (needs square samples).
        prob: probability of the affine map and deformation.
        rotate_range: largest rotation angle in radians.
        scale_range: largest relative scaling, one value or per axis ``(H, W)``.
        translate_range: largest shift in pixels, one value or per axis ``(H, W)``.
        spacing: control point spacing in pixels of the elastic deformation, one value or ``(H, W)``; None: none.
        magnitude_range: ``(low, high)`` of the offsets' standard deviation in pixels (needs ``spacing``).
        zoom_prob: probability of the zoom.
        zoom: fraction of each side kept by the zoom (0 < zoom <= 1).
        dense_prob: probability of the dense displacement field.
        dense_alpha_range: ``(low, high)`` of its strength in pixels.
        dense_sigma: standard deviation in pixels of the Gaussian that smooths it.
        piecewise_prob: probability of the piecewise-bilinear displacement.
        piecewise_scale_range: ``(low, high)`` of ``z``, its standard deviation as a fraction of each side.
        piecewise_grid: control points per axis ``(rows, cols)``, at least 2 each.
        mode: ``"bilinear"`` or ``"nearest"`` interpolation.
        padding_mode: ``"zeros"``, ``"border"`` or ``"reflection"``: values sampled outside the input.

    Shapes: ``(B, C, H, W)`` in, same shape and dtype out (integer inputs need ``mode="nearest"``).
    """

    def __init__(
        self,
        flip_prob: float | Sequence[float] = 0.0,
        rot90_prob: float = 0.0,
        prob: float = 0.0,
        rotate_range: float = 0.0,
        scale_range: float | Sequence[float] = 0.0,
        translate_range: float | Sequence[float] = 0.0,
        spacing: float | Sequence[float] | None = None,
        magnitude_range: Sequence[float] = (0.0, 0.0),
        zoom_prob: float = 0.0,
        zoom: float = 1.0,
        dense_prob: float = 0.0,
        dense_alpha_range: Sequence[float] = (0.0, 0.0),
        dense_sigma: float = 3.0,
        piecewise_prob: float = 0.0,
        piecewise_scale_range: Sequence[float] = (0.0, 0.0),
        piecewise_grid: Sequence[int] = (4, 4),
        mode: str = "bilinear",
        padding_mode: str = "reflection",
    ) -> None:
        flips = _pair(flip_prob, "flip_prob")
        self.flip_prob = (_probability(flips[0], "flip_prob"), _probability(flips[1], "flip_prob"))
        self.rot90_prob, self.prob = _probability(rot90_prob, "rot90_prob"), _probability(prob, "prob")
        self.rotate_range = float(rotate_range)
        self.scale_range, self.translate_range = (
            _pair(scale_range, "scale_range"),
            _pair(translate_range, "translate_range"),
        )
        self.spacing = None if spacing is None else tuple(max(1, round(s)) for s in _pair(spacing, "spacing"))
        self.magnitude_range = _range(magnitude_range, "magnitude_range")
        if not 0 < float(zoom) <= 1:
            raise ValueError(f"zoom must be in (0, 1], the fraction of each side kept, got {zoom!r}")
        self.zoom_prob, self.zoom = _probability(zoom_prob, "zoom_prob"), float(zoom)
        self.dense_prob, self.dense_sigma = _probability(dense_prob, "dense_prob"), float(dense_sigma)
        self.dense_alpha_range = _range(dense_alpha_range, "dense_alpha_range")
        self.piecewise_prob = _probability(piecewise_prob, "piecewise_prob")
        self.piecewise_scale_range = _range(piecewise_scale_range, "piecewise_scale_range")
        self.piecewise_grid = tuple(int(g) for g in piecewise_grid)
        if len(self.piecewise_grid) != 2 or min(self.piecewise_grid) < 2:
            raise ValueError(f"piecewise_grid must be two control point counts, each at least 2, got {piecewise_grid}")
        self.mode, self.padding_mode = mode, padding_mode
        self.params: dict[str, np.ndarray] = {}

    def randomize(self, batch_size: int, spatial_size: Sequence[int]) -> None:
        """Draw every sample's flips, turns, affine map and control point offsets."""
        if self.rot90_prob > 0 and spatial_size[0] != spatial_size[1]:
            raise ValueError(f"quarter turns need square samples, got {tuple(spatial_size)}; set rot90_prob to 0")
        n = batch_size
        flips = self.R.random_sample((n, 2)) < np.asarray(self.flip_prob)
        turns = np.where(self.R.random_sample(n) < self.rot90_prob, self.R.randint(3, size=n) + 1, 0)
        moved = self.R.random_sample(n) < self.prob
        angle = self.R.uniform(-self.rotate_range, self.rotate_range, n) * moved
        scale = 1 + self.R.uniform(-1, 1, (n, 2)) * np.asarray(self.scale_range) * moved[:, None]
        shift = self.R.uniform(-1, 1, (n, 2)) * np.asarray(self.translate_range) * moved[:, None]
        zoomed = self.R.random_sample(n) < self.zoom_prob
        zoom = np.where(zoomed, self.zoom, 1.0)
        # the kept window's centre, uniform over the positions that keep it inside the sample
        half = (np.asarray(spatial_size, dtype=float) - 1) / 2
        centre = self.R.uniform(-1, 1, (n, 2)) * (1 - zoom[:, None]) * half
        dense = (self.R.random_sample(n) < self.dense_prob) * self.R.uniform(*self.dense_alpha_range, n)
        self.params = {
            "flips": flips,
            "turns": turns,
            "angle": angle,
            "scale": scale,
            "shift": shift,
            "zoom": zoom,
            "centre": centre,
            "dense": dense,
            "seed": int(self.R.randint(2**31 - 1)),
        }
        if self.spacing is not None:
            grid = [math.ceil((s - 1) / g) + 3 for s, g in zip(spatial_size, self.spacing, strict=True)]
            magnitude = self.R.uniform(*self.magnitude_range, n) * moved
            offsets = self.R.standard_normal((n, 2, *grid)) * magnitude[:, None, None, None]
            self.params["offsets"] = offsets.astype(np.float32)
        if self.piecewise_prob > 0:  # drawn only when used, so that other recipes keep their random streams
            z = (self.R.random_sample(n) < self.piecewise_prob) * self.R.uniform(*self.piecewise_scale_range, n)
            points = self.R.standard_normal((n, 2, *self.piecewise_grid)) * z[:, None, None, None]
            self.params["piecewise"] = (points * np.asarray(spatial_size, dtype=float)[None, :, None, None]).astype(
                np.float32
            )

    def _matrices(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 2, 2)`` matrices ``z M A`` (zoom times flips and turns times rotation and scaling) and ``(B, 2)``
        shifts ``z M t + c`` (``c``: the zoom window's centre), in ``(y, x)`` pixel coordinates."""
        p = self.params
        cos, sin = np.cos(p["angle"]), np.sin(p["angle"])
        affine = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2) * p["scale"][:, None, :]
        turn = np.array([[0.0, 1.0], [-1.0, 0.0]])  # out(y, x) = in(x, -y): torch.rot90(k=1, dims=(-2, -1))
        flips = [
            np.diag(np.where(f, -1.0, 1.0)) @ np.linalg.matrix_power(turn, int(k))
            for f, k in zip(p["flips"], p["turns"], strict=True)
        ]
        m = np.stack(flips)
        zoom = p["zoom"][:, None, None]
        matrix = zoom * (m @ affine)
        shift = zoom[:, :, 0] * np.einsum("bij,bj->bi", m, p["shift"]) + p["centre"]
        return (
            torch.as_tensor(matrix, dtype=torch.float32, device=device),
            torch.as_tensor(shift, dtype=torch.float32, device=device),
        )

    def _displacement(self, spatial_size: Sequence[int], device: torch.device) -> torch.Tensor | None:
        """``(B, H, W, 2)`` displacement in ``(y, x)`` pixels, or None without deformation."""
        fields = []
        if self.spacing is not None and self.params["offsets"].any():
            offsets = torch.as_tensor(self.params["offsets"], device=device)
            size = [(g - 1) * s + 1 for g, s in zip(offsets.shape[2:], self.spacing, strict=True)]
            coarse = F.interpolate(offsets, size=size, mode="bicubic", align_corners=True)
            (h, w), (sh, sw) = spatial_size, self.spacing
            fields.append(coarse[:, :, sh : sh + h, sw : sw + w])
        if self.params["dense"].any():
            fields.append(self._dense_field(spatial_size, device))
        if "piecewise" in self.params and self.params["piecewise"].any():
            points = torch.as_tensor(self.params["piecewise"], device=device)
            fields.append(F.interpolate(points, size=tuple(spatial_size), mode="bilinear", align_corners=True))
        return sum(fields).permute(0, 2, 3, 1) if fields else None

    def _dense_field(self, spatial_size: Sequence[int], device: torch.device) -> torch.Tensor:
        """``(B, 2, H, W)``: ``alpha * G_sigma * U(-1, 1)`` per axis, the Gaussian truncated at 4 sigma with zeros
        outside the sample (SciPy's ``gaussian_filter(mode="constant")``), drawn on ``device``."""
        generator = torch.Generator(device=device).manual_seed(self.params["seed"])
        n = len(self.params["dense"])
        noise = torch.rand((n * 2, 1, *spatial_size), generator=generator, device=device) * 2 - 1
        radius = int(4 * self.dense_sigma + 0.5)
        taps = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
        kernel = torch.exp(-0.5 * (taps / self.dense_sigma) ** 2)
        kernel = kernel / kernel.sum()
        smooth = F.conv2d(noise, kernel.view(1, 1, -1, 1), padding=(radius, 0))
        smooth = F.conv2d(smooth, kernel.view(1, 1, 1, -1), padding=(0, radius))
        alpha = torch.as_tensor(self.params["dense"], dtype=torch.float32, device=device)
        return smooth.view(n, 2, *spatial_size) * alpha.view(n, 1, 1, 1)

    def grid(self, spatial_size: Sequence[int], device: torch.device) -> torch.Tensor:
        """The ``(B, H, W, 2)`` sampling grid of the drawn parameters, ``(x, y)`` in ``[-1, 1]`` as ``grid_sample``
        takes it (``align_corners=True``)."""
        h, w = (int(s) for s in spatial_size)
        half = torch.tensor([(h - 1) / 2, (w - 1) / 2], device=device).clamp_min(0.5)
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        points = torch.stack([ys, xs], -1).float() - half  # (H, W, 2) centred (y, x)
        displacement = self._displacement((h, w), device)
        points = points.expand(len(self.params["turns"]), h, w, 2) if displacement is None else points + displacement
        matrix, shift = self._matrices(device)
        source = torch.einsum("bij,bhwj->bhwi", matrix, points) + shift[:, None, None, :]
        return (source / half).flip(-1)

    def __call__(
        self, img: torch.Tensor, mode: str | None = None, randomize: bool = True, grid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Args:
        img: ``(B, C, H, W)``.
        mode: interpolation of this call (default ``self.mode``).
        randomize: draw new parameters (False: reuse the last ones, e.g. for the label of the same batch).
        grid: a grid from :meth:`grid` to reuse.
        """
        img = convert_to_tensor(img, track_meta=False)
        if img.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) batch, got shape {tuple(img.shape)}")
        if randomize:
            self.randomize(img.shape[0], img.shape[-2:])
        grid = self.grid(img.shape[-2:], img.device) if grid is None else grid
        mode = mode or self.mode
        if not img.is_floating_point() and mode != "nearest":
            raise ValueError(f"integer input ({img.dtype}) needs mode 'nearest', got {mode!r}")
        out = F.grid_sample(img.float(), grid, mode=mode, padding_mode=self.padding_mode, align_corners=True)
        return out.to(img.dtype)


class _BatchDictionary(Randomizable, MapTransform):
    """A dictionary transform around one batched array transform ``self.transform``, seeded with it."""

    def __init__(self, keys: KeysCollection, transform: Randomizable, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        self.transform = transform

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.transform.set_random_state(seed, state)
        return self

    def randomize(self, *args) -> None:
        """Draw the wrapped transform's parameters (its ``randomize`` arguments)."""
        self.transform.randomize(*args)

    def batch_size(self, data: Mapping[Hashable, torch.Tensor]) -> int:
        return convert_to_tensor(data[self.first_key(data)], track_meta=False).shape[0]

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        """One draw per sample, shared by all ``keys``."""
        d = dict(data)
        self.randomize(self.batch_size(d))
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key], randomize=False)
        return d


class RandBatchSpatiald(_BatchDictionary):
    """Dictionary version of :class:`RandBatchSpatial`: one grid per sample for all ``keys``, with one ``mode``
    per key (e.g. ``("bilinear", "nearest")`` for image and label)."""

    def __init__(
        self,
        keys: KeysCollection,
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(keys, RandBatchSpatial(**kwargs), allow_missing_keys)
        self.mode = ensure_tuple_rep(mode, len(self.keys))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        first = convert_to_tensor(d[self.first_key(d)], track_meta=False)
        self.randomize(first.shape[0], first.shape[-2:])
        grid = self.transform.grid(first.shape[-2:], first.device)
        for key, mode in self.key_iterator(d, self.mode):
            d[key] = self.transform(d[key], mode=mode, randomize=False, grid=grid)
        return d


class RandBatchIntensity(Randomizable):
    """Gaussian noise, intensity scaling and shifting of each sample of a batch, in that order.

    Per sample, independently: with ``noise_prob``, noise of standard deviation ``U(0, noise_std)`` is added
    (``RandGaussianNoise``); with ``scale_prob`` the sample is multiplied by ``1 + U(-scale_factor, scale_factor)``
    (``RandScaleIntensity``); with ``shift_prob``, ``U(-shift_offset, shift_offset)`` is added
    (``RandShiftIntensity``). The noise is drawn on the batch's device from a generator seeded by this transform's
    random state.

    Shapes: ``(B, C, *spatial)`` floating point in, same shape out.
    """

    def __init__(
        self,
        noise_prob: float = 0.0,
        noise_std: float = 0.1,
        scale_prob: float = 0.0,
        scale_factor: float = 0.1,
        shift_prob: float = 0.0,
        shift_offset: float = 0.1,
    ) -> None:
        self.noise_prob, self.scale_prob = (
            _probability(noise_prob, "noise_prob"),
            _probability(scale_prob, "scale_prob"),
        )
        self.shift_prob = _probability(shift_prob, "shift_prob")
        self.noise_std, self.scale_factor, self.shift_offset = (
            float(noise_std),
            float(scale_factor),
            float(shift_offset),
        )
        self.params: dict[str, np.ndarray | int] = {}

    def randomize(self, batch_size: int) -> None:
        n = batch_size
        noise = (self.R.random_sample(n) < self.noise_prob) * self.R.uniform(0, self.noise_std, n)
        scale = 1 + (self.R.random_sample(n) < self.scale_prob) * self.R.uniform(-1, 1, n) * self.scale_factor
        shift = (self.R.random_sample(n) < self.shift_prob) * self.R.uniform(-1, 1, n) * self.shift_offset
        self.params = {"noise": noise, "scale": scale, "shift": shift, "seed": int(self.R.randint(2**31 - 1))}

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        img = convert_to_tensor(img, track_meta=False)
        if not img.is_floating_point():
            raise ValueError(f"intensity augmentation needs a floating point batch, got {img.dtype}")
        if randomize:
            self.randomize(img.shape[0])
        p = self.params
        shape = (-1,) + (1,) * (img.ndim - 1)

        def per_sample(name: str) -> torch.Tensor:
            return torch.as_tensor(p[name], dtype=img.dtype, device=img.device).reshape(shape)

        out = img
        if np.any(p["noise"]):
            generator = torch.Generator(device=img.device).manual_seed(p["seed"])
            noise = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
            out = out + noise * per_sample("noise")
        return out * per_sample("scale") + per_sample("shift")


class RandBatchIntensityd(_BatchDictionary):
    """Dictionary version of :class:`RandBatchIntensity` (each key gets its own draws)."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, RandBatchIntensity(**kwargs), allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.transform(d[key])
        return d


class RandBatchMedianSharpen(Randomizable):
    """:class:`microseg.transforms.RandMedianSharpen` for each sample of a batch: with ``prob``, a 3x3 median blur
    then sharpening alpha-blended with the blurred image, ``alpha`` and ``lightness`` drawn per sample; the other
    samples are returned unchanged.

    Both compute :func:`microseg.transforms.augment.median_sharpen`; here one pass over the samples drawn serves
    each one's own ``a`` and ``L``.

    Shapes: ``(B, C, H, W)`` floating point in (each channel filtered separately), same shape out.
    """

    def __init__(
        self,
        alpha_range: Sequence[float] = (0.0, 1.0),
        lightness_range: Sequence[float] = (0.75, 1.5),
        prob: float = 0.2,
    ) -> None:
        self.alpha_range = (float(alpha_range[0]), float(alpha_range[1]))
        self.lightness_range = (float(lightness_range[0]), float(lightness_range[1]))
        self.prob = _probability(prob, "prob")
        self.params: dict[str, np.ndarray] = {}

    def randomize(self, batch_size: int) -> None:
        n = batch_size
        self.params = {
            "applied": self.R.random_sample(n) < self.prob,
            "alpha": self.R.uniform(*self.alpha_range, n),
            "lightness": self.R.uniform(*self.lightness_range, n),
        }

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        img = convert_to_tensor(img, track_meta=False)
        if not img.is_floating_point() or img.ndim != 4:
            raise ValueError(f"expected a floating point (B, C, H, W) batch, got {img.dtype} {tuple(img.shape)}")
        if randomize:
            self.randomize(img.shape[0])
        p = self.params
        if not p["applied"].any():
            return img
        chosen = np.flatnonzero(p["applied"])  # only the samples drawn are filtered
        n, c, h, w = len(chosen), *img.shape[1:]
        index = torch.as_tensor(chosen, device=img.device)

        def per_plane(name: str) -> torch.Tensor:
            values = torch.as_tensor(p[name][chosen], dtype=torch.float32, device=img.device)
            return values.repeat_interleave(c)[:, None, None]

        planes = img[index].float().reshape(n * c, h, w)
        sharpened = median_sharpen(planes, per_plane("alpha"), per_plane("lightness")).reshape(n, c, h, w)
        return img.index_copy(0, index, sharpened.to(img.dtype))


class RandBatchMedianSharpend(_BatchDictionary):
    """Dictionary version of :class:`RandBatchMedianSharpen` (one draw per sample for all ``keys``)."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, RandBatchMedianSharpen(**kwargs), allow_missing_keys)


class RandBatchFlipSliceOrder(Randomizable):
    """:class:`microseg.transforms.RandFlipSliceOrder` for each sample of a batch: with ``prob``, the order of the
    adjacent slices that a 2.5D network gets as channels is reversed; the other samples are returned unchanged.

    Shapes: ``(B, C, *spatial)`` in, same shape out.
    """

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = _probability(prob, "prob")
        self.params: dict[str, np.ndarray] = {}

    def randomize(self, batch_size: int) -> None:
        self.params = {"flipped": self.R.random_sample(batch_size) < self.prob}

    def __call__(self, img: torch.Tensor, randomize: bool = True) -> torch.Tensor:
        img = convert_to_tensor(img, track_meta=False)
        if img.ndim < 3:
            raise ValueError(f"expected a (B, C, *spatial) batch, got shape {tuple(img.shape)}")
        if randomize:
            self.randomize(img.shape[0])
        flipped = self.params["flipped"]
        if not flipped.any():
            return img
        chosen = torch.as_tensor(flipped, device=img.device).view(-1, *(1,) * (img.ndim - 1))
        return torch.where(chosen, img.flip(1), img)


class RandBatchFlipSliceOrderd(_BatchDictionary):
    """Dictionary version of :class:`RandBatchFlipSliceOrder` (one draw per sample for all ``keys``; a one-slice
    label is unchanged by it)."""

    def __init__(self, keys: KeysCollection, allow_missing_keys: bool = False, **kwargs) -> None:
        super().__init__(keys, RandBatchFlipSliceOrder(**kwargs), allow_missing_keys)
