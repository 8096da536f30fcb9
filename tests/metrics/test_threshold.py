"""Precision, recall and F1 at every threshold k/255, against MONAI's AsDiscrete at each."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.transforms import AsDiscrete

from microseg.metrics.threshold import ThresholdScan, scan_counts, scores_at


def test_counts_equal_asdiscrete_at_every_threshold():
    rng = np.random.default_rng(0)
    probability = rng.random((2, 40, 50)).astype(np.float32)
    probability[0, 0, :5] = np.array([40, 118, 128, 1, 254], np.float32) / 255  # exactly on thresholds
    label = rng.random((2, 40, 50)) > 0.7
    counts = scan_counts(probability, label)
    for k in (1, 40, 118, 128, 200, 254):
        mask = AsDiscrete(threshold=k / 255)(torch.from_numpy(probability)).numpy() > 0
        expected = [(mask & label).sum(), (mask & ~label).sum(), (~mask & label).sum()]
        assert counts[k - 1].tolist() == expected, k


def test_best_threshold_is_found_and_scores_are_pooled_and_per_image():
    truth = np.zeros((2, 10, 10), bool)
    truth[:, :5] = True
    probability = np.where(truth, 0.6, 0.3).astype(np.float32)
    probability[1, 0, 0] = 0.2  # one missed pixel in image 1 for thresholds above 0.2
    scan = ThresholdScan()
    for p, t in zip(probability, truth, strict=True):
        scan.add(p, t)
    best = scan.aggregate()
    assert 0.3 < best["threshold"] <= 0.6 and best["precision"] == 1.0 and best["recall"] == pytest.approx(99 / 100)
    assert best["f1"] == pytest.approx(2 * 99 / (2 * 99 + 1)) and best["images"] == 2
    assert best["f1_per_image"] == pytest.approx((1.0 + 2 * 49 / (2 * 49 + 1)) / 2)
    assert scan.aggregate(0.25)["precision"] == pytest.approx(99 / 199)  # the 0.2 pixel is below 64/255
    assert scan.aggregate(0.1)["recall"] == 1.0


def test_empty_images_follow_the_written_rule():
    scores = scores_at(np.array([[0, 0, 0], [0, 3, 0]]))
    assert scores["f1"].tolist() == [1.0, 0.0] and scores["precision"].tolist() == [1.0, 0.0]


def test_no_image_is_an_error():
    with pytest.raises(ValueError, match="no image"):
        ThresholdScan().aggregate()
