"""Pixel scores on hand-computed cases, including the empty-image rule and both averagings."""

from __future__ import annotations

import pytest
import torch

from microseg.metrics import ForegroundMetric, ForegroundMetricHandler, foreground_counts, scores_from_counts


def _mask(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


# truth: 4 foreground pixels; prediction: 3, of which 2 right -> TP 2, FP 1, FN 2, TN 11
TRUTH = _mask([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
PRED = _mask([[1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]])


def test_counts_and_scores_by_hand():
    counts = foreground_counts(PRED, TRUTH)
    assert counts.tolist() == [[2, 1, 2, 11]]
    scores = {k: float(v) for k, v in scores_from_counts(counts[0]).items()}
    assert scores == pytest.approx({"dice": 4 / 7, "iou": 2 / 5, "precision": 2 / 3, "recall": 2 / 4})


def test_empty_rule():
    empty = torch.zeros_like(TRUTH)
    both_empty = scores_from_counts(foreground_counts(empty, empty)[0])
    assert all(float(v) == 1.0 for v in both_empty.values())
    missed = scores_from_counts(foreground_counts(empty, TRUTH)[0])
    assert float(missed["dice"]) == 0 and float(missed["recall"]) == 0 and float(missed["precision"]) == 0
    spurious = scores_from_counts(foreground_counts(TRUTH, empty)[0])
    assert float(spurious["iou"]) == 0 and float(spurious["recall"]) == 0


def test_dataset_vs_image_averaging():
    empty = torch.zeros_like(TRUTH)
    preds, truths = torch.cat([PRED, empty]), torch.cat([TRUTH, empty])
    pooled = ForegroundMetric(["dice", "iou"], reduction="dataset")
    pooled(preds, truths)
    assert [float(v) for v in pooled.aggregate()] == pytest.approx([4 / 7, 2 / 5])
    per_image = ForegroundMetric("dice", reduction="image")
    per_image(preds, truths)
    assert float(per_image.aggregate()) == pytest.approx((4 / 7 + 1.0) / 2)
    assert per_image.counts().shape == (2, 4)


def test_cumulative_over_batches_and_reset():
    metric = ForegroundMetric("iou")
    metric(PRED, TRUTH)
    metric(TRUTH, TRUTH)
    assert float(metric.aggregate()) == pytest.approx((2 + 4) / (5 + 4))
    metric.reset()
    assert metric.counts().shape == (0, 4)


def test_handler_and_errors():
    handler = ForegroundMetricHandler("precision")
    assert handler.metric_fn.metric_name == ("precision",)
    with pytest.raises(ValueError):
        ForegroundMetric("accuracy")
    with pytest.raises(ValueError, match="shapes differ"):
        foreground_counts(PRED, TRUTH[..., :2])


def test_handler_in_an_evaluator_loop():
    from ignite.engine import Engine

    handler = ForegroundMetricHandler("dice", output_transform=lambda out: (out["pred"], out["label"]))
    engine = Engine(lambda e, batch: batch)
    handler.attach(engine, "dice")
    state = engine.run([{"pred": PRED, "label": TRUTH}, {"pred": TRUTH, "label": TRUTH}])
    assert state.metrics["dice"] == pytest.approx((4 + 8) / (7 + 8))
