"""Out-of-core segmentation (microseg.largeimage): lazy readers, exact plane percentiles, and output equal to the
in-memory path; two gloo processes under torchrun give the output of one."""

from __future__ import annotations

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import tifffile
import torch
from PIL import Image

from conftest import copy_bundle, run_config, synthetic_stack
from microseg.bundle import load_parser, models_dir, record_weights
from microseg.errors import MicrosegInputError
from microseg.largeimage import blocks_of, open_lazy, plane_percentiles, segment_large

zarr = pytest.importorskip("zarr")
NAME = "sbem_organelle_segmentation"
TINY = {"variant": "deepem3d_3fm", "width": 0.125, "roi_size": [32, 32], "tta": "none"}


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    """The SBEM bundle with a small untrained DeepEM3D-3fm (width 1/8) and 32x32 tiles."""
    bundle = copy_bundle(NAME, tmp_path_factory.mktemp("large"))
    torch.manual_seed(0)
    folder = models_dir(bundle, **TINY)
    folder.mkdir(parents=True, exist_ok=True)
    network = load_parser(bundle, **TINY).get_parsed_content("network_def")
    for module in network.modules():  # batch norms with non-trivial statistics
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    torch.save({"model": network.state_dict()}, folder / "model.pt")
    record_weights(folder / "model.pt")  # the copy's large_files.yml lists the shipped 3fm weights
    return bundle


@pytest.fixture(scope="module")
def volume():
    return synthetic_stack(depth=3, height=48, width=72, seed=3)[0]


def _in_memory(bundle, path, out, **overrides) -> np.ndarray:
    settings = {**TINY, **overrides}
    run_config(
        bundle, ["inference.json"], dataset_dir=str(path), output_dir=str(out), save_probabilities=True, **settings
    )
    return tifffile.imread(out / f"{path.name.split('.')[0]}_prob.tif")


def _check_equal(output, probability, threshold) -> None:
    if str(output).endswith(".zarr"):
        stored = zarr.open_group(str(output), mode="r")
        got_p, got_m = stored["probability"][:], stored["mask"][:]
    else:
        with h5py.File(output, "r") as stored:
            got_p, got_m = stored["probability"][:], stored["mask"][:]
            assert stored["mask"].chunks == (1, 32, 32) and stored["mask"].compression == "gzip"
    np.testing.assert_allclose(got_p, probability, atol=1e-6, rtol=0)
    assert np.array_equal(got_m, (probability >= np.float32(threshold)).astype(np.uint8))
    assert 0 < got_m.mean() < 1


def _threshold(probability: np.ndarray) -> float:
    """A threshold k/255 near the median, away from every probability (the untrained network's are close)."""
    candidates = np.arange(1, 255) / 255
    distance = np.abs(probability.ravel()[None] - candidates.astype(np.float32)[:, None]).min(1)
    near = np.abs(candidates - np.median(probability)) < 0.01
    return float(candidates[np.argmax(np.where(near, distance, -1))])


def test_out_of_core_equals_in_memory_for_tiff_hdf5_zarr_and_slice_folders(tiny_bundle, volume, tmp_path):
    """Every reader, HDF5 and Zarr outputs, blocks smaller than the plane: the probabilities of ``microseg
    segment`` within 1e-6 and the same mask."""
    tiff = tmp_path / "stack.tif"
    tifffile.imwrite(tiff, volume)
    probability = _in_memory(tiny_bundle, tiff, tmp_path / "memory")
    threshold = _threshold(probability)
    with h5py.File(tmp_path / "stack.h5", "w") as f:
        f["raw"] = volume
    zarr.create_array(str(tmp_path / "stack.zarr"), data=volume, chunks=(1, 40, 40))
    folder = tmp_path / "slices"
    folder.mkdir()
    for z, plane in enumerate(volume):
        Image.fromarray(plane).save(folder / f"s_{z:02d}.png")
    compressed = tmp_path / "compressed.tif"
    tifffile.imwrite(compressed, volume, compression="zlib", tile=(32, 32))
    cases = [
        (tiff, "a.h5"),
        (f"{tmp_path / 'stack.h5'}:/raw", "b.zarr"),
        (tmp_path / "stack.zarr", "c.h5"),
        (folder, "d.zarr"),
        (compressed, "e.h5"),
    ]
    for source, name in cases:
        result = segment_large(
            tiny_bundle, source, tmp_path / name, block_size=32, trust_bundle=True, **{**TINY, "threshold": threshold}
        )
        assert result["shape"] == [3, 48, 72] and result["blocks"] == 3 * 2 * 3, source
        _check_equal(tmp_path / name, probability, threshold)


