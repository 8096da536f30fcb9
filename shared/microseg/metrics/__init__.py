"""Segmentation metrics: pure functions, MONAI cumulative metrics and ignite handlers."""

from __future__ import annotations

from microseg.metrics.foreground import (
    FOREGROUND_METRICS,
    ForegroundMetric,
    ForegroundMetricHandler,
    foreground_counts,
    scores_from_counts,
)
from microseg.metrics.objects import (
    OBJECT_METRICS,
    ObjectMatch,
    ObjectMatchingMetric,
    ObjectMatchingMetricHandler,
    label_objects,
    match_objects,
    object_scores,
    object_sizes,
)

__all__ = [
    "FOREGROUND_METRICS",
    "OBJECT_METRICS",
    "ForegroundMetric",
    "ForegroundMetricHandler",
    "ObjectMatch",
    "ObjectMatchingMetric",
    "ObjectMatchingMetricHandler",
    "foreground_counts",
    "label_objects",
    "match_objects",
    "object_scores",
    "object_sizes",
    "scores_from_counts",
]
