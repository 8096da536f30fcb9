"""The GlaS contest metrics (MICCAI 2015 gland segmentation): object F1, object Dice, object Hausdorff, pixel F1.

Definitions as in Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS challenge
contest", Medical Image Analysis 35 (2017) 489-502, and the contest's official MATLAB evaluation code
(https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/evaluation/). ``S`` is the segmented (predicted) instance
label image, ``G`` the ground truth; 0 is background, every other value one object.

* **Object F1.** Each segmented object ``S_j`` is paired with the ground-truth object it overlaps most. It is a true
  positive when that overlap covers more than 50% of the ground-truth object (``|S_j & G_i| / |G_i| > 0.5``, as in
  the official code; the paper says "at least 50%"), otherwise a false positive. Ground-truth objects without a
  true positive are false negatives. A ground-truth object can have only one such partner, so no matching is needed.
  ``object_precision = TP / (TP + FP)``, ``object_recall = TP / (TP + FN)``, ``object_f1 = 2 TP / (2 TP + FP + FN)``,
  with TP, FP, FN summed over all images of a split.
* **Object Dice.** ``1/2 [sum_i g_i Dice(G_i, S*(G_i)) + sum_j s_j Dice(G*(S_j), S_j)]`` where ``S*(G_i)`` is the
  segmented object overlapping ``G_i`` most (Dice 0 when none overlaps), ``G*(S_j)`` likewise, and the weights
  ``g_i = |G_i| / sum |G|``, ``s_j = |S_j| / sum |S|`` run over all objects of all images of the split (pooled).
* **Object Hausdorff.** The same weighted sum with the Hausdorff distance ``H`` (Euclidean, in pixels, between the
  objects' full pixel sets) in place of Dice; an object that overlaps nothing is paired with the object of the other
  image nearest to it in Hausdorff distance.
* **Pixel F1.** F1 (= Dice) of foreground pixels (any label > 0), pixel counts summed over the split.

Ties in "overlaps most" go to the smaller label (MATLAB ``mode``). Empty rules: an image with neither objects
contributes nothing; object F1 and object Dice are 1.0 when a whole split has no object on either side and 0.0 when
only one side has none. The official code gives an infinite Hausdorff distance to an object when the other image has
no object at all; here it is the image diagonal, the largest distance possible, so that split figures stay finite;
when a whole split has no object on one side, object Hausdorff is the other side's term alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric
from scipy import ndimage

from microseg.metrics.objects import _relabel

__all__ = ["GLAS_METRICS", "GLAS_STATS", "GlasMetric", "GlasMetricHandler", "glas_image_stats", "glas_scores"]

GLAS_METRICS = ("object_f1", "object_dice", "object_hausdorff", "pixel_f1", "object_precision", "object_recall")
#: The per-image sums that :func:`glas_scores` pools, in the order of :func:`glas_image_stats`' vector.
GLAS_STATS = (
    "tp",
    "fp",
    "fn",
    "area_s",
    "area_g",
    "dice_s",
    "dice_g",
    "hausdorff_s",
    "hausdorff_g",
    "pixel_tp",
    "pixel_fp",
    "pixel_fn",
)


def _hausdorff_matrix(g: np.ndarray, n_g: int, s: np.ndarray, n_s: int) -> np.ndarray:
    """``H[i, j]``: Hausdorff distance between ground-truth object ``i + 1`` and segmented object ``j + 1``."""
    g_index, s_index = np.arange(1, n_g + 1), np.arange(1, n_s + 1)
    g_to_s = np.empty((n_g, n_s))  # max over G_i of the distance to S_j
    s_to_g = np.empty((n_g, n_s))  # max over S_j of the distance to G_i
    for j in s_index:
        g_to_s[:, j - 1] = ndimage.maximum(ndimage.distance_transform_edt(s != j), g, g_index)
    for i in g_index:
        s_to_g[i - 1, :] = ndimage.maximum(ndimage.distance_transform_edt(g != i), s, s_index)
    return np.maximum(g_to_s, s_to_g)


def _best_partner(overlap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the column of largest overlap (first on ties) and whether it overlaps at all."""
    best = overlap.argmax(axis=1)
    return best, overlap[np.arange(len(best)), best] > 0


