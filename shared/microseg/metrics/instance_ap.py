"""Instance segmentation scores from one matching: Kaggle DSB 2018 AP, AP at one IoU, P/R/F1 at IoU 0.5, PQ.

Matching (Kaggle DSB 2018 "Evaluation"; stardist ``matching.py``): every ground-truth object ``G_i`` and predicted
object ``S_j`` of an image (instance label images, 0 = background) have ``IoU(G_i, S_j) = |G_i & S_j| / |G_i | S_j|``.
At a threshold ``t >= 0.5`` a pair is a match when ``IoU > t`` (strictly, as Kaggle); since two objects of one image
do not overlap, an object has at most one partner with ``IoU > 0.5``, so the matching is unique. Then
``TP(t)`` = matches, ``FP(t)`` = unmatched predictions, ``FN(t)`` = unmatched ground-truth objects.

Per image:

* ``precision(t) = TP(t) / (TP(t) + FP(t) + FN(t))`` (Kaggle's name for it; it is the "accuracy" of stardist);
* ``kaggle_ap`` = mean of ``precision(t)`` over ``t`` in 0.50, 0.55, ..., 0.95 (ten thresholds);
* ``ap_at(t)`` = ``precision(t)`` at one threshold.

Empty-image rule (written down here because Kaggle's page does not say): when ``TP + FP + FN = 0`` (no object in
either image) ``precision(t) = 1``; when only one of the two images has objects it is 0, as the formula gives.

Over a data set:

* ``kaggle_ap`` and ``ap_50``, ``ap_75``: **mean over images** of the per-image value (Kaggle's leaderboard score);
* ``precision_50``, ``recall_50``, ``f1_50``: from TP, FP, FN at ``IoU > 0.5`` **summed over the images** (pooled,
  stardist's ``matching_dataset(by_image=False)``): ``TP/(TP+FP)``, ``TP/(TP+FN)``, ``2TP/(2TP+FP+FN)``, 1.0
  when the denominator is 0 and nothing was expected nor predicted, else 0.0;
* ``panoptic_quality`` (Kirillov et al. 2019) = SQ x RQ, pooled the same way: ``SQ`` = mean IoU of the matched
  pairs at ``IoU > 0.5``, ``RQ = TP / (TP + FP/2 + FN/2)`` (= ``f1_50``); 1.0 for a data set without any object.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric

from microseg.metrics.objects import iou_matrix

__all__ = [
    "INSTANCE_METRICS",
    "KAGGLE_THRESHOLDS",
    "InstanceMatchingMetric",
    "InstanceMatchingMetricHandler",
    "instance_scores",
    "kaggle_ap",
    "matching_counts",
]

KAGGLE_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
INSTANCE_METRICS = (
    "kaggle_ap",
    "ap_50",
    "ap_75",
    "precision_50",
    "recall_50",
    "f1_50",
    "panoptic_quality",
    "segmentation_quality",
)


def matching_counts(
    true_labels: np.ndarray, pred_labels: np.ndarray, thresholds: Sequence[float] = KAGGLE_THRESHOLDS
) -> np.ndarray:
    """TP, FP, FN at each IoU threshold (match when ``IoU > t``), and the summed IoU of the matches.

    Args:
        true_labels: ground-truth instance labels (0 = background).
        pred_labels: predicted instance labels of the same shape.
        thresholds: IoU thresholds, each at least 0.5 (below, the matching is no longer unique).

    Returns:
        float64 ``(len(thresholds), 4)``: columns TP, FP, FN, sum of the matched pairs' IoU.
    """
    if min(thresholds) < 0.5:
        raise ValueError(f"IoU thresholds must be at least 0.5 for a unique matching, got {min(thresholds)}")
    iou = iou_matrix(true_labels, pred_labels)
    n_true, n_pred = iou.shape
    rows = []
    for t in thresholds:
        matched = iou[iou > t]
        tp = len(matched)
        rows.append([tp, n_pred - tp, n_true - tp, matched.sum()])
    return np.asarray(rows, dtype=np.float64).reshape(len(thresholds), 4)


def _precision(counts: np.ndarray) -> np.ndarray:
    """Kaggle's TP / (TP + FP + FN) per row of ``(..., 4)`` counts, 1.0 where nothing was expected nor predicted."""
    tp, total = counts[..., 0], counts[..., :3].sum(-1)
    return np.where(total > 0, tp / np.maximum(total, 1), 1.0)


