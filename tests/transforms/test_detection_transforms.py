"""Detection targets from instance labels, and the recipe's merging of detections into one label image."""

from __future__ import annotations

import pytest
import torch

from microseg.transforms import FilterDetections, MergeDetectionMasks, MergeDetectionMasksd, instance_targets


def test_instance_targets():
    label = torch.zeros(1, 10, 12, dtype=torch.int32)
    label[0, 1:4, 2:6] = 7
    label[0, 6:9, 8:12] = 3
    target = instance_targets(label)
    # objects in increasing label order: 3 then 7; boxes x1, y1, x2, y2 with x2/y2 one past the last pixel
    assert target["boxes"].tolist() == [[8, 6, 12, 9], [2, 1, 6, 4]]
    assert target["labels"].tolist() == [1, 1] and target["masks"].shape == (2, 10, 12)
    assert target["masks"].dtype == torch.uint8 and target["masks"][1].sum() == 12
    assert instance_targets(torch.zeros(1, 5, 5))["boxes"].shape == (0, 4)


def _detections():
    masks = torch.zeros(3, 1, 6, 10)
    masks[0, 0, :, :5] = 0.95
    masks[1, 0, :, 4:9] = 0.6  # overlaps the first in column 4
    masks[2, 0, :, :] = 0.2  # below the mask threshold everywhere
    return {
        "boxes": torch.tensor([[0.0, 0, 5, 6], [4, 0, 9, 6], [0, 0, 10, 6]]),
        "scores": torch.tensor([0.9, 0.8, 0.35]),
        "labels": torch.ones(3, dtype=torch.int64),
        "masks": masks,
    }


def test_filter_by_score_then_nms():
    kept = FilterDetections(score_threshold=0.4, nms_threshold=0.5)(_detections())
    assert kept["scores"].tolist() == pytest.approx([0.9, 0.8]) and kept["masks"].shape[0] == 2
    same_box = _detections()
    same_box["boxes"][1] = same_box["boxes"][0]
    assert len(FilterDetections(0.4, 0.5)(same_box)["scores"]) == 1


def test_merge_thresholds_and_ownership():
    labels, probability = MergeDetectionMasks(mask_threshold=0.3, merge_threshold=0.9)(_detections())
    assert labels.shape == (1, 6, 10) and labels.dtype == torch.int32
    # columns 0-4: first mask 0.95 >= 0.9 -> object 1 (column 4 also has 0.6 but the first is higher);
    # columns 5-8: second mask alone, 0.6 < 0.9 -> background; the third mask (0.2) is zeroed everywhere
    assert labels[0, 0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert torch.allclose(probability[0, 0, 4], torch.tensor(1.0))  # 0.95 + 0.6 clipped to 1
    low = MergeDetectionMasks(mask_threshold=0.3, merge_threshold=0.5)(_detections())[0]
    assert low[0, 0].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 2, 0]


def test_merge_without_detections_and_dict_version_keeps_metadata():
    from monai.data import MetaTensor

    empty = {"masks": torch.zeros(0, 1, 4, 5), "scores": torch.zeros(0), "boxes": torch.zeros(0, 4)}
    labels, probability = MergeDetectionMasks()(empty)
    assert labels.shape == (1, 4, 5) and labels.sum() == 0 and probability.sum() == 0
    image = MetaTensor(torch.zeros(3, 6, 10), meta={"filename_or_obj": "a.png"})
    out = MergeDetectionMasksd("pred", prob_key="prob")({"pred": _detections(), "image": image})
    assert out["pred"].meta["filename_or_obj"] == "a.png" and out["prob"].shape == (1, 6, 10)
