"""Smoke test of the TEM nuclei bundle on synthetic TEM-like cells: train, evaluate and infer through
``monai.bundle run`` and the ``microseg`` command, images of any size, the learning-curve keys, no-weights and
bad-label errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from monai.bundle import ConfigParser
from PIL import Image

from conftest import copy_bundle, run_config
from microseg.cli import _input_error, main
from microseg.data import synthetic_tem_cell, write_synthetic_tem
from microseg.errors import MicrosegInputError

NAME = "tem_nuclei_segmentation"
SMALL = {"image_size": 32, "num_workers": 0, "tensorboard": False}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A copy of the bundle trained for one epoch on 10 synthetic 48x48 cells (8 train, 2 validation)."""
    tmp = tmp_path_factory.mktemp("tem")
    data = write_synthetic_tem(tmp / "data", count=10, size=48, seed=0)
    bundle = copy_bundle(NAME, tmp)
    run_config(bundle, ["train.json"], dataset_dir=str(data), max_epochs=1, **SMALL)
    return {"bundle": bundle, "data": data, "tmp": tmp}


def _parser(bundle, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(str(bundle / "configs" / "train.json"))
    parser.update({"bundle_root": str(bundle), **overrides})
    return parser


def test_train_writes_weights_from_a_folder_of_images_and_masks(trained):
    assert (trained["bundle"] / "models" / "model.pt").is_file()
    assert (trained["bundle"] / "models" / "checkpoint_last.pt").is_file()


def test_validation_is_every_fifth_image_and_subsets_come_from_the_rest(trained):
    parser = _parser(trained["bundle"], dataset_dir=str(trained["data"]), num_train_images=3)
    val = [item["name"] for item in parser.get_parsed_content("val_datalist")]
    train = [item["name"] for item in parser.get_parsed_content("train_datalist")]
    assert val == ["cell_0", "cell_5"] and len(train) == 3 and not set(train) & set(val)


def test_augment_switch_removes_the_random_affine(trained):
    on = _parser(trained["bundle"], dataset_dir=str(trained["data"])).get_parsed_content("train#preprocessing")
    off = _parser(trained["bundle"], dataset_dir=str(trained["data"]), augment=False)
    names = [type(t).__name__ for t in off.get_parsed_content("train#preprocessing").transforms]
    assert type(on.transforms[-1]).__name__ == "RandAffined" and "RandAffined" not in names


def test_train_samples_are_square_image_size(trained):
    parser = _parser(trained["bundle"], dataset_dir=str(trained["data"]), **SMALL)
    item = parser.get_parsed_content("train#dataset")[0]
    assert tuple(item["image"].shape) == tuple(item["label"].shape) == (1, 32, 32)
    assert set(np.unique(item["label"].numpy())) <= {0, 1}


def test_evaluate_writes_metrics(trained):
    out = trained["tmp"] / "eval"
    configs = ["train.json", "evaluate.json"]
    run_config(trained["bundle"], configs, dataset_dir=str(trained["data"]), output_dir=str(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"dice", "iou", "precision", "recall"} <= set(metrics) and 0 <= metrics["dice"] <= 1
    assert metrics["n_images"] == 2 and (out / "per_slice.csv").is_file()


def _images_of_any_size(folder):
    folder.mkdir()
    shapes = {"wide.png": (40, 70), "tall.tif": (66, 30), "rgb.png": (33, 33)}
    for name, shape in shapes.items():
        image, _ = synthetic_tem_cell(shape, seed=len(name))
        if name.startswith("rgb"):
            image = np.repeat(image[..., None], 3, axis=-1)
        (tifffile.imwrite if name.endswith(".tif") else lambda p, a: Image.fromarray(a).save(p))(folder / name, image)
    return shapes


def _read(path):
    return tifffile.imread(path) if path.suffix == ".tif" else np.asarray(Image.open(path))


def test_inference_on_images_of_any_size_through_microseg(trained, tmp_path):
    shapes = _images_of_any_size(tmp_path / "in")
    argv = ["segment", "--bundle", str(trained["bundle"]), "--trust_bundle", "--input", str(tmp_path / "in")]
    assert main([*argv, "--output", str(tmp_path / "out"), "--image_size", "32", "--tta", "flips"]) == 0
    for name, shape in shapes.items():
        stem, suffix = name.rsplit(".", 1)
        mask = _read(tmp_path / "out" / f"{stem}_seg.{suffix}")
        assert mask.shape == shape and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}, name


def test_monai_bundle_run_command(trained, tmp_path):
    _images_of_any_size(tmp_path / "in")
    bundle = trained["bundle"]
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", str(bundle / "configs/inference.json")]
    command += ["--bundle_root", str(bundle), "--dataset_dir", str(tmp_path / "in")]
    command += ["--output_dir", str(tmp_path / "o")]
    result = subprocess.run([*command, "--image_size", "32"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "o").iterdir() if not p.name.startswith("."))
    assert written == ["rgb_seg.png", "tall_seg.tif", "wide_seg.png"]
    assert (tmp_path / "o" / ".microseg_manifest.jsonl").is_file()  # what a restart skips


def test_no_weights_says_how_to_train(tmp_path):
    bundle = copy_bundle(NAME, tmp_path)
    _images_of_any_size(tmp_path / "in")
    with pytest.raises(Exception) as info:
        run_config(bundle, ["inference.json"], dataset_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "out"))
    assert "no weights; train the bundle first" in str(_input_error(info.value))
    assert not (tmp_path / "out").exists()
    argv = ["segment", "--bundle", str(bundle), "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out")]
    assert main([*argv, "--trust_bundle"]) == 2


def test_non_binary_mask_is_refused(trained, tmp_path):
    data = write_synthetic_tem(tmp_path / "data", count=4, size=32)
    mask = np.asarray(Image.open(data / "masks" / "cell_1.png")) // 255 * 3
    Image.fromarray(mask.astype(np.uint8)).save(data / "masks" / "cell_1.png")
    with pytest.raises(Exception) as info:
        run_config(trained["bundle"], ["train.json"], dataset_dir=str(data), max_epochs=1, resume=False, **SMALL)
    found = _input_error(info.value)
    assert isinstance(found, MicrosegInputError) and "must be binary" in str(found)


# 35-45 s; the slow ONNX Runtime and MONAI Deploy tests export this network too
@pytest.mark.slow
def test_export_torchscript_onnx_and_torch_export_parity(trained):
    import torch

    from microseg.export import export_bundle

    report = export_bundle(trained["bundle"], ["torchscript", "onnx", "pt2"])
    assert max(report["max_abs_diff"].values()) < 1e-4 and set(report["max_abs_diff"]) == {"torchscript", "onnx", "pt2"}
    program = torch.export.load(str(trained["bundle"] / "models" / "model.pt2")).module()
    assert program(torch.rand(3, 1, 40, 72)).shape == (3, 1, 40, 72)  # dynamic batch, height and width (x8)
