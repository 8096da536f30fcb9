#!/usr/bin/env python
"""Inference speed of a bundle's network per back end, precision and memory format, against plain MONAI.

Every variant segments the same stack in the same process, interleaved chunk by chunk (each chunk of slices goes
through every variant, in rotating order), so that a slower or faster spell of a shared machine falls on all of
them alike and the speed-up column holds on a noisy machine.

Variants (``--variants``, comma separated):

* ``monai``: the baseline, plain MONAI: ``monai.inferers.sliding_window_inference`` over each slice with the eager
  network in float32 (the bundle's tile size, overlap, tile batch and Gaussian blending);
* ``BACKEND[+FLAG...]``: the bundle's ``SliceTiledInferer`` (``--slice_batch`` slices per call) inside
  ``RuntimeInferer``; BACKEND is ``eager``, ``compile``, ``torchscript`` or ``onnx``; flags ``cl``
  (channels-last), ``bf16`` or ``fp16`` (autocast). These are the inference config's ``backend``,
  ``channels_last`` and ``precision`` keys.

The table gives, per variant: seconds for the stack (warm-up excluded and given apart: compilation, session
creation), slices and megapixels per second, the peak host memory above the process's resident memory before the
variant ran, the peak device memory, the largest logit difference from the baseline, and the number of mask voxels
(logit > 0) that differ from the baseline's.

    python scripts/bench_inference.py --bundle fibsem_mitochondria_segmentation --shape 165,768,1024
    python scripts/bench_inference.py --bundle he_gland_segmentation --device cuda --shape 64,1024,1024 \\
        --sw_batch_size 32 --variants monai,eager+bf16+cl,compile+bf16+cl
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import platform
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger("bench_inference")

DEFAULT_VARIANTS = "monai,eager,eager+cl,compile+cl,torchscript,onnx,eager+bf16"
FLAG_PRECISION = {"bf16": "bfloat16", "fp16": "float16"}


def parse_variant(spec: str) -> dict:
    """``"compile+bf16+cl"`` -> ``{"backend": "compile", "precision": "bfloat16", "channels_last": True}``."""
    from microseg.inferers import BACKENDS

    backend, *flags = spec.split("+")
    if backend != "monai" and backend not in BACKENDS:
        raise SystemExit(f"variant {spec!r}: back end must be monai or one of {BACKENDS}")
    unknown = [f for f in flags if f != "cl" and f not in FLAG_PRECISION]
    if unknown or (backend == "monai" and flags):
        raise SystemExit(f"variant {spec!r}: flags are cl, bf16, fp16 (none for monai)")
    precision = next((FLAG_PRECISION[f] for f in flags if f in FLAG_PRECISION), "float32")
    return {"name": spec, "backend": backend, "precision": precision, "channels_last": "cl" in flags}


class PeakRSS:
    """Sample the process's resident memory every few milliseconds; ``peak`` is the largest sample in bytes."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        try:
            return int(Path("/proc/self/statm").read_text().split()[1]) * 4096
        except OSError:  # not Linux: the kernel's lifetime peak is the best we have
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def find_tiled_inferer(inferer):
    """The ``SliceTiledInferer`` inside a bundle's (possibly wrapped) inferer, or None (a detector)."""
    while inferer is not None and not hasattr(inferer, "roi_size"):
        inferer = getattr(inferer, "inferer", None)
    return inferer


def tiled_settings(bundle: Path) -> dict:
    """Tile size, overlap, tile batch and slice context of the bundle's ``SliceTiledInferer`` (inference.json)."""
    from microseg.bundle import load_parser

    inferer = find_tiled_inferer(load_parser(bundle).get_parsed_content("inferer"))
    if inferer is None:
        raise SystemExit(f"{bundle.name}: its inferer has no SliceTiledInferer (a detector?); nothing to tile")
    return {
        "roi_size": tuple(int(v) for v in inferer.roi_size),
        "overlap": float(inferer.overlap),
        "sw_batch_size": int(inferer.sw_batch_size),
        "context": int(inferer.context),
    }


def load_bundle_network(bundle: Path, random_weights: bool) -> torch.nn.Module:
    from microseg.bundle import load_network, load_parser

    if not random_weights and (bundle / "models" / "model.pt").is_file():
        return load_network(bundle)
    logger.warning("%s: random weights (no models/model.pt or --random_weights): speed only", bundle.name)
    return load_parser(bundle).get_parsed_content("network_def").eval()


