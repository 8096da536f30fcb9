"""What the evaluation reports share: the source name of an engine output item, and the atomic writing of
``metrics.json`` with its per-image (or per-slice) CSV table."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from microseg.io.writers import atomic_output

__all__ = ["as_numpy", "item_source", "write_report_files"]


def as_numpy(x) -> np.ndarray:
    """A tensor or array as a NumPy array (detached, on the CPU)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def item_source(item: dict, fallback: str) -> str:
    """The file that an engine output item's ``image`` was loaded from (``filename_or_obj``), else ``fallback``."""
    path = getattr(item.get("image"), "meta", {}).get("filename_or_obj")
    return str(path) if path else fallback


def write_report_files(
    output_dir: str | os.PathLike,
    metrics_file: str,
    metrics: dict,
    table_file: str,
    fieldnames: Sequence[str],
    rows: list[dict],
) -> None:
    """Write ``metrics`` as JSON and ``rows`` as a CSV table into ``output_dir``, each file atomically."""
    output_dir = Path(output_dir)
    with atomic_output(output_dir / metrics_file) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames))
    writer.writeheader()
    writer.writerows(rows)
    with atomic_output(output_dir / table_file) as tmp:
        tmp.write_text(buffer.getvalue())
