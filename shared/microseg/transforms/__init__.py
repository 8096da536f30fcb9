"""Transforms that MONAI lacks for microscopy: input checks, per-slice normalisation, slice selection, I/O."""

from __future__ import annotations

from microseg.transforms.augment import (
    RandElasticDisplacement,
    RandElasticDisplacementd,
    RandMedianSharpen,
    RandMedianSharpend,
    RandPiecewiseAffine,
    RandPiecewiseAffined,
)
from microseg.transforms.batch import (
    RandBatchFlipSliceOrder,
    RandBatchFlipSliceOrderd,
    RandBatchIntensity,
    RandBatchIntensityd,
    RandBatchMedianSharpen,
    RandBatchMedianSharpend,
    RandBatchSpatial,
    RandBatchSpatiald,
)
from microseg.transforms.checks import (
    CheckBinaryLabel,
    CheckBinaryLabeld,
    CheckImage,
    CheckImaged,
    CheckSameShaped,
)
from microseg.transforms.color import EnsureRGB, EnsureRGBd, ToGrey, ToGreyd
from microseg.transforms.detection import (
    FilterDetections,
    FilterDetectionsd,
    MergeDetectionMasks,
    MergeDetectionMasksd,
    instance_targets,
)
from microseg.transforms.instances import (
    ClassWatershed,
    ClassWatershedd,
    FillInstanceHoles,
    FillInstanceHolesd,
    ForegroundProbability,
    ForegroundProbabilityd,
    SplitTouchingObjects,
    SplitTouchingObjectsd,
)
from microseg.transforms.intensity import (
    InvertBrightBackground,
    InvertBrightBackgroundd,
    PercentileNormalize,
    PercentileNormalized,
)
from microseg.transforms.io import LoadMicroscopyd, SaveMaskd, SeparateUncertaintyd
from microseg.transforms.label import (
    BinarizeLabel,
    BinarizeLabeld,
    InstancesToClasses,
    InstancesToClassesd,
    LabelInstances,
    LabelInstancesd,
)
from microseg.transforms.slices import RandFlipSliceOrder, RandFlipSliceOrderd, SelectSlices, SelectSlicesd
from microseg.transforms.threshold import HysteresisThreshold, HysteresisThresholdd, OtsuThreshold, OtsuThresholdd

__all__ = [
    "BinarizeLabel",
    "BinarizeLabeld",
    "CheckBinaryLabel",
    "CheckBinaryLabeld",
    "CheckImage",
    "CheckImaged",
    "CheckSameShaped",
    "ClassWatershed",
    "ClassWatershedd",
    "EnsureRGB",
    "EnsureRGBd",
    "FillInstanceHoles",
    "FillInstanceHolesd",
    "FilterDetections",
    "FilterDetectionsd",
    "ForegroundProbability",
    "ForegroundProbabilityd",
    "HysteresisThreshold",
    "HysteresisThresholdd",
    "InstancesToClasses",
    "InstancesToClassesd",
    "InvertBrightBackground",
    "InvertBrightBackgroundd",
    "LabelInstances",
    "LabelInstancesd",
    "LoadMicroscopyd",
    "MergeDetectionMasks",
    "MergeDetectionMasksd",
    "OtsuThreshold",
    "OtsuThresholdd",
    "PercentileNormalize",
    "PercentileNormalized",
    "RandBatchFlipSliceOrder",
    "RandBatchFlipSliceOrderd",
    "RandBatchIntensity",
    "RandBatchIntensityd",
    "RandBatchMedianSharpen",
    "RandBatchMedianSharpend",
    "RandBatchSpatial",
    "RandBatchSpatiald",
    "RandElasticDisplacement",
    "RandElasticDisplacementd",
    "RandFlipSliceOrder",
    "RandFlipSliceOrderd",
    "RandMedianSharpen",
    "RandMedianSharpend",
    "RandPiecewiseAffine",
    "RandPiecewiseAffined",
    "SaveMaskd",
    "SelectSlices",
    "SelectSlicesd",
    "SeparateUncertaintyd",
    "SplitTouchingObjects",
    "SplitTouchingObjectsd",
    "ToGrey",
    "ToGreyd",
    "instance_targets",
]
