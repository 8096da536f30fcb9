"""Kaggle DSB AP, AP at one threshold, P/R/F1 at 0.5 and panoptic quality: hand-computed cases, empty images, and
agreement with a brute-force implementation on random label images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg.metrics import (
    KAGGLE_THRESHOLDS,
    InstanceMatchingMetric,
    InstanceMatchingMetricHandler,
    instance_scores,
    kaggle_ap,
    matching_counts,
)


def _squares(*boxes, shape=(20, 20)) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    for value, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        labels[y0:y1, x0:x1] = value
    return labels


def brute_force_ap(true: np.ndarray, pred: np.ndarray) -> float:
    """Kaggle's definition written naively: object masks, pairwise IoU, count pairs above each threshold."""
    gts = [true == v for v in np.unique(true) if v]
    preds = [pred == v for v in np.unique(pred) if v]
    scores = []
    for t in KAGGLE_THRESHOLDS:
        tp = sum(1 for g in gts for p in preds if (g & p).sum() / (g | p).sum() > t)
        fp, fn = len(preds) - tp, len(gts) - tp
        scores.append(1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn))
    return float(np.mean(scores))


def test_identical_images_score_one():
    labels = _squares((0, 4, 0, 4), (10, 15, 10, 15))
    assert kaggle_ap(labels, labels * 7) == 1.0


def test_hand_computed_partial_overlap():
    # IoU 12/16 = 0.75: a match at t = 0.50..0.70 (TP 1, FN 1 -> 1/2), none from 0.75 (TP 0, FP 1, FN 2 -> 0)
    true = _squares((0, 4, 0, 4), (10, 14, 10, 14))
    pred = _squares((0, 4, 0, 3))
    counts = matching_counts(true, pred)
    assert counts[:5, :3].tolist() == [[1, 0, 1]] * 5 and counts[5:, :3].tolist() == [[0, 1, 2]] * 5
    assert kaggle_ap(true, pred) == pytest.approx(0.25)


def test_iou_exactly_at_a_threshold_is_not_a_match():
    true, pred = _squares((0, 2, 0, 4)), _squares((0, 2, 0, 2))  # IoU exactly 0.5
    assert matching_counts(true, pred)[0, :3].tolist() == [0, 1, 1]


def test_empty_image_rule():
    empty, one = np.zeros((8, 8), np.int32), _squares((0, 3, 0, 3), shape=(8, 8))
    assert kaggle_ap(empty, empty) == 1.0  # nothing expected, nothing predicted
    assert kaggle_ap(one, empty) == 0.0  # all missed
    assert kaggle_ap(empty, one) == 0.0  # all false positives


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_brute_force_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    true = np.zeros((24, 24), np.int32)
    pred = np.zeros((24, 24), np.int32)
    for k in range(1, 7):  # random rectangles, later ones painted over earlier ones; pred is a jittered copy
        y, x, h, w = rng.integers(0, 20, 2).tolist() + rng.integers(2, 9, 2).tolist()
        true[y : y + h, x : x + w] = k
        dy, dx, dh, dw = rng.integers(-1, 2, 4)
        pred[max(y + dy, 0) : y + dy + h + dh, max(x + dx, 0) : x + dx + w + dw] = 10 + k
    pred[rng.random(pred.shape) < 0.05] = 0
    assert kaggle_ap(true, pred) == pytest.approx(brute_force_ap(true, pred))


def test_dataset_scores_hand_computed():
    # image 1: perfect, one object; image 2: one object with IoU 0.75 predicted, a second missed, one false positive
    true1 = _squares((0, 4, 0, 4))
    true2 = _squares((0, 4, 0, 4), (10, 14, 10, 14))
    pred2 = _squares((0, 4, 0, 3), (16, 19, 16, 19))
    counts = np.stack([matching_counts(true1, true1), matching_counts(true2, pred2)])
    scores = instance_scores(counts)
    # image 2: t <= 0.70: TP 1, FP 1, FN 1 -> 1/3 (5 thresholds); t >= 0.75: 0/(0+2+2) -> 0
    assert scores["kaggle_ap"] == pytest.approx((1.0 + 5 / 3 / 10) / 2)
    assert scores["ap_50"] == pytest.approx((1 + 1 / 3) / 2) and scores["ap_75"] == pytest.approx(0.5)
    # pooled at 0.5: TP 2, FP 1, FN 1; SQ = (1 + 0.75) / 2; RQ = 2 / (2 + 0.5 + 0.5)
    assert scores["precision_50"] == pytest.approx(2 / 3) and scores["recall_50"] == pytest.approx(2 / 3)
    assert scores["f1_50"] == pytest.approx(2 / 3)
    assert scores["segmentation_quality"] == pytest.approx(0.875)
    assert scores["panoptic_quality"] == pytest.approx(0.875 * 2 / 3)


def test_dataset_without_objects_scores_one():
    empty = np.zeros((5, 5), np.int32)
    scores = instance_scores(matching_counts(empty, empty)[None])
    assert all(v == 1.0 for v in scores.values())


def test_cumulative_metric_and_handler():
    true = torch.as_tensor(_squares((0, 4, 0, 4), (10, 14, 10, 14)))[None, None]
    pred = torch.as_tensor(_squares((0, 4, 0, 3)))[None, None]
    metric = InstanceMatchingMetric(["kaggle_ap", "f1_50"])
    metric(torch.cat([pred, true]), torch.cat([true, true]))
    assert metric.counts().shape == (2, 10, 4)
    ap, f1 = metric.aggregate()
    assert ap.item() == pytest.approx((0.25 + 1.0) / 2) and f1.item() == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))
    with pytest.raises(ValueError, match="metric_name"):
        InstanceMatchingMetric("accuracy")
    assert isinstance(InstanceMatchingMetricHandler().metric_fn, InstanceMatchingMetric)
