"""Inference over images and stacks of any size."""

from __future__ import annotations

from microseg.inferers.autocast import AutocastInferer
from microseg.inferers.detection import DetectionInferer
from microseg.inferers.resize import LongestSideInferer
from microseg.inferers.tiled import TTA_MODES, SliceTiledInferer, dihedral_transforms

__all__ = [
    "TTA_MODES",
    "AutocastInferer",
    "DetectionInferer",
    "LongestSideInferer",
    "SliceTiledInferer",
    "dihedral_transforms",
]
