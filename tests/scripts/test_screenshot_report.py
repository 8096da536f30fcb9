"""scripts/screenshot_report.py: a synthetic evaluation page rendered by headless Chromium passes and gives a small,
non-blank PNG; a page with a broken picture fails with one line; without Chromium the script says how to get it.
The Chromium runs (a few seconds) are under `-m slow` and need /usr/bin/chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from microseg.metrics.objects import match_counts_by_threshold, precision_recall_by_threshold
from microseg.reporting.html import write_html_report
from microseg.reporting.overlay import outline_overlay

SCRIPT = str(REPO / "scripts" / "screenshot_report.py")
CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.is_file(), reason="needs Chromium (apt-get install -y chromium)")


def _report(path: Path) -> Path:
    rng = np.random.default_rng(0)
    truth = np.zeros((64, 80), np.int32)
    truth[10:30, 10:30], truth[40:60, 40:70] = 1, 2
    pred = np.zeros_like(truth)
    pred[12:30, 10:28], pred[40:58, 45:70] = 3, 4
    picture = outline_overlay(rng.random((64, 80)), pred, truth)
    curve = precision_recall_by_threshold(match_counts_by_threshold(truth, pred))
    rows = [{"image": f"image_{i}", "kaggle_ap": float(v)} for i, v in enumerate(rng.random(8))]
    metrics = {"kaggle_ap": 0.42, "images": 8, "definitions": {"kaggle_ap": "mean over t of TP/(TP+FP+FN)"}}
    return write_html_report(path, "Synthetic", metrics, None, rows, "kaggle_ap", curve, [("image_3", picture)] * 2)


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *arguments], capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # two Chromium runs, a few seconds
@needs_chromium
def test_screenshot_of_a_report(tmp_path):
    page = _report(tmp_path / "report.html")
    out = tmp_path / "shot" / "report.png"
    result = _run(str(page), "--out", str(out), "--width", "1000", "--max_kb", "150", "--chromium", str(CHROMIUM))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 pictures, 2 charts" in result.stderr
    assert out.stat().st_size <= 150_000
    picture = np.asarray(Image.open(out).convert("RGB"))
    assert picture.shape[1] <= 1000 and picture.shape[0] > 600 and picture.std() > 10


@pytest.mark.slow  # one Chromium run
@needs_chromium
def test_broken_picture_fails_with_one_line(tmp_path):
    page = _report(tmp_path / "report.html")
    text = page.read_text().replace('src="data:image/png;base64,', 'src="data:image/png;base64,AAAA', 1)
    page.write_text(text)
    result = _run(str(page), "--out", str(tmp_path / "x.png"), "--chromium", str(CHROMIUM))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"screenshot_report: 1 of the 2 pictures in {page.resolve()} do not decode"
    ]
    assert not (tmp_path / "x.png").exists()


def test_missing_chromium_or_page_is_one_line(tmp_path):
    page = _report(tmp_path / "report.html")
    result = _run(str(page), "--out", str(tmp_path / "x.png"), "--chromium", str(tmp_path / "no-chromium"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "is not an executable file" in result.stderr
    result = _run(str(tmp_path / "missing.html"), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "does not exist" in result.stderr
