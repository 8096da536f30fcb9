"""Inference over images and stacks of any size."""

from __future__ import annotations

from microseg.inferers.tiled import TTA_MODES, SliceTiledInferer, dihedral_transforms

__all__ = ["TTA_MODES", "SliceTiledInferer", "dihedral_transforms"]
