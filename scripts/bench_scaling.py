#!/usr/bin/env python
"""Time and peak memory of out-of-core segmentation (``microseg segment-large``) against the size of the plane.

For each size a synthetic EM-like uint8 plane (dark blobs on a textured background) is written to an uncompressed
TIFF without holding it in memory, then segmented in a fresh process (so that its peak resident memory is its own)
into a chunked HDF5 file with probabilities and mask. The table gives the time, the time per megapixel (constant
when the time is linear in the area), the process's peak resident memory and, for comparison, the size of the
plane's float32 probability map, which an in-memory pipeline would hold at least once. "working MB" is the peak
less the memory of the process once its libraries are imported (PyTorch and MONAI: about 0.95 GB with the CUDA build
of PyTorch; ONNX Runtime with ``--runtime onnx``: about 0.1 GB, PyTorch and MONAI never imported): what the image
costs.

    python scripts/bench_scaling.py sbem_organelle_segmentation --set variant=deepem3d_1fm tta=none
    python scripts/bench_scaling.py sbem_organelle_segmentation --runtime onnx --set variant=deepem3d_1fm tta=none
    python scripts/bench_scaling.py sbem_organelle_segmentation --sizes 1024 2048 --plane 0 0   # quick
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tune_thresholds import parse_overrides

logger = logging.getLogger("bench_scaling")
ROWS = 1024  # rows of the synthetic plane generated at once


def write_plane(path: Path, height: int, width: int, seed: int = 0) -> None:
    """A ``height x width`` uint8 plane written band by band into an uncompressed TIFF (memory: one band)."""
    import tifffile

    plane = tifffile.memmap(path, shape=(height, width), dtype=np.uint8)
    rng = np.random.default_rng(seed)
    for top in range(0, height, ROWS):
        rows = min(ROWS, height - top)
        yy, xx = np.mgrid[top : top + rows, 0:width].astype(np.float32)
        band = 150 + 30 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 12, (rows, width))
        blobs = (np.sin(xx / 57.0 + 1.3 * np.sin(yy / 71.0)) * np.sin(yy / 43.0)) > 0.6  # organelle-like
        band[blobs] -= 80
        plane[top : top + rows] = np.clip(band, 0, 255).astype(np.uint8)
    plane.flush()
    del plane


def peak_rss() -> int:
    """This process's peak resident memory in bytes: ``VmHWM`` of ``/proc/self/status`` (Linux), which starts afresh
    at ``exec``; ``ru_maxrss`` elsewhere. (``ru_maxrss`` is not used on Linux: it keeps the parent's resident size
    across ``fork`` + ``exec``, here the generator's, and would hide the child's own figures.)"""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # macOS: bytes, BSDs: KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _child(args: argparse.Namespace) -> None:
    """Run in the measuring process: segment, then print seconds and peak RSS as JSON."""
    if args.runtime == "onnx":  # the libraries are imported before the baseline: they are not working memory
        import onnxruntime  # noqa: F401

        import microseg.onnx_infer  # noqa: F401
    else:
        import monai  # noqa: F401
        import torch  # noqa: F401
    from microseg.largeimage import segment_large

    baseline = peak_rss()
    overrides = parse_overrides(args.set)
    result = segment_large(
        args.bundle, args.input, args.output, args.block_size, device=args.device, runtime=args.runtime, **overrides
    )
    peak = peak_rss()
    print(json.dumps({"seconds": result["seconds"], "peak_rss": peak, "baseline_rss": baseline}))


def measure(args: argparse.Namespace, height: int, width: int, folder: Path) -> dict:
    source, output = folder / f"plane_{height}x{width}.tif", folder / f"out_{height}x{width}.h5"
    write_plane(source, height, width)
    command = [sys.executable, __file__, "--child", args.bundle, "--input", str(source), "--output", str(output)]
    command += ["--block_size", str(args.block_size), "--runtime", args.runtime, "--set", *args.set]
    if args.device:
        command += ["--device", args.device]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    if not args.keep:
        source.unlink()
        output.unlink()
    megapixels = height * width / 1e6
    return {
        "height": height,
        "width": width,
        "megapixels": megapixels,
        "seconds": figures["seconds"],
        "seconds_per_megapixel": figures["seconds"] / megapixels,
        "peak_rss_mb": figures["peak_rss"] / 2**20,
        "working_mb": (figures["peak_rss"] - figures["baseline_rss"]) / 2**20,
        "float32_map_mb": height * width * 4 / 2**20,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", help="bundle name or folder")
    parser.add_argument("--sizes", type=int, nargs="*", default=[1024, 2048, 4096, 8192], help="square planes")
    parser.add_argument("--plane", type=int, nargs=2, default=[16000, 10000], help="one more plane H W (0 0: none)")
    parser.add_argument("--block_size", type=int, default=2048)
    parser.add_argument("--device", help="cpu, cuda... (default: the bundle's; PyTorch only)")
    parser.add_argument("--runtime", choices=["torch", "onnx"], default="torch", help="onnx: the bundle's model.onnx")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="bundle config overrides")
    parser.add_argument("--folder", help="where the planes and outputs go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the planes and outputs")
    parser.add_argument("--json", help="also write the table to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        logging.basicConfig(level=logging.WARNING)
        _child(args)
        return []
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    shapes = [(s, s) for s in args.sizes] + ([tuple(args.plane)] if all(args.plane) else [])
    with tempfile.TemporaryDirectory(prefix="bench_scaling_", dir=args.folder) as tmp:
        rows = []
        for height, width in shapes:
            rows.append(measure(args, height, width, Path(tmp)))
            logger.info("%s", rows[-1])
    cpus = os.cpu_count()
    print(
        f"bundle {args.bundle}, runtime {args.runtime}, overrides {' '.join(args.set) or 'none'}, "
        f"block {args.block_size}, {cpus} CPUs"
    )
    header = f"{'plane':>12s} {'MPix':>7s} {'seconds':>8s} {'s/MPix':>7s} {'peak RSS MB':>11s} {'working MB':>10s}"
    print(f"{header} {'float32 map MB':>14s}")
    for r in rows:
        print(
            f"{r['height']:>5d}x{r['width']:<6d} {r['megapixels']:7.1f} {r['seconds']:8.1f} "
            f"{r['seconds_per_megapixel']:7.2f} {r['peak_rss_mb']:11.0f} {r['working_mb']:10.0f} "
            f"{r['float32_map_mb']:14.0f}"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"overrides": args.set, "runtime": args.runtime, "block_size": args.block_size, "rows": rows})
        )
    return rows


if __name__ == "__main__":
    main()
