"""Results at a glance: objects, foreground fraction and object sizes of every mask a run wrote.

Definitions (one row per input):

* **objects**: for an instance label image (several distinct non-zero values), the number of distinct labels; for a
  binary mask (one non-zero value), its connected components with face connectivity, in 3D for a stack (as the
  evaluation reports count them, :mod:`microseg.metrics.objects`);
* **foreground**: the fraction of pixels (voxels) with a non-zero label;
* **median object size**: median pixel (voxel) count of the objects, and the same in µm² (µm³ for a stack) when the
  pixel size is known: ``--pixel_size``, else the input file's own metadata
  (:func:`microseg.io.metadata.pixel_size_of`).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from microseg.io.metadata import PixelSize, parse_pixel_size, pixel_size_of

__all__ = [
    "SUMMARY_FIELDS",
    "format_summary",
    "mask_summary",
    "segmented_pairs",
    "summarise_run",
    "write_summary_csv",
]

SUMMARY_FIELDS = (
    "input",
    "output",
    "shape",
    "objects",
    "foreground_fraction",
    "median_object_size_px",
    "median_object_size_um",
    "pixel_size_um",
)


def mask_summary(mask: np.ndarray, pixel_size: PixelSize | None = None) -> dict:
    """Objects, foreground fraction and median object size of one mask ``(H, W)`` or stack ``(Z, H, W)`` (see the
    module docstring); ``pixel_size`` in µm per axis gives ``median_object_size_um`` (µm², or µm³ for a stack)."""
    from scipy import ndimage

    mask = np.asarray(mask)
    foreground = mask != 0
    count = int(np.count_nonzero(foreground))
    top = mask.max() if count else 0
    if count and np.count_nonzero(mask == top) == count:  # one value: a binary mask
        # microseg.metrics.objects.label_objects, without the torch import of that module (the ONNX path has none)
        labels, _ = ndimage.label(foreground, structure=ndimage.generate_binary_structure(mask.ndim, 1))
    else:
        labels = mask.astype(np.int64, copy=False)
    sizes = np.bincount(labels.ravel())[1:] if count else np.zeros(0, np.int64)
    sizes = sizes[sizes > 0]
    median = float(np.median(sizes)) if sizes.size else math.nan
    unit_size = None
    if pixel_size is not None and len(pixel_size) == mask.ndim and all(s is not None for s in pixel_size):
        unit_size = float(np.prod([float(s) for s in pixel_size]))
    return {
        "shape": "x".join(str(s) for s in mask.shape),
        "objects": int(sizes.size),
        "foreground_fraction": count / mask.size if mask.size else 0.0,
        "median_object_size_px": median,
        "median_object_size_um": median * unit_size if unit_size is not None and sizes.size else math.nan,
        "pixel_size_um": "" if pixel_size is None else "x".join("?" if s is None else f"{s:g}" for s in pixel_size),
    }


def summarise_run(
    pairs: Sequence[tuple[str, str]], pixel_size: float | str | Sequence[float] | None = None
) -> list[dict]:
    """One :func:`mask_summary` row per ``(input, written mask)`` pair whose mask exists (inputs that failed have
    none). ``pixel_size`` (µm) applies to every input; without it each input's own metadata is used."""
    from microseg.io.load import read_image

    rows = []
    for source, written in pairs:
        mask = read_image(written).array
        size = parse_pixel_size(pixel_size, mask.ndim) if pixel_size is not None else pixel_size_of(source, mask.ndim)
        rows.append({"input": source, "output": written, **mask_summary(mask, size)})
    return rows


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.6g}"
    return str(value)


def _csv_cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def write_summary_csv(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """The rows as ``summary.csv`` (columns :data:`SUMMARY_FIELDS`; empty cells where a value is unknown)."""
    from microseg.io.writers import atomic_output

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _csv_cell(row.get(k, "")) for k in SUMMARY_FIELDS} for row in rows)
    with atomic_output(path) as tmp:
        tmp.write_text(text.getvalue())
    return Path(path)


def format_summary(rows: Sequence[dict]) -> str:
    """The rows as an aligned text table for the terminal: input name, shape, objects, foreground %, median size."""
    has_um = any(not math.isnan(row["median_object_size_um"]) for row in rows)
    header = ["input", "shape", "objects", "foreground", "median size (px)"] + (["median size"] * has_um)
    lines = [header]
    for row in rows:
        cells = [
            Path(str(row["input"]).split(":/")[0]).name,
            row["shape"],
            str(row["objects"]),
            f"{100 * row['foreground_fraction']:.2f}%",
            _cell(row["median_object_size_px"]) or "-",
        ]
        if has_um:
            unit = "µm³" if row["shape"].count("x") == 2 else "µm²"
            size = _cell(row["median_object_size_um"])
            cells.append(f"{size} {unit}" if size else "-")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def segmented_pairs(bundle: str | os.PathLike, input: str | os.PathLike, output: str | os.PathLike, **overrides):
    """``(input, mask)`` for every input of the bundle's data list for ``input`` (its ``input_list``, overrides
    applied) whose mask (``<name>_seg``, :func:`microseg.io.writers.output_path_like`) is in ``output``."""
    from microseg.bundle import resolve_bundle
    from microseg.config import BundleConfig
    from microseg.io.paths import split_hdf5_path
    from microseg.io.writers import output_path_like

    root = resolve_bundle(bundle)
    config = BundleConfig(
        [root / "configs" / "inference.json"],
        {k: v for k, v in overrides.items() if "#" not in k}
        | {"bundle_root": str(root), "dataset_dir": os.fspath(input), "output_dir": os.fspath(output)},
    )
    pairs = []
    for item in config.resolve("input_list"):
        source = str(item["image"])
        written = output_path_like(source, output, "_seg")
        if Path(split_hdf5_path(written)[0]).exists():
            pairs.append((source, written))
    return pairs