def test_at_most_two_windows_and_two_results_are_held(tiny_bundle, volume, tmp_path, monkeypatch):
    """The memory bound: however slow the writer or fast the reader, two input windows (one predicted, one read
    ahead) and two results (one computed, one being written) at most exist at any time."""
    import threading
    import time
    import weakref

    import microseg.largeimage as largeimage

    live, most, lock = {"window": 0, "result": 0}, {"window": 0, "result": 0}, threading.Lock()

    def track(kind: str, array: np.ndarray) -> None:
        def gone() -> None:
            with lock:
                live[kind] -= 1

        with lock:
            live[kind] += 1
            most[kind] = max(most[kind], live[kind])
        weakref.finalize(array, gone)

    read, predict, write = largeimage._BlockReader.__call__, largeimage._predict_block, largeimage.ChunkedOutput.write

    def tracked_read(self, block):
        item = read(self, block)
        track("window", item[3])
        return item

    def tracked_predict(*args, **kwargs):
        block, probability, mask = predict(*args, **kwargs)
        track("result", probability)
        return block, probability, mask

    def slow_write(self, *args):
        time.sleep(0.02)
        write(self, *args)

    monkeypatch.setattr(largeimage._BlockReader, "__call__", tracked_read)
    monkeypatch.setattr(largeimage, "_predict_block", tracked_predict)
    monkeypatch.setattr(largeimage.ChunkedOutput, "write", slow_write)
    tifffile.imwrite(tmp_path / "v.tif", volume)
    result = segment_large(tiny_bundle, tmp_path / "v.tif", tmp_path / "o.h5", block_size=32, trust_bundle=True, **TINY)
    assert result["blocks"] == 18 and most == {"window": 2, "result": 2}


@pytest.mark.slow
def test_sixteen_fold_augmentation_out_of_core_equals_in_memory(tiny_bundle, volume, tmp_path):
    """``--tta dihedral_z`` augments each tile, in memory and out of core alike."""
    tifffile.imwrite(tmp_path / "v.tif", volume[:, :32])
    probability = _in_memory(tiny_bundle, tmp_path / "v.tif", tmp_path / "memory", tta="dihedral_z")
    threshold = _threshold(probability)
    settings = {**TINY, "tta": "dihedral_z", "threshold": threshold}
    segment_large(tiny_bundle, tmp_path / "v.tif", tmp_path / "o.h5", block_size=48, trust_bundle=True, **settings)
    with h5py.File(tmp_path / "o.h5", "r") as stored:
        np.testing.assert_allclose(stored["probability"][:], probability, atol=1e-6, rtol=0)
        assert np.array_equal(stored["mask"][:], (probability >= np.float32(threshold)).astype(np.uint8))


def test_plane_percentiles_are_numpys_for_integer_and_float_images(tmp_path):
    rng = np.random.default_rng(0)
    for dtype, high in ((np.uint8, 256), (np.uint16, 5000), (np.float32, 1)):
        data = (rng.random((2, 37, 41)) * high).astype(dtype)
        tifffile.imwrite(tmp_path / "x.tif", data)
        stack = open_lazy(tmp_path / "x.tif")
        for z in range(2):
            expected = np.percentile(data[z].reshape(1, -1).astype(np.float32), [1, 99], axis=1).ravel()
            assert plane_percentiles(stack, z, 1, 99) == tuple(expected), dtype
        stack.close()


