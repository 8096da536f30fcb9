#!/usr/bin/env python
"""F1 of any bundle model with 0 %, 5 % and 10 % of the pixels replaced by salt-and-pepper noise.

The noise replaces a random ``p`` of the pixels of the input slices (and their context slices) by the stack's
minimum or maximum, half each (seed 0); the bundle then runs as ``microseg segment`` runs it (test-time augmentation
included) and precision, recall and F1 (pooled over the slices, and mean per slice) are computed at the model's
stored threshold (``--threshold`` to choose another).

    python scripts/eval_robustness.py sbem_organelle_segmentation \\
        --image ../shared/data/cdeep3m_mito/training/images --label ../shared/data/cdeep3m_mito/training/labels \\
        --slices 16 20 --set variant=multiresunet
    python scripts/eval_robustness.py fibsem_mitochondria_segmentation --image ../shared/data/lucchi/training.tif \\
        --label ../shared/data/lucchi/training_groundtruth.tif --slices 132 142
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_thresholds import add_scan_arguments, parse_overrides, scan_from_arguments

logger = logging.getLogger("eval_robustness")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scan_arguments(parser)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.05, 0.10], help="noise fractions")
    parser.add_argument("--threshold", type=float, help="probability threshold (default: the bundle's)")
    parser.add_argument("--json", help="also write the table to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from microseg.bundle import load_parser

    overrides = parse_overrides(args.set)
    config = load_parser(args.bundle, args.configs, **overrides)
    threshold = args.threshold if args.threshold is not None else float(config.get_parsed_content("threshold"))
    rows = []
    for noise in args.noise:
        scan = scan_from_arguments(args, overrides, noise)
        rows.append({"noise": noise, **scan.aggregate(threshold)})
    print(f"{'noise':>6s} {'threshold':>9s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'F1/slice':>8s}")
    for row in rows:
        print(
            f"{row['noise']:6.0%} {row['threshold']:9.4f} {row['precision']:9.4f} {row['recall']:7.4f} "
            f"{row['f1']:7.4f} {row['f1_per_image']:8.4f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"overrides": overrides, "slices": args.slices, "rows": rows}, indent=2))
    return rows


if __name__ == "__main__":
    main()
