"""The Mask R-CNN builder and its dense foreground wrapper."""

from __future__ import annotations

import pytest
import torch

from microseg.losses import SumOfLosses
from microseg.networks import MaskRCNNForeground, mask_rcnn_resnet50_fpn
from microseg.transforms import instance_targets


def test_builder_scales_to_the_working_size_and_trains():
    model = mask_rcnn_resnet50_fpn(image_size=64)
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    label = torch.zeros(1, 48, 64, dtype=torch.int32)
    label[0, 5:20, 5:25], label[0, 25:40, 30:60] = 1, 2
    model.train()
    losses = model([torch.rand(3, 48, 64)], [instance_targets(label)])
    assert {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"} == set(losses)
    total = SumOfLosses({"loss_mask": 2.0})(losses)
    assert torch.isclose(total, sum(losses.values()) + losses["loss_mask"])
    total.backward()


def test_builder_refuses_unknown_weights():
    with pytest.raises(ValueError, match="pretrained"):
        mask_rcnn_resnet50_fpn(pretrained="imagenet22k")
    assert mask_rcnn_resnet50_fpn(pretrained="None", image_size=32) is not None


def test_sum_of_losses_needs_a_loss_dict():
    with pytest.raises(ValueError, match="loss dict"):
        SumOfLosses()([torch.tensor(1.0)])


def test_foreground_wrapper_returns_probabilities_at_input_size():
    wrapper = MaskRCNNForeground(mask_rcnn_resnet50_fpn(image_size=64), score_threshold=0.0)
    out = wrapper(torch.rand(2, 3, 40, 56))
    assert out.shape == (2, 1, 40, 56) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_inferer_network_runs_its_inferer():
    from microseg.inferers import LongestSideInferer
    from microseg.networks import InfererNetwork

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, x):
            self.seen.append(tuple(x.shape))
            return x[:, :1]

    recorder = Recorder()
    wrapped = InfererNetwork(recorder, LongestSideInferer(32))
    assert wrapped(torch.rand(1, 3, 20, 40)).shape == (1, 1, 20, 40) and recorder.seen == [(1, 3, 32, 32)]
