"""Choose the instance post-processing of a GlaS-style bundle on images that are not the validation split.

Binary head (the default): reads probability maps written by a bundle's inference (``--save_probabilities true``,
``<name>_prob.tif``) and runs the post-processing chain (threshold, hole filling, small-object removal,
touching-object splitting) over a grid of parameters.

Three-class head (``--head three_class --bundle DIR``): predicts the class probabilities of the named images with the
bundle's own preprocessing, inferer and weights, then runs the seeded watershed chain (``ClassWatershed`` with
``mask_threshold``, ``seed_threshold``, ``min_seed_size``, instance hole filling, small-object removal) over a grid.

Prints the GlaS scores of each setting, best object F1 first.

    python scripts/tune_glas_postprocessing.py --probabilities out/ --dataset_dir data/glas \
        --min_object_size 0 300 1000 3000 --split_min_depth 0 4 8 16
    python scripts/tune_glas_postprocessing.py --head three_class --bundle bundles/he_gland_segmentation \
        --dataset_dir data/glas --names train_1 train_11 --seed_threshold 0.5 0.7 --min_seed_size 50 200
"""

from __future__ import annotations

import argparse
import itertools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tifffile
import torch
from monai.transforms import FillHoles, RemoveSmallObjects

from microseg.data import list_glas
from microseg.metrics import glas_image_stats, glas_scores
from microseg.transforms import ClassWatershed, FillInstanceHoles, LabelInstances, SplitTouchingObjects

logger = logging.getLogger("tune_glas_postprocessing")
TUNING_NAMES = [f"train_{n}" for n in range(1, 82, 10)]  # 9 training images beside the validation split


def _binary_labels(probability: np.ndarray, threshold: float, min_size: int, depth: float, sigma: float) -> np.ndarray:
    mask = torch.from_numpy(probability >= threshold)[None].to(torch.uint8)
    mask = FillHoles()(mask)
    if min_size > 0:
        mask = RemoveSmallObjects(min_size=min_size, connectivity=1)(mask)
    return np.asarray(SplitTouchingObjects(depth, sigma)(mask))[0]


def _class_labels(classes: np.ndarray, mask: float, seed: float, min_seed: int, min_size: int) -> np.ndarray:
    labels = FillInstanceHoles()(ClassWatershed(mask, seed, min_seed)(torch.from_numpy(classes)))
    if min_size > 0:
        labels = RemoveSmallObjects(min_size=min_size, connectivity=1)(labels)
    return np.asarray(labels)[0]


def _truth(dataset_dir: Path, name: str) -> np.ndarray:
    from PIL import Image

    item = list_glas(dataset_dir, include=[name])[0]
    return LabelInstances()(torch.from_numpy(np.array(Image.open(item["label"])))[None])[0].numpy()


def _class_probabilities(bundle: Path, dataset_dir: Path, names: Sequence[str], **overrides) -> list[np.ndarray]:
    """Softmax class probabilities ``(3, H, W)`` of the named images at their own size, as ``inference.json`` makes
    them (preprocessing, inferer, back end; no post-processing)."""
    from microseg.bundle import load_network, load_parser

    parser = load_parser(bundle, "inference.json", head="three_class", **overrides)
    preprocessing, inferer = parser.get_parsed_content("preprocessing"), parser.get_parsed_content("inferer")
    network = load_network(bundle, head="three_class", **overrides)
    maps = {}
    for item in list_glas(dataset_dir, include=list(names)):
        image = preprocessing({"image": item["image"]})["image"]
        with torch.no_grad():
            maps[item["name"]] = torch.softmax(inferer(image[None], network)[0], 0).numpy()
    return [maps[name] for name in names]


def _grid(pairs: list, labels: Callable, grid: list[tuple], names: str) -> None:
    results = []
    for setting in grid:
        stats = sum(glas_image_stats(labels(p, *setting), truth) for p, truth in pairs)
        results.append((glas_scores(stats), setting))
    results.sort(key=lambda r: -r[0]["object_f1"])
    logger.info("%d images; %s:", len(pairs), names)
    for scores, setting in results:
        logger.info(
            "%s  object F1 %.4f  object Dice %.4f  object Hausdorff %.1f  pixel F1 %.4f",
            setting,
            scores["object_f1"],
            scores["object_dice"],
            scores["object_hausdorff"],
            scores["pixel_f1"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", type=Path, required=True, help="GlaS folder with the annotations")
    parser.add_argument("--head", choices=("binary", "three_class"), default="binary")
    parser.add_argument("--probabilities", type=Path, help="binary head: folder of <name>_prob.tif")
    parser.add_argument("--bundle", type=Path, help="three-class head: the bundle whose weights predict")
    parser.add_argument("--names", nargs="+", default=TUNING_NAMES, help="three-class head: the images to tune on")
    parser.add_argument("--image_size", type=int, default=256, help="three-class head: the bundle's image_size")
    parser.add_argument("--threshold", type=float, nargs="+", default=[0.5])
    parser.add_argument("--min_object_size", type=int, nargs="+", default=[0, 300, 1000, 3000])
    parser.add_argument("--split_min_depth", type=float, nargs="+", default=[0, 4, 8, 16])
    parser.add_argument("--split_sigma", type=float, nargs="+", default=[2.0])
    parser.add_argument("--mask_threshold", type=float, nargs="+", default=[0.5])
    parser.add_argument("--seed_threshold", type=float, nargs="+", default=[0.5, 0.7])
    parser.add_argument("--min_seed_size", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.head == "three_class":
        if args.bundle is None:
            parser.error("--head three_class needs --bundle")
        maps = _class_probabilities(args.bundle, args.dataset_dir, args.names, image_size=args.image_size)
        pairs = list(zip(maps, (_truth(args.dataset_dir, n) for n in args.names), strict=True))
        grid = itertools.product(args.mask_threshold, args.seed_threshold, args.min_seed_size, args.min_object_size)
        _grid(pairs, _class_labels, list(grid), "mask_threshold, seed_threshold, min_seed_size, min_object_size")
        return
    if args.probabilities is None:
        parser.error("the binary head needs --probabilities")
    pairs = []
    for path in sorted(args.probabilities.glob("*_prob.tif")):
        name = path.name[: -len("_prob.tif")]
        pairs.append((tifffile.imread(path).astype(np.float32), _truth(args.dataset_dir, name)))
    if not pairs:
        raise SystemExit(f"no *_prob.tif in {args.probabilities}")
    grid = itertools.product(args.threshold, args.min_object_size, args.split_min_depth, args.split_sigma)
    _grid(pairs, _binary_labels, list(grid), "threshold, min_object_size, split_min_depth, split_sigma")


if __name__ == "__main__":
    main()
