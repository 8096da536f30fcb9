"""scripts/learning_curve.py end to end on a tiny synthetic TEM folder: one row per size and augmentation setting,
sizes capped by the data, CSV and plot written, the plot redrawn from the CSV; bundles without the learning-curve
keys are refused. The end-to-end study (45 s) runs under `-m slow`."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from conftest import BUNDLES, REPO
from microseg.data import write_synthetic_tem

SCRIPT = str(REPO / "scripts" / "learning_curve.py")


@pytest.mark.slow  # 45 s: four training runs and two plots
def test_learning_curve_writes_csv_and_plot(tmp_path):
    data = write_synthetic_tem(tmp_path / "data", count=10, size=32, seed=0)  # 8 for training, 2 for validation
    out = tmp_path / "curve"
    command = [sys.executable, SCRIPT, "--bundle", str(BUNDLES / "tem_nuclei_segmentation"), "--dataset_dir", str(data)]
    command += ["--sizes", "2", "50", "--steps", "2", "--out", str(out), "--override", "image_size=32", "num_workers=0"]
    command += ["network_def#features=[4,8]"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((out / "learning_curve.csv").open()))
    runs = [(r["n_images"], r["augment"]) for r in rows]
    assert runs == [("2", "True"), ("2", "False"), ("8", "True"), ("8", "False")]
    assert [int(r["iterations"]) for r in rows] == [2, 2, 4, 4]  # 2 steps asked; 8 images at batch 2 fill an epoch
    assert all(0 <= float(r["val_mean_dice"]) <= 1 and r["key_metric"] == "val_mean_dice" for r in rows)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "n2_aug_r0" / "models").exists()  # weights removed unless --keep_weights
    assert "val_mean_dice" in result.stdout
    (out / "learning_curve.png").unlink()
    replot = [sys.executable, SCRIPT, "--bundle", str(BUNDLES / "tem_nuclei_segmentation"), "--out", str(out)]
    result = subprocess.run([*replot, "--plot_only"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and (out / "learning_curve.png").is_file(), result.stderr[-3000:]


def test_bundle_without_learning_curve_keys_is_refused(tmp_path):
    command = [sys.executable, SCRIPT, "--bundle", str(BUNDLES / "he_gland_segmentation"), "--dataset_dir", "x"]
    result = subprocess.run([*command, "--steps", "1", "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "lacks num_train_images, augment" in result.stderr
