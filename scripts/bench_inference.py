#!/usr/bin/env python
"""Time and peak memory to segment a stack with a bundle, per back end, against plain MONAI.

Back ends (each in its own subprocess, so that peak memory is its own):

* ``monai``: the baseline, a plain loop of ``monai.inferers.sliding_window_inference`` over the slices with the
  eager PyTorch network (same tile size, overlap and Gaussian blending);
* ``eager``: the bundle's ``SliceTiledInferer`` with the eager PyTorch network;
* ``torchscript``: the same with ``models/model.ts``;
* ``onnx``: the same with ``models/model.onnx`` in ONNX Runtime (CPU execution provider).

Every back end segments the same stack (synthetic uint8 noise of ``--shape``, or ``--input``) after the bundle's
preprocessing; the table gives seconds, slices and megapixels per second, peak resident memory of the process and
the fraction of mask voxels equal to the baseline's.

    python scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation --shape 165,768,1024
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("monai", "eager", "torchscript", "onnx")
logger = logging.getLogger("bench_inference")


def _network(bundle: Path, backend: str):
    import torch

    from microseg.bundle import load_network

    if backend in ("monai", "eager"):
        return load_network(bundle)
    if backend == "torchscript":
        return torch.jit.load(str(bundle / "models" / "model.ts"), map_location="cpu").eval()
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(str(bundle / "models" / "model.onnx"), options, providers=["CPUExecutionProvider"])

    def run(x):
        return torch.from_numpy(session.run(None, {"image": x.detach().cpu().numpy()})[0])

    return run


def _worker(args: argparse.Namespace) -> None:
    import torch
    from monai.inferers import sliding_window_inference

    from microseg.bundle import load_parser
    from microseg.transforms import PercentileNormalize

    bundle = Path(args.bundle)
    parser = load_parser(bundle)
    roi, overlap = tuple(parser["roi_size"]), float(parser["overlap"])
    stack = np.load(args.stack)
    image = torch.from_numpy(PercentileNormalize()(stack[None].astype(np.float32)))[None]  # (1, 1, Z, H, W)
    network = _network(bundle, args.backend)
    start = time.perf_counter()
    with torch.no_grad():
        if args.backend == "monai":
            logits = torch.stack(
                [
                    sliding_window_inference(
                        image[:, :, z], roi, args.sw_batch_size, network, overlap=overlap, mode="gaussian"
                    )
                    for z in range(image.shape[2])
                ],
                dim=2,
            )
        else:
            from microseg.inferers import SliceTiledInferer

            inferer = SliceTiledInferer(roi, args.sw_batch_size, overlap, "gaussian", slice_batch=args.slice_batch)
            logits = inferer(image, network)
    seconds = time.perf_counter() - start
    mask = (logits[0, 0] > 0).numpy()
    np.save(args.out, mask)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"backend": args.backend, "seconds": seconds, "peak_rss_mib": peak_mib}))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--shape", default="165,768,1024", help="Z,H,W of the synthetic stack")
    cli.add_argument("--input", help="a TIFF stack to use instead of synthetic data")
    cli.add_argument("--backends", default=",".join(BACKENDS))
    cli.add_argument("--sw_batch_size", type=int, default=8)
    cli.add_argument("--slice_batch", type=int, default=4)
    cli.add_argument("--backend", help=argparse.SUPPRESS)
    cli.add_argument("--stack", help=argparse.SUPPRESS)
    cli.add_argument("--out", help=argparse.SUPPRESS)
    args = cli.parse_args()
    if args.backend:
        _worker(args)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    from microseg.bundle import resolve_bundle

    args.bundle = str(resolve_bundle(args.bundle))
    with tempfile.TemporaryDirectory() as tmp:
        if args.input:
            import tifffile

            stack = tifffile.imread(args.input)
        else:
            shape = tuple(int(v) for v in args.shape.split(","))
            stack = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
        np.save(Path(tmp) / "stack.npy", stack)
        rows, masks = [], {}
        for backend in args.backends.split(","):
            out = Path(tmp) / f"{backend}.npy"
            command = [
                sys.executable,
                __file__,
                "--bundle",
                args.bundle,
                "--backend",
                backend,
                "--stack",
                str(Path(tmp) / "stack.npy"),
                "--out",
                str(out),
                "--sw_batch_size",
                str(args.sw_batch_size),
                "--slice_batch",
                str(args.slice_batch),
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
            masks[backend] = np.load(out)
    reference = masks.get("monai", next(iter(masks.values())))
    depth, height, width = stack.shape
    print(
        f"\nbundle {Path(args.bundle).name}, stack {depth}x{height}x{width} uint8, CPU {_cpu_name()} "
        f"with {torch.get_num_threads()} threads, torch {torch.__version__}\n"
    )
    print("| back end | seconds | slices/s | Mpixel/s | peak RSS (MiB) | mask voxels equal to baseline | speed-up |")
    print("|---|---|---|---|---|---|---|")
    base = next((r["seconds"] for r in rows if r["backend"] == "monai"), rows[0]["seconds"])
    for row in rows:
        agree = float((masks[row["backend"]] == reference).mean())
        print(
            f"| {row['backend']} | {row['seconds']:.1f} | {depth / row['seconds']:.2f} | "
            f"{depth * height * width / row['seconds'] / 1e6:.2f} | {row['peak_rss_mib']:.0f} | {agree:.6f} | "
            f"{base / row['seconds']:.2f}x |"
        )


if __name__ == "__main__":
    main()
