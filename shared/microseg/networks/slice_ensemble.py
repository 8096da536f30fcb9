"""An ensemble of 2D/2.5D networks that read different numbers of adjacent slices."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["SliceEnsemble"]


class SliceEnsemble(nn.Module):
    """Average the sigmoid probabilities of networks that read 1, 3, 5... adjacent slices of the same centre slice,
    as CDeep3M's ensemble of DeepEM3D 1fm, 3fm and 5fm does, and return the logit of that average.

    The input holds ``max(slices)`` adjacent slices as channels; member ``i`` gets the ``slices[i]`` channels around
    the centre. The output being a logit keeps the usual post-processing (sigmoid, threshold) unchanged.

    Args:
        networks: the members, each mapping ``(B, slices[i], H, W)`` to ``(B, C, H, W)`` logits.
        slices: adjacent slices each member reads (odd numbers).
        eps: probabilities are clamped to ``[eps, 1 - eps]`` before the logit, so that it stays finite.

    Shapes:
        input ``(B, max(slices), H, W)``; output ``(B, C, H, W)`` logits.
    """

    def __init__(self, networks: Sequence[nn.Module], slices: Sequence[int], eps: float = 1e-6) -> None:
        super().__init__()
        if len(networks) != len(slices) or not networks:
            raise ValueError(f"give one slice count per network, got {len(networks)} networks and slices {slices}")
        if any(s < 1 or s % 2 == 0 for s in slices):
            raise ValueError(f"slice counts must be odd, got {list(slices)}")
        self.members = nn.ModuleList(networks)
        self.slices = [int(s) for s in slices]
        self.in_slices, self.eps = max(self.slices), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_slices:
            raise ValueError(f"SliceEnsemble: expected {self.in_slices} adjacent slices as channels, got {x.shape[1]}")
        centre = self.in_slices // 2
        total = sum(
            torch.sigmoid(member(x[:, centre - slices // 2 : centre + slices // 2 + 1]).float())
            for member, slices in zip(self.members, self.slices, strict=True)
        )
        return torch.logit((total / len(self.members)).clamp(self.eps, 1 - self.eps))
