#!/usr/bin/env python
"""Roofline of each bundle's network: FLOPs and bytes per tile (counted), the device's measured ceilings, and the
fraction of the peak that inference reaches.

* FLOPs per tile: ``torch.utils.flop_counter.FlopCounterMode`` over one forward pass (convolutions and matrix
  products, 2 FLOPs per multiply-add; element-wise work is not counted, so the fraction is of useful work).
* Bytes per tile: every tensor each aten operator reads and writes in that pass, at the run's precision, i.e. the
  traffic of an unfused network with no cache reuse (an upper bound; fusion and caches move fewer). The arithmetic
  intensity is FLOPs over these bytes.
* Ceilings, measured here, not taken from a datasheet: a large square matrix product (the precision's matrix
  rate) and a large device copy (bytes read plus written).
* Achieved: the network alone on a batch of tiles with the chosen back end, precision and memory format (median
  of ``--repeats`` timed calls after warm-up), FLOPs per second and its fraction of the measured matrix peak.

    python scripts/roofline.py --device cpu
    python scripts/roofline.py --device cuda --precision bfloat16 --backend compile --channels_last --batch 32 \\
        --plot docs/roofline_h200.png
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import add_cudnn_option, apply_cudnn_option, find_tiled_inferer

logger = logging.getLogger("roofline")

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ByteCounter(TorchDispatchMode):
    """Sum the bytes of every tensor argument and result of every aten operator run under it."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tree in (args, kwargs or {}, out):
            for t in torch.utils._pytree.tree_leaves(tree):
                if isinstance(t, torch.Tensor):
                    self.bytes += t.numel() * t.element_size()
        return out


def count(network: torch.nn.Module, tile: torch.Tensor, dtype: torch.dtype) -> tuple[int, int]:
    """FLOPs and unfused bytes of ``network(tile)`` for one tile, in ``dtype``, on the tile's device."""
    net = network.to(tile.device, dtype)
    x = tile.to(dtype)
    with torch.no_grad():
        with FlopCounterMode(display=False) as flops:
            net(x)
        with ByteCounter() as moved:
            net(x)
    network.float()
    return flops.get_total_flops(), moved.bytes


def _median_seconds(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, repeats: int = 10) -> float:
    """FLOP/s of an ``n x n x n`` matrix product on random data (the matrix ceiling, measured)."""
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    return 2 * n**3 / _median_seconds(lambda: a @ b, repeats, device)


