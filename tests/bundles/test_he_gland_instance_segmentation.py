"""Smoke test of the H&E gland Mask R-CNN bundle on synthetic glands: train, evaluate per split, infer at any
size, TorchScript and ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import copy_bundle, run_config, synthetic_glands
from microseg.cli import Microseg

NAME = "he_gland_instance_segmentation"
SMALL = {
    "image_size": 64,
    "num_workers": 0,
    "tensorboard": False,
    "batch_size": 2,
    "val_names": ["train_4"],
    "pretrained": "none",
    "learning_rate": 0.01,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, glas_folder):
    tmp = tmp_path_factory.mktemp("mrcnn")
    bundle = copy_bundle(NAME, tmp)
    run_config(bundle, ["train.json"], dataset_dir=str(glas_folder), max_epochs=1, **SMALL)
    return {"bundle": bundle, "tmp": tmp}


def test_train_writes_weights(trained):
    assert (trained["bundle"] / "models" / "model.pt").is_file()
    assert (trained["bundle"] / "models" / "checkpoint_last.pt").is_file()


def test_evaluate_reports_each_split(trained, glas_folder):
    out = trained["tmp"] / "eval"
    run_config(
        trained["bundle"],
        ["train.json", "evaluate.json"],
        dataset_dir=str(glas_folder),
        output_dir=str(out),
        eval_splits=["testA", "testB"],
        image_size=64,
        save_predictions=True,
        score_threshold=0.0,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"testA", "testB", "all"} <= set(metrics)
    assert {"object_f1", "object_dice", "object_hausdorff", "pixel_f1"} <= set(metrics["testA"])
    assert np.array(Image.open(out / "testA_1_seg.png")).shape == (80, 64)


def test_inference_returns_instances_at_the_input_size(trained, tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    image, _ = synthetic_glands(70, 95, seed=5)
    Image.fromarray(np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])).save(inputs / "rgba.png")
    out = tmp_path / "out"
    Microseg().segment(
        bundle=str(trained["bundle"]),
        input=str(inputs),
        output=str(out),
        image_size=64,
        save_probabilities=True,
        trust_bundle=True,
    )
    labels = np.array(Image.open(out / "rgba_seg.png"))
    assert labels.shape == (70, 95) and labels.dtype == np.uint16
    assert (out / "rgba_prob.tif").is_file() or any(p.name.startswith("rgba_prob") for p in out.iterdir())


# 25 s; also exported by the slow ONNX Runtime test (tests/test_onnx_infer.py)
@pytest.mark.slow
def test_export_torchscript_and_onnx(trained):
    report = Microseg().export(bundle=str(trained["bundle"]), trust_bundle=True)
    assert report["max_abs_diff"]["torchscript"] < 1e-4 and report["max_abs_diff"]["onnx"] < 1e-3


def test_torch_export_refuses_the_detector_clearly():
    from microseg.export import export_program

    with pytest.raises(ValueError, match="export TorchScript instead"):
        export_program("he_gland_instance_segmentation")
