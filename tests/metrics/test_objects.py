"""Object matching, counts and physical sizes on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microseg.metrics import (
    ObjectMatchingMetric,
    label_objects,
    match_counts_by_threshold,
    match_objects,
    object_scores,
    object_sizes,
    precision_recall_by_threshold,
)


def _case():
    truth = np.zeros((10, 10), np.uint8)
    truth[1:4, 1:4] = 1  # A: 9 px
    truth[6:9, 6:9] = 1  # B: 9 px
    truth[0, 8] = 1  # C: 1 px
    pred = np.zeros_like(truth)
    pred[1:4, 1:3] = 1  # overlaps A: IoU 6/9 -> match
    pred[6:9, 6:7] = 1  # overlaps B: IoU 3/9 -> no match
    pred[9, 0] = 1  # spurious
    return truth, pred


def test_match_by_hand():
    truth, pred = _case()
    match = match_objects(label_objects(truth), label_objects(pred))
    assert (match.tp, match.fp, match.fn) == (1, 2, 2)
    assert match.ious == pytest.approx((6 / 9,))
    assert object_scores(match.tp, match.fp, match.fn) == pytest.approx(
        {"object_precision": 1 / 3, "object_recall": 1 / 3, "object_f1": 1 / 3, "objects_found": 1, "objects_total": 3}
    )


def test_threshold_boundary_is_inclusive():
    truth = np.zeros((4, 4), np.uint8)
    truth[0, :4] = 1
    pred = np.zeros_like(truth)
    pred[0, :2] = 1  # IoU exactly 0.5
    assert match_objects(label_objects(truth), label_objects(pred), 0.5).tp == 1
    assert match_objects(label_objects(truth), label_objects(pred), 0.51).tp == 0


def test_one_to_one_matching():
    truth = np.array([[1, 1, 1, 1, 0, 2, 2, 2]])
    pred = np.array([[5, 5, 5, 5, 0, 5, 5, 5]])  # one prediction covering two objects
    match = match_objects(truth, pred, 0.5)
    assert (match.tp, match.fp, match.fn) == (1, 0, 1)
    assert match.pairs == ((1, 5),)


def test_empty_images():
    empty = np.zeros((5, 5), np.uint8)
    truth, _ = _case()
    assert object_scores(*_counts(empty, empty)) == pytest.approx(
        {"object_precision": 1, "object_recall": 1, "object_f1": 1, "objects_found": 0, "objects_total": 0}
    )
    assert object_scores(*_counts(truth, np.zeros_like(truth)))["object_recall"] == 0
    assert object_scores(*_counts(np.zeros_like(truth), truth))["object_precision"] == 0


def _counts(truth, pred):
    m = match_objects(label_objects(truth), label_objects(pred))
    return m.tp, m.fp, m.fn


def test_3d_components_and_connectivity():
    volume = np.zeros((3, 4, 4), np.uint8)
    volume[0, 0, 0] = volume[1, 0, 0] = 1  # face-connected across slices: one object
    volume[2, 2, 2] = volume[1, 3, 3] = 1  # only corner-connected: two objects (face connectivity)
    assert label_objects(volume).max() == 3
    assert label_objects(volume, connectivity=3).max() == 2


def test_object_sizes_in_physical_units():
    labels = np.zeros((2, 4, 4), np.int32)
    labels[0, :2, :2] = 1  # 4 voxels
    labels[:, 3, 3] = 7  # 2 voxels
    assert object_sizes(labels, (5, 5, 5)).tolist() == [500.0, 250.0]
    assert object_sizes(labels[0], (2, 3)).tolist() == [24.0, 6.0]
    with pytest.raises(ValueError):
        object_sizes(labels, (5, 5))


def test_cumulative_object_metric_pools_counts():
    truth, pred = _case()
    metric = ObjectMatchingMetric(["object_f1", "objects_found", "objects_total"])
    batch = lambda a: torch.from_numpy(a)[None, None]  # noqa: E731
    metric(batch(pred), batch(truth))
    metric(batch(truth), batch(truth))
    assert metric.counts().tolist() == [[1, 2, 2], [3, 0, 0]]
    f1, found, total = (float(v) for v in metric.aggregate())
    assert (found, total) == (4, 6) and f1 == pytest.approx(8 / (8 + 2 + 2))


def test_object_handler_in_an_evaluator_loop():
    from ignite.engine import Engine

    from microseg.metrics import ObjectMatchingMetricHandler

    truth, pred = _case()
    handler = ObjectMatchingMetricHandler("objects_found", output_transform=lambda out: (out[0], out[1]))
    engine = Engine(lambda e, batch: batch)
    handler.attach(engine, "found")
    state = engine.run([(torch.from_numpy(pred)[None, None], torch.from_numpy(truth)[None, None])])
    assert state.metrics["found"] == 1


def test_counts_by_threshold_agree_with_matching_at_each_threshold():
    rng = np.random.default_rng(3)
    truth = label_objects(rng.random((40, 40)) > 0.55)
    pred = label_objects(rng.random((40, 40)) > 0.55)
    pred[truth == 1] = pred.max() + 1  # one exact match
    thresholds = (0.3, 0.5, 0.6, 0.75, 1.0)
    expected = [[(m := match_objects(truth, pred, t)).tp, m.fp, m.fn] for t in thresholds]
    assert match_counts_by_threshold(truth, pred, thresholds).tolist() == expected
    assert match_counts_by_threshold(truth, pred, thresholds[1:]).tolist() == expected[1:]  # one matching


def test_precision_recall_by_threshold_pools_images():
    counts = np.asarray([[[2, 1, 0], [1, 2, 1]], [[0, 0, 0], [0, 0, 0]], [[1, 0, 1], [0, 1, 2]]])
    curve = precision_recall_by_threshold(counts, (0.5, 0.9))
    assert curve["precision"] == [3 / 4, 1 / 4] and curve["recall"] == [3 / 4, 1 / 4]
    assert curve["tp"] == [3, 1] and curve["fn"] == [1, 3] and curve["thresholds"] == [0.5, 0.9]
    assert precision_recall_by_threshold(np.zeros((0, 2, 3)), (0.5, 0.9))["precision"] == [1.0, 1.0]
    with pytest.raises(ValueError, match="thresholds"):
        precision_recall_by_threshold(counts, (0.5,))
