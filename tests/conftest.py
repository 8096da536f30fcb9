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


def copy_bundle(name: str, dest: Path) -> Path:
    """Copy a bundle's configs and docs (no weights) to ``dest/name``."""
    target = dest / name
    shutil.copytree(BUNDLES / name, target, ignore=shutil.ignore_patterns("*.pt", "*.ts", "*.onnx", "eval"))
    (target / "models").mkdir(exist_ok=True)
    return target
