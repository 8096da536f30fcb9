"""Shared fixtures: small synthetic EM-like stacks written to temporary folders (never the real data)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
from monai.data import create_test_image_3d

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"


def synthetic_stack(depth: int = 12, height: int = 64, width: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 greyscale stack ``(Z, H, W)`` with blob 'organelles' and its 0/255 mask."""
    image, labels = create_test_image_3d(
        height,
        width,
        max(depth, 24),
        num_objs=8,
        rad_max=9,
        rad_min=4,
        noise_max=0.3,
        random_state=np.random.RandomState(seed),
        channel_dim=None,
    )
    image = np.moveaxis(image, -1, 0)[:depth]
    mask = np.moveaxis(labels, -1, 0)[:depth] > 0
    return (image * 255).astype(np.uint8), mask.astype(np.uint8) * 255


@pytest.fixture
def stack_files(tmp_path: Path) -> dict[str, Path]:
    """``training.tif`` and ``training_groundtruth.tif`` of a 12x64x96 synthetic stack in ``tmp_path/data``."""
    image, mask = synthetic_stack()
    folder = tmp_path / "data"
    folder.mkdir()
    tifffile.imwrite(folder / "training.tif", image)
    tifffile.imwrite(folder / "training_groundtruth.tif", mask)
    return {"dir": folder, "image": folder / "training.tif", "label": folder / "training_groundtruth.tif"}


def default_models(name: str) -> Path:
    """The folder of the weights a bundle's ``inference.json`` loads without overrides (``models/`` for a bundle
    with one model; ``models/<target>/<variant>`` for the SBEM bundle)."""
    from microseg.bundle import models_dir

    return models_dir(BUNDLES / name)


def single_model(name: str) -> bool:
    """Whether the bundle keeps its one model at ``models/model.pt``, the path MONAI Label and MONAI Deploy read."""
    return default_models(name) == BUNDLES / name / "models"


def copy_bundle(name: str, dest: Path) -> Path:
    """Copy a bundle's configs and docs (no weights) to ``dest/name``."""
    target = dest / name
    shutil.copytree(BUNDLES / name, target, ignore=shutil.ignore_patterns("*.pt", "*.ts", "*.onnx", "eval"))
    (target / "models").mkdir(exist_ok=True)
    return target


def bundle_with_weights(name: str, dest: Path) -> Path:
    """The installed bundle ``name`` if it ships weights, else a copy in ``dest`` with untrained ones (run it with
    ``--trust_bundle``)."""
    from microseg.bundle import load_parser, models_dir

    if (models_dir(BUNDLES / name) / "model.pt").is_file():
        return BUNDLES / name
    import torch

    bundle = copy_bundle(name, dest)
    folder = models_dir(bundle)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": load_parser(bundle).get_parsed_content("network_def").state_dict()}, folder / "model.pt")
    return bundle


def synthetic_glands(
    height: int = 72, width: int = 96, seed: int = 0, n_glands: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """An H&E-like uint8 RGB image ``(H, W, 3)``: pink stroma with purple-rimmed, pale-centred elliptical 'glands',
    and its 0/255 binary gland mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    image = np.empty((height, width, 3), np.float32)
    image[:] = (225, 170, 200)
    mask = np.zeros((height, width), bool)
    for _ in range(n_glands):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.08, 0.16) * height, rng.uniform(0.08, 0.16) * width
        r = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        mask |= r < 1
        image[(r < 1) & (r > 0.45)] = (110, 60, 150)  # nuclei rim
        image[r <= 0.45] = (245, 235, 245)  # lumen
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8) * 255


def write_glas_folder(folder: Path, names_and_sizes: dict[str, tuple[int, int]], suffix: str = ".png") -> Path:
    """A GlaS-layout folder: ``<name><suffix>`` + ``<name>_anno<suffix>`` per name, and ``Grade.csv``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rows = ["Name,patient ID, grade (GlaS), grade (Sirinukunwattana et al. 2015)"]
    for k, (name, (height, width)) in enumerate(names_and_sizes.items()):
        image, mask = synthetic_glands(height, width, seed=k)
        Image.fromarray(image).save(folder / f"{name}{suffix}")
        Image.fromarray(mask).save(folder / f"{name}_anno{suffix}")
        rows.append(f"{name},{k}, {'benign' if k % 2 else 'malignant'}, x")
    (folder / "Grade.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="session")
def glas_folder(tmp_path_factory) -> Path:
    """A synthetic GlaS folder: train_1..4 (72x96), testA_1 (80x64), testB_1 (60x100), PNG."""
    sizes = {f"train_{i}": (72, 96) for i in range(1, 5)} | {"testA_1": (80, 64), "testB_1": (60, 100)}
    return write_glas_folder(tmp_path_factory.mktemp("glas"), sizes)


def synthetic_nuclei(
    height: int = 64, width: int = 80, seed: int = 0, bright_background: bool = False, rgb: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A DSB-like uint8 image of round 'nuclei' (some touching) and its int32 instance labels ``(H, W)``.

    Dark background with bright nuclei (fluorescence), or bright background with dark purple nuclei (H&E-like);
    ``(H, W)`` grey or ``(H, W, 3)`` RGB.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    labels = np.zeros((height, width), np.int32)
    centres = [(rng.uniform(8, height - 8), rng.uniform(8, width - 8)) for _ in range(max(3, height * width // 700))]
    cy, cx = centres[0]
    centres.insert(1, (cy, cx + 9.0))  # a touching pair
    for k, (cy, cx) in enumerate(centres, start=1):
        labels[((yy - cy) ** 2 + (xx - cx) ** 2 < rng.uniform(16, 30)) & (labels == 0)] = k
    foreground = labels > 0
    grey = np.where(foreground, 200.0, 30.0) + rng.normal(0, 10, labels.shape)
    if bright_background:
        grey = 255 - grey
    image = np.clip(grey, 0, 255)
    if rgb:
        tint = (0.8, 0.55, 0.9) if bright_background else (1.0, 1.0, 1.0)
        image = np.stack([image * t for t in tint], axis=-1)
    values = np.unique(labels[labels > 0])
    relabelled = np.searchsorted(np.concatenate([[0], values]), labels).astype(np.int32)
    return image.astype(np.uint8), relabelled


def write_dsb_folder(folder: Path, samples: dict[str, dict], with_masks: bool = True) -> Path:
    """A DSB 2018 layout: ``<id>/images/<id>.png`` and ``<id>/masks/<k>.png`` (one binary mask per nucleus); each
    sample's dict holds the keyword arguments of :func:`synthetic_nuclei`."""
    from PIL import Image

    for k, (image_id, kwargs) in enumerate(samples.items()):
        image, labels = synthetic_nuclei(seed=k, **kwargs)
        (folder / image_id / "images").mkdir(parents=True)
        Image.fromarray(image).save(folder / image_id / "images" / f"{image_id}.png")
        if with_masks:
            (folder / image_id / "masks").mkdir()
            for value in range(1, labels.max() + 1):
                Image.fromarray(((labels == value) * 255).astype(np.uint8)).save(
                    folder / image_id / "masks" / f"m{value:03d}.png"
                )
    return folder


def run_config(bundle: Path, configs: list[str], **overrides) -> None:
    """``monai.bundle run`` of a bundle copy's ``configs`` (later files override earlier ones) with ``overrides``."""
    from monai.bundle import run

    files = [str(bundle / "configs" / c) for c in configs]
    run(
        config_file=files if len(files) > 1 else files[0],
        bundle_root=str(bundle),
        logging_file=str(bundle / "configs" / "logging.conf"),
        **overrides,
    )
