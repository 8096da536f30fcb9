"""Precision, recall and F1 of a probability map at every threshold ``k / levels`` at once, to pick the threshold.

Definitions: a pixel is foreground when its probability is ``>= t`` (as MONAI's ``AsDiscrete(threshold=t)``); from
the confusion counts TP, FP, FN of the foreground, ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)`` and
``F1 = 2 TP / (2 TP + FP + FN)`` (= Dice). Empty-image rule: a ratio whose denominator is 0 is 1.0 when neither mask
has foreground, else 0.0 (as :mod:`microseg.metrics.foreground`). Averaging: :meth:`ThresholdScan.aggregate` pools
the counts of every image (slice) first ("per dataset", the scores tuned and reported in the model cards) and also
gives the mean of the per-image scores ("per image").
"""

from __future__ import annotations

import numpy as np

__all__ = ["ThresholdScan", "scan_counts", "scores_at"]


def scan_counts(probability: np.ndarray, label: np.ndarray, levels: int = 255) -> np.ndarray:
    """TP, FP and FN at the thresholds ``k / levels`` for ``k = 1 .. levels - 1``, from one histogram pass.

    Args:
        probability: foreground probabilities, any shape.
        label: binary ground truth (non-zero = foreground), same shape.
        levels: thresholds are multiples of ``1 / levels`` (255: the ``k/255`` thresholds of CDeep3M's 8-bit maps).

    Returns:
        ``(levels - 1, 3)`` int64 counts TP, FP, FN; row ``k - 1`` is the threshold ``k / levels`` (compared in
        float32, as the post-processing compares).
    """
    if probability.shape != label.shape:
        raise ValueError(f"probability and label shapes differ: {probability.shape} vs {label.shape}")
    thresholds = (np.arange(1, levels, dtype=np.float64) / levels).astype(np.float32)
    above = np.searchsorted(thresholds, np.asarray(probability, np.float32).ravel(), side="right")  # thresholds <= p
    truth = np.asarray(label).ravel() > 0
    positives = [np.bincount(above[mask], minlength=levels)[::-1].cumsum()[::-1] for mask in (truth, ~truth)]
    tp, fp = positives[0][1:], positives[1][1:]  # predicted foreground at threshold k: above >= k
    fn = int(truth.sum()) - tp
    return np.stack([tp, fp, fn], axis=1).astype(np.int64)


def _ratio(num: np.ndarray, den: np.ndarray, empty: np.ndarray) -> np.ndarray:
    return np.where(den > 0, num / np.maximum(den, 1), np.where(empty, 1.0, 0.0))


def scores_at(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall and F1 from ``(..., 3)`` TP/FP/FN counts (see the module docstring)."""
    tp, fp, fn = (counts[..., i].astype(np.float64) for i in range(3))
    empty = (tp + fp + fn) == 0
    return {
        "precision": _ratio(tp, tp + fp, empty),
        "recall": _ratio(tp, tp + fn, empty),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, empty),
    }


class ThresholdScan:
    """Accumulate :func:`scan_counts` over images (slices) and choose the threshold of the best pooled F1.

    Example::

        scan = ThresholdScan()
        for prob, label in slices:
            scan.add(prob, label)
        result = scan.aggregate()  # {"threshold": 0.157, "f1": ..., "precision": ..., "recall": ..., ...}
    """

    def __init__(self, levels: int = 255) -> None:
        self.levels = levels
        self.per_image: list[np.ndarray] = []

    def add(self, probability: np.ndarray, label: np.ndarray) -> None:
        """Count one image (or one slice)."""
        self.per_image.append(scan_counts(probability, label, self.levels))

    def curve(self) -> dict[str, np.ndarray]:
        """Pooled precision, recall and F1 at every threshold, with the thresholds."""
        if not self.per_image:
            raise ValueError("ThresholdScan: no image was added")
        scores = scores_at(np.sum(self.per_image, axis=0))
        return {"threshold": np.arange(1, self.levels) / self.levels, **scores}

    def aggregate(self, threshold: float | None = None) -> dict[str, float]:
        """Scores at ``threshold`` (rounded to the nearest ``k / levels``), or at the threshold of the best pooled
        F1 when ``None``: ``threshold``, pooled ``precision``/``recall``/``f1``, ``f1_per_image`` (mean of the
        per-image F1) and ``images``."""
        curve = self.curve()
        if threshold is None:
            index = int(np.argmax(curve["f1"]))
        else:
            index = int(np.clip(round(threshold * self.levels) - 1, 0, self.levels - 2))
        per_image = scores_at(np.stack(self.per_image)[:, index])["f1"]
        return {
            "threshold": (index + 1) / self.levels,
            "precision": float(curve["precision"][index]),
            "recall": float(curve["recall"][index]),
            "f1": float(curve["f1"][index]),
            "f1_per_image": float(per_image.mean()),
            "images": len(self.per_image),
        }