def make_runner(variant: dict, network: torch.nn.Module, bundle: Path, settings: dict, args) -> Callable:
    """A function ``(1, C, n, H, W)`` stack chunk on the device -> ``(n, H, W)`` float32 logits of channel 0."""
    from monai.inferers import sliding_window_inference

    from microseg.inferers import RuntimeInferer, SliceTiledInferer

    net = copy.deepcopy(network).to(args.device).eval()
    if variant["backend"] == "monai":
        if settings["context"] != 1:
            raise SystemExit("the plain-MONAI baseline predicts slice by slice: use a bundle with context 1")

        def run(chunk: torch.Tensor) -> torch.Tensor:
            slices = [
                sliding_window_inference(
                    chunk[:, :, z],
                    settings["roi_size"],
                    settings["sw_batch_size"],
                    net,
                    overlap=settings["overlap"],
                    mode="gaussian",
                )[0, 0]
                for z in range(chunk.shape[2])
            ]
            return torch.stack(slices)

        return run
    inferer = RuntimeInferer(
        SliceTiledInferer(
            settings["roi_size"],
            settings["sw_batch_size"],
            settings["overlap"],
            "gaussian",
            context=settings["context"],
            slice_batch=args.slice_batch,
        ),
        backend=variant["backend"],
        precision=variant["precision"],
        channels_last=variant["channels_last"],
        model_dir=bundle / "models",
        onnx_providers=args.onnx_providers.split(",") if args.onnx_providers else None,
    )
    return lambda chunk: inferer(chunk, net)[0, 0]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _stack(args, channels: int) -> np.ndarray:
    """``(Z, C, H, W)`` uint8 or float: ``--input`` (a TIFF stack) or seeded noise of ``--shape``."""
    if args.input:
        import tifffile

        stack = tifffile.imread(args.input)
        return stack[:, None] if stack.ndim == 3 else stack
    depth, height, width = (int(v) for v in args.shape.split(","))
    return np.random.default_rng(0).integers(0, 256, (depth, channels, height, width), dtype=np.uint8)


def _normalise(stack: np.ndarray) -> torch.Tensor:
    """Percentile 1-99 scaling of the whole stack, as the bundles' preprocessing: ``(1, C, Z, H, W)`` float32."""
    from microseg.transforms import PercentileNormalize

    x = PercentileNormalize()(np.moveaxis(stack, 1, 0).astype(np.float32))
    return torch.as_tensor(np.ascontiguousarray(x))[None]


def run_benchmark(args) -> tuple[list[dict], dict]:
    """Every variant on the whole stack, interleaved; the rows of the table and its context."""
    with torch.no_grad():
        return _run_benchmark(args)


