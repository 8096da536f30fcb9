"""Results at a glance: object counts, foreground fraction and sizes of synthetic masks with known objects."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from microseg.reporting.summary import format_summary, mask_summary, summarise_run, write_summary_csv


def _squares() -> np.ndarray:
    """A binary 0/255 mask with three squares of 9, 16 and 25 pixels (two of them touching only at a corner)."""
    mask = np.zeros((40, 40), np.uint8)
    mask[2:5, 2:5] = 255
    mask[5:9, 5:9] = 255  # corner contact: a separate object under face connectivity
    mask[20:25, 20:25] = 255
    return mask


def test_binary_mask_objects_are_face_connected_components():
    row = mask_summary(_squares())
    assert row["objects"] == 3
    assert row["foreground_fraction"] == pytest.approx(50 / 1600)
    assert row["median_object_size_px"] == 16
    assert math.isnan(row["median_object_size_um"]) and row["pixel_size_um"] == ""


def test_instance_labels_count_ids_even_when_touching():
    labels = np.zeros((20, 20), np.uint16)
    labels[2:6, 2:6] = 1
    labels[6:10, 2:6] = 2  # touches 1 along a face: still two objects
    labels[12:14, 12:18] = 7
    row = mask_summary(labels)
    assert row["objects"] == 3
    assert row["median_object_size_px"] == 16


def test_stack_objects_are_3d_and_sizes_in_cubic_micrometres():
    stack = np.zeros((4, 10, 10), np.uint8)
    stack[0:3, 1:3, 1:3] = 1  # one object across three slices, 12 voxels
    stack[3, 6:9, 6:9] = 1  # 9 voxels
    row = mask_summary(stack, (0.04, 0.005, 0.005))
    assert row["objects"] == 2 and row["shape"] == "4x10x10"
    assert row["median_object_size_px"] == 10.5
    assert row["median_object_size_um"] == pytest.approx(10.5 * 0.04 * 0.005 * 0.005)


def test_unknown_slice_spacing_gives_no_physical_size():
    row = mask_summary(np.ones((2, 4, 4), np.uint8), (None, 0.1, 0.1))
    assert math.isnan(row["median_object_size_um"]) and row["pixel_size_um"] == "?x0.1x0.1"


def test_empty_mask():
    row = mask_summary(np.zeros((8, 8), np.uint8), (0.5, 0.5))
    assert row["objects"] == 0 and row["foreground_fraction"] == 0
    assert math.isnan(row["median_object_size_px"])


def test_summary_csv_and_table(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "a.tif", np.zeros((40, 40), np.uint8))
    tifffile.imwrite(tmp_path / "a_seg.tif", _squares())
    rows = summarise_run([(str(tmp_path / "a.tif"), str(tmp_path / "a_seg.tif"))], pixel_size="0.5")
    path = write_summary_csv(rows, tmp_path / "summary.csv")
    (read,) = list(csv.DictReader(path.open()))
    assert read["objects"] == "3" and read["median_object_size_px"] == "16"
    assert float(read["median_object_size_um"]) == pytest.approx(4.0) and read["pixel_size_um"] == "0.5x0.5"
    table = format_summary(rows).splitlines()
    assert table[0].split()[:3] == ["input", "shape", "objects"]
    assert table[1].split()[:3] == ["a.tif", "40x40", "3"] and table[1].endswith("4 µm²")
