"""RuntimeInferer: every back end, precision and memory format gives the eager float32 result (within its stated
tolerance), files exported from other weights are refused, and wrong settings are errors that name the fix."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import tifffile
import torch
from monai.networks.nets import UNet

from conftest import BUNDLES, copy_bundle, run_config, synthetic_stack
from microseg.bundle import load_network
from microseg.errors import MicrosegInputError
from microseg.inferers import BackendMismatchError, RuntimeInferer, SliceTiledInferer
from microseg.inferers.runtime import _FixedBatch, resolve_precision

FIBSEM = BUNDLES / "fibsem_mitochondria_segmentation"


@pytest.fixture(scope="module")
def fibsem_network() -> torch.nn.Module:
    return load_network(FIBSEM)


def _tiled() -> SliceTiledInferer:
    return SliceTiledInferer((64, 64), sw_batch_size=3, overlap=0.25)


@pytest.mark.parametrize(
    ("backend", "channels_last"), [("eager", True), ("torchscript", False), ("torchscript", True), ("onnx", False)]
)
def test_backends_agree_with_eager_float32(fibsem_network, backend, channels_last):
    pytest.importorskip("onnxruntime")
    x = torch.rand(1, 1, 100, 150)
    with torch.no_grad():
        reference = _tiled()(x, fibsem_network)
        runtime = RuntimeInferer(_tiled(), backend, "float32", channels_last, model_dir=FIBSEM / "models")
        out = runtime(x, fibsem_network)
    assert out.shape == reference.shape and out.dtype == torch.float32
    assert float((out - reference).abs().max()) < 1e-4 * (1 + float(reference.abs().max()))
    assert torch.equal(out > 0, reference > 0)


def test_bfloat16_on_cpu_returns_float32_close_to_float32():
    network = UNet(2, 1, 1, (8, 16), (2,)).eval()
    x = torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        reference = network(x)
        out = RuntimeInferer(lambda data, net: net(data), precision="bfloat16")(x, network)
    assert out.dtype == torch.float32
    assert float((out - reference).abs().max()) < 0.05 * (1 + float(reference.abs().max()))
    assert not torch.equal(out, reference)  # it did run in bfloat16


def test_a_file_exported_from_other_weights_is_refused(tmp_path, fibsem_network):
    other = load_network(FIBSEM)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    torch.jit.save(torch.jit.trace(other, torch.rand(1, 1, 64, 64)), str(tmp_path / "model.ts"))
    runtime = RuntimeInferer(_tiled(), "torchscript", model_dir=tmp_path)
    with torch.no_grad(), pytest.raises(BackendMismatchError, match="exported from other weights.*microseg export"):
        runtime(torch.rand(1, 1, 64, 64), fibsem_network)


def test_a_missing_file_names_the_export_command(tmp_path, fibsem_network):
    runtime = RuntimeInferer(_tiled(), "onnx", model_dir=tmp_path)
    with pytest.raises(MicrosegInputError, match="model.onnx.*microseg export .* --formats onnx"):
        runtime(torch.rand(1, 1, 64, 64), fibsem_network)


def test_settings_are_checked_with_the_fix_in_the_message():
    with pytest.raises(ValueError, match="backend must be one of"):
        RuntimeInferer(_tiled(), backend="tensorrt")
    with pytest.raises(ValueError, match="not available with backend 'onnx'.*--precision float32"):
        RuntimeInferer(_tiled(), backend="onnx", precision="bfloat16")
    with pytest.raises(ValueError, match="needs a CUDA device"):
        resolve_precision("float16", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        RuntimeInferer(_tiled(), precision="half")
    assert resolve_precision("auto", "cpu") == "float32"
    assert resolve_precision("auto", "cuda", "onnx") == "float32"


def test_fixed_batch_pads_smaller_batches_to_one_shape():
    shapes = []

    def network(x):
        shapes.append(tuple(x.shape))
        return x * 2

    fixed = _FixedBatch(network)
    for n in (4, 4, 3, 1):
        x = torch.rand(n, 1, 8, 8)
        assert torch.equal(fixed(x), x * 2)
    assert set(shapes) == {(4, 1, 8, 8)}


@pytest.mark.slow
def test_compile_backend_agrees_with_eager(fibsem_network):
    x = torch.rand(1, 1, 100, 150)
    with torch.no_grad():
        reference = _tiled()(x, fibsem_network)
        out = RuntimeInferer(_tiled(), "compile", channels_last=True)(x, load_network(FIBSEM))
    assert float((out - reference).abs().max()) < 1e-4 * (1 + float(reference.abs().max()))


def test_bundle_inference_with_the_onnx_backend_writes_the_eager_masks(tmp_path):
    """The config switch end to end: ``--backend onnx`` gives the masks of the default (eager) back end."""
    pytest.importorskip("onnxruntime")
    bundle = copy_bundle("fibsem_mitochondria_segmentation", tmp_path)
    for name in ("model.pt", "model.ts", "model.onnx"):
        (bundle / "models" / name).write_bytes((FIBSEM / "models" / name).read_bytes())
    image, _ = synthetic_stack(depth=3, height=80, width=96)
    tifffile.imwrite(tmp_path / "stack.tif", image)
    masks = {}
    for backend in ("eager", "onnx"):
        out = tmp_path / backend
        run_config(
            bundle,
            ["inference.json"],
            dataset_dir=str(tmp_path / "stack.tif"),
            output_dir=str(out),
            backend=backend,
            roi_size=[64, 64],
            min_object_size=0,
        )
        masks[backend] = tifffile.imread(next(out.glob("*_seg.tif")))
    assert masks["eager"].shape == image.shape
    np.testing.assert_array_equal(masks["onnx"], masks["eager"])


@pytest.mark.parametrize("name", ["fibsem_mitochondria_segmentation", "he_gland_segmentation"])
def test_folding_batch_norms_keeps_the_function(name):
    from microseg.bundle import load_parser
    from microseg.inferers import fold_batch_norms

    torch.manual_seed(0)
    network = load_parser(BUNDLES / name).get_parsed_content("network_def")
    for m in network.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    network.eval()
    x = torch.rand(1, network_channels(network), 64, 64)
    with torch.no_grad():
        reference = network(x)
        folded = copy.deepcopy(network)
        count = fold_batch_norms(folded)
        out = folded(x)
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in network.modules())
    assert count == norms > 0 and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert float((out - reference).abs().max()) < 1e-4 * (1 + float(reference.abs().max()))


def test_one_channel_tiles_get_channels_last_strides():
    """``contiguous(memory_format=channels_last)`` keeps NCHW strides for one channel; a compiled network would
    recompile for them (measured slower than eager), so the inputs are copied to the canonical strides."""
    from microseg.inferers.runtime import channels_last_strides

    x = torch.rand(8, 1, 16, 24)
    assert x.contiguous(memory_format=torch.channels_last).stride() == x.stride() == (384, 384, 24, 1)
    out = channels_last_strides(x)
    assert out.stride() == (384, 1, 24, 1) and torch.equal(out, x)
    assert channels_last_strides(out) is out
    rgb = torch.rand(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert channels_last_strides(rgb) is rgb


def test_new_weights_rebuild_the_backend(fibsem_network):
    network = load_network(FIBSEM)
    runtime = RuntimeInferer(_tiled(), "eager", channels_last=True)
    x = torch.rand(1, 1, 64, 64)
    with torch.no_grad():
        first = runtime(x, network)
        network.load_state_dict({k: v * 0.5 if v.is_floating_point() else v for k, v in network.state_dict().items()})
        second = runtime(x, network)
        expected = _tiled()(x, network)
    assert not torch.equal(first, second)
    assert float((second - expected).abs().max()) < 1e-4 * (1 + float(expected.abs().max()))


def network_channels(network: torch.nn.Module) -> int:
    return next(m for m in network.modules() if isinstance(m, torch.nn.Conv2d)).in_channels
