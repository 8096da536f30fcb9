"""Batch preparation for torchvision detectors."""

from __future__ import annotations

import torch

from microseg.engines import PrepareInstanceBatch


def test_list_batch_of_different_sizes():
    label_a = torch.zeros(1, 8, 10, dtype=torch.int32)
    label_a[0, 1:3, 1:4] = 1
    batch = [
        {"image": torch.rand(3, 8, 10), "label": label_a},
        {"image": torch.rand(3, 6, 7), "label": torch.zeros(1, 6, 7)},
    ]
    images, targets, args, kwargs = PrepareInstanceBatch()(batch, device="cpu")
    assert [tuple(i.shape) for i in images] == [(3, 8, 10), (3, 6, 7)]
    assert targets[0]["boxes"].tolist() == [[1, 1, 4, 3]] and targets[1]["boxes"].shape == (0, 4)
    assert args == (targets,) and kwargs == {}


def test_collated_batch():
    batch = {"image": torch.rand(2, 3, 5, 5), "label": torch.ones(2, 1, 5, 5)}
    images, targets, _, _ = PrepareInstanceBatch()(batch)
    assert len(images) == 2 and targets[1]["masks"].shape == (1, 5, 5)


def test_the_transform_augments_each_image_before_its_targets_are_made():
    from microseg.transforms import RandBatchSpatiald

    label = torch.zeros(1, 8, 10, dtype=torch.int32)
    label[0, 1:3, 1:4] = 1
    image = torch.rand(3, 8, 10)
    flip = RandBatchSpatiald(["image", "label"], mode=["nearest", "nearest"], flip_prob=(0.0, 1.0))  # along W
    batch = [{"image": image, "label": label}, {"image": torch.rand(3, 6, 7), "label": torch.zeros(1, 6, 7)}]
    prepare = PrepareInstanceBatch(transform=flip)
    images, targets, _, _ = prepare(batch, device="cpu")
    assert torch.equal(images[0], image.flip(-1)) and images[1].shape == (3, 6, 7)
    assert targets[0]["boxes"].tolist() == [[6, 1, 9, 3]]  # x from 10 - 4 to 10 - 1
    assert targets[0]["masks"].shape == (1, 8, 10) and targets[1]["boxes"].shape == (0, 4)
    assert prepare.transform is flip  # where TrainingCheckpoint finds it to reseed it
