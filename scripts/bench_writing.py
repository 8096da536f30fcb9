#!/usr/bin/env python
"""A bundle's folder run with its outputs written in the loop and on the writer thread (``write_in_background``).

Cuts ``--input`` (a TIFF stack) into ``--stacks`` stacks of ``--slices`` slices in a temporary folder, then runs
``microseg segment`` on that folder with ``--write_in_background false`` and ``true``, alternated ``--rounds``
times, each into a fresh output folder. For each run it prints the wall time and the time the loop spent inside
``SaveMaskd`` (the whole write in the loop; only handing the array over with the thread), and checks that both
settings wrote the same masks.

    python scripts/bench_writing.py --input ../shared/data/lucchi/training.tif
    python scripts/bench_writing.py --input LUCCHI/training.tif --device cuda --stacks 8 --slices 165
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

logger = logging.getLogger("bench_writing")


class TimedSaves:
    """Add up the time spent inside ``SaveMaskd.__call__`` while the ``with`` block runs."""

    def __enter__(self) -> TimedSaves:
        from microseg.transforms import SaveMaskd

        self.seconds, self._class, self._call = 0.0, SaveMaskd, SaveMaskd.__call__
        call = self._call

        def timed(transform, data):
            start = time.perf_counter()
            try:
                return call(transform, data)
            finally:
                self.seconds += time.perf_counter() - start

        SaveMaskd.__call__ = timed
        return self

    def __exit__(self, *exc) -> None:
        self._class.__call__ = self._call


def cut_stacks(source: Path, folder: Path, stacks: int, slices: int) -> list[Path]:
    """``stacks`` TIFF stacks of ``slices`` consecutive slices of ``source`` (wrapping around its depth)."""
    import tifffile

    volume = tifffile.imread(source)
    if volume.ndim != 3:
        raise SystemExit(f"--input must be a TIFF stack (Z, H, W), got shape {volume.shape}")
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(stacks):
        index = np.arange(k * slices, (k + 1) * slices) % volume.shape[0]
        paths.append(folder / f"stack_{k:02d}.tif")
        tifffile.imwrite(paths[-1], volume[index])
    return paths


def run_once(bundle: str, inputs: Path, output: Path, background: bool, device: str) -> dict:
    from microseg.cli import main as microseg

    argv = ["segment", "--bundle", bundle, "--input", str(inputs), "--output", str(output)]
    argv += ["--folder_mode", "images", "--write_in_background", str(background).lower()]
    argv += ["--device", f"$torch.device('{device}')"]
    with TimedSaves() as saves:
        start = time.perf_counter()
        if microseg(argv) != 0:
            raise SystemExit(f"microseg segment failed: {' '.join(argv)}")
        wall = time.perf_counter() - start
    return {"background": background, "wall": wall, "in_save": saves.seconds}


def same_outputs(first: Path, second: Path) -> bool:
    import tifffile

    names = sorted(p.name for p in first.glob("*_seg.tif"))
    if names != sorted(p.name for p in second.glob("*_seg.tif")) or not names:
        return False
    return all(np.array_equal(tifffile.imread(first / n), tifffile.imread(second / n)) for n in names)


def main(argv: list[str] | None = None) -> list[dict]:
    cli = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--input", required=True, type=Path, help="a TIFF stack (Z, H, W)")
    cli.add_argument("--bundle", default="fibsem_mitochondria_segmentation")
    cli.add_argument("--stacks", type=int, default=4)
    cli.add_argument("--slices", type=int, default=40)
    cli.add_argument("--rounds", type=int, default=2)
    cli.add_argument("--device", default="cpu")
    args = cli.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_writing_") as tmp:
        inputs = Path(tmp) / "inputs"
        cut_stacks(args.input, inputs, args.stacks, args.slices)
        for r in range(args.rounds):
            for background in (False, True):
                output = Path(tmp) / f"out_{r}_{background}"
                rows.append({**run_once(args.bundle, inputs, output, background, args.device), "output": output})
        identical = all(same_outputs(a["output"], b["output"]) for a, b in zip(rows[::2], rows[1::2], strict=True))
    print(
        f"\nbundle {args.bundle}, {args.stacks} stacks of {args.slices} slices of {args.input.name}, "
        f"device {args.device}, runs alternated\n"
    )
    print("| write_in_background | wall (s) | in SaveMaskd (s) |\n|---|---|---|")
    for row in rows:
        print(f"| {str(row['background']).lower()} | {row['wall']:.1f} | {row['in_save']:.2f} |")
    for background in (False, True):
        walls = [r["wall"] for r in rows if r["background"] == background]
        print(f"median wall, write_in_background={str(background).lower()}: {statistics.median(walls):.1f} s")
    print(f"same masks: {identical}")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
