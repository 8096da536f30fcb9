"""Evaluation report: ``metrics.json`` (whole data set), ``per_slice.csv`` (every slice of every image) and the page
``report.html`` (Dice per image, object precision/recall against the IoU threshold, the worst images)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from ignite.engine import Engine, Events

from microseg.handlers.report_files import (
    WorstImages,
    as_numpy,
    item_source,
    object_curve,
    write_report_files,
    write_report_page,
)
from microseg.metrics.foreground import foreground_counts, scores_from_counts
from microseg.metrics.objects import label_objects, match_objects, object_scores, object_sizes

__all__ = ["SegmentationReport", "segmentation_report"]

logger = logging.getLogger(__name__)

DEFINITIONS = {
    "dice, iou, precision, recall": "foreground pixel scores from TP/FP/FN pooled over all images (per-dataset)",
    "dice_per_image": "mean over images of the per-image Dice",
    "objects": "connected components (face connectivity), in 3D for stacks; matched one to one at IoU >= "
    "iou_threshold; objects_found = matched ground-truth objects out of objects_total",
    "slice_objects": "the same with the 2D objects of every slice, TP/FP/FN pooled over all slices",
    "mean_object_volume": "mean volume of the 3D objects (voxel count x voxel volume), predicted and true",
    "mean_object_area": "mean area of the 2D objects of every slice (pixel count x pixel area), predicted and true",
    "empty rule": "a ratio with a zero denominator is 1 when both masks are empty, else 0",
}


def image_dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Foreground Dice of one image or stack (the per-image Dice behind ``dice_per_image``)."""
    pred, true = (np.asarray(pred) > 0).astype(np.uint8), (np.asarray(true) > 0).astype(np.uint8)
    counts = foreground_counts(torch.from_numpy(pred[None, None]), torch.from_numpy(true[None, None]))
    return float(scores_from_counts(counts)["dice"][0])


OBJECT_CURVE_RULE = (
    "objects: connected components (face connectivity, 3D in stacks); a ground-truth and a predicted object match one "
    "to one at IoU >= t; precision = TP/(TP+FP), recall = TP/(TP+FN), TP/FP/FN pooled over images"
)


def _slice_row(
    name: str,
    z: int,
    pred: np.ndarray,
    true: np.ndarray,
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    iou_threshold: float,
) -> dict:
    counts = foreground_counts(torch.from_numpy(pred[None, None]), torch.from_numpy(true[None, None]))[0]
    scores = {k: float(v) for k, v in scores_from_counts(counts).items()}
    match = match_objects(true_labels, pred_labels, iou_threshold)
    return {
        "image": name,
        "slice": z,
        **scores,
        "true_objects": match.n_true,
        "pred_objects": match.n_pred,
        "matched_objects": match.tp,
    }


def segmentation_report(
    items: Sequence[tuple[str, np.ndarray, np.ndarray]],
    voxel_size: Sequence[float],
    iou_threshold: float = 0.5,
    unit: str = "nm",
) -> tuple[dict, list[dict]]:
    """Compute the whole-data-set metrics and the per-slice rows.

    Args:
        items: ``(name, prediction, truth)`` per image; binary arrays ``(H, W)`` or ``(Z, H, W)``.
        voxel_size: size of a voxel ``(z, y, x)`` (the last two values are used for 2D images).
        iou_threshold: object matching threshold.
        unit: unit of ``voxel_size``; names the size keys, e.g. ``mean_object_volume_nm3``.

    Returns:
        ``(metrics, rows)``: metrics as in :data:`DEFINITIONS`; one row per slice.
    """
    counts, obj = [], np.zeros(3)
    sizes: dict[str, list[np.ndarray]] = {"pred_volume": [], "true_volume": [], "pred_area": [], "true_area": []}
    rows: list[dict] = []
    for name, pred, true in items:
        pred, true = (np.asarray(pred) > 0).astype(np.uint8), (np.asarray(true) > 0).astype(np.uint8)
        counts.append(foreground_counts(torch.from_numpy(pred[None, None]), torch.from_numpy(true[None, None]))[0])
        true_labels, pred_labels = label_objects(true), label_objects(pred)
        match = match_objects(true_labels, pred_labels, iou_threshold)
        obj += (match.tp, match.fp, match.fn)
        stack = pred if pred.ndim == 3 else pred[None]
        truth = true if true.ndim == 3 else true[None]
        if pred.ndim == 3:
            sizes["pred_volume"].append(object_sizes(pred_labels, voxel_size[-3:]))
            sizes["true_volume"].append(object_sizes(true_labels, voxel_size[-3:]))
        for z, (p, t) in enumerate(zip(stack, truth, strict=True)):
            p_labels, t_labels = label_objects(p), label_objects(t)
            rows.append(_slice_row(name, z, p, t, p_labels, t_labels, iou_threshold))
            sizes["pred_area"].append(object_sizes(p_labels, voxel_size[-2:]))
            sizes["true_area"].append(object_sizes(t_labels, voxel_size[-2:]))
    all_counts = torch.stack(counts)
    metrics = {k: float(v) for k, v in scores_from_counts(all_counts.sum(0)).items()}
    metrics["dice_per_image"] = float(scores_from_counts(all_counts)["dice"].mean())
    metrics.update(object_scores(*obj.tolist()))
    tp = sum(r["matched_objects"] for r in rows)
    per_slice = object_scores(tp, sum(r["pred_objects"] for r in rows) - tp, sum(r["true_objects"] for r in rows) - tp)
    metrics.update({f"slice_{k}": v for k, v in per_slice.items()})
    for kind, power in (("volume", 3), ("area", 2)):
        for who in ("pred", "true"):
            values = np.concatenate(sizes[f"{who}_{kind}"]) if sizes[f"{who}_{kind}"] else np.zeros(0)
            prefix = "" if who == "pred" else "true_"
            metrics[f"{prefix}mean_object_{kind}_{unit}{power}"] = float(values.mean()) if values.size else None
    metrics.update(
        {
            "n_images": len(counts),
            "n_slices": len(rows),
            "iou_threshold": iou_threshold,
            "voxel_size": list(map(float, voxel_size)),
            "unit": unit,
            "definitions": DEFINITIONS,
        }
    )
    return metrics, rows


