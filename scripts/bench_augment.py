#!/usr/bin/env python
"""Cost of a bundle's training augmentation per batch: in the loader workers, per sample on the device, batched.

Three ways to augment one batch of the bundle's training patches (``configs/train.json``), timed in one process,
interleaved round by round:

* ``workers``: ``train#augmentation`` (``train#random_transforms`` in the GlaS bundle; MONAI's per-sample
  transforms) on CPU tensors, one sample at a time: what the loader workers spend per batch;
* ``per-sample``: the same transforms on tensors on ``--device``, one sample at a time (how
  ``microseg.engines.AugmentOnDevice`` ran them before 0.9.0);
* ``batched``: ``train#device_augmentation`` (:mod:`microseg.transforms.batch`) on the whole batch on
  ``--device``: what ``--augment_on_device true`` runs now (the Mask R-CNN bundle's ``PrepareInstanceBatch`` calls
  it per image, as a batch of one, and so does this benchmark there).

The table gives milliseconds per batch (median over ``--rounds``) and the number of PyTorch operators dispatched
per batch, which on a GPU is about the number of kernel launches. Patches are synthetic (smooth noise, a binary
label); the costs do not depend on the values.

    python scripts/bench_augment.py --bundle fibsem_mitochondria_segmentation
    python scripts/bench_augment.py --bundle tem_nuclei_segmentation --device cuda
    python scripts/bench_augment.py --bundle he_gland_segmentation --override image_size=512
    python scripts/bench_augment.py --bundle sbem_organelle_segmentation --override variant=deepem3d_3fm
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import device_name, synchronize
from tune_thresholds import parse_overrides

logger = logging.getLogger("bench_augment")

WORKER_AUGMENTATION = ("train#augmentation", "train#random_transforms")  # the loader workers' random transforms


class CountOps(TorchDispatchMode):
    """Count the PyTorch operators dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def patch_shape(parser) -> tuple[int, int, tuple[int, ...]]:
    """``(batch, channels, spatial)`` of one training batch: loader batch size times samples per image, the
    network's input channels, the training patch size."""
    per_item = parser.get("num_samples", parser.get("samples_per_image", 1))  # patches cropped from each image
    batch = int(parser.get_parsed_content("batch_size")) * int(per_item)
    channels = next(
        (int(parser.get_parsed_content(k)) for k in ("network_def#in_channels", "context_slices") if k in parser),
        3,  # torchvision's detectors take RGB
    )
    if "roi_size" in parser:
        spatial = tuple(int(v) for v in parser.get_parsed_content("roi_size"))
    else:
        spatial = (int(parser.get_parsed_content("image_size")),) * 2
    return batch, channels, spatial


def synthetic_batch(batch: int, channels: int, spatial: tuple[int, ...], device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(batch, channels, *(max(2, s // 16) for s in spatial), generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=spatial, mode="bilinear", align_corners=False)
    return {"image": image.to(device), "label": (image[:, :1] > 0.5).float().to(device)}


def per_sample(transform: Callable, batch: dict, as_batch_of_one: bool = False) -> dict:
    """``transform`` on each sample: ``(C, *spatial)`` (MONAI's transforms), or ``(1, C, *spatial)`` with
    ``as_batch_of_one`` (a batched transform called per image, as ``microseg.engines.PrepareInstanceBatch`` does)."""
    n = len(batch["image"])
    if as_batch_of_one:
        outs = [transform({k: v[i : i + 1] for k, v in batch.items()}) for i in range(n)]
        return {k: torch.cat([torch.as_tensor(o[k]) for o in outs]) for k in batch}
    outs = [transform({k: v[i] for k, v in batch.items()}) for i in range(n)]
    return {k: torch.stack([torch.as_tensor(o[k]) for o in outs]) for k in batch}


def measure(name: str, run: Callable[[], object], device: torch.device, rounds: int) -> dict:
    run()  # warm-up
    synchronize(device)
    with CountOps() as ops:
        run()
    times = []
    for _ in range(rounds):
        synchronize(device)
        start = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return {"variant": name, "ms": 1000 * statistics.median(times), "ops": ops.count}


def main(argv: list[str] | None = None) -> list[dict]:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--device", default="cpu")
    cli.add_argument("--rounds", type=int, default=20)
    cli.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    cli.add_argument("--override", action="append", help="KEY=VALUE of train.json, e.g. image_size=512 (repeatable)")
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    from monai.transforms import Compose

    from microseg.bundle import load_parser, resolve_bundle

    device = torch.device(args.device)
    bundle = resolve_bundle(args.bundle)
    overrides = parse_overrides(args.override or [])
    parser = load_parser(bundle, "train.json", device=f"$torch.device('{device}')", **overrides)
    if "train#device_augmentation" not in parser:
        raise SystemExit(f"{bundle.name}: its train.json has no train#device_augmentation (no batched augmentation)")
    batch, channels, spatial = patch_shape(parser)
    worker_key = next(k for k in WORKER_AUGMENTATION if k in parser)
    workers = Compose(parser.get_parsed_content(worker_key))
    batched = Compose(parser.get_parsed_content("train#device_augmentation"))
    for t in (workers, batched):
        t.set_random_state(0)
    cpu = synthetic_batch(batch, channels, spatial, torch.device("cpu"))
    on_device = {k: v.to(device) for k, v in cpu.items()}
    per_image = "PrepareInstanceBatch" in str(parser.get("train#trainer#prepare_batch#_target_", ""))
    rows = [
        measure("workers (CPU, per sample)", lambda: per_sample(workers, cpu), torch.device("cpu"), args.rounds),
        measure(f"per-sample on {device.type}", lambda: per_sample(workers, on_device), device, args.rounds),
        measure(
            f"{'batched, one image per call,' if per_image else 'batched'} on {device.type}",
            lambda: per_sample(batched, on_device, as_batch_of_one=True) if per_image else batched(on_device),
            device,
            args.rounds,
        ),
    ]
    print(
        f"\nbundle {bundle.name}, batch {batch} x {channels} x {'x'.join(map(str, spatial))}, "
        f"{device_name(device)}, torch {torch.__version__}, median of {args.rounds} rounds\n"
    )
    print("| augmentation | ms per batch | ms per sample | operators per batch |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['ms']:.1f} | {r['ms'] / batch:.2f} | {r['ops']} |")
    return rows


if __name__ == "__main__":
    main()
