"""Smoke test of the H&E gland U-Net bundle on synthetic glands: train, evaluate per split, infer at any size,
TTA, ensemble with the Mask R-CNN bundle, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import copy_bundle, run_config, synthetic_glands
from microseg.cli import Microseg

NAME = "he_gland_segmentation"
SMALL = {"image_size": 64, "num_workers": 0, "tensorboard": False, "batch_size": 2, "val_names": ["train_4"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, glas_folder):
    tmp = tmp_path_factory.mktemp("unet")
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
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"testA", "testB", "all"} <= set(metrics)
    for split in ("testA", "testB"):
        assert {"object_f1", "object_dice", "object_hausdorff", "pixel_f1"} <= set(metrics[split])
        assert metrics[split]["images"] == 1
    assert np.array(Image.open(out / "testB_1_seg.png")).shape == (60, 100)
    assert (out / "per_image.csv").read_text().count("\n") == 3


@pytest.mark.parametrize("tta", ["none", "flips"])
def test_inference_returns_instances_at_the_input_size(trained, tmp_path, tta):
    inputs = tmp_path / "in"
    inputs.mkdir()
    image, _ = synthetic_glands(70, 95, seed=5)
    Image.fromarray(image).save(inputs / "slide a.png")
    Image.fromarray(image[..., 0]).save(inputs / "grey.png")  # a grey image is repeated to RGB
    Image.fromarray(image).save(inputs / "slide a_anno.png")  # an annotation beside it is not segmented
    out = tmp_path / "out"
    Microseg().segment(
        bundle=str(trained["bundle"]), trust_bundle=True, input=str(inputs), output=str(out), image_size=64, tta=tta
    )
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # not the restart manifest
    assert written == ["grey_seg.png", "slide a_seg.png", "summary.csv"]
    labels = np.array(Image.open(out / "slide a_seg.png"))
    assert labels.shape == (70, 95) and labels.dtype == np.uint16


def test_ensemble_with_the_mask_rcnn_bundle(trained, tmp_path, glas_folder):
    import torch

    from microseg.bundle import record_weights
    from microseg.networks import mask_rcnn_resnet50_fpn

    other = copy_bundle("he_gland_instance_segmentation", trained["tmp"])
    torch.save({"model": mask_rcnn_resnet50_fpn(image_size=64).state_dict()}, other / "models" / "model.pt")
    record_weights(other / "models" / "model.pt")  # replaced on purpose: the listing must say so
    out = tmp_path / "ens"
    run_config(
        trained["bundle"],
        ["inference.json", "inference_ensemble.json"],
        dataset_dir=str(glas_folder / "testA_1.png"),
        output_dir=str(out),
        image_size=64,
        save_probabilities=True,
    )
    assert np.array(Image.open(out / "testA_1_seg.png")).shape == (80, 64)
    run_config(
        trained["bundle"],
        ["train.json", "evaluate.json", "evaluate_ensemble.json"],
        dataset_dir=str(glas_folder),
        output_dir=str(out / "metrics"),
        eval_splits=["testA"],
        image_size=64,
    )
    assert "object_f1" in json.loads((out / "metrics" / "metrics.json").read_text())["testA"]


# 40 s: the DSB bundle's export test covers the same BasicUNet export path in the default run
@pytest.mark.slow
def test_export_torchscript_and_onnx(trained):
    report = Microseg().export(bundle=str(trained["bundle"]), trust_bundle=True)
    assert report["max_abs_diff"]["torchscript"] < 1e-4 and report["max_abs_diff"]["onnx"] < 1e-3


def test_binary_head_from_the_three_class_weights(trained, tmp_path, glas_folder):
    """``--head binary`` (the seed's plain recipe; the default is the three-class head): trained from the three-class
    model's weights (the output layer, of another shape, starts anew), evaluated, segmenting and in the ensemble."""
    import torch

    from microseg.bundle import record_weights
    from microseg.networks import mask_rcnn_resnet50_fpn

    bundle = copy_bundle(NAME, tmp_path)
    three_class = trained["bundle"] / "models" / "model.pt"
    settings = {**SMALL, "head": "binary"}
    run_config(
        bundle, ["train.json"], dataset_dir=str(glas_folder), max_epochs=1, init_weights=str(three_class), **settings
    )
    state, start = (torch.load(path, weights_only=True) for path in (bundle / "models" / "model.pt", three_class))
    state, start = state.get("model", state), start.get("model", start)  # a checkpoint or a bare state dict
    assert state["final_conv.weight"].shape[0] == 1 and start["final_conv.weight"].shape[0] == 3
    assert not torch.equal(state["conv_0.conv_0.conv.weight"], start["conv_0.conv_0.conv.weight"])  # trained on
    out = tmp_path / "eval"
    common = {"image_size": 64, "head": "binary", "min_object_size": 0}
    run_config(
        bundle,
        ["train.json", "evaluate.json"],
        dataset_dir=str(glas_folder),
        output_dir=str(out),
        eval_splits=["testA"],
        **common,
    )
    assert "object_f1" in json.loads((out / "metrics.json").read_text())["testA"]
    Microseg().segment(
        bundle=str(bundle),
        trust_bundle=True,
        input=str(glas_folder / "testA_1.png"),
        output=str(tmp_path / "seg"),
        **common,
    )
    labels = np.array(Image.open(tmp_path / "seg" / "testA_1_seg.png"))
    assert labels.shape == (80, 64) and labels.dtype == np.uint16
    other = copy_bundle("he_gland_instance_segmentation", tmp_path)
    torch.save({"model": mask_rcnn_resnet50_fpn(image_size=64).state_dict()}, other / "models" / "model.pt")
    record_weights(other / "models" / "model.pt")
    run_config(
        bundle,
        ["inference.json", "inference_ensemble.json"],
        dataset_dir=str(glas_folder / "testA_1.png"),
        output_dir=str(tmp_path / "ens"),
        **common,
    )
    assert np.array(Image.open(tmp_path / "ens" / "testA_1_seg.png")).shape == (80, 64)
