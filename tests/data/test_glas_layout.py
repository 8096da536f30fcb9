"""The GlaS folder layout: images, annotations, splits and grades."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from microseg.data import glas_split, list_glas, read_glas_grades
from microseg.errors import MicrosegInputError


@pytest.fixture
def glas_dir(tmp_path):
    for name in ("train_1", "train_2", "train_10", "testA_1", "testB_3"):
        Image.fromarray(np.zeros((8, 12, 3), np.uint8)).save(tmp_path / f"{name}.bmp")
        Image.fromarray(np.zeros((8, 12), np.uint8)).save(tmp_path / f"{name}_anno.bmp")
    (tmp_path / "Grade.csv").write_text(
        "Name,patient ID, grade (GlaS), grade (Sirinukunwattana et al. 2015)\n"
        "train_1,1, benign, healthy\ntestA_1,4, malignant, adenocarcinoma\n"
    )
    return tmp_path


def test_split_from_name():
    assert glas_split("testA_12") == "testA" and glas_split("train_3") == "train" and glas_split("x") == "x"


def test_lists_images_with_annotations_in_natural_order(glas_dir):
    items = list_glas(glas_dir)
    assert [i["name"] for i in items] == ["testA_1", "testB_3", "train_1", "train_2", "train_10"]
    first = items[2]
    assert first["label"].endswith("train_1_anno.bmp") and first["split"] == "train" and first["grade"] == "benign"
    assert "grade" not in items[3]


def test_splits_include_and_exclude(glas_dir):
    assert [i["name"] for i in list_glas(glas_dir, splits=["testA", "testB"])] == ["testA_1", "testB_3"]
    assert [i["name"] for i in list_glas(glas_dir, splits=["train"], exclude=["train_2"])] == ["train_1", "train_10"]
    assert [i["name"] for i in list_glas(glas_dir, include=["train_2"])] == ["train_2"]


def test_png_layout_is_accepted(tmp_path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "train_1.png")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "train_1_anno.png")
    assert list_glas(tmp_path)[0]["label"].endswith("train_1_anno.png")


def test_missing_annotation_is_an_input_error(glas_dir):
    (glas_dir / "train_2_anno.bmp").unlink()
    with pytest.raises(MicrosegInputError, match="train_2"):
        list_glas(glas_dir)
    assert "label" not in list_glas(glas_dir, include=["train_2"], require_labels=False)[0]


def test_no_matching_image_and_missing_folder(glas_dir, tmp_path):
    with pytest.raises(MicrosegInputError, match="no GlaS image"):
        list_glas(glas_dir, splits=["testC"])
    with pytest.raises(MicrosegInputError, match="no such folder"):
        list_glas(tmp_path / "absent")


def test_grades(glas_dir):
    assert read_glas_grades(glas_dir / "Grade.csv") == {"train_1": "benign", "testA_1": "malignant"}


def test_a_folder_without_the_named_images_says_how_to_name_them(glas_dir):
    with pytest.raises(MicrosegInputError, match=r"none of the images named for this split \(train_15, train_5\)"):
        list_glas(glas_dir, include=["train_5", "train_15"])
