"""Smoke test of the FIB-SEM bundle on a small synthetic stack: train, resume, evaluate, infer, 2.5D, export, bad
input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import copy_bundle, run_config, synthetic_stack
from microseg.cli import _input_error
from microseg.errors import MicrosegInputError

NAME = "fibsem_mitochondria_segmentation"
SMALL = {"roi_size": [32, 32], "num_workers": 0, "tensorboard": False, "val_interval": 1}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A copy of the bundle trained for one epoch on a synthetic 12x64x96 stack."""
    tmp = tmp_path_factory.mktemp("fibsem")
    image, mask = synthetic_stack()
    data = tmp / "data"
    data.mkdir()
    tifffile.imwrite(data / "training.tif", image)
    tifffile.imwrite(data / "training_groundtruth.tif", mask)
    bundle = copy_bundle(NAME, tmp)
    run_config(
        bundle, ["train.json"], dataset_dir=str(data), max_epochs=1, train_slices=[0, 8], val_slices=[9, 12], **SMALL
    )
    return {"bundle": bundle, "data": data, "image": image, "tmp": tmp}


def test_train_writes_best_and_resumable_checkpoints(trained):
    models = trained["bundle"] / "models"
    assert (models / "model.pt").is_file() and (models / "checkpoint_last.pt").is_file()


def test_train_resumes_from_last_epoch(trained):
    import torch

    last = trained["bundle"] / "models" / "checkpoint_last.pt"
    # another seed than the first run: only a real resume (weights, optimiser, random state) keeps the weights
    settings = {"dataset_dir": str(trained["data"]), "train_slices": [0, 8], "val_slices": [9, 12], "seed": 7, **SMALL}
    before = torch.load(last, weights_only=True)
    run_config(trained["bundle"], ["train.json"], max_epochs=1, **settings)  # epoch 1 is done: resuming trains nothing
    after = torch.load(last, weights_only=True)
    assert after["engine"] == before["engine"] == {"epoch": 1, "iteration": before["engine"]["iteration"]}
    for key, value in before["model"].items():
        torch.testing.assert_close(after["model"][key], value)
    run_config(trained["bundle"], ["train.json"], max_epochs=2, **settings)  # continues with epoch 2 only
    resumed = torch.load(last, weights_only=True)
    assert resumed["engine"] == {"epoch": 2, "iteration": 2 * before["engine"]["iteration"]}
    assert any(not torch.equal(resumed["model"][k], v) for k, v in before["model"].items())