def test_lazy_reads_return_the_region(tmp_path, volume):
    tifffile.imwrite(tmp_path / "v.tif", volume)
    stack = open_lazy(tmp_path / "v.tif")
    assert stack.shape == volume.shape and stack.dtype == np.uint8
    assert np.array_equal(stack.read(2, slice(10, 30), slice(5, 60)), volume[2, 10:30, 5:60])
    stack.close()
    assert [b.z for b in blocks_of((2, 50, 70), 32)] == [0] * 6 + [1] * 6


def test_errors_say_what_to_do(tiny_bundle, tmp_path):
    tifffile.imwrite(tmp_path / "small.tif", np.zeros((1, 20, 20), np.uint8))
    with pytest.raises(MicrosegInputError, match="smaller than one tile"):
        segment_large(tiny_bundle, tmp_path / "small.tif", tmp_path / "o.h5", trust_bundle=True, **TINY)
    tifffile.imwrite(tmp_path / "ok.tif", np.zeros((1, 40, 40), np.uint8))
    with pytest.raises(MicrosegInputError, match=r"\.h5\) or a Zarr folder"):
        segment_large(tiny_bundle, tmp_path / "ok.tif", tmp_path / "o.tif", trust_bundle=True, **TINY)
    with pytest.raises(MicrosegInputError, match="out-of-core segmentation reads"):
        open_lazy(tmp_path / "x.bmp")


@pytest.mark.slow
def test_two_gloo_processes_give_the_output_of_one(tiny_bundle, volume, tmp_path):
    """``torchrun --nproc_per_node 2 -m microseg.cli segment-large``: blocks shared out by rank, rank 0 writes; the
    output is bit-identical to one process (same thread count per process)."""
    tifffile.imwrite(tmp_path / "v.tif", volume)
    options = [f"--{k}={v}" for k, v in TINY.items()] + ["--block_size=32", "--trust_bundle=true"]
    command = [NAME, str(tmp_path / "v.tif")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MICROSEG_BUNDLES": str(tiny_bundle.parent)}
    run = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "microseg.cli"]
    subprocess.run([*run, "segment-large", *command, str(tmp_path / "two.zarr"), *options], check=True, env=env)
    one = [sys.executable, "-m", "microseg.cli", "segment-large"]
    subprocess.run([*one, *command, str(tmp_path / "one.zarr"), *options], check=True, env=env)
    two, single = zarr.open_group(str(tmp_path / "two.zarr"), mode="r"), zarr.open_group(str(tmp_path / "one.zarr"))
    for name in ("probability", "mask"):
        assert np.array_equal(two[name][:], single[name][:]), name


NO_TORCH = """
import sys
from microseg.largeimage import segment_large
segment_large(sys.argv[1], sys.argv[2], sys.argv[3], block_size=32, trust_bundle=True, runtime="onnx", **{OPTIONS})
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "monai"))
assert not loaded, loaded
"""


@pytest.mark.slow
def test_onnx_runtime_out_of_core_without_pytorch(tiny_bundle, volume, tmp_path):
    """``--runtime onnx``: the same blocks on ONNX Runtime, in a process that never imports PyTorch or MONAI."""
    pytest.importorskip("onnxruntime")
    from microseg.export import export_onnx

    export_onnx(tiny_bundle, **TINY)
    tifffile.imwrite(tmp_path / "v.tif", volume)
    settings = {**TINY, "threshold": 0.5}
    segment_large(tiny_bundle, tmp_path / "v.tif", tmp_path / "torch.h5", block_size=32, trust_bundle=True, **settings)
    script = NO_TORCH.replace("{OPTIONS}", repr(settings))
    subprocess.run(
        [sys.executable, "-c", script, str(tiny_bundle), str(tmp_path / "v.tif"), str(tmp_path / "onnx.h5")], check=True
    )
    with h5py.File(tmp_path / "torch.h5", "r") as a, h5py.File(tmp_path / "onnx.h5", "r") as b:
        np.testing.assert_allclose(b["probability"][:], a["probability"][:], atol=1e-5, rtol=0)
        differ = b["mask"][:] != a["mask"][:]
        assert np.all(np.abs(a["probability"][:][differ] - 0.5) < 1e-5)  # only pixels on the threshold can differ
