"""Smoke test of the SBEM organelle bundle on a synthetic stack: every variant trains and segments a folder of PNG
slices, a TIFF stack and an HDF5 volume; the ensemble; thresholds stored next to the weights and tuned by
scripts/tune_thresholds.py; the input checks of the recipe (binary image, non-binary label, small images)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from PIL import Image

from conftest import REPO, copy_bundle, run_config, synthetic_stack
from microseg.bundle import load_parser, stored_threshold
from microseg.cli import _input_error
from microseg.errors import MicrosegInputError
from microseg.io.load import read_image

sys.path.insert(0, str(REPO / "scripts"))
import eval_robustness
import tune_thresholds

NAME = "sbem_organelle_segmentation"
FAST = ("deepem3d_1fm", "deepem3d_3fm")  # trained in the default run; the other two under -m slow
SLOW = ("deepem3d_5fm", "multiresunet")
SMALL = {"width": 0.125, "roi_size": [32, 32], "num_workers": 0, "tensorboard": False}
TRAIN = {
    **SMALL,
    "num_samples": 1,
    "batch_size": 2,
    "max_epochs": 1,
    "val_interval": 1,
    "precise_bn_batches": 2,
    "train_slices": [0, 6],
    "val_slices": [6, 8],
}


def _write_slices(folder: Path, stack: np.ndarray, prefix: str) -> Path:
    folder.mkdir(parents=True)
    for z, plane in enumerate(stack):
        Image.fromarray(plane).save(folder / f"{prefix}.{z + 10:03d}.png")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The bundle with DeepEM3D 1fm and 3fm trained for one epoch on 8 synthetic 48x64 slices, laid out as CDeep3M
    ships its sample (images/ and labels/ folders of PNG slices, labels 0/1)."""
    tmp = tmp_path_factory.mktemp("sbem")
    image, mask = synthetic_stack(depth=8, height=48, width=64, seed=1)
    data = tmp / "data"
    _write_slices(data / "images", image, "images")
    _write_slices(data / "labels", (mask > 0).astype(np.uint8), "mitos_3D")
    bundle = copy_bundle(NAME, tmp)
    for variant in FAST:
        run_config(bundle, ["train.json"], dataset_dir=str(data), variant=variant, **TRAIN)
    return {"bundle": bundle, "data": data, "tmp": tmp, "image": image, "mask": mask}


def test_each_variant_trains_into_its_own_folder(trained):
    for variant in FAST:
        folder = trained["bundle"] / "models" / "mitochondria" / variant
        assert (folder / "model.pt").is_file() and (folder / "checkpoint_last.pt").is_file(), variant


def test_training_uses_the_16_augmentations_and_the_variants_slices(trained):
    parser = load_parser(trained["bundle"], "train.json", dataset_dir=str(trained["data"]), variant="deepem3d_5fm")
    parser.update(TRAIN)
    names = [type(t).__name__ for t in parser.get_parsed_content("train#augmentation")]
    assert names[:4] == ["RandFlipd", "RandFlipd", "RandRotate90d", "RandFlipSliceOrderd"]
    item = parser.get_parsed_content("train#dataset")[0]
    item = item[0] if isinstance(item, list) else item
    assert tuple(item["image"].shape) == (5, 32, 32) and tuple(item["label"].shape) == (1, 32, 32)


def _inputs(trained) -> dict[str, Path]:
    folder = trained["tmp"] / "inputs"
    if not folder.exists():
        _write_slices(folder / "pngs", trained["image"][:3], "images")
        tifffile.imwrite(folder / "stack.tif", trained["image"][:3])
        with h5py.File(folder / "volume.h5", "w") as h5:
            h5["raw"] = trained["image"][:3]
    return {"pngs": folder / "pngs", "tif": folder / "stack.tif", "h5": folder / "volume.h5"}


def _segment(trained, path: Path, out: Path, configs=("inference.json",), **overrides) -> list[str]:
    settings = {**SMALL, "tta": "none", **overrides}
    run_config(trained["bundle"], list(configs), dataset_dir=str(path), output_dir=str(out), **settings)
    return sorted(p.name for p in out.iterdir() if not p.name.startswith("."))


def test_one_command_segments_png_folders_tiff_and_hdf5(trained, tmp_path):
    for kind, path in _inputs(trained).items():
        written = _segment(trained, path, tmp_path / kind)
        assert len(written) == 1 and "_seg" in written[0], (kind, written)
        assert read_image(tmp_path / kind / written[0]).array.shape == (3, 48, 64), kind  # PNG slices in, out
    assert _segment(trained, _inputs(trained)["tif"], tmp_path / "3fm", variant="deepem3d_3fm") == ["stack_seg.tif"]


def test_ensemble_averages_its_members(trained, tmp_path):
    members = ["deepem3d_1fm", "deepem3d_3fm"]
    configs = ("inference.json", "inference_ensemble.json")
    _segment(trained, _inputs(trained)["tif"], tmp_path, configs, members=members, save_probabilities=True)
    probability = tifffile.imread(tmp_path / "stack_prob.tif")
    assert probability.shape == (3, 48, 64) and probability.min() >= 0 and probability.max() <= 1
    parser = load_parser(trained["bundle"], list(configs), **SMALL, members=members)
    assert parser.get_parsed_content("context_slices") == 3 and len(parser.get_parsed_content("weights_file")) == 2
    assert str(parser.get_parsed_content("ckpt_dir")).endswith("mitochondria/ensemble")


