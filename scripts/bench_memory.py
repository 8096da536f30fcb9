#!/usr/bin/env python
"""Memory under load: segment a folder of many small images in one process and print the process's peak resident
memory after each checkpoint (default: after 100 and after 1,000 images), to show that memory does not grow per
image.

The images are synthetic greyscale TIFFs written to a temporary folder; the bundle runs its own
``configs/inference.json`` (the same code path as ``microseg segment``), with its shipped weights, one process.

    python scripts/bench_memory.py --bundle fibsem_mitochondria_segmentation --count 1000 --size 64

Figures: peak RSS is ``ru_maxrss`` (the high-water mark of the process since it started, so it includes loading
the model); current RSS is read from ``/proc/self/statm``. The check passes when the peak after the last checkpoint
is within ``--tolerance`` (default 10 %) of the peak after the first.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("bench_memory")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_images(folder: Path, count: int, size: int, channels: int, dsb_layout: bool = False) -> Path:
    """``count`` synthetic ``size`` x ``size`` uint8 images (grey, or RGB when ``channels`` is 3) as TIFFs in
    ``folder``, or as ``<id>/images/<id>.png`` (the DSB 2018 layout) with ``dsb_layout``."""
    import tifffile
    from monai.data import create_test_image_2d
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        random_state = np.random.RandomState(k)
        image, _ = create_test_image_2d(
            size, size, num_objs=6, rad_max=max(4, size // 8), rad_min=2, noise_max=0.3, random_state=random_state
        )
        image = (image * 255).astype(np.uint8)
        if channels == 3:
            image = np.stack([image, 255 - image, image // 2], axis=-1)
        name = f"img_{k:05d}"
        if dsb_layout:
            (folder / name / "images").mkdir(parents=True)
            Image.fromarray(image).save(folder / name / "images" / f"{name}.png")
        else:
            tifffile.imwrite(folder / f"{name}.tif", image)
    return folder


def run(bundle: str, inputs: Path, output: Path, checkpoints: list[int], overrides: dict) -> list[dict]:
    """Segment ``inputs`` with ``bundle`` in this process; memory and time at each checkpoint (images done)."""
    from ignite.engine import Events

    from microseg.bundle import load_parser

    parser = load_parser(
        bundle, "inference.json", dataset_dir=str(inputs), output_dir=str(output), skip_existing=False, **overrides
    )
    parser.get_parsed_content("initialize", default=[])  # parsing runs them (set_determinism)
    evaluator = parser.get_parsed_content("evaluator")
    rows: list[dict] = []
    start = time.perf_counter()

    def record(engine) -> None:
        done = engine.state.iteration
        if done in checkpoints:
            rows.append(
                {
                    "images": done,
                    "peak_mib": _peak_mib(),
                    "current_mib": _current_mib(),
                    "seconds": time.perf_counter() - start,
                }
            )
            logger.info("%d images: peak %.0f MiB, current %.0f MiB", done, rows[-1]["peak_mib"], _current_mib())

    evaluator.add_event_handler(Events.ITERATION_COMPLETED, record)
    evaluator.run()
    return rows


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--count", type=int, default=1000, help="images to segment")
    cli.add_argument("--size", type=int, default=64, help="image side in pixels")
    cli.add_argument("--checkpoints", default="100,1000", help="image counts at which to report memory")
    cli.add_argument("--channels", type=int, default=None, help="1 or 3 (default: the bundle's input channels)")
    cli.add_argument("--tolerance", type=float, default=0.10, help="allowed growth of the peak, first to last")
    cli.add_argument("--workdir", type=Path, default=None, help="keep images and masks here (default: a temp folder)")
    cli.add_argument("--override", action="append", default=[], help="config override key=value (JSON value)")
    args = cli.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("ignite").setLevel(logging.WARNING)

    import json

    from microseg.bundle import network_input_channels

    overrides = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.override)}
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    channels = args.channels or network_input_channels(args.bundle)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        config = inference_config(args.bundle)
        dsb_layout = "list_dsb2018" in str(config.get("input_list", ""))
        inputs = write_images(work / "images", args.count, args.size, channels, dsb_layout)
        if "folder_mode" in config:  # a bundle that may read a folder as one stack of slices
            overrides.setdefault("folder_mode", "images")
        rows = run(args.bundle, inputs, work / "masks", checkpoints, overrides)

    print(f"\n{args.bundle}: {args.count} images of {args.size}x{args.size}, one process")
    print(f"{'images':>8} {'peak RSS MiB':>13} {'current RSS MiB':>16} {'s/image':>8}")
    for row in rows:
        per_image = row["seconds"] / row["images"]
        print(f"{row['images']:>8} {row['peak_mib']:>13.1f} {row['current_mib']:>16.1f} {per_image:>8.3f}")
    if len(rows) < 2:
        print("fewer than two checkpoints reached; nothing to compare")
        return 1
    growth = rows[-1]["peak_mib"] / rows[0]["peak_mib"] - 1
    verdict = "within" if growth <= args.tolerance else "OVER"
    first, last = rows[0]["images"], rows[-1]["images"]
    print(f"peak growth from {first} to {last} images: {growth:+.1%} ({verdict} {args.tolerance:.0%})")
    return 0 if growth <= args.tolerance else 1


def inference_config(bundle: str) -> dict:
    """The bundle's ``configs/inference.json`` as written (to see how it lists its inputs)."""
    import json

    from microseg.bundle import resolve_bundle

    return json.loads((resolve_bundle(bundle) / "configs" / "inference.json").read_text())


if __name__ == "__main__":
    sys.exit(main())
