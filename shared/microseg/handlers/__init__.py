"""Ignite handlers for the bundles' trainers and evaluators."""

from __future__ import annotations

from microseg.handlers.batch import FailedInputsReport, InferenceManifest
from microseg.handlers.batchnorm import PreciseBatchNorm
from microseg.handlers.checkpoint import RecordWeights, TrainingCheckpoint
from microseg.handlers.glas_report import GlasReport, glas_report
from microseg.handlers.instance_report import InstanceReport, SubmissionWriter
from microseg.handlers.progress import EvaluationProgress, TrainingProgress
from microseg.handlers.report import SegmentationReport, segmentation_report
from microseg.handlers.throughput import ThroughputMonitor
from microseg.handlers.tracking import MLflowTracker

__all__ = [
    "EvaluationProgress",
    "FailedInputsReport",
    "GlasReport",
    "InferenceManifest",
    "InstanceReport",
    "MLflowTracker",
    "PreciseBatchNorm",
    "RecordWeights",
    "SegmentationReport",
    "SubmissionWriter",
    "ThroughputMonitor",
    "TrainingCheckpoint",
    "TrainingProgress",
    "glas_report",
    "segmentation_report",
]