@pytest.mark.slow
def test_the_other_variants_and_the_three_member_ensemble_with_16_fold_augmentation(trained, tmp_path):
    for variant in SLOW:
        run_config(trained["bundle"], ["train.json"], dataset_dir=str(trained["data"]), variant=variant, **TRAIN)
        for kind, path in _inputs(trained).items():
            written = _segment(trained, path, tmp_path / variant / kind, variant=variant)
            assert len(written) == 1 and "_seg" in written[0], (variant, kind, written)
    configs = ("inference.json", "inference_ensemble.json")
    _segment(trained, _inputs(trained)["h5"], tmp_path / "e", configs, tta="dihedral_z", save_probabilities=True)
    assert tifffile.imread(tmp_path / "e" / "volume_prob.tif").shape == (3, 48, 64)


def test_stored_threshold_is_the_default_and_can_be_overridden(trained, tmp_path, caplog):
    folder = trained["bundle"] / "models" / "mitochondria" / "deepem3d_1fm"
    (folder / "thresholds.json").write_text(json.dumps({"threshold": 40 / 255}))
    try:
        assert load_parser(trained["bundle"], **SMALL).get_parsed_content("threshold") == 40 / 255
        assert load_parser(trained["bundle"], threshold=0.7).get_parsed_content("threshold") == 0.7
    finally:
        (folder / "thresholds.json").unlink()
    with caplog.at_level(logging.WARNING):
        assert stored_threshold(folder) == 0.5
    assert "thresholds.json not found" in caplog.text
    (tmp_path / "thresholds.json").write_text('{"threshold": 3}')
    with pytest.raises(MicrosegInputError, match="not between 0 and 1"):
        stored_threshold(tmp_path)


@pytest.mark.slow
def test_tune_thresholds_and_robustness_scripts(trained, tmp_path, capsys):
    data = trained["data"]
    arguments = ["--image", str(data / "images"), "--label", str(data / "labels"), "--slices", "6", "8"]
    overrides = ["--set", "variant=deepem3d_3fm", "tta=none", "width=0.125", "roi_size=[32,32]"]
    arguments.append("--trust_bundle")
    best = tune_thresholds.main([str(trained["bundle"]), *arguments, *overrides, "--write"])
    stored = json.loads((trained["bundle"] / "models/mitochondria/deepem3d_3fm/thresholds.json").read_text())
    assert stored["threshold"] == best["threshold"] and stored["tuned_on"]["slices"] == [6, 8]
    assert 0 < best["f1"] <= 1 and best["images"] == 2 and "F1/slice" in capsys.readouterr().out
    rows = eval_robustness.main([str(trained["bundle"]), *arguments, *overrides, "--noise", "0", "0.1"])
    assert [r["noise"] for r in rows] == [0, 0.1] and all(r["threshold"] == best["threshold"] for r in rows)
    assert rows[0]["f1"] == pytest.approx(best["f1"])


def test_binary_images_and_non_binary_labels_are_refused(trained, tmp_path):
    binary = tmp_path / "binary.tif"
    busiest = np.argsort([m.mean() for m in trained["mask"]])[-2:]
    tifffile.imwrite(binary, (trained["mask"][np.sort(busiest)] > 0).astype(np.uint8) * 255)
    with pytest.raises(Exception) as info:
        _segment(trained, binary, tmp_path / "o")
    message = str(_input_error(info.value))
    assert "looks like a mask" in message and "binary.tif" in message, message
    labels = trained["tmp"] / "grey_labels"
    _write_slices(labels / "images", trained["image"], "images")
    _write_slices(labels / "labels", trained["image"], "labels")  # grey values, not a mask
    with pytest.raises(Exception) as info:
        run_config(trained["bundle"], ["train.json"], dataset_dir=str(labels), **TRAIN)
    assert "the label must be binary" in str(_input_error(info.value))


def test_images_smaller_than_a_tile_are_padded(trained, tmp_path):
    tifffile.imwrite(tmp_path / "small.tif", trained["image"][0, :20, :27])
    run_config(
        trained["bundle"],
        ["inference.json"],
        dataset_dir=str(tmp_path / "small.tif"),
        output_dir=str(tmp_path),
        tta="none",
        **SMALL,
    )
    assert tifffile.imread(tmp_path / "small_seg.tif").shape == (20, 27)


def test_every_shipped_model_has_its_tuned_threshold():
    validation = {"mitochondria": [16, 20], "membrane": [25, 30]}  # the held-back slices named in the model card
    models = sorted((REPO / "bundles" / NAME / "models").glob("*/*/model.pt"))
    assert {weights.parent.parent.name for weights in models} == set(validation), "mitochondria and membrane weights"
    for weights in models:
        stored = json.loads((weights.parent / "thresholds.json").read_text())
        target = weights.parent.parent.name
        assert 0 < stored["threshold"] < 1 and stored["tuned_on"]["slices"] == validation[target], weights
        assert stored["overrides"]["variant"] == weights.parent.name, weights
        assert stored["overrides"].get("target", "mitochondria") == target, weights
    ensemble = json.loads(
        (REPO / "bundles" / NAME / "models" / "mitochondria" / "ensemble" / "thresholds.json").read_text()
    )
    assert 0 < ensemble["threshold"] < 1
