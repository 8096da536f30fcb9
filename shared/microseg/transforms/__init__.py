"""Transforms that MONAI lacks for microscopy: input checks, per-slice normalisation, slice selection, I/O."""

from __future__ import annotations

from microseg.transforms.augment import (
    RandElasticDisplacement,
    RandElasticDisplacementd,
    RandMedianSharpen,
    RandMedianSharpend,
)
from microseg.transforms.checks import (
    CheckBinaryLabel,
    CheckBinaryLabeld,
    CheckImage,
    CheckImaged,
    CheckSameShaped,
)
from microseg.transforms.color import EnsureRGB, EnsureRGBd
from microseg.transforms.detection import (
    FilterDetections,
    FilterDetectionsd,
    MergeDetectionMasks,
    MergeDetectionMasksd,
    instance_targets,
)
from microseg.transforms.instances import SplitTouchingObjects, SplitTouchingObjectsd
from microseg.transforms.intensity import PercentileNormalize, PercentileNormalized
from microseg.transforms.io import LoadMicroscopyd, SaveMaskd, SeparateUncertaintyd
from microseg.transforms.label import BinarizeLabel, BinarizeLabeld, LabelInstances, LabelInstancesd
from microseg.transforms.slices import SelectSlices, SelectSlicesd

__all__ = [
    "BinarizeLabel",
    "BinarizeLabeld",
    "CheckBinaryLabel",
    "CheckBinaryLabeld",
    "CheckImage",
    "CheckImaged",
    "CheckSameShaped",
    "EnsureRGB",
    "EnsureRGBd",
    "FilterDetections",
    "FilterDetectionsd",
    "LabelInstances",
    "LabelInstancesd",
    "LoadMicroscopyd",
    "MergeDetectionMasks",
    "MergeDetectionMasksd",
    "PercentileNormalize",
    "PercentileNormalized",
    "RandElasticDisplacement",
    "RandElasticDisplacementd",
    "RandMedianSharpen",
    "RandMedianSharpend",
    "SaveMaskd",
    "SelectSlices",
    "SelectSlicesd",
    "SeparateUncertaintyd",
    "SplitTouchingObjects",
    "SplitTouchingObjectsd",
    "instance_targets",
]