def test_evaluate_writes_metrics_and_per_slice_csv(trained):
    out = trained["tmp"] / "eval"
    run_config(
        trained["bundle"],
        ["train.json", "evaluate.json"],
        dataset_dir=str(trained["data"]),
        val_slices=[9, 12],
        output_dir=str(out),
        **SMALL,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    expected = {
        "dice",
        "iou",
        "precision",
        "recall",
        "object_precision",
        "object_recall",
        "object_f1",
        "objects_found",
        "objects_total",
        "mean_object_volume_nm3",
    }
    assert expected <= set(metrics) and 0 <= metrics["dice"] <= 1
    rows = list(csv.DictReader((out / "per_slice.csv").open()))
    assert [int(r["slice"]) for r in rows] == [0, 1, 2]


def _inputs(tmp, image):
    tifffile.imwrite(tmp / "stack.tif", image[:3])
    (tmp / "slices").mkdir(exist_ok=True)
    for i, plane in enumerate(image[:3]):
        Image.fromarray(plane).save(tmp / "slices" / f"z{i + 1}.png")
    with h5py.File(tmp / "vol.h5", "w") as h5:
        h5["raw/em"] = image[:3]
    return {
        "tif": (tmp / "stack.tif", tmp / "out" / "stack_seg.tif"),
        "png": (tmp / "slices", tmp / "out" / "slices_seg"),
        "h5": (f"{tmp / 'vol.h5'}:/raw/em", tmp / "out" / "vol_seg.h5"),
    }


def _read_output(kind, path):
    if kind == "tif":
        return tifffile.imread(path)
    if kind == "png":
        return np.stack([np.asarray(Image.open(path / f"z{i}.png")) for i in (1, 2, 3)])
    with h5py.File(path) as h5:
        return h5["raw/em"][()]


@pytest.mark.parametrize("kind", ["tif", "png", "h5"])
def test_inference_gives_same_shape_mask_in_same_format(trained, kind, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # any working directory
    source, expected = _inputs(tmp_path, trained["image"])[kind]
    run_config(
        trained["bundle"],
        ["inference.json"],
        dataset_dir=str(source),
        output_dir=str(tmp_path / "out"),
        roi_size=[32, 32],
    )
    mask = _read_output(kind, expected)
    assert mask.shape == (3, 64, 96) and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}


def test_inference_tta_probabilities_uncertainty(trained, tmp_path):
    tifffile.imwrite(tmp_path / "img.tif", trained["image"][0])
    run_config(
        trained["bundle"],
        ["inference.json"],
        dataset_dir=str(tmp_path / "img.tif"),
        output_dir=str(tmp_path / "out"),
        roi_size=[32, 32],
        tta="flips",
        save_probabilities=True,
        save_uncertainty=True,
    )
    prob = tifffile.imread(tmp_path / "out" / "img_prob.tif")
    spread = tifffile.imread(tmp_path / "out" / "img_uncertainty.tif")
    mask = tifffile.imread(tmp_path / "out" / "img_seg.tif")
    assert prob.shape == spread.shape == mask.shape == (64, 96)
    assert prob.dtype == np.float32 and prob.min() >= 0 and prob.max() <= 1 and spread.max() > 0
    np.testing.assert_array_equal(mask > 0, prob > 0.5)


def test_25d_variant_by_override(tmp_path):
    image, mask = synthetic_stack()
    tifffile.imwrite(tmp_path / "training.tif", image)
    tifffile.imwrite(tmp_path / "training_groundtruth.tif", mask)
    bundle = copy_bundle(NAME, tmp_path)
    run_config(
        bundle,
        ["train.json"],
        dataset_dir=str(tmp_path),
        max_epochs=1,
        context_slices=3,
        train_slices=[0, 8],
        val_slices=[9, 12],
        **SMALL,
    )
    run_config(
        bundle,
        ["inference.json"],
        dataset_dir=str(tmp_path / "training.tif"),
        output_dir=str(tmp_path / "out"),
        roi_size=[32, 32],
        context_slices=3,
    )
    assert tifffile.imread(tmp_path / "out" / "training_seg.tif").shape == image.shape


def test_export_torchscript_onnx_and_torch_export_parity(trained):
    from microseg.export import export_bundle

    report = export_bundle(trained["bundle"], ["torchscript", "onnx", "pt2"])
    assert set(report["max_abs_diff"]) == {"torchscript", "onnx", "pt2"}
    assert max(report["max_abs_diff"].values()) < 1e-4


def _bad_inputs(tmp):
    tifffile.imwrite(tmp / "truncated.tif", np.random.default_rng(0).integers(0, 255, (3, 64, 64), dtype=np.uint8))
    (tmp / "truncated.tif").write_bytes((tmp / "truncated.tif").read_bytes()[:2000])
    (tmp / "empty").mkdir()
    tifffile.imwrite(tmp / "mask_as_image.tif", (np.random.default_rng(0).random((2, 32, 32)) > 0.5).astype(np.uint8))
    with h5py.File(tmp / "4d.h5", "w") as h5:
        h5["x"] = np.random.default_rng(0).random((2, 2, 32, 32)).astype(np.float32)
    return {
        "truncated.tif": "truncated, corrupt",
        "empty": "empty or holds no image",
        "mask_as_image.tif": "looks like a mask",
        "4d.h5": "expected 2 or 3 spatial dimensions",
        "missing.tif": "no such file or folder",
    }


def test_bad_inference_inputs_fail_clearly_without_output(trained, tmp_path):
    for name, message in _bad_inputs(tmp_path).items():
        with pytest.raises(Exception) as info:
            run_config(
                trained["bundle"],
                ["inference.json"],
                dataset_dir=str(tmp_path / name),
                output_dir=str(tmp_path / "out"),
                roi_size=[32, 32],
            )
        found = _input_error(info.value)
        assert isinstance(found, MicrosegInputError) and message in str(found), (name, info.value)
        assert name.split(".")[0] in str(found) or name == "empty"
        assert not (tmp_path / "out").exists(), name


def test_bad_evaluation_labels_fail_clearly(trained, tmp_path):
    image, mask = synthetic_stack()
    tifffile.imwrite(tmp_path / "training.tif", image)
    cases = {
        "shape": (mask[:, :60], "image and label shapes differ"),
        "values": ((mask // 255) * 2, "the label must be binary"),
    }
    for key, (label, message) in cases.items():
        tifffile.imwrite(tmp_path / "training_groundtruth.tif", label)
        with pytest.raises(Exception) as info:
            run_config(
                trained["bundle"],
                ["train.json", "evaluate.json"],
                dataset_dir=str(tmp_path),
                val_slices=[9, 12],
                output_dir=str(tmp_path / "out"),
                **SMALL,
            )
        assert message in str(_input_error(info.value)), key
        assert not (tmp_path / "out").exists()


def test_exit_status_of_both_commands(trained, tmp_path):
    _bad_inputs(tmp_path)
    bundle = trained["bundle"]
    monai_cmd = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        str(bundle / "configs/inference.json"),
        "--bundle_root",
        str(bundle),
        "--dataset_dir",
        str(tmp_path / "truncated.tif"),
        "--output_dir",
        str(tmp_path / "out"),
    ]
    result = subprocess.run(monai_cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "truncated.tif: cannot read this TIFF file" in result.stderr
    cli = [
        sys.executable,
        "-m",
        "microseg.cli",
        "segment",
        "--bundle",
        str(bundle),
        "--input",
        str(tmp_path / "empty"),
        "--output",
        str(tmp_path / "out"),
        "--trust_bundle",
    ]
    result = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("microseg: error: ")
    assert "empty or holds no image" in result.stderr
    assert not (tmp_path / "out").exists()


def test_mlflow_records_settings_metrics_best_checkpoint_and_export(tmp_path, monkeypatch):
    """``--mlflow true`` (one override) logs one run to the store named by ``MLFLOW_TRACKING_URI``; read back: the
    settings with the override applied, per-epoch training and validation metrics, the best checkpoint, its
    TorchScript export (loadable, with the bundle's metadata inside) and the configs."""
    mlflow = pytest.importorskip("mlflow")
    import torch

    image, mask = synthetic_stack()
    tifffile.imwrite(tmp_path / "training.tif", image)
    tifffile.imwrite(tmp_path / "training_groundtruth.tif", mask)
    bundle = copy_bundle(NAME, tmp_path)
    store = f"sqlite:///{tmp_path / 'server.db'}"  # stands in for a tracking server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    settings = {"max_epochs": 2, "train_slices": [0, 8], "val_slices": [9, 12], **SMALL}
    run_config(
        bundle, ["train.json"], dataset_dir=str(tmp_path), output_dir=str(tmp_path / "eval"), mlflow=True, **settings
    )

    client = mlflow.tracking.MlflowClient(store)
    experiment = client.get_experiment_by_name(NAME)
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["max_epochs"] == "2" and run.data.params["roi_size"] == "[32, 32]"
    assert run.data.params["learning_rate"] == "0.001" and "dataset_dir" in run.data.params
    for metric in ("train_loss", "val_mean_dice", "samples_per_second"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, metric)] == [1, 2], metric
    assert run.data.tags["best_metric_epoch"] in ("1", "2")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "model")}
    assert artifacts == {"model/model.pt", "model/model.ts"}
    assert "configs/train.json" in {a.path for a in client.list_artifacts(run.info.run_id, "configs")}
    folder = client.download_artifacts(run.info.run_id, "model", str(tmp_path / "downloaded"))
    extra = {"metadata.json": ""}
    scripted = torch.jit.load(f"{folder}/model.ts", _extra_files=extra)
    assert json.loads(extra["metadata.json"])["name"] and scripted(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)
    logged, best = (
        torch.load(path, weights_only=True) for path in (f"{folder}/model.pt", bundle / "models" / "model.pt")
    )
    assert logged.keys() == best.keys() and all(torch.equal(logged[k], v) for k, v in best.items())
