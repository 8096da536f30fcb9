"""A network together with the inferer that runs it, as one module (for ensembles of differently run networks)."""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["InfererNetwork"]


class InfererNetwork(torch.nn.Module):
    """``forward(x) = inferer(x, network)``: lets MONAI's ``EnsembleEvaluator``, which runs every member with one
    inferer, combine a network that needs its own inferer (e.g. a U-Net behind
    :class:`~microseg.inferers.LongestSideInferer`) with one that takes images as they are (a detector).

    Args:
        network: the wrapped network (weights are loaded into it as usual).
        inferer: any MONAI inferer.

    Shapes: whatever ``inferer`` returns for ``(B, C, H, W)`` input.
    """

    def __init__(self, network: torch.nn.Module, inferer: Any) -> None:
        super().__init__()
        self.network = network
        self.inferer = inferer

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.inferer(inputs, self.network)
