"""Smoke test of the DSB 2018 nuclei bundle on synthetic nuclei (bright and dark backgrounds, RGB and grey, several
sizes): train, evaluate (Kaggle AP), infer at the input's size with a submission CSV that decodes to the same
instances, the binary head with each threshold, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import copy_bundle, run_config, synthetic_nuclei, write_dsb_folder
from microseg.cli import Microseg
from microseg.io import read_rle_csv

NAME = "dsb2018_nuclei_segmentation"
SMALL = {
    "patch_size": 32,
    "samples_per_image": 1,
    "batch_size": 2,
    "num_workers": 0,
    "tensorboard": False,
    "val_interval": 1,
}
SAMPLES = {
    "dark_grey": {"height": 64, "width": 80},
    "bright_rgb": {"height": 72, "width": 96, "bright_background": True, "rgb": True},
    "dark_rgb": {"height": 48, "width": 40, "rgb": True},
    "bright_grey": {"height": 56, "width": 70, "bright_background": True},
}


@pytest.fixture(scope="module")
def dsb(tmp_path_factory):
    return write_dsb_folder(tmp_path_factory.mktemp("dsb") / "stage1_train", SAMPLES)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dsb):
    tmp = tmp_path_factory.mktemp("dsb_bundle")
    bundle = copy_bundle(NAME, tmp)
    run_config(bundle, ["train.json"], dataset_dir=str(dsb), max_epochs=1, val_ids=["bright_grey"], **SMALL)
    return {"bundle": bundle, "tmp": tmp}


def test_train_writes_weights(trained):
    assert (trained["bundle"] / "models" / "model.pt").is_file()
    assert (trained["bundle"] / "models" / "checkpoint_last.pt").is_file()


def test_evaluate_writes_kaggle_ap(trained, dsb):
    out = trained["tmp"] / "eval"
    run_config(
        trained["bundle"],
        ["train.json", "evaluate.json"],
        dataset_dir=str(dsb),
        output_dir=str(out),
        eval_all=True,
        patch_size=32,
        save_predictions=True,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 4 and 0.0 <= metrics["kaggle_ap"] <= 1.0
    assert {"ap_50", "ap_75", "precision_50", "recall_50", "f1_50", "panoptic_quality"} <= set(metrics)
    assert np.array(Image.open(out / "bright_rgb_seg.png")).shape == (72, 96)


def test_inference_gives_instances_and_a_submission_that_decodes_to_them(trained, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    rgb, _ = synthetic_nuclei(70, 90, seed=7, bright_background=True, rgb=True)
    Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).save(inputs / "rgba.png")
    grey, _ = synthetic_nuclei(50, 45, seed=8)
    Image.fromarray(grey.astype(np.uint16) * 200).save(inputs / "deep.png")  # 16-bit, smaller than a tile
    out = tmp_path / "out"
    Microseg().segment(
        bundle=str(trained["bundle"]), trust_bundle=True, input=str(inputs), output=str(out), write_submission=True
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "deep_seg.png",
        "rgba_seg.png",
        "submission.csv",
        "summary.csv",
    ]
    written = {name: np.array(Image.open(out / f"{name}_seg.png")) for name in ("rgba", "deep")}
    assert written["rgba"].shape == (70, 90) and written["deep"].shape == (50, 45)
    assert written["rgba"].dtype == np.uint16
    decoded = read_rle_csv(out / "submission.csv", shapes={k: v.shape for k, v in written.items()})
    for name, labels in written.items():
        values = [v for v in np.unique(labels) if v]
        assert decoded[name].max() == len(values)
        for index, value in enumerate(values, start=1):
            assert np.array_equal(decoded[name] == index, labels == value)


def test_three_class_recipe_on_dsb_layout_with_tta(trained, dsb, tmp_path):
    run_config(
        trained["bundle"],
        ["inference.json"],
        dataset_dir=str(dsb),
        output_dir=str(tmp_path),
        tta="flips",
    )
    assert len(list(tmp_path.glob("*_seg.png"))) == 4


@pytest.fixture(scope="module")
def binary(tmp_path_factory, dsb):
    bundle = copy_bundle(NAME, tmp_path_factory.mktemp("dsb_binary"))
    run_config(bundle, ["train.json"], dataset_dir=str(dsb), max_epochs=1, val_ids=["dark_rgb"], head="binary", **SMALL)
    return bundle


@pytest.mark.parametrize("threshold_method", ["otsu", "fixed", "hysteresis"])
def test_binary_head(binary, dsb, tmp_path, threshold_method):
    run_config(
        binary,
        ["train.json", "evaluate.json"],
        dataset_dir=str(dsb),
        output_dir=str(tmp_path),
        val_ids=["dark_rgb"],
        head="binary",
        patch_size=32,
        threshold_method=threshold_method,
    )
    assert json.loads((tmp_path / "metrics.json").read_text())["images"] == 1


@pytest.mark.slow  # 32 s; export and parity run by default for the FIB-SEM bundle
def test_export_torchscript_and_onnx(trained):
    report = Microseg().export(bundle=str(trained["bundle"]), trust_bundle=True)
    assert report["max_abs_diff"]["torchscript"] < 1e-4 and report["max_abs_diff"]["onnx"] < 1e-3
