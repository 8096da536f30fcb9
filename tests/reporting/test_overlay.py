"""Overlay pictures: display scaling, outline positions and colours, the stack grid, PNG writing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from microseg.errors import MicrosegInputError
from microseg.reporting.overlay import (
    BOTH_COLOUR,
    PALETTE,
    PREDICTION_COLOUR,
    TRUTH_COLOUR,
    display_image,
    outline_overlay,
    resize_labels,
    save_png,
    stack_preview,
)


def _square(shape=(20, 24), box=(5, 12, 6, 14), value=1) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    y0, y1, x0, x1 = box
    labels[y0:y1, x0:x1] = value
    return labels


def _colour_mask(picture: np.ndarray, colour) -> np.ndarray:
    return np.all(picture == np.asarray(colour, np.uint8), axis=-1)


def _inner_outline(box, shape=(20, 24)) -> np.ndarray:
    y0, y1, x0, x1 = box
    outline = np.zeros(shape, bool)
    outline[y0:y1, x0:x1] = True
    outline[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = False
    return outline


def test_display_image_scales_any_dtype_to_uint8_rgb():
    image = np.linspace(0, 1000, 20 * 24, dtype=np.float64).reshape(20, 24)
    image[0, 0] = np.nan
    picture = display_image(image)
    assert picture.shape == (20, 24, 3) and picture.dtype == np.uint8
    assert picture[0, 0].tolist() == [0, 0, 0]  # NaN shown black
    assert picture[-1, -1].tolist() == [255, 255, 255] and int(picture[10, 12, 0]) == pytest.approx(
        255 * 252 / 479, abs=4
    )
    assert np.array_equal(picture[..., 0], picture[..., 2])  # greyscale
    colour = np.zeros((4, 5, 4), np.uint8)
    colour[..., 0] = 200
    assert np.array_equal(display_image(colour), colour[..., :3])  # uint8 shown as it is, alpha dropped
    assert display_image(np.full((3, 3), 7, np.uint16)).max() == 0  # constant: black, no division by zero
    assert display_image(np.full((3, 3), np.nan)).max() == 0
    with pytest.raises(MicrosegInputError, match="one slice"):
        display_image(np.zeros((2, 4, 5)))


def test_binary_outline_is_at_the_object_boundary():
    box = (5, 12, 6, 14)
    image = np.full((20, 24), 100, np.uint8)
    picture = outline_overlay(image, _square(box=box, value=255))
    drawn = _colour_mask(picture, PREDICTION_COLOUR)
    assert np.array_equal(drawn, _inner_outline(box))
    assert (picture[~drawn] == 100).all()  # the rest is the image


def test_instances_get_palette_colours():
    labels = _square(box=(2, 8, 2, 8), value=1) + _square(box=(10, 18, 10, 20), value=2)
    picture = outline_overlay(np.zeros((20, 24)), labels)
    assert np.array_equal(_colour_mask(picture, PALETTE[0]), _inner_outline((2, 8, 2, 8)))
    assert np.array_equal(_colour_mask(picture, PALETTE[1]), _inner_outline((10, 18, 10, 20)))


def test_truth_and_prediction_colours():
    truth_box, pred_box = (4, 12, 4, 12), (4, 12, 4, 16)  # the same top edge, left edge and corner
    picture = outline_overlay(np.zeros((20, 24), np.float32), _square(box=pred_box), truth=_square(box=truth_box))
    truth_line, pred_line = _inner_outline(truth_box), _inner_outline(pred_box)
    assert np.array_equal(_colour_mask(picture, BOTH_COLOUR), truth_line & pred_line)
    assert np.array_equal(_colour_mask(picture, TRUTH_COLOUR), truth_line & ~pred_line)
    assert np.array_equal(_colour_mask(picture, PREDICTION_COLOUR), pred_line & ~truth_line)
    assert _colour_mask(picture, TRUTH_COLOUR)[5:11, 11].all()  # the truth's right edge, inside the prediction


def test_label_size_mismatch_says_what_to_do():
    with pytest.raises(MicrosegInputError, match="resize_labels"):
        outline_overlay(np.zeros((20, 24)), np.zeros((10, 12), np.uint8))
    with pytest.raises(MicrosegInputError, match="height and width"):
        outline_overlay(np.zeros((20, 24)), _square(), truth=np.zeros((20, 25), np.uint8))


def test_resize_labels_keeps_values():
    labels = np.arange(16).reshape(4, 4)
    small = resize_labels(labels, (2, 2))
    assert small.tolist() == [[5, 7], [13, 15]]
    assert set(np.unique(resize_labels(labels, (9, 7)))) == set(range(16))


def test_stack_preview_grid():
    stack = np.random.default_rng(0).random((9, 30, 40)).astype(np.float32)
    labels = np.zeros((9, 30, 40), np.uint8)
    labels[:, 10:20, 10:25] = 1
    picture = stack_preview(stack, labels, n_slices=3)
    caption = picture.shape[0] - 30
    assert picture.dtype == np.uint8 and 10 < caption < 40  # a caption strip above 30-pixel-high panels
    assert picture.shape[1] == 4 * 40 + 3 * 4  # 3 slices + projection, 4-pixel gaps
    for k in range(4):  # every panel shows the square's outline
        panel = picture[caption:, k * 44 : k * 44 + 40]
        assert np.array_equal(_colour_mask(panel, PREDICTION_COLOUR), _inner_outline((10, 20, 10, 25), (30, 40)))
    assert picture[:caption, :40].max() == 255  # white caption text


def test_stack_preview_shrinks_wide_stacks_and_handles_2d():
    stack = np.zeros((6, 100, 1000), np.uint16)
    labels = np.zeros((6, 100, 1000), np.int32)
    labels[:, 20:60, 100:400] = 3
    picture = stack_preview(stack, labels, n_slices=4, max_width=1000)
    assert picture.shape[1] <= 1000 and (picture == PREDICTION_COLOUR).all(-1).any()
    flat = stack_preview(np.zeros((50, 3000)), np.ones((50, 3000), np.uint8))
    assert flat.shape == (34, 2048, 3)
    colour = stack_preview(np.zeros((8, 10, 3), np.uint8), np.ones((8, 10), bool))
    assert colour.shape == (8, 10, 3)
    with pytest.raises(MicrosegInputError, match="does not fit"):
        stack_preview(np.zeros((4, 10, 10)), np.zeros((3, 10, 10)))


def test_save_png_round_trip(tmp_path):
    picture = outline_overlay(np.zeros((20, 24)), _square())
    path = save_png(picture, tmp_path / "sub" / "preview.png")
    assert np.array_equal(np.asarray(Image.open(path)), picture)
    assert not list((tmp_path / "sub").glob(".*partial*"))
    with pytest.raises(MicrosegInputError, match="display_image"):
        save_png(np.zeros((4, 4), np.float32), tmp_path / "x.png")