def _run_benchmark(args) -> tuple[list[dict], dict]:
    from microseg.bundle import network_input_channels, resolve_bundle

    bundle = resolve_bundle(args.bundle)
    settings = tiled_settings(bundle)
    if args.roi_size:
        settings["roi_size"] = tuple(int(v) for v in args.roi_size.split(","))
    if args.sw_batch_size:
        settings["sw_batch_size"] = args.sw_batch_size
    if args.overlap is not None:
        settings["overlap"] = args.overlap
    image = _normalise(_stack(args, network_input_channels(bundle) // settings["context"])).to(args.device)
    depth, height, width = image.shape[2:]
    network = load_bundle_network(bundle, args.random_weights)
    variants = [parse_variant(v) for v in args.variants.split(",")]
    runners, rows = {}, {}
    for v in variants:
        start = time.perf_counter()
        with PeakRSS() as rss:
            base = PeakRSS.current()
            runners[v["name"]] = make_runner(v, network, bundle, settings, args)
            runners[v["name"]](image[:, :, : args.chunk])
            synchronize(args.device)
        rows[v["name"]] = {
            **v,
            "warmup_s": time.perf_counter() - start,
            "seconds": 0.0,
            "peak_host": rss.peak - base,
            "peak_device": 0,
            "max_logit_diff": 0.0,
            "mask_diff": 0,
        }
    masks_equal_reference = variants[0]["name"]
    for i, start in enumerate(range(0, depth, args.chunk)):
        chunk = image[:, :, start : start + args.chunk]
        order = variants[i % len(variants) :] + variants[: i % len(variants)]
        logits = {}
        for v in order:
            row = rows[v["name"]]
            if args.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(args.device)
            synchronize(args.device)
            base = PeakRSS.current()
            with PeakRSS() as rss:
                t0 = time.perf_counter()
                out = runners[v["name"]](chunk)
                synchronize(args.device)
                row["seconds"] += time.perf_counter() - t0
            row["peak_host"] = max(row["peak_host"], rss.peak - base)
            if args.device.type == "cuda":
                row["peak_device"] = max(row["peak_device"], torch.cuda.max_memory_allocated(args.device))
            logits[v["name"]] = out.float()
        reference = logits[masks_equal_reference]
        for name, out in logits.items():
            rows[name]["max_logit_diff"] = max(rows[name]["max_logit_diff"], float((out - reference).abs().max()))
            rows[name]["mask_diff"] += int(((out > 0) != (reference > 0)).sum())
    base_seconds = rows[masks_equal_reference]["seconds"]
    for row in rows.values():
        row.update(
            slices_per_s=depth / row["seconds"],
            mpixel_per_s=depth * height * width / row["seconds"] / 1e6,
            speedup=base_seconds / row["seconds"],
        )
    context = {
        "bundle": bundle.name,
        "stack": f"{depth}x{height}x{width}",
        "device": device_name(args.device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tile": "x".join(str(v) for v in settings["roi_size"]),
        "overlap": settings["overlap"],
        "batch": settings["sw_batch_size"],
        "slice_batch": args.slice_batch,
        "reference": masks_equal_reference,
        "voxels": depth * height * width,
    }
    return list(rows.values()), context


def add_cudnn_option(cli: argparse.ArgumentParser) -> None:
    cli.add_argument(
        "--cudnn",
        default="default",
        choices=("default", "benchmark", "deterministic"),
        help="cuDNN algorithm choice: PyTorch's default, autotuned (benchmark), or deterministic (what the bundles' "
        "set_determinism in 'initialize' selects)",
    )


def apply_cudnn_option(args: argparse.Namespace) -> None:
    torch.backends.cudnn.benchmark = args.cudnn == "benchmark"
    torch.backends.cudnn.deterministic = args.cudnn == "deterministic"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or 'CPU'} ({torch.get_num_threads()} threads)"


def format_table(rows: list[dict], context: dict) -> str:
    lines = [
        f"bundle {context['bundle']}, stack {context['stack']}, {context['device']}, torch {context['torch']}, "
        f"tile {context['tile']}, overlap {context['overlap']}, tile batch {context['batch']}, "
        f"{context['slice_batch']} slices per call; reference: {context['reference']}",
        "",
        "| variant | precision | seconds | slices/s | Mpixel/s | warm-up (s) | peak host (MiB) | peak device (MiB) "
        "| max logit diff | mask voxels differing | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['precision']} | {r['seconds']:.1f} | {r['slices_per_s']:.2f} | "
            f"{r['mpixel_per_s']:.2f} | {r['warmup_s']:.1f} | {r['peak_host'] / 2**20:.0f} | "
            f"{r['peak_device'] / 2**20:.0f} | {r['max_logit_diff']:.2g} | {r['mask_diff']} of {context['voxels']} | "
            f"{r['speedup']:.2f}x |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--shape", default="165,768,1024", help="Z,H,W of the synthetic stack")
    cli.add_argument("--input", help="a TIFF stack to use instead of synthetic data")
    cli.add_argument("--variants", default=DEFAULT_VARIANTS)
    cli.add_argument("--device", default="cpu")
    cli.add_argument("--roi_size", help="H,W of a tile (default: the bundle's)")
    cli.add_argument("--overlap", type=float, help="tile overlap (default: the bundle's)")
    cli.add_argument("--sw_batch_size", type=int, help="tiles per network call (default: the bundle's)")
    cli.add_argument("--slice_batch", type=int, default=4, help="slices per SliceTiledInferer call")
    cli.add_argument("--chunk", type=int, default=15, help="slices per interleaving step")
    cli.add_argument("--random_weights", action="store_true", help="random weights (speed only)")
    cli.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    cli.add_argument(
        "--onnx_providers",
        help="ONNX Runtime execution providers of the onnx variant, in order, comma-separated, e.g. "
        "TensorrtExecutionProvider,CUDAExecutionProvider (default: CUDA on a CUDA device when available, else CPU)",
    )
    cli.add_argument("--json", help="also write the rows and context to this file")
    add_cudnn_option(cli)
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    apply_cudnn_option(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = torch.device(args.device)
    rows, context = run_benchmark(args)
    print("\n" + format_table(rows, context))
    if args.json:
        Path(args.json).write_text(json.dumps({"context": context, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
