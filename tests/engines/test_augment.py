"""AugmentOnDevice: the batch is moved to the device and augmented there, sample by sample or as a whole batch; every
bundle switches it on with ``--augment_on_device true`` (batched; the Mask R-CNN bundle through
PrepareInstanceBatch)."""

from __future__ import annotations

import pytest
import tifffile
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, RandFlipd

from conftest import BUNDLES, copy_bundle, run_config, synthetic_stack, write_dsb_folder
from microseg.bundle import load_parser
from microseg.engines import AugmentOnDevice
from microseg.handlers import TrainingCheckpoint


def _batch() -> dict:
    image = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    return {"image": MetaTensor(image), "label": MetaTensor((image > 10).float()), "other": ["a", "b"]}


def test_without_a_transform_it_is_the_default_preparation():
    batch = _batch()
    image, label = AugmentOnDevice()(batch, torch.device("cpu"))
    assert type(image) is torch.Tensor and torch.equal(image, batch["image"].as_tensor())
    assert torch.equal(label, batch["label"].as_tensor())


def test_each_sample_is_augmented_with_its_label():
    flip = Compose([RandFlipd(["image", "label"], prob=0.5, spatial_axis=1)])
    flip.set_random_state(0)
    prepare = AugmentOnDevice(flip)
    batch = _batch()
    flipped = set()
    for _ in range(8):
        image, label = prepare(batch, torch.device("cpu"))
        assert image.shape == (2, 1, 4, 4) and label.shape == (2, 1, 4, 4)
        for i in range(2):
            same = torch.equal(image[i], batch["image"][i].as_tensor())
            assert same or torch.equal(image[i], batch["image"][i].as_tensor().flip(-1))
            assert torch.equal(label[i], (image[i] > 10).float())  # label follows its image
            flipped.add(same)
    assert flipped == {True, False}


def test_a_batched_transform_gets_the_whole_batch_once():
    calls = []

    def transform(data):
        calls.append({k: tuple(v.shape) for k, v in data.items()})
        return {"image": data["image"] + 1, "label": data["label"]}

    batch = _batch()
    image, label = AugmentOnDevice(transform, batched=True)(batch, torch.device("cpu"))
    assert calls == [{"image": (2, 1, 4, 4), "label": (2, 1, 4, 4)}]
    assert type(image) is torch.Tensor and torch.equal(image, batch["image"].as_tensor() + 1)
    assert torch.equal(label, batch["label"].as_tensor())


def test_the_checkpoint_handler_reseeds_device_augmentation():
    flip = Compose([RandFlipd(["image", "label"], prob=0.5, spatial_axis=1)])
    engine = type("Engine", (), {"prepare_batch": AugmentOnDevice(flip), "data_loader": None})()
    draws = []
    for _ in range(2):
        torch.manual_seed(7)
        TrainingCheckpoint.reseed_transforms(engine)
        draws.append([flip.transforms[0].R.rand() for _ in range(3)])
    assert draws[0] == draws[1]


def test_fibsem_trains_with_augmentation_on_the_device(tmp_path):
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    image, mask = synthetic_stack()
    data = tmp_path / "data"
    data.mkdir()
    tifffile.imwrite(data / "training.tif", image)
    tifffile.imwrite(data / "training_groundtruth.tif", mask)
    run_config(
        bundle,
        ["train.json"],
        dataset_dir=str(data),
        max_epochs=1,
        train_slices=[0, 6],
        val_slices=[9, 12],
        roi_size=[32, 32],
        num_workers=0,
        val_interval=1,
        augment_on_device=True,
        tensorboard=False,
    )
    assert (bundle / "models" / "model.pt").is_file()


def test_dsb_trains_with_augmentation_and_targets_on_the_device(tmp_path):
    """The piecewise distortion and the three-class targets (InstancesToClasses) run on the batch."""
    dsb = write_dsb_folder(
        tmp_path / "stage1_train", {"a": {"height": 48, "width": 56}, "b": {"height": 40, "width": 40}}
    )
    bundle = copy_bundle("dsb2018_nuclei_segmentation", tmp_path)
    settings = {"patch_size": 32, "samples_per_image": 2, "batch_size": 1, "num_workers": 0, "val_interval": 1}
    run_config(
        bundle,
        ["train.json"],
        dataset_dir=str(dsb),
        max_epochs=1,
        val_ids=["b"],
        augment_on_device=True,
        tensorboard=False,
        **settings,
    )
    assert (bundle / "models" / "model.pt").is_file()
    parser = load_parser(bundle, "train.json", dataset_dir=str(dsb), val_ids=["b"], augment_on_device=True, **settings)
    batch = next(iter(parser.get_parsed_content("train#dataloader")))
    assert batch["label"].max() > 2  # the loader delivers instance numbers
    image, label = parser.get_parsed_content("train#trainer#prepare_batch")(batch, torch.device("cpu"))
    assert image.shape == (2, 1, 32, 32) and set(label.unique().tolist()) <= {0, 1, 2} and label.max() == 2


def test_sbem_trains_with_augmentation_on_the_device(tmp_path):
    image, mask = synthetic_stack(depth=8, height=48, width=64, seed=1)
    data = tmp_path / "data"
    data.mkdir()
    tifffile.imwrite(data / "images.tif", image)
    tifffile.imwrite(data / "labels.tif", (mask > 0).astype("uint8"))
    bundle = copy_bundle("sbem_organelle_segmentation", tmp_path)
    run_config(
        bundle,
        ["train.json"],
        image_file=str(data / "images.tif"),
        label_file=str(data / "labels.tif"),
        variant="deepem3d_3fm",
        width=0.125,
        roi_size=[32, 32],
        num_samples=1,
        batch_size=2,
        max_epochs=1,
        val_interval=1,
        precise_bn_batches=2,
        train_slices=[0, 6],
        val_slices=[6, 8],
        num_workers=0,
        augment_on_device=True,
        tensorboard=False,
    )
    assert (bundle / "models" / "mitochondria" / "deepem3d_3fm" / "model.pt").is_file()


@pytest.mark.parametrize(
    ("name", "extra"),
    [("he_gland_segmentation", {}), ("he_gland_instance_segmentation", {"pretrained": "none"})],
)
def test_glas_bundles_train_with_augmentation_on_the_device(tmp_path, glas_folder, name, extra):
    """The U-Net batched; the Mask R-CNN per image in PrepareInstanceBatch, before its targets are made."""
    bundle = copy_bundle(name, tmp_path)
    run_config(
        bundle,
        ["train.json"],
        dataset_dir=str(glas_folder),
        max_epochs=1,
        image_size=64,
        num_workers=0,
        batch_size=2,
        val_names=["train_4"],
        augment_on_device=True,
        tensorboard=False,
        **extra,
    )
    assert (bundle / "models" / "model.pt").is_file()


@pytest.mark.parametrize("name", sorted(p.name for p in BUNDLES.iterdir() if (p / "configs" / "train.json").is_file()))
def test_every_bundle_reads_the_switch_as_a_bool(name):
    """``python -m monai.bundle run --augment_on_device false`` passes the text "false" (fire keeps it a string)."""
    steps = {}
    for text, on_device in (("false", False), ("true", True), (False, False)):
        parser = load_parser(BUNDLES / name, "train.json", augment_on_device=text)
        transform = parser.get_parsed_content("train#trainer#prepare_batch").transform
        assert (transform is not None) == on_device, (name, text)
        steps[text] = len(parser.get_parsed_content("train#preprocessing").transforms)
    assert steps["true"] < steps["false"] == steps[False], steps  # the workers' augmentation left out on the device
