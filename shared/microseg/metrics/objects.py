"""Object-level evaluation: connected components, one-to-one matching at an IoU threshold, physical sizes.

An object is a connected component of the binary mask (face connectivity, i.e. 4-connected in 2D and
6-connected in 3D, unless ``connectivity`` says otherwise); a stack is labelled in 3D. A ground-truth object and a
predicted object match when their IoU is at least ``iou_threshold`` (0.5 by default); each object is matched at
most once, the pairing maximising the summed IoU (Hungarian algorithm, as in StarDist's ``matching``). With a
threshold above 0.5 the pairing is unique anyway.

* TP = matched pairs, FP = unmatched predicted objects, FN = unmatched ground-truth objects;
* ``object_precision`` = TP / (TP + FP), ``object_recall`` = TP / (TP + FN), ``object_f1`` = 2 TP / (2 TP + FP + FN);
* ``objects_found`` = TP out of ``objects_total`` = TP + FN ground-truth objects ("300 of 302 found").

Empty rule as for the pixel scores: a zero denominator gives 1.0 when both images have no object, else 0.0.
Cumulative scores pool TP/FP/FN over all images (per-dataset averaging).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from microseg.ops.labels import relabel as _relabel

__all__ = [
    "IOU_THRESHOLDS",
    "OBJECT_METRICS",
    "ObjectMatch",
    "ObjectMatchingMetric",
    "ObjectMatchingMetricHandler",
    "iou_matrix",
    "label_objects",
    "match_counts_by_threshold",
    "match_objects",
    "object_scores",
    "object_sizes",
    "precision_recall_by_threshold",
]

OBJECT_METRICS = ("object_precision", "object_recall", "object_f1", "objects_found", "objects_total")
#: The IoU matching thresholds of a precision/recall curve: 0.50, 0.55, ..., 0.95.
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def label_objects(mask: np.ndarray, connectivity: int = 1) -> np.ndarray:
    """Connected components of a binary ``mask`` (2D or 3D) as an int32 label image (0 = background).

    Args:
        mask: binary array; anything above 0 is foreground.
        connectivity: 1 = face neighbours only; ``mask.ndim`` = faces, edges and corners.
    """
    structure = ndimage.generate_binary_structure(mask.ndim, connectivity)
    labels, _ = ndimage.label(np.asarray(mask) > 0, structure=structure)
    return labels.astype(np.int32, copy=False)


@dataclass(frozen=True)
class ObjectMatch:
    """Result of :func:`match_objects`: counts, matched label pairs and their IoU."""

    tp: int
    fp: int
    fn: int
    pairs: tuple[tuple[int, int], ...]
    ious: tuple[float, ...]

    @property
    def n_true(self) -> int:
        return self.tp + self.fn

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp


def _iou_matrix(gt: np.ndarray, pred: np.ndarray, n_gt: int, n_pred: int) -> np.ndarray:
    overlap = np.bincount(
        gt.ravel().astype(np.int64) * (n_pred + 1) + pred.ravel(), minlength=(n_gt + 1) * (n_pred + 1)
    )
    overlap = overlap.reshape(n_gt + 1, n_pred + 1)
    gt_sizes, pred_sizes = overlap.sum(1, keepdims=True), overlap.sum(0, keepdims=True)
    inter = overlap[1:, 1:]
    union = gt_sizes[1:] + pred_sizes[:, 1:] - inter
    return inter / np.maximum(union, 1)


def iou_matrix(true_labels: np.ndarray, pred_labels: np.ndarray) -> np.ndarray:
    """IoU of every ground-truth object (rows) with every predicted object (columns), in increasing label order.

    Args:
        true_labels: ground-truth instance labels (0 = background), any integer values, any shape.
        pred_labels: predicted instance labels of the same shape.

    Returns:
        float64 ``(n_true, n_pred)``.
    """
    true_labels, pred_labels = np.asarray(true_labels), np.asarray(pred_labels)
    if true_labels.shape != pred_labels.shape:
        raise ValueError(f"label shapes differ: {true_labels.shape} vs {pred_labels.shape}")
    gt, n_gt = _relabel(true_labels)
    pred, n_pred = _relabel(pred_labels)
    return _iou_matrix(gt, pred, n_gt, n_pred)


def match_objects(true_labels: np.ndarray, pred_labels: np.ndarray, iou_threshold: float = 0.5) -> ObjectMatch:
    """Match the objects of two label images one to one at ``IoU >= iou_threshold`` (see the module docstring).

    Args:
        true_labels: ground-truth instance labels (0 = background), any integer values.
        pred_labels: predicted instance labels of the same shape.
        iou_threshold: minimum IoU of a match, in (0, 1].

    Returns:
        the counts and the matched ``(true_label, pred_label)`` pairs in the images' own label values.
    """
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    iou = iou_matrix(true_labels, pred_labels)
    n_gt, n_pred = iou.shape
    if n_gt == 0 or n_pred == 0:
        return ObjectMatch(0, n_pred, n_gt, (), ())
    candidate = iou >= iou_threshold
    rows, cols = linear_sum_assignment(-np.where(candidate, iou, 0.0))
    keep = candidate[rows, cols]
    rows, cols = rows[keep], cols[keep]
    gt_values, pred_values = np.unique(true_labels), np.unique(pred_labels)
    gt_values, pred_values = gt_values[gt_values != 0], pred_values[pred_values != 0]
    pairs = tuple((int(gt_values[r]), int(pred_values[c])) for r, c in zip(rows, cols, strict=True))
    tp = len(pairs)
    return ObjectMatch(tp, n_pred - tp, n_gt - tp, pairs, tuple(float(v) for v in iou[rows, cols]))


def match_counts_by_threshold(
    true_labels: np.ndarray, pred_labels: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> np.ndarray:
    """TP, FP, FN of :func:`match_objects` at each IoU threshold (match at ``IoU >= t``).

    When every threshold is at least 0.5 the images are matched once, at the lowest one: above 0.5 an object has at
    most one partner, so the matching at a higher threshold keeps exactly the pairs whose IoU reaches it.

    Args:
        true_labels: ground-truth instance labels (0 = background); use :func:`label_objects` for a binary mask.
        pred_labels: predicted instance labels of the same shape.
        thresholds: IoU thresholds in (0, 1].

    Returns:
        float64 ``(len(thresholds), 3)``: columns TP, FP, FN.
    """
    thresholds = [float(t) for t in thresholds]
    if min(thresholds) < 0.5:
        matches = [match_objects(true_labels, pred_labels, t) for t in thresholds]
        return np.asarray([[m.tp, m.fp, m.fn] for m in matches], dtype=np.float64).reshape(len(thresholds), 3)
    match = match_objects(true_labels, pred_labels, min(thresholds))
    ious = np.asarray(match.ious)
    rows = [[tp := int((ious >= t).sum()), match.n_pred - tp, match.n_true - tp] for t in thresholds]
    return np.asarray(rows, dtype=np.float64).reshape(len(thresholds), 3)


def precision_recall_by_threshold(counts: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS) -> dict:
    """Object precision, recall and F1 at each IoU threshold, TP/FP/FN pooled over images (per-dataset averaging).

    Args:
        counts: ``(n_images, len(thresholds), k)`` or ``(len(thresholds), k)`` with TP, FP, FN in the first three
            columns (from :func:`match_counts_by_threshold`, or
            :func:`microseg.metrics.instance_ap.matching_counts`).
        thresholds: the thresholds of the counts' rows.

    Returns:
        ``{"thresholds", "precision", "recall", "f1", "tp", "fp", "fn"}``, each a list with one value per threshold;
        ratios follow the empty rule of :func:`object_scores`.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim == 2:
        counts = counts[None]
    if counts.ndim != 3 or counts.shape[1] != len(thresholds) or counts.shape[2] < 3:
        raise ValueError(f"counts of shape {counts.shape} do not hold TP/FP/FN at {len(thresholds)} thresholds")
    pooled = counts[..., :3].sum(0) if len(counts) else np.zeros((len(thresholds), 3))
    curve: dict[str, list[float]] = {"thresholds": [float(t) for t in thresholds]}
    for key in ("precision", "recall", "f1"):
        curve[key] = []
    for tp, fp, fn in pooled.tolist():
        scores = object_scores(tp, fp, fn)
        for key in ("precision", "recall", "f1"):
            curve[key].append(scores[f"object_{key}"])
    for index, key in enumerate(("tp", "fp", "fn")):
        curve[key] = [int(v) for v in pooled[:, index]]
    return curve


