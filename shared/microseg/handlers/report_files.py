"""What the evaluation reports share: the source name of an engine output item, the atomic writing of
``metrics.json`` with its per-image (or per-slice) CSV table, and the evaluation page ``report.html``
(:func:`write_report_page`) with the pictures of the worst images (:class:`WorstImages`)."""

from __future__ import annotations

import csv
import heapq
import io
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from microseg.errors import MicrosegInputError
from microseg.io.writers import atomic_output
from microseg.metrics.objects import IOU_THRESHOLDS, match_counts_by_threshold, precision_recall_by_threshold
from microseg.reporting.html import format_value, write_html_report
from microseg.reporting.overlay import display_image, fit_size, outline_overlay, resize_image, resize_labels

__all__ = [
    "WorstImages",
    "as_numpy",
    "display_slice",
    "display_thumbnail",
    "item_source",
    "object_curve",
    "write_report_files",
    "write_report_page",
]

#: Longest side, in pixels, of the pictures of the worst images on the evaluation page.
PICTURE_SIZE = 480


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


def object_curve(
    items: Sequence[tuple[str, np.ndarray, np.ndarray]], rule: str, objects: Callable | None = None
) -> dict:
    """Object precision, recall and F1 at IoU thresholds 0.50 ... 0.95 of ``(name, pred, true)`` items, pooled over
    the images (:func:`~microseg.metrics.objects.precision_recall_by_threshold`), with ``rule`` (how objects are made
    and matched) under ``"rule"``. ``objects`` turns a mask into object labels (e.g. ``label_objects``); without it the
    images already hold instance labels."""

    def as_objects(labels: np.ndarray) -> np.ndarray:
        return labels if objects is None else objects(labels)

    counts = [match_counts_by_threshold(as_objects(true), as_objects(pred)) for _, pred, true in items]
    curve = precision_recall_by_threshold(np.asarray(counts).reshape(-1, len(IOU_THRESHOLDS), 3), IOU_THRESHOLDS)
    curve["rule"] = rule
    return curve


def _middle(array: np.ndarray) -> np.ndarray:
    """A label image ``(H, W)``, or the middle slice of a stack ``(Z, H, W)``."""
    array = np.asarray(array)
    return array[array.shape[0] // 2] if array.ndim == 3 else array


def display_slice(image) -> np.ndarray:
    """An engine output item's channel-first ``image`` as something to show: ``(C, H, W)`` -> ``(H, W)`` (first
    channel) or ``(H, W, 3)`` (for 3 or 4 channels); a stack ``(C, Z, H, W)`` gives its middle slice."""
    array = as_numpy(image)
    if array.ndim == 4:
        array = array[:, array.shape[1] // 2]
    if array.ndim == 2:
        return array
    if array.ndim != 3:
        raise MicrosegInputError(
            f"an evaluation image must be channel-first (C, H, W) or (C, Z, H, W), got shape {array.shape}"
        )
    return np.moveaxis(array[:3], 0, -1) if array.shape[0] in (3, 4) else array[0]


def display_thumbnail(image, size: Sequence[int]) -> np.ndarray:
    """:func:`display_slice` of an engine ``image`` as a uint8 RGB picture of ``size = (height, width)`` (resized
    to the labels' picture size, so a prediction at another scale than the network input still lines up)."""
    return resize_image(display_image(display_slice(image)), size)


class WorstImages:
    """The ``k`` images with the lowest score, each kept only as a small picture of its prediction (green) and
    ground-truth (magenta) outlines: memory does not grow with the number of images.

    Args:
        k: images kept (0: none).
        max_side: longest side of a picture in pixels (the middle slice for stacks).
    """

    def __init__(self, k: int = 4, max_side: int = PICTURE_SIZE) -> None:
        self.k, self.max_side = k, max_side
        self._heap: list[
            tuple[float, int, str, tuple[float, np.ndarray]]
        ] = []  # (-score, -order, name, picture): a max-heap
        self._order = itertools.count()

    def clear(self) -> None:
        self._heap.clear()

    def picture_size(self, label_shape: Sequence[int]) -> tuple[int, int]:
        """The ``(height, width)`` of the picture of a label image ``(H, W)`` or stack ``(Z, H, W)``."""
        return fit_size(tuple(label_shape)[-2:], self.max_side, self.max_side)

    def wants(self, score: float) -> bool:
        """Whether an image with ``score`` would be kept (NaN counts as the lowest score)."""
        score = -math.inf if math.isnan(score) else score
        return self.k > 0 and (len(self._heap) < self.k or score < -self._heap[0][0])

    def offer(
        self,
        name: str,
        score: float,
        pred: np.ndarray,
        true: np.ndarray,
        image=None,
        thumbnail: np.ndarray | None = None,
    ) -> None:
        """Keep the picture of one image if its score is among the ``k`` lowest so far.

        Args:
            name: image name.
            score: its score (lower is worse).
            pred, true: predicted and true masks or instance labels, ``(H, W)`` or ``(Z, H, W)``.
            image: the engine's channel-first image (drawn under the outlines), or
            thumbnail: an already made :func:`display_thumbnail`; with neither, the outlines are drawn on black.
        """
        if not self.wants(score):
            return
        pred, true = _middle(pred), _middle(true)
        size = self.picture_size(true.shape)
        if thumbnail is None:
            thumbnail = display_thumbnail(image, size) if image is not None else np.zeros((*size, 3), np.uint8)
        picture = outline_overlay(thumbnail, resize_labels(pred, size), resize_labels(true, size))
        key = -math.inf if math.isnan(score) else score
        heapq.heappush(self._heap, (-key, -next(self._order), name, (float(score), picture)))
        if len(self._heap) > self.k:
            heapq.heappop(self._heap)

    def pictures(self) -> list[tuple[str, float, np.ndarray]]:
        """``(name, score, picture)`` of the kept images, lowest score first."""
        kept = sorted(self._heap, key=lambda entry: (-entry[0], -entry[1]))
        return [(name, score, picture) for _, _, name, (score, picture) in kept]


def write_report_page(
    path: str | os.PathLike,
    title: str,
    metrics: Mapping,
    rows: Sequence[Mapping],
    score_key: str,
    curve: Mapping | None,
    worst: WorstImages | None,
    notes: Sequence[str] = (),
) -> Path:
    """Write an evaluation's ``report.html`` (:func:`microseg.reporting.html.write_html_report`): ``metrics`` with
    their ``"definitions"``, a bar per row of ``row["image"]``'s ``score_key``, the curve and the worst images."""
    pictures = [
        (f"{name} \u2014 {score_key} {format_value(score)}", picture)
        for name, score, picture in (worst.pictures() if worst is not None else [])
    ]
    definitions = metrics.get("definitions") if isinstance(metrics.get("definitions"), Mapping) else None
    return write_html_report(path, title, metrics, definitions, rows, score_key, curve, pictures, notes=notes)
