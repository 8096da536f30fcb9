"""Losses for one-channel (binary) segmentation logits: Dice, log(Dice), BCE and Dice + BCE."""

from __future__ import annotations

import torch
from monai.losses import DiceCELoss, DiceLoss

__all__ = ["LOSS_NAMES", "LogDiceLoss", "get_loss"]

LOSS_NAMES = ("dice", "log_dice", "bce", "dice_bce")


class LogDiceLoss(torch.nn.Module):
    """``-log(Dice)`` of the sigmoid probabilities, Dice computed over the whole batch (soft, smoothed).

    Steeper than ``1 - Dice`` when Dice is low, so it pushes harder early in training.

    Args:
        smooth: added to numerator and denominator.

    Shapes: logits and target ``(B, 1, *spatial)``; returns a scalar.
    """

    def __init__(self, smooth: float = 1.0) -> None:
        super().__init__()
        self.dice = DiceLoss(sigmoid=True, batch=True, smooth_nr=smooth, smooth_dr=smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -torch.log(torch.clamp(1.0 - self.dice(logits, target), min=1e-7))


def get_loss(name: str = "dice_bce") -> torch.nn.Module:
    """The loss called ``name`` for one-channel logits.

    * ``"dice"``: soft Dice over the batch (``1 - Dice``), MONAI ``DiceLoss(sigmoid=True, batch=True)``;
    * ``"log_dice"``: :class:`LogDiceLoss`;
    * ``"bce"``: binary cross-entropy on logits;
    * ``"dice_bce"``: the mean of soft Dice and BCE (MONAI ``DiceCELoss`` with sigmoid).
    """
    if name == "dice":
        return DiceLoss(sigmoid=True, batch=True, smooth_nr=1.0, smooth_dr=1.0)
    if name == "log_dice":
        return LogDiceLoss()
    if name == "bce":
        return torch.nn.BCEWithLogitsLoss()
    if name == "dice_bce":
        return DiceCELoss(sigmoid=True, batch=True, smooth_nr=1.0, smooth_dr=1.0, lambda_dice=1.0, lambda_ce=1.0)
    raise ValueError(f"unknown loss {name!r}; choose one of {LOSS_NAMES}")