def glas_image_stats(pred_labels: np.ndarray, true_labels: np.ndarray) -> np.ndarray:
    """The per-image sums behind the GlaS scores (see the module docstring), as a float64 vector in
    :data:`GLAS_STATS` order: TP, FP, FN; total areas of S and G; ``sum_j |S_j| Dice``, ``sum_i |G_i| Dice``;
    ``sum_j |S_j| H``, ``sum_i |G_i| H``; pixel TP, FP, FN.

    Args:
        pred_labels: segmented instance labels ``(H, W)``, 0 = background, any integer values.
        true_labels: ground-truth instance labels of the same shape.
    """
    if pred_labels.shape != true_labels.shape:
        raise ValueError(f"label shapes differ: {pred_labels.shape} vs {true_labels.shape}")
    s, n_s = _relabel(np.asarray(pred_labels))
    g, n_g = _relabel(np.asarray(true_labels))
    pixel = [np.sum((s > 0) & (g > 0)), np.sum((s > 0) & (g == 0)), np.sum((s == 0) & (g > 0))]
    counts = np.bincount(g.ravel().astype(np.int64) * (n_s + 1) + s.ravel(), minlength=(n_g + 1) * (n_s + 1))
    counts = counts.reshape(n_g + 1, n_s + 1)
    overlap, g_size, s_size = counts[1:, 1:], counts[1:, :].sum(1), counts[:, 1:].sum(0)
    if n_s == 0 or n_g == 0:
        diagonal = float(np.hypot(*pred_labels.shape[-2:]))
        return np.array(
            [0, n_s, n_g, s_size.sum(), g_size.sum(), 0, 0, diagonal * s_size.sum(), diagonal * g_size.sum(), *pixel],
            dtype=np.float64,
        )
    dice = 2.0 * overlap / (g_size[:, None] + s_size[None, :])
    hausdorff = _hausdorff_matrix(g, n_g, s, n_s)
    # segmented objects: partner G*(S_j)
    g_of_s, s_hits = _best_partner(overlap.T)
    j = np.arange(n_s)
    tp = int(np.sum(s_hits & (overlap[g_of_s, j] / g_size[g_of_s] > 0.5)))
    dice_s = np.where(s_hits, dice[g_of_s, j], 0.0)
    haus_s = np.where(s_hits, hausdorff[g_of_s, j], hausdorff.min(axis=0))
    # ground-truth objects: partner S*(G_i)
    s_of_g, g_hits = _best_partner(overlap)
    i = np.arange(n_g)
    dice_g = np.where(g_hits, dice[i, s_of_g], 0.0)
    haus_g = np.where(g_hits, hausdorff[i, s_of_g], hausdorff.min(axis=1))
    return np.array(
        [
            tp,
            n_s - tp,
            n_g - tp,
            s_size.sum(),
            g_size.sum(),
            np.sum(s_size * dice_s),
            np.sum(g_size * dice_g),
            np.sum(s_size * haus_s),
            np.sum(g_size * haus_g),
            *pixel,
        ],
        dtype=np.float64,
    )


def _ratio(num: float, den: float, both_empty: bool) -> float:
    return num / den if den > 0 else (1.0 if both_empty else 0.0)


def glas_scores(stats: np.ndarray | Sequence[float]) -> dict[str, float]:
    """The GlaS scores from per-image sums: one :func:`glas_image_stats` vector, or the sum over a split's images
    (pooling as the contest does). Empty rules in the module docstring."""
    st = dict(zip(GLAS_STATS, np.asarray(stats, dtype=np.float64).tolist(), strict=True))
    tp, fp, fn = st["tp"], st["fp"], st["fn"]
    no_objects = tp + fp + fn == 0
    area_s, area_g = st["area_s"], st["area_g"]
    if area_s > 0 and area_g > 0:
        object_dice = 0.5 * (st["dice_s"] / area_s + st["dice_g"] / area_g)
        object_hausdorff = 0.5 * (st["hausdorff_s"] / area_s + st["hausdorff_g"] / area_g)
    else:
        object_dice = 1.0 if area_s == area_g == 0 else 0.0
        object_hausdorff = st["hausdorff_s"] / area_s if area_s > 0 else (st["hausdorff_g"] / area_g if area_g else 0.0)
    p_tp, p_fp, p_fn = st["pixel_tp"], st["pixel_fp"], st["pixel_fn"]
    return {
        "object_f1": _ratio(2 * tp, 2 * tp + fp + fn, no_objects),
        "object_dice": object_dice,
        "object_hausdorff": float(object_hausdorff),
        "pixel_f1": _ratio(2 * p_tp, 2 * p_tp + p_fp + p_fn, p_tp + p_fp + p_fn == 0),
        "object_precision": _ratio(tp, tp + fp, no_objects),
        "object_recall": _ratio(tp, tp + fn, no_objects),
    }


class GlasMetric(CumulativeIterationMetric):
    """Cumulative GlaS scores over batches of instance label images, pooled over all images seen (one split).

    ``y_pred`` and ``y`` are ``(B, 1, H, W)`` instance label images (or lists of ``(1, H, W)``); the per-image
    sums are kept (:meth:`stats`) so that per-image scores can be reported too.

    Args:
        metric_name: one name or a sequence of names from :data:`GLAS_METRICS`.
    """

    def __init__(self, metric_name: str | Sequence[str] = "object_f1") -> None:
        super().__init__()
        names = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        if set(names) - set(GLAS_METRICS):
            raise ValueError(f"metric_name must be in {GLAS_METRICS}, got {names}")
        self.metric_name = names

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("GlasMetric needs the ground truth y")
        rows = [
            glas_image_stats(p[0].detach().cpu().numpy(), t[0].detach().cpu().numpy())
            for p, t in zip(y_pred, y, strict=True)
        ]
        return torch.from_numpy(np.stack(rows))

    def stats(self) -> torch.Tensor:
        """The ``(N, len(GLAS_STATS))`` per-image sums of every image seen so far."""
        data = self.get_buffer()
        return data if isinstance(data, torch.Tensor) else torch.zeros(0, len(GLAS_STATS), dtype=torch.float64)

    def aggregate(self):
        scores = glas_scores(self.stats().sum(0).numpy())
        values = [torch.tensor(scores[name]) for name in self.metric_name]
        return values[0] if len(values) == 1 else values


class GlasMetricHandler(IgniteMetricHandler):
    """Ignite handler of one :class:`GlasMetric` score (e.g. ``object_f1`` as the key validation metric)."""

    def __init__(self, metric_name: str = "object_f1", output_transform=lambda x: x, save_details: bool = True):
        super().__init__(
            metric_fn=GlasMetric(metric_name), output_transform=output_transform, save_details=save_details
        )
