"""InstanceReport (metrics.json + per_image.csv) and SubmissionWriter (Kaggle CSV) on a minimal engine."""

from __future__ import annotations

import csv
import json
import re

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
    page = (tmp_path / "report.html").read_text()
    assert re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', page) == ["b: 0.25", "a: 1", "c: 1"]
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 3  # the default 4 worst: all 3 images
    assert page.index("b \u2014 kaggle_ap 0.25<") < page.index("a \u2014 kaggle_ap 1<")
    assert "IoU &gt; t (strictly" in page and '<polyline class="precision"' in page
    engine.run(data[:1], max_epochs=1)  # a second run starts afresh
    assert json.loads((tmp_path / "metrics.json").read_text())["images"] == 1
    assert len(re.findall(r"<img ", (tmp_path / "report.html").read_text())) == 1


def test_report_keeps_only_the_worst_pictures(tmp_path):
    truth = _labels((0, 4, 0, 4), (6, 10, 6, 10))
    preds = [truth, _labels((0, 4, 0, 3)), _labels(), _labels((0, 4, 0, 4))]
    engine, data = _engine([_item(f"i{k}", p, truth) for k, p in enumerate(preds)])
    report = InstanceReport(tmp_path, worst_images=2)
    report.attach(engine)
    engine.run(data, max_epochs=1)
    assert [(name, score) for name, score, _ in report.worst.pictures()] == [("i2", 0.0), ("i1", 0.25)]
    picture = report.worst.pictures()[0][2]
    assert picture.shape == (10, 12, 3) and picture.dtype == np.uint8
    no_page = InstanceReport(tmp_path / "off", html_report=False)
    no_page.attach(engine)
    engine.run(data, max_epochs=1)
    assert (tmp_path / "off" / "metrics.json").exists() and not (tmp_path / "off" / "report.html").exists()
