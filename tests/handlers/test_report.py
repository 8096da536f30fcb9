from __future__ import annotations

import csv
import json

import numpy as np
import pytest

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
