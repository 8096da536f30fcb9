"""GlaS contest metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from microseg.metrics import GLAS_STATS, GlasMetric, glas_image_stats, glas_scores


def _two_glands_one_found():
    """G: a 4x4 gland (label 1) and a 3x3 gland (label 2); S: a 4x3 object inside the 4x4 gland."""
    g = np.zeros((10, 10), int)
    g[1:5, 1:5] = 1
    g[6:9, 6:9] = 2
    s = np.zeros((10, 10), int)
    s[1:5, 1:4] = 7
    return s, g


def test_hand_computed_case():
    s, g = _two_glands_one_found()
    scores = glas_scores(glas_image_stats(s, g))
    # S covers 12/16 > 50% of G1: TP = 1, FP = 0, FN = 1 (G2 missed)
    assert scores["object_f1"] == pytest.approx(2 / 3)
    assert scores["object_precision"] == 1.0 and scores["object_recall"] == 0.5
    dice = 2 * 12 / (16 + 12)
    # S side: one object, weight 1; G side: G1 (16 px) with Dice, G2 (9 px) with 0
    assert scores["object_dice"] == pytest.approx(0.5 * (dice + 16 * dice / 25))
    # H(G1, S) = 1 (G1's last column); G2 overlaps nothing: nearest S is S itself, H = max(
    # farthest G2 pixel (8, 8) to S (4, 3) = sqrt(41), farthest S pixel (1, 1) to G2 (6, 6) = sqrt(50))
    h_g2 = math.sqrt(50)
    assert scores["object_hausdorff"] == pytest.approx(0.5 * (1.0 + (16 * 1.0 + 9 * h_g2) / 25))
    assert scores["pixel_f1"] == pytest.approx(2 * 12 / (12 + 25))


def test_exactly_half_is_not_a_true_positive():
    g = np.zeros((4, 8), int)
    g[:, :4] = 1
    s = np.zeros_like(g)
    s[:, :2] = 1  # 8 of 16 pixels: the official code needs more than 50%
    assert glas_scores(glas_image_stats(s, g))["object_f1"] == 0.0
    s[0, 2] = 1
    assert glas_scores(glas_image_stats(s, g))["object_f1"] == 1.0


def test_one_segmented_object_over_two_glands_counts_once():
    g = np.zeros((4, 10), int)
    g[:, :4], g[:, 6:] = 1, 2
    s = (g > 0).astype(int)  # one object covering both glands fully
    scores = glas_scores(glas_image_stats(s, g))
    assert scores["object_precision"] == 1.0 and scores["object_recall"] == 0.5


def test_ties_go_to_the_smaller_label():
    g = np.zeros((2, 4), int)
    g[:, :2], g[:, 2:] = 3, 2
    s = np.ones_like(g)
    st = dict(zip(GLAS_STATS, glas_image_stats(s, g), strict=True))
    # S overlaps labels 2 and 3 equally; partner = label 2 (4 px): Dice = 8 / 12
    assert st["dice_s"] == pytest.approx(8 * (8 / 12))


def test_empty_prediction():
    _, g = _two_glands_one_found()
    scores = glas_scores(glas_image_stats(np.zeros_like(g), g))
    assert scores["object_f1"] == 0.0 and scores["object_dice"] == 0.0 and scores["pixel_f1"] == 0.0
    assert scores["object_hausdorff"] == pytest.approx(math.hypot(10, 10))  # the image diagonal


def test_empty_ground_truth():
    s, g = _two_glands_one_found()
    scores = glas_scores(glas_image_stats(s, np.zeros_like(g)))
    assert scores["object_f1"] == 0.0 and scores["object_precision"] == 0.0 and scores["object_dice"] == 0.0
    assert scores["object_hausdorff"] == pytest.approx(math.hypot(10, 10))


def test_both_empty_is_perfect():
    empty = np.zeros((5, 5), int)
    scores = glas_scores(glas_image_stats(empty, empty))
    assert scores["object_f1"] == 1.0 and scores["object_dice"] == 1.0 and scores["object_hausdorff"] == 0.0
    assert scores["pixel_f1"] == 1.0


def test_perfect_segmentation_with_other_label_values():
    _, g = _two_glands_one_found()
    scores = glas_scores(glas_image_stats(g * 5 + 2 * (g > 0), g))
    assert scores["object_f1"] == 1.0 and scores["object_dice"] == pytest.approx(1.0)
    assert scores["object_hausdorff"] == 0.0


def test_weights_are_pooled_over_images_not_averaged():
    big = np.zeros((20, 20), int)
    big[:16, :16] = 1  # 256 px, segmented perfectly
    small_g = np.zeros((20, 20), int)
    small_g[:2, :2] = 1  # 4 px, missed
    stats = glas_image_stats(big, big) + glas_image_stats(np.zeros_like(small_g), small_g)
    # G side: (256 * 1 + 4 * 0) / 260; S side: 1 -> pooled; a per-image mean would give 0.5
    assert glas_scores(stats)["object_dice"] == pytest.approx(0.5 * (1 + 256 / 260))


def test_cumulative_metric_equals_pooled_sums():
    s, g = _two_glands_one_found()
    metric = GlasMetric(["object_f1", "object_dice", "object_hausdorff"])
    y_pred = torch.from_numpy(np.stack([s, g]))[:, None]
    y = torch.from_numpy(np.stack([g, g]))[:, None]
    metric(y_pred=y_pred, y=y)
    expected = glas_scores(glas_image_stats(s, g) + glas_image_stats(g, g))
    values = [float(v) for v in metric.aggregate()]
    assert values == pytest.approx([expected["object_f1"], expected["object_dice"], expected["object_hausdorff"]])
    assert metric.stats().shape == (2, len(GLAS_STATS))


def test_unknown_metric_name_is_refused():
    with pytest.raises(ValueError, match="metric_name"):
        GlasMetric("aji")
