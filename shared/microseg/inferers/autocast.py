"""Mixed precision for any inferer, on CPU as well as CUDA (MONAI's engines only autocast on CUDA)."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import Inferer

__all__ = ["AutocastInferer"]


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
        with torch.autocast(device_type=self.device_type, dtype=self.dtype, enabled=self.enabled):
            outputs = self.inferer(inputs, network, *args, **kwargs)
        if isinstance(outputs, torch.Tensor) and outputs.is_floating_point():
            return outputs.float()
        return outputs
