"""The GlaS report: scores per split and per image."""

from __future__ import annotations

import csv
import json
import re

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


def test_handler_writes_html_page_with_worst_images(tmp_path):
    g = _labels()
    miss = np.zeros_like(g)
    miss[1:4, 1:4] = 1  # finds one of the two glands

    def item(name, pred):
        image = MetaTensor(torch.rand(3, 8, 8), meta={"filename_or_obj": f"/d/{name}.bmp"})
        return {"image": image, "pred": torch.from_numpy(pred)[None], "label": torch.from_numpy(g)[None]}

    class Engine:
        class state:  # noqa: N801 - mimics ignite's engine.state
            output = [item("testA_1", g), item("testA_2", miss), item("testB_1", np.zeros_like(g))]

    report = GlasReport(tmp_path, worst_images=2)
    report.reset()
    report.collect(Engine)
    report.write()
    page = (tmp_path / "report.html").read_text()
    assert re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', page) == [
        "testB_1: 0",
        "testA_2: 0.6667",
        "testA_1: 1",
    ]
    assert "<th>testA</th><th>testB</th><th>all</th>" in page
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 2
    assert "testB_1 \u2014 object_f1 0<" in page and "testA_2 \u2014 object_f1 0.6667<" in page
    assert '<polyline class="recall"' in page
