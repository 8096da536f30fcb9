"""The model variants of the SBEM organelle recipe and the adjacent slices each reads (PyTorch-free, so that bundle
configs can ask it on the ONNX Runtime path too)."""

from __future__ import annotations

__all__ = ["SBEM_VARIANTS", "variant_slices"]

#: variant name -> adjacent slices the network reads (the centre one is segmented)
SBEM_VARIANTS = {"deepem3d_1fm": 1, "deepem3d_3fm": 3, "deepem3d_5fm": 5, "multiresunet": 1}


def variant_slices(variant: str) -> int:
    """Adjacent slices that ``variant`` reads as input channels (1, 3 or 5)."""
    if variant not in SBEM_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(SBEM_VARIANTS)}")
    return SBEM_VARIANTS[variant]