class SegmentationReport:
    """Collect predictions and labels during an evaluation run; write ``metrics.json``, ``per_slice.csv`` and
    ``report.html``.

    Attach to a ``SupervisedEvaluator`` whose post-processing leaves binarised ``pred`` and ``label`` of shape
    ``(1, H, W)`` or ``(1, Z, H, W)`` per item. Files are written atomically when the run completes. The page shows
    the Dice of every image, the object precision/recall curve and the ``worst_images`` images of lowest Dice (the
    middle slice of a stack) with prediction and ground-truth outlines over the item's ``image``.

    Args:
        output_dir: folder of the files.
        voxel_size: ``(z, y, x)`` voxel size in ``unit``.
        iou_threshold: object matching threshold.
        unit: unit of ``voxel_size``.
        metrics_file, per_slice_file: file names.
        html_report: also write the page ``html_file``.
        html_file: its file name.
        worst_images: how many of the worst images the page shows.
        title: the page title.
    """

    def __init__(
        self,
        output_dir: str | os.PathLike,
        voxel_size: Sequence[float] = (1.0, 1.0, 1.0),
        iou_threshold: float = 0.5,
        unit: str = "nm",
        metrics_file: str = "metrics.json",
        per_slice_file: str = "per_slice.csv",
        html_report: bool = True,
        html_file: str = "report.html",
        worst_images: int = 4,
        title: str = "Segmentation evaluation",
    ) -> None:
        self.output_dir = Path(output_dir)
        self.voxel_size, self.iou_threshold, self.unit = tuple(voxel_size), iou_threshold, unit
        self.metrics_file, self.per_slice_file = metrics_file, per_slice_file
        self.html_report, self.html_file, self.title = html_report, html_file, title
        self.items: list[tuple[str, np.ndarray, np.ndarray]] = []
        self.worst = WorstImages(worst_images)
        self.metrics: dict = {}

    def reset(self, engine: Engine | None = None) -> None:
        self.items.clear()
        self.worst.clear()

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.reset)
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.collect)
        engine.add_event_handler(Events.COMPLETED, self.write)

    def collect(self, engine: Engine) -> None:
        for item in engine.state.output:
            pred, label = item["pred"], item["label"]
            name = item_source(item, f"image_{len(self.items)}")
            self.items.append((name, as_numpy(pred)[0], as_numpy(label)[0]))
            if self.html_report:
                _, p, t = self.items[-1]
                self.worst.offer(Path(name).name, image_dice(p, t), p, t, image=item.get("image"))

    def write(self, engine: Engine | None = None) -> None:
        self.metrics, rows = segmentation_report(self.items, self.voxel_size, self.iou_threshold, self.unit)
        fieldnames = list(rows[0]) if rows else ["image", "slice"]
        write_report_files(self.output_dir, self.metrics_file, self.metrics, self.per_slice_file, fieldnames, rows)
        logger.info("evaluation: %s", {k: v for k, v in self.metrics.items() if k != "definitions"})
        if self.html_report:
            self.write_page()

    def write_page(self) -> None:
        """Write ``report.html`` from the collected items and :attr:`metrics`."""
        scores = [{"image": Path(name).name, "dice": image_dice(p, t)} for name, p, t in self.items]
        notes = [
            f"{len(self.items)} images; bars: foreground Dice of each image (whole stack for stacks), "
            f"pictures: the middle slice; tables next to this page: {self.metrics_file}, {self.per_slice_file}"
        ]
        curve = object_curve(self.items, OBJECT_CURVE_RULE, label_objects) if self.items else None
        write_report_page(
            self.output_dir / self.html_file, self.title, self.metrics, scores, "dice", curve, self.worst, notes
        )
