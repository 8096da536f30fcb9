"""Scoring a bundle's probability maps on labelled slices of a stack: threshold tuning and robustness to noise.

The bundle runs exactly as ``microseg segment`` runs it (its ``inference.json``, plus any override config and
overrides), on the chosen slices and the slices around them that its network reads (3- and 5-slice networks see
their real neighbours),
with its probabilities saved; only the chosen slices are scored (:class:`microseg.metrics.ThresholdScan`).
Used by ``scripts/tune_thresholds.py`` and ``scripts/eval_robustness.py``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from microseg.errors import MicrosegInputError
from microseg.io.load import read_image
from microseg.metrics.threshold import ThresholdScan

__all__ = ["bundle_probabilities", "salt_and_pepper", "scan_bundle", "write_thresholds"]

logger = logging.getLogger(__name__)


def _stack(path: str | os.PathLike) -> np.ndarray:
    loaded = read_image(path)
    array = loaded.array
    if loaded.channel_last or array.ndim not in (2, 3):
        raise MicrosegInputError(f"{path}: expected a greyscale image or stack (Z, H, W), got shape {array.shape}.")
    return array[None] if array.ndim == 2 else array


def salt_and_pepper(image: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """A copy of ``image`` with ``fraction`` of its pixels replaced by its minimum ("pepper") or maximum ("salt"),
    half each, chosen uniformly at random (``seed``). Shapes: any in, same out, same dtype."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    rng = np.random.default_rng(seed)
    noisy = image.copy()
    hit = rng.random(image.shape) < fraction
    salt = rng.random(image.shape) < 0.5
    noisy[hit & salt], noisy[hit & ~salt] = image.max(), image.min()
    return noisy


def bundle_probabilities(
    bundle: str | os.PathLike,
    image: np.ndarray,
    configs: Sequence[str] = ("inference.json",),
    trust_bundle: bool = False,
    **overrides,
) -> np.ndarray:
    """The bundle's foreground probabilities of a stack ``(Z, H, W)`` (float32, same shape), computed by running the
    bundle on it with ``save_probabilities`` on, in a temporary folder."""
    import tifffile

    from microseg.cli import run_bundle

    with tempfile.TemporaryDirectory(prefix="microseg_eval_") as folder:
        source = Path(folder) / "stack.tif"
        tifffile.imwrite(source, image)
        output = Path(folder) / "out"
        run_bundle(
            bundle,
            list(configs),
            trust_bundle,
            dataset_dir=str(source),
            output_dir=str(output),
            save_probabilities=True,
            skip_existing=False,
            **overrides,
        )
        result = tifffile.imread(output / "stack_prob.tif")
    return np.asarray(result, np.float32).reshape(image.shape)


def scan_bundle(
    bundle: str | os.PathLike,
    image: str | os.PathLike,
    label: str | os.PathLike,
    slices: Sequence[int],
    configs: Sequence[str] = ("inference.json",),
    noise: float = 0.0,
    invert_label: bool = False,
    trust_bundle: bool = False,
    **overrides,
) -> ThresholdScan:
    """Run the bundle on slices ``[start, stop)`` of ``image`` (with the neighbours its network reads as context,
    ``context_slices // 2`` each side, and ``noise`` salt-and-pepper) and count TP/FP/FN of every threshold against
    ``label`` on those slices.

    Args:
        bundle: bundle name or folder.
        image, label: stacks (TIFF, HDF5, folder of slices) of one shape; the label binary (non-zero = object, or
            zero = object with ``invert_label``).
        slices: ``(start, stop)`` of the scored slices.
        configs: the bundle's config files (e.g. ``["inference.json", "inference_ensemble.json"]``).
        noise: fraction of pixels replaced by salt-and-pepper noise (0: none).
        overrides: config overrides (``variant``, ``target``, ``tta``...).
    """
    volume, truth = _stack(image), _stack(label)
    if volume.shape != truth.shape:
        raise MicrosegInputError(f"{image} and {label} differ in shape: {volume.shape} vs {truth.shape}.")
    start, stop = (int(s) for s in slices)
    if not 0 <= start < stop <= volume.shape[0]:
        raise MicrosegInputError(f"slices [{start}, {stop}) do not fit a stack of {volume.shape[0]} slices.")
    from microseg.bundle import load_parser

    parser = load_parser(bundle, list(configs), **overrides)
    margin = int(parser.get_parsed_content("context_slices")) // 2 if "context_slices" in parser else 0
    first, last = max(start - margin, 0), min(stop + margin, volume.shape[0])
    part = salt_and_pepper(volume[first:last], noise) if noise else volume[first:last]
    probability = bundle_probabilities(bundle, part, configs, trust_bundle, **overrides)
    scan = ThresholdScan()
    for z in range(start, stop):
        target = truth[z] == 0 if invert_label else truth[z] > 0
        scan.add(probability[z - first], target)
    return scan


def write_thresholds(folder: str | os.PathLike, result: dict, provenance: dict) -> Path:
    """Write ``thresholds.json`` (read by :func:`microseg.bundle.stored_threshold`) into ``folder``."""
    from microseg.bundle import THRESHOLDS_FILE

    path = Path(folder) / THRESHOLDS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**result, **provenance}, indent=2) + "\n")
    logger.info("wrote %s: threshold %.4f (F1 %.4f)", path, result["threshold"], result["f1"])
    return path
