"""Transforms that MONAI lacks for microscopy: input checks, per-slice normalisation, slice selection, I/O."""

from __future__ import annotations

from microseg.transforms.checks import (
    CheckBinaryLabel,
    CheckBinaryLabeld,
    CheckImage,
    CheckImaged,
    CheckSameShaped,
)
from microseg.transforms.intensity import PercentileNormalize, PercentileNormalized
from microseg.transforms.io import LoadMicroscopyd, SaveMaskd, SeparateUncertaintyd
from microseg.transforms.label import BinarizeLabel, BinarizeLabeld
from microseg.transforms.slices import SelectSlices, SelectSlicesd

__all__ = [
    "BinarizeLabel",
    "BinarizeLabeld",
    "CheckBinaryLabel",
    "CheckBinaryLabeld",
    "CheckImage",
    "CheckImaged",
    "CheckSameShaped",
    "LoadMicroscopyd",
    "PercentileNormalize",
    "PercentileNormalized",
    "SaveMaskd",
    "SelectSlices",
    "SelectSlicesd",
    "SeparateUncertaintyd",
]
