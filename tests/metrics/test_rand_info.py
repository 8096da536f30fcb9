"""ISBI 2012 challenge scores (V_rand, V_info) against cases computed by hand (see the module docstring)."""

from __future__ import annotations

import numpy as np
import pytest

from microseg.metrics import rand_info_scores, rand_info_stack

TRUE = np.array([[1, 1, 2, 2]])


def test_identical_segmentations_score_one():
    assert rand_info_scores(TRUE, TRUE * 7) == pytest.approx(dict.fromkeys(rand_info_scores(TRUE, TRUE), 1.0))


def test_false_merge():
    # p = (1/2, 1/2) in one predicted segment: sum p^2 = 1/2, sum s^2 = 1, sum t^2 = 1/2; H(S) = 0, I = 0
    scores = rand_info_scores(np.array([[1, 1, 1, 1]]), TRUE)
    assert scores["v_rand_split"] == pytest.approx(1.0) and scores["v_rand_merge"] == pytest.approx(0.5)
    assert scores["v_rand"] == pytest.approx(2 / 3)
    assert scores["v_info_split"] == 1.0 and scores["v_info_merge"] == pytest.approx(0.0) and scores["v_info"] == 0


def test_false_split_and_predicted_boundary_pixels():
    # p = (1/4, 1/4, 1/2): sum p^2 = 3/8 = sum s^2, sum t^2 = 1/2; H(S) = 1.5 ln 2, H(T) = ln 2, I = ln 2
    expected = {"v_rand_split": 0.75, "v_rand_merge": 1.0, "v_info_split": 2 / 3, "v_info_merge": 1.0}
    expected |= {"v_rand": 2 * 0.75 / 1.75, "v_info": 0.8}
    assert rand_info_scores(np.array([[1, 2, 3, 3]]), TRUE) == pytest.approx(expected)
    # a pixel labelled 0 (boundary) inside a true cell is a segment of its own: the same as the split above
    assert rand_info_scores(np.array([[0, 0, 3, 3]]), TRUE) == pytest.approx(expected)


def test_only_true_foreground_counts():
    true = np.array([[1, 1, 0, 2, 2]])
    assert rand_info_scores(np.array([[4, 4, 9, 5, 5]]), true)["v_rand"] == 1.0  # the label on the true boundary
    assert rand_info_scores(np.zeros((2, 2), int), np.zeros((2, 2), int))["v_info"] == 1.0  # nothing to score


def test_uneven_cells_by_hand():
    # true cells of 3 and 1 pixels, predicted all one segment: p = (3/4, 1/4)
    true, pred = np.array([[1, 1, 1, 2]]), np.ones((1, 4), int)
    scores = rand_info_scores(pred, true)
    assert scores["v_rand_merge"] == pytest.approx(10 / 16)  # sum p^2 = 10/16, sum s^2 = 1
    assert scores["v_rand_split"] == pytest.approx(1.0)  # sum t^2 = 10/16 too
    assert scores["v_info_merge"] == 0.0  # one predicted segment carries no information: I = 0, H(T) > 0


def test_stack_is_the_mean_over_slices():
    pred = np.stack([TRUE, np.array([[1, 1, 1, 1]])])
    result = rand_info_stack(pred, np.stack([TRUE, TRUE]))
    assert result["v_rand"] == pytest.approx((1 + 2 / 3) / 2) and len(result["per_slice"]) == 2
    with pytest.raises(ValueError, match="different shapes"):
        rand_info_scores(np.zeros((2, 2)), np.zeros((2, 3)))
