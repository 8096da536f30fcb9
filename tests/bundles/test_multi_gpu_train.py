"""multi_gpu_train.json with torchrun: 2 processes on the gloo backend (CPU), about 15 s per bundle."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tifffile
import torch

from conftest import copy_bundle, synthetic_stack
from microseg.data import write_synthetic_tem


def _torchrun_training(bundle: Path, data: Path, *overrides: str) -> str:
    """Two epochs of ``train.json`` + ``multi_gpu_train.json`` on 2 gloo processes; returns the log."""
    configs = f"['{bundle}/configs/train.json','{bundle}/configs/multi_gpu_train.json']"
    torchrun = shutil.which("torchrun") or f"{sys.executable} -m torch.distributed.run"
    command = [*torchrun.split(), "--standalone", "--nproc_per_node=2", "-m", "monai.bundle", "run"]
    command += ["--config_file", configs, "--bundle_root", str(bundle), "--dataset_dir", str(data), *overrides]
    command += ["--max_epochs", "2", "--val_interval", "1", "--num_workers", "0", "--tensorboard", "False"]
    command += ["--logging_file", str(bundle / "configs/logging.conf")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state), "the best model must be saved unwrapped"
    return result.stdout + result.stderr


def test_two_process_gloo_training_fibsem(tmp_path):
    image, mask = synthetic_stack()
    tifffile.imwrite(tmp_path / "training.tif", image)
    tifffile.imwrite(tmp_path / "training_groundtruth.tif", mask)
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    slices = ("--train_slices", "[0,8]", "--val_slices", "[9,12]")
    log = _torchrun_training(bundle, tmp_path, *slices, "--roi_size", "[32,32]")
    assert "Iter: 2/2" in log  # 8 slices / 2 ranks / batch 2


@pytest.mark.slow  # 28 s; the FIB-SEM case above runs the same torchrun path by default
def test_two_process_gloo_training_tem(tmp_path):
    data = write_synthetic_tem(tmp_path / "data", count=10, size=32)  # 8 training images, 2 for validation
    bundle = copy_bundle("tem_nuclei_segmentation", tmp_path)
    log = _torchrun_training(bundle, data, "--image_size", "32")
    assert "Iter: 2/2" in log  # 8 images / 2 ranks / batch 2
