"""Pieces for MONAI engines: batch preparation (for detectors, with augmentation on the device), an inference
iteration that skips bad inputs."""

from __future__ import annotations

from microseg.engines.augment import AugmentOnDevice
from microseg.engines.batch import skip_failed_inputs
from microseg.engines.detection import PrepareInstanceBatch

__all__ = ["AugmentOnDevice", "PrepareInstanceBatch", "skip_failed_inputs"]
