"""Pixel (voxel) level scores of a binary segmentation: Dice/F1, IoU (Jaccard), precision, recall.

Definitions, from the per-image confusion counts TP, FP, FN of the foreground (value 1):

* ``dice`` = F1 = 2 TP / (2 TP + FP + FN)
* ``iou`` (Jaccard) = TP / (TP + FP + FN)
* ``precision`` = TP / (TP + FP)
* ``recall`` = TP / (TP + FN)

Empty-image rule: a ratio whose denominator is 0 is 1.0 when neither mask has any foreground (TP = FP = FN = 0),
else 0.0. Averaging: ``reduction="dataset"`` pools the counts of all images (and slices) first and computes each
score once ("micro"); ``reduction="image"`` computes the score per image and takes the mean ("macro").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric

__all__ = [
    "FOREGROUND_METRICS",
    "ForegroundMetric",
    "ForegroundMetricHandler",
    "foreground_counts",
    "scores_from_counts",
]

FOREGROUND_METRICS = ("dice", "iou", "precision", "recall")


def foreground_counts(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """TP, FP, FN and TN per image of binary masks.

    Args:
        y_pred: binarised prediction ``(B, 1, *spatial)`` (values 0/1, any dtype).
        y: ground truth of the same shape.

    Returns:
        ``(B, 4)`` float64 counts in the order TP, FP, FN, TN.
    """
    if y_pred.shape != y.shape:
        raise ValueError(f"prediction and label shapes differ: {tuple(y_pred.shape)} vs {tuple(y.shape)}")
    p = y_pred.reshape(y_pred.shape[0], -1) > 0.5
    t = y.reshape(y.shape[0], -1) > 0.5
    tp = (p & t).sum(1)
    fp = (p & ~t).sum(1)
    fn = (~p & t).sum(1)
    tn = (~p & ~t).sum(1)
    return torch.stack([tp, fp, fn, tn], dim=1).to(torch.float64)


def _ratio(num: torch.Tensor, den: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp(min=1), torch.where(empty, 1.0, 0.0).to(num.dtype))


def scores_from_counts(counts: torch.Tensor) -> dict[str, torch.Tensor]:
    """Dice, IoU, precision and recall from ``(..., 4)`` TP/FP/FN/TN counts (see the module docstring)."""
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    empty = (tp + fp + fn) == 0
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, empty),
        "iou": _ratio(tp, tp + fp + fn, empty),
        "precision": _ratio(tp, tp + fp, empty),
        "recall": _ratio(tp, tp + fn, empty),
    }


class ForegroundMetric(CumulativeIterationMetric):
    """Cumulative Dice/IoU/precision/recall over batches, with per-image counts kept.

    Args:
        metric_name: one name or a sequence of names from :data:`FOREGROUND_METRICS`.
        reduction: ``"dataset"`` (pool the counts, then score) or ``"image"`` (mean of per-image scores).

    ``aggregate()`` returns one tensor per name, in order (a single tensor for a single name).
    """

    def __init__(self, metric_name: str | Sequence[str] = "dice", reduction: str = "dataset") -> None:
        super().__init__()
        names = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        unknown = set(names) - set(FOREGROUND_METRICS)
        if unknown or reduction not in ("dataset", "image"):
            raise ValueError(
                f"metric_name must be in {FOREGROUND_METRICS}, reduction 'dataset' or 'image'; "
                f"got {names}, {reduction!r}"
            )
        self.metric_name, self.reduction = names, reduction

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("ForegroundMetric needs the label y")
        return foreground_counts(y_pred, y)

    def counts(self) -> torch.Tensor:
        """The ``(N, 4)`` TP/FP/FN/TN counts of every image seen so far."""
        data = self.get_buffer()
        return data if isinstance(data, torch.Tensor) else torch.zeros(0, 4, dtype=torch.float64)

    def aggregate(self):
        counts = self.counts()
        if self.reduction == "dataset":
            scores = scores_from_counts(counts.sum(0))
        else:
            scores = {k: v.mean() for k, v in scores_from_counts(counts).items()}
        values = [scores[name] for name in self.metric_name]
        return values[0] if len(values) == 1 else values


class ForegroundMetricHandler(IgniteMetricHandler):
    """Ignite handler of one :class:`ForegroundMetric` score (``metric_name``), for ``key_val_metric`` and co."""

    def __init__(
        self,
        metric_name: str = "dice",
        reduction: str = "dataset",
        output_transform=lambda x: x,
        save_details: bool = True,
    ) -> None:
        super().__init__(
            metric_fn=ForegroundMetric(metric_name, reduction),
            output_transform=output_transform,
            save_details=save_details,
        )
