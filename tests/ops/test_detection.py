"""NumPy non-maximum suppression against torchvision's, and the detection transforms built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import nms as torchvision_nms

from microseg.ops.detection import filter_detections, merge_detection_masks, nms


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_is_torchvisions(seed, threshold):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 80, (60, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(5, 40, (60, 2)).astype(np.float32)], 1)
    scores = rng.permutation(60).astype(np.float32) / 60  # distinct scores: the order is defined
    expected = torchvision_nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold).numpy()
    np.testing.assert_array_equal(nms(boxes, scores, threshold), expected)
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), threshold).shape == (0,)


def test_filter_then_merge():
    boxes = np.float32([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    scores = np.float32([0.9, 0.8, 0.7, 0.1])
    masks = np.zeros((4, 1, 60, 60), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
        masks[i, 0, y1:y2, x1:x2] = 0.95
    kept = filter_detections({"boxes": boxes, "scores": scores, "masks": masks}, 0.4, 0.5)
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.7])  # the overlapping and the low-scoring one go
    labels, probability = merge_detection_masks(kept["masks"], 0.3, 0.9)
    assert labels.shape == (1, 60, 60) and labels.max() == 2 and probability.max() == pytest.approx(0.95)
    empty_labels, empty_probability = merge_detection_masks(np.zeros((0, 1, 60, 60), np.float32))
    assert empty_labels.shape == (1, 60, 60) and not empty_labels.any() and not empty_probability.any()
