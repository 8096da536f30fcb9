"""Choose the instance post-processing of a GlaS-style bundle on images that are not the validation split.

Reads probability maps written by a bundle's inference (``--save_probabilities true``, ``<name>_prob.tif``) and
the matching annotations of a GlaS folder, runs the bundle's post-processing chain (threshold, hole filling,
small-object removal, touching-object splitting) over a grid of parameters and prints the GlaS scores of each
setting, best object F1 first.

    python scripts/tune_glas_postprocessing.py --probabilities out/ --dataset_dir data/glas \
        --min_object_size 0 300 1000 3000 --split_min_depth 0 4 8 16
"""

from __future__ import annotations

import argparse
import itertools
import logging
from pathlib import Path

import numpy as np
import tifffile
import torch
from monai.transforms import FillHoles, RemoveSmallObjects

from microseg.data import list_glas
from microseg.metrics import glas_image_stats, glas_scores
from microseg.transforms import LabelInstances, SplitTouchingObjects

logger = logging.getLogger("tune_glas_postprocessing")


def _labels(probability: np.ndarray, threshold: float, min_size: int, depth: float, sigma: float) -> np.ndarray:
    mask = torch.from_numpy(probability >= threshold)[None].to(torch.uint8)
    mask = FillHoles()(mask)
    if min_size > 0:
        mask = RemoveSmallObjects(min_size=min_size, connectivity=1)(mask)
    return np.asarray(SplitTouchingObjects(depth, sigma)(mask))[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probabilities", type=Path, required=True, help="folder of <name>_prob.tif")
    parser.add_argument("--dataset_dir", type=Path, required=True, help="GlaS folder with the annotations")
    parser.add_argument("--threshold", type=float, nargs="+", default=[0.5])
    parser.add_argument("--min_object_size", type=int, nargs="+", default=[0, 300, 1000, 3000])
    parser.add_argument("--split_min_depth", type=float, nargs="+", default=[0, 4, 8, 16])
    parser.add_argument("--split_sigma", type=float, nargs="+", default=[2.0])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    pairs = []
    for path in sorted(args.probabilities.glob("*_prob.tif")):
        name = path.name[: -len("_prob.tif")]
        item = list_glas(args.dataset_dir, include=[name])[0]
        label = LabelInstances()(torch.from_numpy(np.asarray(_read_label(item["label"])))[None])[0].numpy()
        pairs.append((tifffile.imread(path).astype(np.float32), label))
    if not pairs:
        raise SystemExit(f"no *_prob.tif in {args.probabilities}")
    results = []
    for setting in itertools.product(args.threshold, args.min_object_size, args.split_min_depth, args.split_sigma):
        stats = sum(glas_image_stats(_labels(p, *setting), label) for p, label in pairs)
        results.append((glas_scores(stats), setting))
    results.sort(key=lambda r: -r[0]["object_f1"])
    logger.info("%d images; threshold, min_object_size, split_min_depth, split_sigma:", len(pairs))
    for scores, setting in results:
        logger.info(
            "%s  object F1 %.4f  object Dice %.4f  object Hausdorff %.1f  pixel F1 %.4f",
            setting,
            scores["object_f1"],
            scores["object_dice"],
            scores["object_hausdorff"],
            scores["pixel_f1"],
        )


def _read_label(path: str) -> np.ndarray:
    from PIL import Image

    return np.array(Image.open(path))


if __name__ == "__main__":
    main()
