"""The speed benchmarks run on a tiny problem and report what they claim: identical masks for float32 variants,
FLOPs counted right, throughput and data wait for the bundle's trainer and the plain-MONAI loop, augmentation cost
per batch."""

from __future__ import annotations

import sys

import pytest
import tifffile
import torch

from conftest import BUNDLES, REPO, synthetic_stack
from microseg.errors import MicrosegInputError

sys.path.insert(0, str(REPO / "scripts"))

import bench_augment
import bench_inference
import bench_train
import bench_writing
import roofline


def test_bench_inference_compares_variants_with_the_plain_monai_baseline(capsys):
    rows = bench_inference.main(
        ["--shape", "3,70,90", "--roi_size", "32,32", "--chunk", "2", "--variants", "monai,eager,eager+cl,torchscript"]
    )
    assert [r["name"] for r in rows] == ["monai", "eager", "eager+cl", "torchscript"]
    for row in rows:
        assert row["seconds"] > 0 and row["mask_diff"] == 0
        assert row["max_logit_diff"] < 1e-3
    assert rows[0]["speedup"] == 1.0
    table = capsys.readouterr().out
    assert "| eager+cl | float32 |" in table and "0 of 18900" in table


def test_bench_inference_passes_onnx_execution_providers(capsys):
    args = ["--shape", "2,40,40", "--roi_size", "32,32", "--chunk", "2", "--variants", "monai,onnx"]
    rows = bench_inference.main([*args, "--onnx_providers", "CPUExecutionProvider"])
    assert rows[1]["name"] == "onnx" and rows[1]["mask_diff"] == 0
    with pytest.raises(MicrosegInputError, match="no NoSuchExecutionProvider"):  # named, with what is available
        bench_inference.main([*args, "--onnx_providers", "NoSuchExecutionProvider"])


def test_bench_inference_refuses_unknown_variants():
    with pytest.raises(SystemExit, match="flags are cl, bf16, fp16"):
        bench_inference.parse_variant("eager+fast")
    assert bench_inference.parse_variant("compile+bf16+cl") == {
        "name": "compile+bf16+cl",
        "backend": "compile",
        "precision": "bfloat16",
        "channels_last": True,
    }


def test_flops_and_bytes_are_counted_not_guessed():
    conv = torch.nn.Conv2d(2, 4, 3, padding=1, bias=False)
    flops, moved = roofline.count(conv, torch.rand(1, 2, 8, 8), torch.float32)
    assert flops == 2 * (2 * 9) * 4 * 64  # 2 FLOPs per multiply-add, 18 per output, 4 x 64 outputs
    assert moved == 4 * (2 * 64 + 4 * 2 * 9 + 4 * 64)  # input, weight and output, float32


def test_the_seed_unet_is_409_gflop_per_512_tile():
    """The issue's "about 385 GFLOP per 512x512 tile" for the 31 M-parameter U-Net, counted on the meta device."""
    network, tile = roofline.bundle_tile(BUNDLES / "he_gland_segmentation")
    assert sum(p.numel() for p in network.parameters()) == pytest.approx(31.1e6, rel=0.01)
    flops, _ = roofline.count(network, torch.empty(1, tile[0], 512, 512, device="meta"), torch.float32)
    assert flops / 1e9 == pytest.approx(409.0, abs=0.5)


def test_bench_train_times_the_bundle_and_the_plain_monai_loop(tmp_path, capsys):
    image, mask = synthetic_stack(depth=8, height=64, width=64)
    tifffile.imwrite(tmp_path / "training.tif", image)
    tifffile.imwrite(tmp_path / "training_groundtruth.tif", mask)
    overrides = ["roi_size=[32,32]", "train_slices=[0,6]", "val_slices=[6,8]", "tensorboard=false"]
    rows = bench_train.main(
        ["--dataset_dir", str(tmp_path), "--iterations", "2", "--num_workers", "0", "--device", "cpu"]
        + [arg for o in overrides for arg in ("--override", o)]
    )
    assert [r["variant"] for r in rows] == ["monai", "bundle"]
    for row in rows:
        assert row["samples_per_s"] > 0 and 0 <= row["data_wait"] < 1
    assert "| bundle | float32 | 2 | 32x32 |" in capsys.readouterr().out


def test_bench_augment_times_workers_per_sample_and_batched(capsys):
    rows = bench_augment.main(["--bundle", "tem_nuclei_segmentation", "--rounds", "2"])
    assert [r["variant"] for r in rows] == ["workers (CPU, per sample)", "per-sample on cpu", "batched on cpu"]
    assert all(r["ms"] > 0 for r in rows)
    assert rows[2]["ops"] < rows[1]["ops"]  # one grid for the batch, not one chain of operators per sample
    assert "batch 2 x 1 x 256x256" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("bundle", "shape", "last"),
    [
        ("dsb2018_nuclei_segmentation", "batch 4 x 1 x 32x32", "batched on cpu"),  # samples_per_image crops each
        ("sbem_organelle_segmentation", "batch 2 x 3 x 32x32", "batched on cpu"),  # the variant's slices
        ("he_gland_instance_segmentation", "batch 2 x 3 x 32x32", "batched, one image per call, on cpu"),
    ],
)
def test_bench_augment_shapes_of_the_other_bundles(capsys, bundle, shape, last):
    small = {
        "dsb2018_nuclei_segmentation": ["patch_size=32", "batch_size=2"],
        "sbem_organelle_segmentation": ["roi_size=[32,32]", "num_samples=1", "batch_size=2", "variant=deepem3d_3fm"],
        "he_gland_instance_segmentation": ["image_size=32"],
    }[bundle]
    args = ["--bundle", bundle, "--rounds", "1"] + [a for o in small for a in ("--override", o)]
    rows = bench_augment.main(args)
    assert rows[2]["variant"] == last and rows[2]["ops"] < rows[0]["ops"]
    assert shape in capsys.readouterr().out


def test_operators_are_counted():
    with bench_augment.CountOps() as ops:
        torch.ones(3).add(1).mul(2)
    assert ops.count == 3


def test_bench_writing_alternates_both_settings_with_the_same_masks(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "stack.tif", synthetic_stack(depth=5, height=64, width=64)[0])
    rows = bench_writing.main(
        ["--input", str(tmp_path / "stack.tif"), "--stacks", "2", "--slices", "3", "--rounds", "1"]
    )
    assert [r["background"] for r in rows] == [False, True]
    assert all(r["wall"] > 0 and r["in_save"] > 0 for r in rows)  # SaveMaskd ran (and was timed) in both
    out = capsys.readouterr().out
    assert "same masks: True" in out and "| write_in_background | wall (s) | in SaveMaskd (s) |" in out
