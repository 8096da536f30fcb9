"""Synthetic TEM-like images of cells with a nucleus, and their nucleus masks.

No labelled TEM nucleus data set is available to this project: these images stand in for one in the tests, in the
learning-curve study of the TEM nuclei bundle and for anyone who wants to try that bundle before labelling their own
images. They mimic what makes the task hard, not the biology: a light resin background; a polygonal cell of grey,
granular cytoplasm with dark granules that look like small nuclei; a nucleus of varied shape (a lobed ellipse),
size, position and contrast, darker than the cytoplasm, with dark heterochromatin clumps at its rim and a nucleolus;
uneven illumination, blur and noise. Weights trained on them are no model of real TEM nuclei.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from scipy import ndimage

from microseg.io.paths import TIFF_SUFFIXES
from microseg.io.writers import write_png, write_tiff

__all__ = ["synthetic_tem_cell", "write_synthetic_tem"]


def _lobed_shape(
    yy: np.ndarray, xx: np.ndarray, centre: tuple[float, float], radius: float, rng: np.random.Generator, lobes: float
) -> np.ndarray:
    """Mask of a star-shaped region ``r(theta) = radius * (1 + sum_k a_k cos(k theta + phi_k))``, elongated and
    turned at random; ``lobes`` scales the Fourier amplitudes (0 gives an ellipse)."""
    angle, elongation = rng.uniform(0, np.pi), rng.uniform(1.0, 1.6)
    dy, dx = yy - centre[0], xx - centre[1]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / elongation
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    theta, r = np.arctan2(v, u), np.hypot(u, v)
    boundary = np.ones_like(theta)
    for k in range(2, 6):
        boundary += lobes * rng.uniform(0, 0.25 / k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    return r <= radius * boundary


def _texture(shape: tuple[int, int], rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Smooth random texture with zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / (field.std() + 1e-8)


def synthetic_tem_cell(size: int | tuple[int, int] = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One TEM-like image of a cell with its nucleus.

    Args:
        size: image side, or ``(height, width)``.
        seed: random seed; one seed always gives the same image.

    Returns:
        ``(image, mask)``: a uint8 greyscale image ``(H, W)`` (dark = electron-dense) and the nucleus mask ``(H, W)``
        with values 0 and 255.
    """
    rng = np.random.default_rng(seed)
    height, width = (size, size) if isinstance(size, int) else size
    scale = min(height, width)
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    cell_centre = (height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6))
    cell = _lobed_shape(yy, xx, cell_centre, scale * rng.uniform(0.3, 0.42), rng, lobes=2.0)
    nucleus_radius = scale * rng.uniform(0.07, 0.16)
    offset = rng.uniform(-0.5, 0.5, 2) * scale * 0.15
    nucleus = _lobed_shape(yy, xx, tuple(np.add(cell_centre, offset)), nucleus_radius, rng, lobes=rng.uniform(0, 1.5))
    nucleus &= ndimage.binary_erosion(cell, iterations=3)

    background, cytoplasm = rng.uniform(180, 225), rng.uniform(120, 170)
    contrast = rng.uniform(15, 60)  # how much darker the nucleus is: low values are the hard cases
    image = np.full((height, width), background)
    image[cell] = cytoplasm + 12 * _texture((height, width), rng, 1.5)[cell]
    membrane = cell ^ ndimage.binary_erosion(cell, iterations=2)
    image[membrane] -= rng.uniform(30, 70)

    granules = np.zeros((height, width), dtype=bool)
    for _ in range(rng.integers(3, 15)):  # dark cytoplasmic granules: distractors
        centre = (rng.uniform(0, height), rng.uniform(0, width))
        granules |= _lobed_shape(yy, xx, centre, scale * rng.uniform(0.008, 0.03), rng, lobes=1.0)
    granules &= cell & ~ndimage.binary_dilation(nucleus, iterations=3)
    image[granules] -= rng.uniform(0.8, 1.6) * contrast

    rim = nucleus & ~ndimage.binary_erosion(nucleus, iterations=max(2, int(nucleus_radius * 0.15)))
    clumps = (_texture((height, width), rng, 2.5) > 0.6) & nucleus
    image[nucleus] = cytoplasm - contrast + 10 * _texture((height, width), rng, 1.0)[nucleus]
    image[rim | clumps] -= rng.uniform(10, 35)
    nucleolus = _lobed_shape(yy, xx, tuple(np.add(cell_centre, offset)), nucleus_radius * 0.25, rng, lobes=0.5)
    image[nucleolus & nucleus] -= rng.uniform(10, 30)

    gradient = (yy / height - 0.5) * rng.uniform(-30, 30) + (xx / width - 0.5) * rng.uniform(-30, 30)
    image = ndimage.gaussian_filter(image + gradient, rng.uniform(0.6, 1.5))
    image += rng.uniform(4, 14) * rng.standard_normal(image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return image, nucleus.astype(np.uint8) * 255


def write_synthetic_tem(
    folder: str | os.PathLike, count: int, size: int = 256, seed: int = 0, suffix: str = ".png"
) -> Path:
    """Write ``count`` synthetic TEM cells as ``folder/images/cell_<i>.<suffix>`` with ``folder/masks/cell_<i>.png``
    (0/255), the layout of :func:`microseg.data.list_image_label_pairs`. Image ``i`` uses seed ``seed + i``; every
    file is written atomically.

    Returns:
        ``folder``.

    Raises:
        ValueError: ``suffix`` is not ``.png``, ``.tif`` or ``.tiff``.
    """
    if suffix.lower() not in (".png", *TIFF_SUFFIXES):
        raise ValueError(f"suffix must be .png, .tif or .tiff, got {suffix!r}")
    write_image = write_png if suffix.lower() == ".png" else write_tiff
    root = Path(folder)
    digits = len(str(max(count - 1, 1)))
    for i in range(count):
        image, mask = synthetic_tem_cell(size, seed + i)
        name = f"cell_{i:0{digits}d}"
        write_image(root / "images" / f"{name}{suffix}", image)
        write_png(root / "masks" / f"{name}.png", mask)
    return root