def object_scores(tp: float, fp: float, fn: float) -> dict[str, float]:
    """Object precision, recall, F1 and the found/total counts from TP/FP/FN (empty rule in the module docstring)."""
    empty = tp + fp + fn == 0

    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else (1.0 if empty else 0.0)

    return {
        "object_precision": ratio(tp, tp + fp),
        "object_recall": ratio(tp, tp + fn),
        "object_f1": ratio(2 * tp, 2 * tp + fp + fn),
        "objects_found": float(tp),
        "objects_total": float(tp + fn),
    }


def object_sizes(labels: np.ndarray, spacing: Sequence[float]) -> np.ndarray:
    """Physical size of every object of a label image: area for 2D, volume for 3D.

    Args:
        labels: instance labels (0 = background), 2D ``(H, W)`` or 3D ``(Z, H, W)``.
        spacing: pixel/voxel size per axis in the same order, e.g. ``(5, 5, 5)`` nm; the result is in that unit
            squared (2D) or cubed (3D).

    Returns:
        1D float64 array with one size per object, in increasing label order.
    """
    if len(spacing) != labels.ndim:
        raise ValueError(f"spacing has {len(spacing)} values for a {labels.ndim}D label image")
    counts = np.bincount(np.asarray(labels).ravel().astype(np.int64))[1:]
    return counts[counts > 0].astype(np.float64) * float(np.prod(spacing))


