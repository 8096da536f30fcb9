from __future__ import annotations

import pytest
import torch

from microseg.losses import LOSS_NAMES, LogDiceLoss, get_loss


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_losses_prefer_right_answers_and_backprop(name):
    loss = get_loss(name)
    target = (torch.rand(2, 1, 16, 16) > 0.7).float()
    good = (target * 2 - 1) * 8
    bad = -good
    assert loss(good, target) < loss(bad, target)
    logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
    loss(logits, target).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_log_dice_is_minus_log_of_dice():
    target = torch.ones(1, 1, 4, 4)
    logits = torch.full((1, 1, 4, 4), 20.0)
    assert float(LogDiceLoss()(logits, target)) == pytest.approx(0.0, abs=1e-5)


def test_unknown_loss():
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("focal")
