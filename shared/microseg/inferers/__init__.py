"""Inference over images and stacks of any size."""

from __future__ import annotations

from microseg.inferers.autocast import AutocastInferer
from microseg.inferers.detection import DetectionInferer
from microseg.inferers.resize import LongestSideInferer
from microseg.inferers.runtime import (
    BACKENDS,
    PRECISIONS,
    BackendMismatchError,
    RuntimeInferer,
    build_predictor,
    fold_batch_norms,
)
from microseg.inferers.tiled import TTA_MODES, SliceTiledInferer, dihedral_transforms

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "TTA_MODES",
    "AutocastInferer",
    "BackendMismatchError",
    "DetectionInferer",
    "LongestSideInferer",
    "RuntimeInferer",
    "SliceTiledInferer",
    "build_predictor",
    "dihedral_transforms",
    "fold_batch_norms",
]
