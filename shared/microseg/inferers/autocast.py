"""Mixed precision for any inferer, on CPU as well as CUDA (MONAI's engines only autocast on CUDA)."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["AutocastInferer", "autocast_call"]


def autocast_call(
    inferer: Any, inputs: Any, network: Any, device_type: str, dtype: torch.dtype | None, *args: Any, **kwargs: Any
) -> Any:
    """``inferer(inputs, network, ...)`` under ``torch.autocast(device_type, dtype)`` (``dtype=None``: float32, no
    autocast), floating-point tensor outputs returned in float32."""
    with torch.autocast(device_type=device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        outputs = inferer(inputs, network, *args, **kwargs)
    if isinstance(outputs, torch.Tensor) and outputs.is_floating_point():
        return outputs.float()
    return outputs


class AutocastInferer(Inferer):
    """Run ``inferer`` under ``torch.autocast(device_type, dtype)`` and return float32 outputs.

    bfloat16 needs no gradient scaling, so the same trainer config runs on CPUs with AVX-512 BF16 / AMX and on
    GPUs. Disabled, it is the wrapped inferer unchanged.

    Args:
        inferer: the inferer to wrap (e.g. ``SimpleInferer()``).
        device_type: ``"cpu"`` or ``"cuda"``; the device the network runs on.
        dtype: ``"bfloat16"`` or ``"float16"`` (the latter on CUDA only).
        enabled: False to run in float32.
    """

    def __init__(self, inferer: Inferer, device_type: str = "cpu", dtype: str = "bfloat16", enabled: bool = True):
        super().__init__()
        if dtype not in ("bfloat16", "float16"):
            raise ValueError(f"dtype must be 'bfloat16' or 'float16', got {dtype!r}")
        self.inferer = inferer
        self.device_type = str(device_type)
        self.dtype = getattr(torch, dtype)
        self.enabled = bool(enabled)

    def __call__(self, inputs: torch.Tensor, network: Any, *args: Any, **kwargs: Any) -> Any:
        dtype = self.dtype if self.enabled else None
        return autocast_call(self.inferer, inputs, network, self.device_type, dtype, *args, **kwargs)