def kaggle_ap(true_labels: np.ndarray, pred_labels: np.ndarray) -> float:
    """Kaggle DSB 2018 score of one image: mean over IoU thresholds 0.50..0.95 of TP/(TP+FP+FN) (module docstring)."""
    return float(_precision(matching_counts(true_labels, pred_labels)).mean())


def _ratio(num: float, den: float, empty: bool) -> float:
    return float(num / den) if den > 0 else (1.0 if empty else 0.0)


def instance_scores(counts: np.ndarray) -> dict[str, float]:
    """All :data:`INSTANCE_METRICS` of a data set from per-image counts (see the module docstring for the averaging).

    Args:
        counts: ``(n_images, len(KAGGLE_THRESHOLDS), 4)`` from :func:`matching_counts` of each image.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1, len(KAGGLE_THRESHOLDS), 4)
    if len(counts) == 0:
        return dict.fromkeys(INSTANCE_METRICS, float("nan"))
    per_image = _precision(counts)  # (n_images, n_thresholds)
    tp, fp, fn, iou_sum = counts[:, 0].sum(0)  # pooled at IoU > 0.5
    empty = tp + fp + fn == 0
    sq = _ratio(iou_sum, tp, empty)
    rq = _ratio(tp, tp + 0.5 * fp + 0.5 * fn, empty)
    return {
        "kaggle_ap": float(per_image.mean()),
        "ap_50": float(per_image[:, 0].mean()),
        "ap_75": float(per_image[:, KAGGLE_THRESHOLDS.index(0.75)].mean()),
        "precision_50": _ratio(tp, tp + fp, empty),
        "recall_50": _ratio(tp, tp + fn, empty),
        "f1_50": _ratio(2 * tp, 2 * tp + fp + fn, empty),
        "panoptic_quality": sq * rq,
        "segmentation_quality": sq,
    }


class InstanceMatchingMetric(CumulativeIterationMetric):
    """Cumulative Kaggle AP, AP@t, P/R/F1@0.5 and panoptic quality over batches of instance label images.

    Each batch item is a ``(1, H, W)`` instance label image (prediction and ground truth); the per-image counts of
    :func:`matching_counts` are kept (:meth:`counts`), and :meth:`aggregate` reduces them as the module docstring
    says (Kaggle AP: mean over images; P/R/F1/PQ: pooled).

    Args:
        metric_name: one name or a sequence of names from :data:`INSTANCE_METRICS`.
    """

    def __init__(self, metric_name: str | Sequence[str] = "kaggle_ap") -> None:
        super().__init__()
        names = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        if set(names) - set(INSTANCE_METRICS):
            raise ValueError(f"metric_name must be in {INSTANCE_METRICS}, got {names}")
        self.metric_name = names

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("InstanceMatchingMetric needs the ground-truth labels y")
        rows = [
            matching_counts(t[0].detach().cpu().numpy(), p[0].detach().cpu().numpy())
            for p, t in zip(y_pred, y, strict=True)
        ]
        return torch.as_tensor(np.stack(rows), dtype=torch.float64)

    def counts(self) -> np.ndarray:
        """``(n_images, 10, 4)`` TP/FP/FN/IoU-sum of every image seen so far, at each Kaggle threshold."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            return np.zeros((0, len(KAGGLE_THRESHOLDS), 4))
        return data.cpu().numpy()

    def aggregate(self):
        scores = instance_scores(self.counts())
        values = [torch.tensor(scores[name]) for name in self.metric_name]
        return values[0] if len(values) == 1 else values


class InstanceMatchingMetricHandler(IgniteMetricHandler):
    """Ignite handler of one :class:`InstanceMatchingMetric` score (e.g. ``kaggle_ap`` as an evaluator's key metric)."""

    def __init__(self, metric_name: str = "kaggle_ap", output_transform=lambda x: x, save_details: bool = True) -> None:
        super().__init__(
            metric_fn=InstanceMatchingMetric(metric_name),
            output_transform=output_transform,
            save_details=save_details,
        )
