"""Detections (boxes, scores, per-detection mask probabilities) to one instance label image, in NumPy.

PyTorch-free: :mod:`microseg.transforms.detection` wraps these for MONAI, :mod:`microseg.onnx_infer` calls them on
the ONNX detector's outputs. :func:`nms` is torchvision's ``nms``, written out so that the ONNX path needs no
torchvision; a test checks that they agree.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from microseg.ops.labels import relabel

__all__ = ["box_iou", "filter_detections", "merge_detection_masks", "nms"]


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one ``x1, y1, x2, y2`` box with each of ``boxes`` ``(N, 4)``, as torchvision computes it."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / (area + areas - inter)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, by descending score: a box is dropped when its
    IoU with a kept, higher-scoring box exceeds ``iou_threshold`` (torchvision's ``nms``)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    suppressed = np.zeros(len(order), bool)
    keep = []
    for rank, index in enumerate(order):
        if suppressed[rank]:
            continue
        keep.append(index)
        rest = order[rank + 1 :]
        suppressed[rank + 1 :] |= box_iou(boxes[index], boxes[rest]) > iou_threshold
    return np.asarray(keep, np.int64)


def filter_detections(
    detections: Mapping[str, np.ndarray], score_threshold: float = 0.4, nms_threshold: float = 0.5
) -> dict[str, np.ndarray]:
    """Detections scoring at least ``score_threshold`` that survive class-agnostic :func:`nms`, by descending score.

    Shapes: ``boxes`` ``(N, 4)``, ``scores`` ``(N,)`` and any other per-detection arrays (``labels``, ``masks``
    ``(N, 1, H, W)``) in; the same keys with ``K <= N`` detections out.
    """
    scores = np.asarray(detections["scores"])
    candidates = np.flatnonzero(scores >= score_threshold)
    keep = candidates[nms(np.asarray(detections["boxes"])[candidates], scores[candidates], nms_threshold)]
    return {
        k: (np.asarray(v)[keep] if hasattr(v, "__len__") and len(v) == len(scores) else v)
        for k, v in detections.items()
    }


def merge_detection_masks(
    masks: np.ndarray, mask_threshold: float = 0.3, merge_threshold: float = 0.9
) -> tuple[np.ndarray, np.ndarray]:
    """One instance label image and one foreground probability map from per-detection mask probabilities.

    Probabilities below ``mask_threshold`` are zeroed; a pixel is foreground when their sum is at least
    ``merge_threshold``, and belongs to the detection of highest probability there (the first, highest-scoring one on
    ties).

    Shapes: ``(N, 1, H, W)`` or ``(N, H, W)`` in, ordered by descending score; int32 ``(1, H, W)`` labels 1..K
    (consecutive) and float32 ``(1, H, W)`` summed probabilities clipped to [0, 1] out.
    """
    masks = np.asarray(masks, np.float32)
    masks = masks[:, 0] if masks.ndim == 4 else masks
    masks = np.where(masks >= mask_threshold, masks, np.float32(0))
    total = masks.sum(0, keepdims=True, dtype=np.float32)
    if len(masks) == 0:
        return np.zeros(total.shape, np.int32), total
    owner = masks.argmax(0)[None] + 1
    labels, _ = relabel(np.where(total >= merge_threshold, owner, 0))
    return labels.astype(np.int32), np.clip(total, 0.0, 1.0)
