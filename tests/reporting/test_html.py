"""The evaluation page: metric table, bar chart, precision/recall curve, embedded pictures, escaping."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from microseg.metrics.objects import IOU_THRESHOLDS, match_counts_by_threshold, precision_recall_by_threshold
from microseg.reporting.html import format_value, write_html_report

ROWS = [{"image": "b<1>", "dice": 0.25}, {"image": "a", "dice": 0.9}, {"image": "c", "dice": float("nan")}]


def _curve() -> dict:
    truth = np.zeros((10, 10), int)
    truth[0:4, 0:4], truth[6:10, 6:10] = 1, 2
    pred = np.zeros_like(truth)
    pred[0:4, 0:3], pred[6:10, 6:10], pred[0, 9] = 5, 7, 9  # IoU 0.75, 1 and a false positive
    return precision_recall_by_threshold(match_counts_by_threshold(truth, pred))


def _page(tmp_path, **kwargs) -> str:
    picture = np.zeros((12, 16, 3), np.uint8)
    picture[2:5, 3:9] = (0, 255, 0)
    arguments = {
        "path": tmp_path / "report.html",
        "title": "Eval <DSB> & co",
        "metrics": {"dice": 0.912345, "objects_found": 290.0, "unit": "nm", "voxel_size": [5.0, 5.0], "none": None},
        "definitions": {"dice": "foreground <Dice>"},
        "rows": ROWS,
        "score_key": "dice",
        "curve": _curve(),
        "worst": [("b<1> \u2014 dice 0.25", picture)],
        "date": "2026-01-02 03:04 UTC",
    }
    path = write_html_report(**{**arguments, **kwargs})
    assert path == tmp_path / "report.html"
    return path.read_text(encoding="utf-8")


def test_format_value():
    assert format_value(0.912345) == "0.9123" and format_value(290.0) == "290" and format_value(3) == "3"
    assert format_value(123456.7) == "1.235e+05" and format_value(None) == "\u2013"
    assert format_value([5.0, 2.5]) == "5, 2.5" and format_value(float("nan")) == "nan"


def test_page_holds_metrics_definitions_and_escapes_text(tmp_path):
    page = _page(tmp_path)
    assert page.startswith("<!DOCTYPE html>") and "2026-01-02 03:04 UTC" in page
    assert "<title>Eval &lt;DSB&gt; &amp; co</title>" in page and "<DSB>" not in page
    assert re.search(r"<th[^>]*>dice</th><td class=\"num\">0\.9123</td>", page)
    assert re.search(r">objects_found</th><td class=\"num\">290</td>", page)
    assert ">5, 5</td>" in page and ">nm</td>" in page
    assert "<dd>foreground &lt;Dice&gt;</dd>" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_bar_chart_one_bar_per_image_sorted(tmp_path):
    page = _page(tmp_path)
    svg = re.search(r'<svg class="bars".*?</svg>', page, re.S).group(0)
    titles = re.findall(r'<rect class="bar"[^>]*><title>([^<]*)</title>', svg)
    assert titles == ["b&lt;1&gt;: 0.25", "a: 0.9", "c: nan"]  # ascending, NaN last
    heights = [float(h) for h in re.findall(r'<rect class="bar"[^>]*height="([0-9.]+)"', svg)]
    assert heights[1] > heights[0] > 0 and heights[2] == 0


def test_curve_points(tmp_path):
    curve = _curve()
    assert curve["thresholds"] == list(IOU_THRESHOLDS)
    assert curve["precision"][:6] == [2 / 3] * 6 and curve["precision"][6:] == [1 / 3] * 4  # IoU 0.75 matched at 0.75
    assert curve["recall"][0] == 1.0 and curve["recall"][-1] == 0.5
    page = _page(tmp_path)
    svg = re.search(r'<svg class="curve".*?</svg>', page, re.S).group(0)
    assert '<polyline class="precision"' in svg and '<polyline class="recall"' in svg
    points = re.findall(r'<circle[^>]*data-threshold="([0-9.]+)" data-value="([0-9.]+)"><title>precision', svg)
    assert [(float(t), float(v)) for t, v in points] == [
        (t, round(p, 6)) for t, p in zip(IOU_THRESHOLDS, curve["precision"], strict=True)
    ]
    table = re.search(r'<table class="curve-points">.*?</table>', page, re.S).group(0)
    assert '<td class="num">0.75</td><td class="num">0.6667</td><td class="num">1</td>' in table


def test_worst_pictures_are_embedded_pngs(tmp_path):
    page = _page(tmp_path)
    sources = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(sources) == 1
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(sources[0]))))
    assert picture.shape == (12, 16, 3) and picture[3, 4].tolist() == [0, 255, 0]
    assert "b&lt;1&gt; \u2014 dice 0.25" in page


def test_optional_sections_and_split_tables(tmp_path):
    metrics = {"testA": {"object_f1": 0.5, "images": 2}, "testB": {"object_f1": 0.25, "images": 1}}
    page = _page(tmp_path, metrics=metrics, definitions=None, curve=None, worst=[], rows=[])
    assert "<th>testA</th><th>testB</th>" in page
    assert re.search(r">object_f1</th><td class=\"num\">0.5</td><td class=\"num\">0.25</td>", page)
    assert '<svg class="curve"' not in page and "<img" not in page and "no images" in page
    many = [{"image": f"img{i}", "dice": i / 100} for i in range(60)]
    page = _page(tmp_path, rows=many)
    assert page.count('<rect class="bar"') == 60 and "names in the tooltips" in page
