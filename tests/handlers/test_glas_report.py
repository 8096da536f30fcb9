"""The GlaS report: scores per split and per image."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from microseg.handlers import GlasReport, glas_report


def _labels():
    g = np.zeros((8, 8), int)
    g[1:4, 1:4], g[5:8, 5:8] = 1, 2
    return g


def test_report_groups_images_by_split():
    g = _labels()
    metrics, rows = glas_report([("testA_1", g, g), ("testB_2", np.zeros_like(g), g), ("testA_2", g, g)])
    assert metrics["testA"]["object_f1"] == 1.0 and metrics["testA"]["images"] == 2
    assert metrics["testB"]["object_f1"] == 0.0 and metrics["all"]["images"] == 3
    assert metrics["all"]["object_f1"] == pytest.approx(2 * 4 / (2 * 4 + 2))
    assert [r["split"] for r in rows] == ["testA", "testB", "testA"] and "definitions" in metrics


def test_handler_writes_files(tmp_path):
    g = torch.from_numpy(_labels())[None]
    report = GlasReport(tmp_path)

    class Engine:
        class state:  # noqa: N801 - mimics ignite's engine.state
            output = [
                {
                    "image": MetaTensor(torch.zeros(3, 8, 8), meta={"filename_or_obj": "/d/train_3.bmp"}),
                    "pred": g,
                    "label": g,
                }
            ]

    report.collect(Engine)
    report.write()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train"]["object_dice"] == 1.0 and "all" not in metrics
    rows = list(csv.DictReader((tmp_path / "per_image.csv").open()))
    assert rows[0]["image"] == "train_3" and float(rows[0]["object_hausdorff"]) == 0.0
