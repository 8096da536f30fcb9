"""Pieces for MONAI engines: batch preparation for detectors, an inference iteration that skips bad inputs."""

from __future__ import annotations

from microseg.engines.batch import skip_failed_inputs
from microseg.engines.detection import PrepareInstanceBatch

__all__ = ["PrepareInstanceBatch", "skip_failed_inputs"]
