"""Segmentation losses selectable by name from a bundle config."""

from __future__ import annotations

from microseg.losses.binary import LOSS_NAMES, LogDiceLoss, get_loss
from microseg.losses.detection import SumOfLosses

__all__ = ["LOSS_NAMES", "LogDiceLoss", "SumOfLosses", "get_loss"]