class ObjectMatchingMetric(CumulativeIterationMetric):
    """Cumulative object precision/recall/F1 over batches of binary masks, per-image TP/FP/FN kept.

    Each batch item ``(1, *spatial)`` is labelled into connected components (2D or 3D) and matched.

    Args:
        metric_name: one name or a sequence of names from :data:`OBJECT_METRICS`.
        iou_threshold: minimum IoU of a match.
        connectivity: see :func:`label_objects`.
    """

    def __init__(
        self, metric_name: str | Sequence[str] = "object_f1", iou_threshold: float = 0.5, connectivity: int = 1
    ) -> None:
        super().__init__()
        names = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        if set(names) - set(OBJECT_METRICS):
            raise ValueError(f"metric_name must be in {OBJECT_METRICS}, got {names}")
        self.metric_name, self.iou_threshold, self.connectivity = names, iou_threshold, connectivity

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("ObjectMatchingMetric needs the label y")
        rows = []
        for p, t in zip(y_pred, y, strict=True):
            p_np, t_np = p[0].detach().cpu().numpy(), t[0].detach().cpu().numpy()
            match = match_objects(
                label_objects(t_np, self.connectivity), label_objects(p_np, self.connectivity), self.iou_threshold
            )
            rows.append([match.tp, match.fp, match.fn])
        return torch.tensor(rows, dtype=torch.float64)

    def counts(self) -> torch.Tensor:
        """The ``(N, 3)`` TP/FP/FN counts of every image seen so far."""
        data = self.get_buffer()
        return data if isinstance(data, torch.Tensor) else torch.zeros(0, 3, dtype=torch.float64)

    def aggregate(self):
        tp, fp, fn = self.counts().sum(0).tolist() if len(self.counts()) else (0.0, 0.0, 0.0)
        scores = object_scores(tp, fp, fn)
        values = [torch.tensor(scores[name]) for name in self.metric_name]
        return values[0] if len(values) == 1 else values


class ObjectMatchingMetricHandler(IgniteMetricHandler):
    """Ignite handler of one :class:`ObjectMatchingMetric` score."""

    def __init__(
        self,
        metric_name: str = "object_f1",
        iou_threshold: float = 0.5,
        connectivity: int = 1,
        output_transform=lambda x: x,
        save_details: bool = True,
    ) -> None:
        super().__init__(
            metric_fn=ObjectMatchingMetric(metric_name, iou_threshold, connectivity),
            output_transform=output_transform,
            save_details=save_details,
        )
