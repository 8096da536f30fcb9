#!/usr/bin/env python
"""ISBI 2012 challenge scores (V_rand, V_info; :mod:`microseg.metrics.rand_info`) of a membrane model on labelled
slices of a stack.

Runs the bundle as ``microseg segment`` does (``--set key=value`` overrides, e.g. the SBEM bundle's
``target=membrane``), thresholds the membrane probability at the model's stored threshold (or ``--threshold``),
takes the cells as the 4-connected regions between membranes, and scores them against the cells of the label stack
(its non-zero regions; the ISBI 2012 labels are 255 inside cells, 0 on membranes). Prints the per-slice scores and
their mean; ``--json FILE`` writes them.

    python scripts/eval_membrane_scores.py sbem_organelle_segmentation \\
        --image ../shared/data/isbi2012/train-volume.tif --label ../shared/data/isbi2012/train-labels.tif \\
        --slices 25 30 --set target=membrane variant=deepem3d_1fm
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_thresholds import parse_overrides

logger = logging.getLogger("eval_membrane_scores")


def cells(membrane: np.ndarray) -> np.ndarray:
    """The 4-connected regions between membranes of one slice, labelled 1..N (membranes 0)."""
    labels, _ = ndimage.label(~membrane.astype(bool))
    return labels


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--image", required=True, help="the image stack (TIFF, HDF5, folder of slices)")
    parser.add_argument("--label", required=True, help="its label stack: non-zero inside cells, 0 on membranes")
    parser.add_argument("--slices", type=int, nargs=2, required=True, metavar=("START", "STOP"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="bundle config overrides")
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's stored threshold")
    parser.add_argument("--json", type=Path, default=None, help="write the scores to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from microseg.bundle import models_dir, stored_threshold
    from microseg.evaluation import bundle_probabilities
    from microseg.io.load import read_image
    from microseg.metrics import rand_info_stack

    overrides = parse_overrides(args.set)
    volume, truth = read_image(args.image).array, read_image(args.label).array
    start, stop = args.slices
    threshold = args.threshold if args.threshold is not None else stored_threshold(models_dir(args.bundle, **overrides))
    probability = bundle_probabilities(args.bundle, volume[start:stop], **overrides)
    predicted = np.stack([cells(p >= threshold) for p in probability])
    true = np.stack([ndimage.label(t > 0)[0] for t in truth[start:stop]])
    result = rand_info_stack(predicted, true)
    result |= {"threshold": threshold, "slices": [start, stop], "bundle": args.bundle, "overrides": overrides}
    for z, row in zip(range(start, stop), result["per_slice"], strict=True):
        logger.info("slice %d: %s", z, "  ".join(f"{k} {v:.4f}" for k, v in row.items()))
    logger.info(
        "mean over slices %d-%d (threshold %.3f): V_rand %.4f (split %.4f, merge %.4f), V_info %.4f "
        "(split %.4f, merge %.4f)",
        start,
        stop - 1,
        threshold,
        result["v_rand"],
        result["v_rand_split"],
        result["v_rand_merge"],
        result["v_info"],
        result["v_info_split"],
        result["v_info_merge"],
    )
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
