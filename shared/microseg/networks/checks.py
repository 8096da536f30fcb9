"""Input checks shared by the networks: errors that name the network, the size and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["check_divisible"]


@torch.jit.unused
def check_divisible(network: str, shape: Sequence[int], divisor: int) -> None:
    """Raise ``ValueError`` when a spatial size of ``shape`` is not a multiple of ``divisor`` (the network's total
    stride), saying how to fix it."""
    if any(size % divisor for size in shape):
        raise ValueError(
            f"{network}: spatial size {tuple(shape)} is not divisible by {divisor}; pad or crop the input to a "
            f"multiple of {divisor} (the bundles' inferers do this)."
        )
