#!/usr/bin/env python
"""Training throughput of a bundle, and of the same training written with plain MONAI, in one process.

* ``bundle``: the bundle's own ``configs/train.json`` trainer (its dataset with caching, loader workers,
  augmentation, mixed precision and inferer), for ``--iterations`` iterations after a warm-up epoch of as many,
  without validation or checkpoints; ``microseg.handlers.ThroughputMonitor`` times it.
* ``monai``: the baseline: ``monai.data.Dataset`` (no caching) over the same data list and transforms, a
  ``DataLoader`` with the same batch size and workers, and a plain loop (same network, loss and optimizer, eager
  float32), timed the same way.

The table gives samples and megapixels (of the sampled training patches) per second, the share of the time spent
waiting for the data loader (after finishing queued CUDA work, so on a GPU it is the time the GPU waits for data),
and peak host and device memory.

    python scripts/bench_train.py --bundle fibsem_mitochondria_segmentation --dataset_dir ../shared/data/lucchi
    python scripts/bench_train.py --bundle he_gland_segmentation --dataset_dir DATA --device cuda --num_workers 8
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import PeakRSS, device_name, synchronize

logger = logging.getLogger("bench_train")


def _parser(args, **extra):
    from microseg.bundle import load_parser, resolve_bundle

    overrides = {"dataset_dir": args.dataset_dir, "device": f"$torch.device('{args.device}')", **extra}
    if args.num_workers is not None:
        overrides["num_workers"] = args.num_workers
    for item in args.override or []:
        key, _, value = item.partition("=")
        overrides[key] = json.loads(value) if value[:1] in "[{0123456789-tfn" else value
    return load_parser(resolve_bundle(args.bundle), "train.json", **overrides)


def _images(batch) -> list:
    """The image of each sample of a collated batch (a ``(B, C, ...)`` tensor or a list of images)."""
    image = batch["image"] if isinstance(batch, dict) else batch[0]
    return list(image) if isinstance(image, torch.Tensor) else [im for im in image]


def _pixels(batch) -> int:
    return sum(int(im[0].numel()) for im in _images(batch))


def _tile(batch) -> str:
    return "x".join(str(int(v)) for v in _images(batch)[0].shape[1:])


def _precision(parser, trainer) -> str:
    """The bundle's training precision: its ``amp`` key (bfloat16 autocast inferer) or MONAI's trainer AMP."""
    if "amp" in parser and parser.get_parsed_content("amp"):
        return "bfloat16 autocast"
    return "float16 AMP" if getattr(trainer, "amp", False) else "float32"


def bench_bundle(args) -> dict:
    """The bundle's trainer, two epochs of ``--iterations``: the first warms up, the second is measured."""
    from ignite.engine import Events

    from microseg.handlers import ThroughputMonitor

    parser = _parser(args, **{"train#handlers": [], "max_epochs": 2, "train#trainer#epoch_length": args.iterations})
    trainer = parser.get_parsed_content("train#trainer")
    monitor = ThroughputMonitor()
    monitor.attach(trainer)
    pixels, tiles = [], []
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: pixels.append(_pixels(e.state.batch)))
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, lambda e: tiles.append(_tile(e.state.batch)))
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = PeakRSS.current()
    with PeakRSS() as rss:
        trainer.run()
    last = monitor.history[-1]
    return {
        "variant": "bundle",
        "precision": _precision(parser, trainer),
        "batch": int(parser.get_parsed_content("train#dataloader#batch_size")),
        "tile": tiles[-1],
        "samples_per_s": last["samples_per_second"],
        "mpixel_per_s": sum(pixels[-args.iterations :]) / last["seconds"] / 1e6,
        "data_wait": last["data_wait_fraction"],
        "peak_host": rss.peak - base,
        "peak_device": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
    }


def bench_monai(args) -> dict:
    """Plain MONAI: uncached ``Dataset``, ``DataLoader``, eager float32 loop; warm-up and timing as the bundle's."""
    from monai.data import CacheDataset, DataLoader, Dataset

    parser = _parser(args)
    dataset = parser.get_parsed_content("train#dataset")
    if isinstance(dataset, CacheDataset):  # the same items and transforms, read and transformed every time
        dataset = Dataset(dataset.data, dataset.transform)
    batch_size = int(parser.get_parsed_content("train#dataloader#batch_size"))
    workers = int(parser.get_parsed_content("train#dataloader#num_workers"))
    collate = (
        parser.get_parsed_content("train#dataloader#collate_fn") if "train#dataloader#collate_fn" in parser else None
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        **({"collate_fn": collate} if collate else {}),
    )
    device = torch.device(args.device)
    network = parser.get_parsed_content("network")
    loss_function = parser.get_parsed_content("loss")
    optimizer = parser.get_parsed_content("optimizer")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    base = PeakRSS.current()
    figures = {}
    with PeakRSS() as rss:
        for phase in ("warm-up", "timed"):
            wait, samples, pixels, done = 0.0, 0, 0, 0
            synchronize(device)
            start = time.perf_counter()
            while done < args.iterations:
                iterator = iter(loader)
                while done < args.iterations:
                    synchronize(device)
                    t0 = time.perf_counter()
                    batch = next(iterator, None)
                    wait += time.perf_counter() - t0
                    if batch is None:
                        break
                    image, label = batch["image"].to(device), batch["label"].to(device)
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_function(network(image), label)
                    loss.backward()
                    optimizer.step()
                    samples, pixels, done = samples + image.shape[0], pixels + _pixels(batch), done + 1
                    tile = _tile(batch)
            synchronize(device)
            seconds = time.perf_counter() - start
            figures[phase] = (samples / seconds, pixels / seconds / 1e6, wait / seconds)
    return {
        "variant": "monai",
        "precision": "float32",
        "batch": batch_size,
        "tile": tile,
        "samples_per_s": figures["timed"][0],
        "mpixel_per_s": figures["timed"][1],
        "data_wait": figures["timed"][2],
        "peak_host": rss.peak - base,
        "peak_device": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
    }


def format_table(rows: list[dict], args) -> str:
    lines = [
        f"bundle {args.bundle}, {device_name(torch.device(args.device))}, torch {torch.__version__}, "
        f"{args.iterations} timed iterations after {args.iterations} of warm-up",
        "",
        "| variant | precision | batch | tile | samples/s | Mpixel/s | data wait | peak host (MiB) | peak device (MiB) "
        "| speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    base = next((r["samples_per_s"] for r in rows if r["variant"] == "monai"), rows[0]["samples_per_s"])
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['precision']} | {r['batch']} | {r['tile']} | {r['samples_per_s']:.2f} "
            f"| {r['mpixel_per_s']:.2f} "
            f"| {r['data_wait']:.1%} | {r['peak_host'] / 2**20:.0f} | {r['peak_device'] / 2**20:.0f} | "
            f"{r['samples_per_s'] / base:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--dataset_dir", required=True, help="training data in the bundle's layout (see its card)")
    cli.add_argument("--iterations", type=int, default=20, help="timed iterations (and as many of warm-up)")
    cli.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    cli.add_argument("--num_workers", type=int, help="loader workers for both (default: the bundle's)")
    cli.add_argument("--variants", default="monai,bundle")
    cli.add_argument("--override", action="append", help="KEY=VALUE of train.json, e.g. batch_size=8 (repeatable)")
    cli.add_argument("--json", help="also write the rows here")
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    benches = {"monai": bench_monai, "bundle": bench_bundle}
    rows = [benches[name](args) for name in args.variants.split(",")]
    print("\n" + format_table(rows, args))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
