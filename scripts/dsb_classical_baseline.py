#!/usr/bin/env python
"""The classical baseline of the DSB 2018 bundle's card: Otsu threshold + distance-transform watershed, no network.

The seed project's baseline, on the bundle's own image preprocessing (``image_transforms`` of its ``train.json``:
grey, percentile scaling, bright backgrounds inverted): Otsu threshold of each image, holes filled, touching nuclei
split by a watershed of the smoothed distance transform from its h-maxima (``--split_min_depth``, ``--split_sigma``),
objects smaller than ``--min_object_size`` pixels removed. Scored like ``microseg evaluate`` (Kaggle AP and the other
:data:`microseg.metrics.INSTANCE_METRICS`) on the bundle's validation images (``dsb2018_validation_ids``) or the
named ones.

    python scripts/dsb_classical_baseline.py --dataset_dir ../shared/data/dsb2018/stage1_train
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger("dsb_classical_baseline")


def classical_instances(image: np.ndarray, min_depth: float, sigma: float, min_size: int) -> np.ndarray:
    """Instance labels of one preprocessed grey image ``(H, W)`` (nuclei bright): Otsu, holes filled, neck split,
    small objects removed."""
    from scipy import ndimage

    from microseg.ops.labels import otsu_threshold, relabel, split_touching_objects

    mask = ndimage.binary_fill_holes(otsu_threshold(image) > 0)
    labels = split_touching_objects(mask, min_depth, sigma)
    sizes = np.bincount(labels.ravel())
    labels[sizes[labels] < min_size] = 0
    return relabel(labels)[0]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", type=Path, required=True, help="a DSB 2018 stage1_train-style folder")
    parser.add_argument("--bundle", default="dsb2018_nuclei_segmentation")
    parser.add_argument("--names", nargs="*", default=None, help="image ids (default: the bundle's validation ids)")
    parser.add_argument("--split_min_depth", type=float, default=2.0)
    parser.add_argument("--split_sigma", type=float, default=1.0)
    parser.add_argument("--min_object_size", type=int, default=11)
    parser.add_argument("--json", type=Path, default=None, help="write the scores to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from monai.transforms import Compose

    from microseg.bundle import load_parser
    from microseg.data import dsb2018_validation_ids, list_dsb2018
    from microseg.io.load import read_instance_masks
    from microseg.metrics import instance_scores, kaggle_ap, matching_counts

    names = args.names or dsb2018_validation_ids(args.dataset_dir)
    preprocess = Compose(load_parser(args.bundle, "train.json").get_parsed_content("image_transforms"))
    counts, per_image = [], {}
    for item in list_dsb2018(args.dataset_dir, include=names):
        image = np.asarray(preprocess({"image": item["image"]})["image"])[0]
        pred = classical_instances(image, args.split_min_depth, args.split_sigma, args.min_object_size)
        true = read_instance_masks(item["label"]).array
        counts.append(matching_counts(true, pred))
        per_image[item["name"]] = kaggle_ap(true, pred)
    scores = instance_scores(np.stack(counts)) | {"images": len(counts), "per_image_kaggle_ap": per_image}
    logger.info("%d images: %s", len(counts), {k: round(v, 4) for k, v in scores.items() if isinstance(v, float)})
    if args.json is not None:
        args.json.write_text(json.dumps(scores, indent=2) + "\n")
    return scores


if __name__ == "__main__":
    main()
