"""Instance label images to detection targets, and detections back to one instance label image.

The merging is the GlaS Mask R-CNN recipe's: keep detections scoring at least 0.4 after non-maximum suppression,
zero each mask's probabilities below 0.3, sum the masks and threshold the sum at 0.9; each foreground pixel then
belongs to the detection with the highest (zeroed) probability there.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from scipy import ndimage

from microseg.ops.detection import filter_detections, merge_detection_masks
from microseg.ops.labels import relabel

__all__ = [
    "FilterDetections",
    "FilterDetectionsd",
    "MergeDetectionMasks",
    "MergeDetectionMasksd",
    "instance_targets",
]


def instance_targets(label: torch.Tensor, category: int = 1) -> dict[str, torch.Tensor]:
    """The Mask R-CNN target of an instance label image.

    Args:
        label: ``(1, H, W)`` or ``(H, W)`` instance labels, 0 = background.
        category: the class index given to every object.

    Returns:
        ``boxes`` float32 ``(N, 4)`` as ``x1, y1, x2, y2`` (``x2``/``y2`` one past the last pixel), ``labels``
        int64 ``(N,)``, ``masks`` uint8 ``(N, H, W)``, on the label's device.
    """
    array = label.detach().cpu().numpy()
    array = array[0] if array.ndim == 3 else array
    labels, n = relabel(array.astype(np.int64, copy=False))
    boxes = [[s[1].start, s[0].start, s[1].stop, s[0].stop] for s in ndimage.find_objects(labels, max_label=n)]
    masks = labels[None] == np.arange(1, n + 1)[:, None, None]
    return {
        "boxes": torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4), device=label.device),
        "labels": torch.full((n,), category, dtype=torch.int64, device=label.device),
        "masks": torch.as_tensor(masks.astype(np.uint8), device=label.device),
    }


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


class FilterDetections(Transform):
    """Drop detections scoring below ``score_threshold``, then suppress boxes overlapping a better one.

    Args:
        score_threshold: lowest score kept.
        nms_threshold: boxes with IoU above this with a higher-scoring box are dropped (class-agnostic).

    Shapes: a dict with ``boxes`` ``(N, 4)``, ``scores`` ``(N,)`` and any other per-detection tensors (``labels``,
    ``masks`` ``(N, 1, H, W)``) in; the same dict with ``K <= N`` detections, by descending score, out.
    """

    def __init__(self, score_threshold: float = 0.4, nms_threshold: float = 0.5) -> None:
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)

    def __call__(self, detections: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        scores = detections["scores"]
        arrays = {"boxes": _numpy(detections["boxes"]), "scores": _numpy(scores), "index": np.arange(len(scores))}
        keep = torch.as_tensor(filter_detections(arrays, self.score_threshold, self.nms_threshold)["index"])
        keep = keep.to(scores.device)
        return {
            k: (v[keep] if isinstance(v, torch.Tensor) and len(v) == len(scores) else v) for k, v in detections.items()
        }


class FilterDetectionsd(MapTransform):
    """Dictionary version of :class:`FilterDetections`."""

    def __init__(
        self,
        keys: KeysCollection = "pred",
        score_threshold: float = 0.4,
        nms_threshold: float = 0.5,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.filter = FilterDetections(score_threshold, nms_threshold)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.filter(d[key])
        return d


class MergeDetectionMasks(Transform):
    """One instance label image and one foreground probability map from per-detection mask probabilities.

    Args:
        mask_threshold: mask probabilities below this are set to 0.
        merge_threshold: a pixel is foreground when the sum of the zeroed probabilities is at least this.

    Shapes: a dict with ``masks`` ``(N, 1, H, W)`` or ``(N, H, W)`` in, ordered by descending score; returns
    ``(labels, probability)``: int32 ``(1, H, W)`` instance labels 1..K (K <= N, consecutive) and float32
    ``(1, H, W)`` summed probabilities clipped to [0, 1].
    """

    def __init__(self, mask_threshold: float = 0.3, merge_threshold: float = 0.9) -> None:
        self.mask_threshold = float(mask_threshold)
        self.merge_threshold = float(merge_threshold)

    def __call__(self, detections: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        device = detections["masks"].device
        labels, total = merge_detection_masks(
            _numpy(detections["masks"].float()), self.mask_threshold, self.merge_threshold
        )
        return torch.as_tensor(labels, device=device), torch.as_tensor(total, device=device)


class MergeDetectionMasksd(MapTransform):
    """Dictionary version of :class:`MergeDetectionMasks`: ``key`` gets the instance labels, ``prob_key`` (when
    given) the foreground probability; both carry the metadata of ``meta_key`` (the input image) for saving."""

    def __init__(
        self,
        keys: KeysCollection = "pred",
        mask_threshold: float = 0.3,
        merge_threshold: float = 0.9,
        prob_key: str | None = None,
        meta_key: str = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.merge = MergeDetectionMasks(mask_threshold, merge_threshold)
        self.prob_key, self.meta_key = prob_key, meta_key

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        source = d.get(self.meta_key)
        meta = dict(source.meta) if isinstance(source, MetaTensor) else {}
        for key in self.key_iterator(d):
            labels, probability = self.merge(d[key])
            d[key] = MetaTensor(labels, meta=dict(meta))
            if self.prob_key:
                d[self.prob_key] = MetaTensor(probability, meta=dict(meta))
        return d
