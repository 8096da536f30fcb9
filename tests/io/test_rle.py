"""Kaggle run-length encoding: hand-computed codes, round trips, submission and solution CSVs, invalid input."""

from __future__ import annotations

import numpy as np
import pytest

from microseg.errors import MicrosegInputError
from microseg.io import labels_to_rles, read_rle_csv, rle_decode, rle_encode, rles_to_labels, write_submission


def test_pixels_are_numbered_top_to_bottom_then_left_to_right():
    mask = np.zeros((3, 4), np.uint8)  # pixel (row, col) has number col * 3 + row + 1
    mask[1:3, 0] = 1  # pixels 2, 3
    mask[0, 1] = 1  # pixel 4: joins the run 2-4
    mask[2, 3] = 1  # pixel 12
    assert rle_encode(mask) == "2 3 12 1"
    assert np.array_equal(rle_decode("2 3 12 1", (3, 4)), mask.astype(bool))


def test_empty_and_full_masks():
    assert rle_encode(np.zeros((5, 7))) == ""
    assert rle_encode(np.ones((5, 7))) == "1 35"
    assert not rle_decode("", (5, 7)).any()


def test_random_label_images_round_trip():
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (7, 3), (40, 33)]:
        labels = rng.integers(0, 6, shape)
        rles = labels_to_rles(labels)
        back = rles_to_labels(rles, shape)
        values = [v for v in np.unique(labels) if v]
        assert len(rles) == len(values)
        for index, value in enumerate(values, start=1):
            assert np.array_equal(back == index, labels == value)


@pytest.mark.parametrize(
    "rle, message",
    [
        ("1 2 3", "odd number"),
        ("1 x", "not an integer"),
        ("0 2", "positive"),
        ("3 0", "positive"),
        ("5 3 6 1", "sorted"),
        ("10 2", "reaches pixel 11"),
    ],
)
def test_invalid_encodings_are_refused(rle, message):
    with pytest.raises(MicrosegInputError, match=message):
        rle_decode(rle, (2, 5))


def test_overlapping_objects_are_refused():
    with pytest.raises(MicrosegInputError, match="overlaps"):
        rles_to_labels(["1 3", "3 2"], (2, 5))


def test_submission_round_trip_with_an_empty_image(tmp_path):
    a = np.zeros((6, 5), np.int32)
    a[0:2, 0:2], a[4:6, 3:5] = 3, 7
    path = write_submission(tmp_path / "sub.csv", {"img_a": labels_to_rles(a), "img_b": []})
    lines = (tmp_path / "sub.csv").read_text().splitlines()
    assert lines[0] == "ImageId,EncodedPixels" and lines[-1] == "img_b," and len(lines) == 4
    read = read_rle_csv(path, shapes={"img_a": (6, 5), "img_b": (4, 4)})
    assert np.array_equal(read["img_a"] > 0, a > 0) and len(np.unique(read["img_a"])) == 3
    assert not read["img_b"].any() and read["img_b"].shape == (4, 4)
    assert not list(tmp_path.glob("*.partial*"))


def test_solution_csv_carries_the_sizes(tmp_path):
    (tmp_path / "solution.csv").write_text(
        "ImageId,EncodedPixels,Height,Width,Usage\nx,1 2,2,3,Public\nx,5 2,2,3,Public\n"
    )
    labels = read_rle_csv(tmp_path / "solution.csv")["x"]
    assert labels.tolist() == [[1, 0, 2], [1, 0, 2]]


def test_csv_errors_name_the_problem(tmp_path):
    (tmp_path / "a.csv").write_text("Id,Pixels\nx,1 2\n")
    with pytest.raises(MicrosegInputError, match="no column"):
        read_rle_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("ImageId,EncodedPixels\nx,1 2\n")
    with pytest.raises(MicrosegInputError, match="size of image x is unknown"):
        read_rle_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("ImageId,EncodedPixels\nx,1 200\n")
    with pytest.raises(MicrosegInputError, match="image x"):
        read_rle_csv(tmp_path / "c.csv", shapes={"x": (4, 4)})
