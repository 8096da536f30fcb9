"""InstanceReport (metrics.json + per_image.csv) and SubmissionWriter (Kaggle CSV) on a minimal engine."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor

from microseg.handlers import InstanceReport, SubmissionWriter
from microseg.io import read_rle_csv


def _labels(*boxes) -> torch.Tensor:
    labels = np.zeros((1, 10, 12), np.int32)
    for value, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        labels[0, y0:y1, x0:x1] = value
    return torch.as_tensor(labels)


def _engine(items):
    engine = Engine(lambda e, batch: batch)
    return engine, [[it] for it in items]


def _item(name, pred, label):
    return {
        "image": MetaTensor(torch.zeros(1, 10, 12), meta={"filename_or_obj": f"/x/{name}.png"}),
        "pred": pred,
        "label": label,
    }


def test_report_and_submission(tmp_path):
    truth = _labels((0, 4, 0, 4), (6, 10, 6, 10))
    items = [_item("a", truth, truth), _item("b", _labels((0, 4, 0, 3)), truth), _item("c", _labels(), _labels())]
    engine, data = _engine(items)
    report, submission = InstanceReport(tmp_path), SubmissionWriter(tmp_path)
    report.attach(engine)
    submission.attach(engine)
    engine.run(data, max_epochs=1)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["images"] == 3 and metrics["kaggle_ap"] == pytest.approx((1 + 0.25 + 1) / 3)
    assert "definitions" in metrics
    rows = list(csv.DictReader((tmp_path / "per_image.csv").open()))
    assert [r["image"] for r in rows] == ["a", "b", "c"]
    assert rows[1]["objects_true"] == "2" and rows[1]["matched_50"] == "1"
    decoded = read_rle_csv(tmp_path / "submission.csv", shapes={k: (10, 12) for k in "abc"})
    assert np.array_equal(decoded["a"], truth[0].numpy()) and not decoded["c"].any()
    engine.run(data[:1], max_epochs=1)  # a second run starts afresh
    assert json.loads((tmp_path / "metrics.json").read_text())["images"] == 1
