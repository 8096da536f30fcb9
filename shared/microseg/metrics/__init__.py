"""Segmentation metrics: pure functions, MONAI cumulative metrics and ignite handlers."""

from __future__ import annotations

from microseg.metrics.foreground import (
    FOREGROUND_METRICS,
    ForegroundMetric,
    ForegroundMetricHandler,
    foreground_counts,
    scores_from_counts,
)
from microseg.metrics.glas import (
    GLAS_METRICS,
    GLAS_STATS,
    GlasMetric,
    GlasMetricHandler,
    glas_image_stats,
    glas_scores,
)
from microseg.metrics.instance_ap import (
    INSTANCE_METRICS,
    KAGGLE_THRESHOLDS,
    InstanceMatchingMetric,
    InstanceMatchingMetricHandler,
    instance_scores,
    kaggle_ap,
    matching_counts,
)
from microseg.metrics.objects import (
    IOU_THRESHOLDS,
    OBJECT_METRICS,
    ObjectMatch,
    ObjectMatchingMetric,
    ObjectMatchingMetricHandler,
    iou_matrix,
    label_objects,
    match_counts_by_threshold,
    match_objects,
    object_scores,
    object_sizes,
    precision_recall_by_threshold,
)
from microseg.metrics.rand_info import RAND_INFO_METRICS, rand_info_scores, rand_info_stack

__all__ = [
    "FOREGROUND_METRICS",
    "GLAS_METRICS",
    "GLAS_STATS",
    "INSTANCE_METRICS",
    "IOU_THRESHOLDS",
    "KAGGLE_THRESHOLDS",
    "OBJECT_METRICS",
    "RAND_INFO_METRICS",
    "ForegroundMetric",
    "ForegroundMetricHandler",
    "GlasMetric",
    "GlasMetricHandler",
    "InstanceMatchingMetric",
    "InstanceMatchingMetricHandler",
    "ObjectMatch",
    "ObjectMatchingMetric",
    "ObjectMatchingMetricHandler",
    "foreground_counts",
    "glas_image_stats",
    "glas_scores",
    "instance_scores",
    "iou_matrix",
    "kaggle_ap",
    "label_objects",
    "match_counts_by_threshold",
    "match_objects",
    "matching_counts",
    "object_scores",
    "object_sizes",
    "precision_recall_by_threshold",
    "rand_info_scores",
    "rand_info_stack",
    "scores_from_counts",
]
