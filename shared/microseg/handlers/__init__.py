"""Ignite handlers for the bundles' trainers and evaluators."""

from __future__ import annotations

from microseg.handlers.checkpoint import TrainingCheckpoint
from microseg.handlers.report import SegmentationReport, segmentation_report

__all__ = ["SegmentationReport", "TrainingCheckpoint", "segmentation_report"]
