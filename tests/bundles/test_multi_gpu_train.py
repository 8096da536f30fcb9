"""multi_gpu_train.json with torchrun: 2 processes on the gloo backend (CPU), about 15 s."""

from __future__ import annotations

import shutil
import subprocess
import sys

import tifffile
import torch

from conftest import copy_bundle, synthetic_stack


def test_two_process_gloo_training(tmp_path):
    image, mask = synthetic_stack()
    tifffile.imwrite(tmp_path / "training.tif", image)
    tifffile.imwrite(tmp_path / "training_groundtruth.tif", mask)
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    configs = f"['{bundle}/configs/train.json','{bundle}/configs/multi_gpu_train.json']"
    torchrun = shutil.which("torchrun") or f"{sys.executable} -m torch.distributed.run"
    command = [
        *torchrun.split(),
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        configs,
        "--bundle_root",
        str(bundle),
        "--dataset_dir",
        str(tmp_path),
        "--train_slices",
        "[0,8]",
        "--val_slices",
        "[9,12]",
        "--roi_size",
        "[32,32]",
        "--max_epochs",
        "2",
        "--val_interval",
        "1",
        "--num_workers",
        "0",
        "--tensorboard",
        "False",
        "--logging_file",
        str(bundle / "configs/logging.conf"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Iter: 2/2" in result.stdout + result.stderr  # 8 slices / 2 ranks / batch 2
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in state), "the best model must be saved unwrapped"
