"""Pieces for MONAI engines: batch preparation for detectors."""

from __future__ import annotations

from microseg.engines.detection import PrepareInstanceBatch

__all__ = ["PrepareInstanceBatch"]
