from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from microseg.handlers import SegmentationReport, segmentation_report


def _volumes():
    truth = np.zeros((2, 6, 6), np.uint8)
    truth[:, 1:3, 1:3] = 1  # one 3D object of 8 voxels, a 4-pixel square per slice
    pred = truth.copy()
    pred[1, 5, 5] = 1  # one spurious pixel in slice 1
    return pred, truth


def test_report_by_hand():
    pred, truth = _volumes()
    metrics, rows = segmentation_report([("v.tif", pred, truth)], voxel_size=(5, 5, 5))
    assert metrics["dice"] == pytest.approx(16 / 17)
    assert (metrics["objects_found"], metrics["objects_total"]) == (1, 1)
    assert metrics["object_precision"] == pytest.approx(1 / 2)
    assert metrics["true_mean_object_volume_nm3"] == pytest.approx(8 * 125)
    assert metrics["mean_object_volume_nm3"] == pytest.approx((8 * 125 + 125) / 2)
    assert metrics["true_mean_object_area_nm2"] == pytest.approx(4 * 25)
    assert [r["dice"] for r in rows] == pytest.approx([1.0, 8 / 9])
    assert [r["pred_objects"] for r in rows] == [1, 2]
    assert (metrics["slice_objects_found"], metrics["slice_objects_total"]) == (2, 2)
    assert metrics["slice_object_precision"] == pytest.approx(2 / 3)


def test_handler_writes_files(tmp_path):
    pred, truth = _volumes()
    report = SegmentationReport(tmp_path, voxel_size=(5, 5, 5))
    report.items.append(("v.tif", pred, truth))
    report.write()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"dice", "iou", "precision", "recall", "object_f1", "mean_object_volume_nm3"} <= set(metrics)
    rows = list(csv.DictReader((tmp_path / "per_slice.csv").open()))
    assert len(rows) == 2 and rows[0]["image"] == "v.tif"
    page = (tmp_path / "report.html").read_text()  # no engine images: the page has the charts but no pictures
    assert page.count('<rect class="bar"') == 1 and "<img" not in page


def _engine_with(items):
    class Engine:
        class state:  # noqa: N801 - mimics ignite's engine.state
            output = items

    return Engine


def test_handler_writes_html_page(tmp_path):
    pred, truth = _volumes()
    image = MetaTensor(torch.rand(1, 2, 6, 6), meta={"filename_or_obj": "/d/stack.tif"})
    worse = np.zeros_like(truth)
    worse[0, 4:6, 4:6] = 1
    report = SegmentationReport(tmp_path, voxel_size=(5, 5, 5), worst_images=1)
    report.reset()
    report.collect(
        _engine_with(
            [
                {"image": image, "pred": torch.from_numpy(pred)[None], "label": torch.from_numpy(truth)[None]},
                {"image": image, "pred": torch.from_numpy(worse)[None], "label": torch.from_numpy(truth)[None]},
            ]
        )
    )
    report.write()
    page = (tmp_path / "report.html").read_text()
    assert page.count('<rect class="bar"') == 2 and "<title>stack.tif: 0" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 1  # worst_images=1: the Dice-0 image
    assert "stack.tif \u2014 dice 0<" in page
    assert '<polyline class="precision"' in page and f">{report.metrics['dice']:.4g}<" in page
    assert json.loads((tmp_path / "metrics.json").read_text())["dice"] == pytest.approx(report.metrics["dice"])


def test_html_page_can_be_turned_off(tmp_path):
    pred, truth = _volumes()
    report = SegmentationReport(tmp_path, html_report=False)
    report.items.append(("v.tif", pred, truth))
    report.write()
    assert (tmp_path / "metrics.json").exists() and not (tmp_path / "report.html").exists()
