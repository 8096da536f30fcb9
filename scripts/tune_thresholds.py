#!/usr/bin/env python
"""Tune a bundle model's probability threshold on labelled validation slices and store it next to its weights.

Runs the bundle exactly as ``microseg segment`` does (its ``inference.json``, plus ``--configs`` override files and
``--set key=value`` overrides, test-time augmentation included), scans the thresholds ``k/255``, picks the one with
the best F1 pooled over the validation slices and prints precision, recall and F1 (pooled and mean per slice) at it.
With ``--write`` it stores ``thresholds.json`` (threshold, scores, split, settings) in the model's weight folder,
which the bundle's ``inference.json`` loads as its default ``threshold``.

    python scripts/tune_thresholds.py sbem_organelle_segmentation \\
        --image ../shared/data/cdeep3m_mito/training/images --label ../shared/data/cdeep3m_mito/training/labels \\
        --slices 16 20 --set variant=deepem3d_3fm --write
    python scripts/tune_thresholds.py sbem_organelle_segmentation --configs inference.json inference_ensemble.json \\
        --image ... --label ... --slices 16 20 --write
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

logger = logging.getLogger("tune_thresholds")


def parse_overrides(items: list[str]) -> dict:
    """``key=value`` pairs, values read as JSON when they parse (numbers, true/false, lists), else as text."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"override {item!r}: use key=value")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def add_scan_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of :func:`microseg.evaluation.scan_bundle` (shared with ``eval_robustness.py``)."""
    parser.add_argument("bundle", help="bundle name or folder")
    parser.add_argument("--image", required=True, help="image stack (TIFF, HDF5, folder of slices)")
    parser.add_argument("--label", required=True, help="binary label stack of the same shape")
    parser.add_argument("--slices", type=int, nargs=2, required=True, metavar=("START", "STOP"))
    parser.add_argument("--invert_label", action="store_true", help="the object is the label's zero value (ISBI)")
    parser.add_argument("--configs", nargs="+", default=["inference.json"], help="the bundle's config files")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--trust_bundle", action="store_true", help="run a bundle from outside the installed ones")


def scan_from_arguments(args: argparse.Namespace, overrides: dict, noise: float = 0.0):
    """:func:`microseg.evaluation.scan_bundle` with the arguments of :func:`add_scan_arguments`."""
    from microseg.evaluation import scan_bundle

    return scan_bundle(
        args.bundle,
        args.image,
        args.label,
        args.slices,
        args.configs,
        noise=noise,
        invert_label=args.invert_label,
        trust_bundle=args.trust_bundle,
        **overrides,
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_scan_arguments(parser)
    parser.add_argument("--write", action="store_true", help="store thresholds.json next to the model's weights")
    parser.add_argument("--json", help="also write the result to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from microseg.bundle import load_parser
    from microseg.evaluation import write_thresholds

    overrides = parse_overrides(args.set)
    scan = scan_from_arguments(args, overrides)
    best = scan.aggregate()
    config = load_parser(args.bundle, args.configs, **overrides)
    provenance = {
        "tuned_on": {"image": args.image, "label": args.label, "slices": list(args.slices)},
        "rule": "probability >= threshold; threshold = k/255 with the best F1 pooled over the slices",
        "tta": config.get_parsed_content("tta") if "tta" in config else None,
        "overrides": overrides,
    }
    print(f"{'threshold':>10s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'F1/slice':>8s}  slices")
    print(
        f"{best['threshold']:10.4f} {best['precision']:9.4f} {best['recall']:7.4f} {best['f1']:7.4f} "
        f"{best['f1_per_image']:8.4f}  {args.slices[0]}-{args.slices[1] - 1} ({best['images']})"
    )
    if args.write:
        write_thresholds(config.get_parsed_content("ckpt_dir"), best, provenance)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({**best, **provenance}, handle, indent=2)
    return best


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