def copy_bandwidth(device: torch.device, nbytes: int, repeats: int = 10) -> float:
    """Bytes per second of a device copy, counting bytes read plus bytes written."""
    src = torch.rand(nbytes // 4, device=device)
    dst = torch.empty_like(src)
    dst.copy_(src)
    return 2 * nbytes / _median_seconds(lambda: dst.copy_(src), repeats, device)


def bundle_tile(bundle: Path) -> tuple[torch.nn.Module, tuple[int, ...]] | None:
    """The bundle's network (random weights) and its input tile ``(C, H, W)``, or None for detectors."""
    from microseg.bundle import load_parser, network_input_channels

    parser = load_parser(bundle)
    inferer = find_tiled_inferer(parser.get_parsed_content("inferer"))
    if inferer is None:
        return None
    network = parser.get_parsed_content("network_def").eval()
    return network, (network_input_channels(bundle), *(int(v) for v in inferer.roi_size))


def measure(args) -> tuple[list[dict], dict]:
    from microseg.bundle import bundle_dirs
    from microseg.inferers import RuntimeInferer

    device, dtype = torch.device(args.device), DTYPES[args.precision]
    peak = matmul_peak(device, dtype, args.matmul_size)
    bandwidth = copy_bandwidth(device, args.copy_mib * 2**20)
    rows = []
    names = args.bundles.split(",") if args.bundles else sorted(bundle_dirs())
    for name in names:
        found = bundle_tile(bundle_dirs()[name] if name in bundle_dirs() else Path(name))
        if found is None:
            logger.info("%s: a detector (work depends on the image); not on the roofline", name)
            continue
        network, tile_shape = found
        if args.tile:
            tile_shape = (tile_shape[0], *(int(v) for v in args.tile.split(",")))
        flops, moved = count(network, torch.rand(1, *tile_shape, device=device), dtype)
        runner = RuntimeInferer(
            lambda tiles, net: net(tiles),
            backend=args.backend,
            precision=args.precision,
            channels_last=args.channels_last,
            compile_mode=args.compile_mode,
        )
        tiles = torch.rand(args.batch, *tile_shape, device=device)

        def call(tiles=tiles, network=network, runner=runner):
            return runner(tiles, network)

        with torch.no_grad():
            for _ in range(args.warmup):
                call()
            seconds = _median_seconds(call, args.repeats, device) / args.batch
        intensity = flops / moved
        rows.append(
            {
                "bundle": name,
                "tile": "x".join(str(v) for v in tile_shape),
                "params_m": sum(p.numel() for p in network.parameters()) / 1e6,
                "gflop_per_tile": flops / 1e9,
                "mb_per_tile": moved / 1e6,
                "intensity": intensity,
                "tiles_per_s": 1 / seconds,
                "tflops": flops / seconds / 1e12,
                "fraction_of_peak": flops / seconds / peak,
                "bound_tflops": min(peak, intensity * bandwidth) / 1e12,
            }
        )
        del network, tiles, call
        if device.type == "cuda":
            torch.cuda.empty_cache()
    context = {
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads",
        "precision": args.precision,
        "backend": args.backend,
        "channels_last": args.channels_last,
        "batch": args.batch,
        "cudnn": args.cudnn,
        "peak_tflops": peak / 1e12,
        "bandwidth_gbs": bandwidth / 1e9,
        "torch": torch.__version__,
    }
    return rows, context


def format_table(rows: list[dict], context: dict) -> str:
    lines = [
        f"{context['device']}, torch {context['torch']}, {context['precision']}, back end {context['backend']}, "
        f"channels_last {context['channels_last']}, batch {context['batch']}, cuDNN {context['cudnn']}; "
        f"measured ceilings: matrix "
        f"{context['peak_tflops']:.2f} TFLOP/s, copy {context['bandwidth_gbs']:.0f} GB/s",
        "",
        "| bundle | tile | parameters (M) | GFLOP/tile | MB moved/tile (unfused) | FLOP/byte | tiles/s | TFLOP/s "
        "| fraction of matrix peak | roofline bound (TFLOP/s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['bundle']} | {r['tile']} | {r['params_m']:.2f} | {r['gflop_per_tile']:.1f} | {r['mb_per_tile']:.0f} "
            f"| {r['intensity']:.0f} | {r['tiles_per_s']:.1f} | {r['tflops']:.3g} | {r['fraction_of_peak']:.1%} | "
            f"{r['bound_tflops']:.3g} |"
        )
    return "\n".join(lines)


def plot(rows: list[dict], context: dict, path: str) -> None:
    """Log-log roofline: the measured ceilings and one point per bundle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    peak, bandwidth = context["peak_tflops"], context["bandwidth_gbs"] / 1e3
    xs = np.logspace(0, 4, 200)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.loglog(xs, np.minimum(peak, xs * bandwidth), "k-", label="measured roofline")
    for r in rows:
        ax.loglog(r["intensity"], r["tflops"], "o", label=f"{r['bundle']} ({r['fraction_of_peak']:.0%} of peak)")
    ax.set_xlabel("arithmetic intensity (FLOP per byte, unfused)")
    ax.set_ylabel("TFLOP/s")
    ax.set_title(f"{context['device']}, {context['precision']}, {context['backend']}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> list[dict]:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundles", help="comma-separated bundle names or paths (default: every installed bundle)")
    cli.add_argument("--device", default="cpu")
    cli.add_argument("--precision", default="float32", choices=sorted(DTYPES))
    cli.add_argument("--backend", default="eager")
    cli.add_argument("--channels_last", action="store_true")
    cli.add_argument("--compile_mode", help="torch.compile mode, e.g. max-autotune-no-cudagraphs")
    cli.add_argument("--tile", help="H,W instead of each bundle's tile")
    cli.add_argument("--batch", type=int, default=8, help="tiles per timed call")
    cli.add_argument("--warmup", type=int, default=2)
    cli.add_argument("--repeats", type=int, default=5)
    cli.add_argument("--matmul_size", type=int, default=4096)
    cli.add_argument("--copy_mib", type=int, default=512)
    cli.add_argument("--plot", help="write the roofline figure (PNG) here")
    cli.add_argument("--json", help="also write rows and context here")
    add_cudnn_option(cli)
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    apply_cudnn_option(args)
    rows, context = measure(args)
    print("\n" + format_table(rows, context))
    if args.plot:
        plot(rows, context, args.plot)
    if args.json:
        Path(args.json).write_text(json.dumps({"context": context, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
